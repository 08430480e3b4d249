"""One typed, frozen settings object, read once from the environment.

Locally the environment is the ``Values`` of ``local.settings.json`` (the
Functions host and ``tools.localhost`` both load it); in Azure it is the
function app's application settings.  Every setting has an embedded default
that runs on a laptop with no Azure account, except where production must be
told (``PAYERAUTH_ENVIRONMENT=production`` refuses the development defaults).

``Settings.from_env`` checks everything and reports every problem at once,
each naming the setting and what to put there, with any secret in a
connection string redacted.  A ``PAYERAUTH_*`` variable that no setting reads
(a typo, a retired name) is logged as a warning naming the closest setting.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from shared import setting_values as values
from shared.errors import ConfigurationError
from shared.hosts import LOOPBACK_HOSTS

log = logging.getLogger("payerauth.settings")

PREFIX = "PAYERAUTH_"
DEPLOY_PREFIX = PREFIX + "DEPLOY_"  # azd's deploy-time variables (infra/): not settings of the app
# Key Vault's DNS suffixes in the public, China, US Government and Germany clouds.
KEYVAULT_DNS_SUFFIXES = (".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de")
# Set by the platform on every App Service and Functions app, Flex Consumption included; never by the local
# host.  "WEBSITE_SITE_NAME: Read-only. App name." in "Environment variables and app settings in Azure App
# Service" (https://learn.microsoft.com/azure/app-service/reference-app-settings), which the Functions app
# settings reference (https://learn.microsoft.com/azure/azure-functions/functions-app-settings) points to for
# hosting settings; Flex instances carry the WEBSITE_* platform variables too (Azure/azure-functions-host#10441).
PLATFORM_MARKER = "WEBSITE_SITE_NAME"
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(pwd|password|accountkey|sharedaccesskey|sharedaccesssignature|sig|clientsecret|client_secret|"
    r"secret|apikey|api_key|accesstoken|token)(\s*=\s*)(\{(?:[^}]|\}\})*\}|(?:\\.|[^;\"\\])*)"
)
_SQLITE_ODBC_DRIVER = re.compile(r"(?i)\bdriver\s*=\s*\{?[^;}]*sqlite")


def redact(text: str) -> str:
    """``text`` with the value of every secret-looking assignment (``PWD=``, ``AccountKey=``...) hidden."""
    return _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


Environment = Literal["development", "production"]
KeySourceKind = Literal["local", "keyvault"]
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    environment: Environment = "development"
    public_base_url: str = "http://localhost:7071"
    payer_issuer: str = "http://localhost:7071"
    payer_audience: str = "https://api.invoicecloud.com"
    payer_token_lifetime: int = 900
    payer_algorithm: str = "RS256"
    biller_issuer: str = "https://api.invoicecloud.com/payer"
    biller_audience: str = "https://api.invoicecloud.com/payer"
    portal_issuer: str = "https://www.invoicecloud.com"
    portal_audience: str = "https://www.invoicecloud.com"
    leeway: int = 60
    revocation_bound: int = 60
    cookie_name: str = "__Host-payer_session"
    local_dir: Path = Path(".local")
    key_source: KeySourceKind = "local"
    master_db: str = "sqlite:.local/master.db"
    shard_dbs: Mapping[str, str] = field(default_factory=lambda: {"shard01": "sqlite:.local/shard01.db"})
    directory_cache_size: int = 10_000
    tenant_token_max_lifetime: int = 300
    tenant_session_lifetime: int = 1800
    tenant_jwks_ttl: int = 3600
    tenant_jwks_min_refetch: int = 60
    tenant_jwks_allowed_hosts: frozenset[str] = frozenset()
    keyvault_url: str | None = None
    ic_secret_name: str = "JwtSigningCertificate"  # noqa: S105 - a secret's name, not its value
    payer_secret_name: str = "JwtSigningCertificate"  # noqa: S105
    managed_identity_client_id: str | None = None
    key_refresh_interval: int = 300
    key_overlap: int = 7200
    keyvault_verify_challenge_resource: bool = True
    keyvault_retries: int = 3
    sql_access_token: bool = False  # connect to SQL Server with an Entra token from azure-identity
    tenant_secrets_vault_url: str | None = None  # HS256 tenant secrets; default: keyvault_url

    @property
    def development(self) -> bool:
        return self.environment == "development"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return _SettingsReader(os.environ if env is None else env).read()


class _SettingsReader:
    """Reads each setting, collecting problems so the operator sees all of them."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.known: set[str] = set()

    def raw(self, name: str) -> str | None:
        self.known.add(PREFIX + name)
        value = self.env.get(PREFIX + name)
        return value.strip() if value is not None and value.strip() else None

    def get(self, name: str, default: T, parse: Callable[[str], T], hint: str) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, TypeError) as exc:
            self.problems.append(redact(f"{PREFIX}{name}={redact(value)!r} is not valid ({exc}): {hint}"))
            return default

    def read(self) -> Settings:
        d = Settings()
        environment = self.get(
            "ENVIRONMENT",
            d.environment,
            values.one_of("development", "production"),
            "set it to 'development' or 'production'",
        )
        local_dir = self.get("LOCAL_DIR", d.local_dir, Path, "set it to a writable folder")
        base_url = self.get(
            "PUBLIC_BASE_URL",
            d.public_base_url,
            values.base_url,
            "set it to the app's public https URL, e.g. https://payer.example.com",
        )
        keyvault_url = self.get(
            "KEYVAULT_URL",
            None,
            values.vault_url,
            "set it to the vault's URL, e.g. https://icappsettingsdevtest.vault.azure.net",
        )
        ic_secret = self.get(
            "IC_SECRET_NAME",
            d.ic_secret_name,
            values.secret_name,
            "set it to the certificate's secret name, e.g. JwtSigningCertificate",
        )
        master_default = f"sqlite:{local_dir / 'master.db'}"
        shards_default = {"shard01": f"sqlite:{local_dir / 'shard01.db'}"}
        settings = Settings(
            environment=environment,
            public_base_url=base_url,
            payer_issuer=self.get("PAYER_ISSUER", base_url, values.url, "set it to the payer JWT's iss, an https URL"),
            payer_audience=self.get(
                "PAYER_AUDIENCE", d.payer_audience, values.nonempty, "set it to the payer JWT's aud"
            ),
            payer_token_lifetime=self.get(
                "PAYER_TOKEN_LIFETIME",
                d.payer_token_lifetime,
                values.int_between(60, 86_400),
                "set it to seconds, 60 to 86400 (default 900)",
            ),
            payer_algorithm=self.get(
                "PAYER_ALGORITHM",
                d.payer_algorithm,
                values.one_of("RS256", "ES256"),
                "set it to RS256 (default; what APIM validate-jwt accepts) or ES256",
            ),
            biller_issuer=self.get(
                "BILLER_ISSUER", d.biller_issuer, values.nonempty, "set it to the iss that IC puts in biller JWTs"
            ),
            biller_audience=self.get(
                "BILLER_AUDIENCE", d.biller_audience, values.nonempty, "set it to the aud that IC puts in biller JWTs"
            ),
            portal_issuer=self.get(
                "PORTAL_ISSUER", d.portal_issuer, values.nonempty, "set it to the iss of the Biller Portal's JWTs"
            ),
            portal_audience=self.get(
                "PORTAL_AUDIENCE", d.portal_audience, values.nonempty, "set it to the aud of the Biller Portal's JWTs"
            ),
            leeway=self.get(
                "LEEWAY", d.leeway, values.int_between(0, 60), "set it to seconds of clock skew allowed, 0 to 60"
            ),
            revocation_bound=self.get(
                "REVOCATION_BOUND",
                d.revocation_bound,
                values.int_between(0, 3600),
                "set it to seconds, 0 to 3600 (default 60)",
            ),
            cookie_name=self.get(
                "COOKIE_NAME", d.cookie_name, values.cookie_name, "set it to a cookie name starting with __Host-"
            ),
            local_dir=local_dir,
            key_source=self.get(
                "KEY_SOURCE",
                "keyvault" if keyvault_url else d.key_source,
                values.one_of("local", "keyvault"),
                "set it to 'local' (development keys) or 'keyvault'",
            ),
            master_db=self.get(
                "MASTER_DB",
                master_default,
                values.connection,
                "set it to 'sqlite:<path>' or 'odbc:<ODBC connection string>'",
            ),
            shard_dbs=self.get(
                "SHARD_DBS", shards_default, values.shard_map, 'set it to JSON such as {"shard01": "odbc:Driver=...;"}'
            ),
            directory_cache_size=self.get(
                "DIRECTORY_CACHE_SIZE",
                d.directory_cache_size,
                values.int_between(100, 10_000_000),
                "set it to a number of entries, at least 100",
            ),
            tenant_token_max_lifetime=self.get(
                "TENANT_TOKEN_MAX_LIFETIME",
                d.tenant_token_max_lifetime,
                values.int_between(30, 3600),
                "set it to seconds, 30 to 3600 (default 300)",
            ),
            tenant_session_lifetime=self.get(
                "TENANT_SESSION_LIFETIME",
                d.tenant_session_lifetime,
                values.int_between(60, 86_400),
                "set it to seconds (default 1800)",
            ),
            tenant_jwks_ttl=self.get(
                "TENANT_JWKS_TTL",
                d.tenant_jwks_ttl,
                values.int_between(60, 86_400),
                "set it to seconds a tenant JWKS is cached (default 3600)",
            ),
            tenant_jwks_min_refetch=self.get(
                "TENANT_JWKS_MIN_REFETCH",
                d.tenant_jwks_min_refetch,
                values.int_between(1, 3600),
                "set it to the least seconds between refetches on an unknown kid",
            ),
            tenant_jwks_allowed_hosts=self.get(
                "TENANT_JWKS_ALLOWED_HOSTS",
                d.tenant_jwks_allowed_hosts,
                values.host_set,
                "set it to comma-separated host names",
            ),
            keyvault_url=keyvault_url,
            ic_secret_name=ic_secret,
            payer_secret_name=self.get(
                "PAYER_SECRET_NAME",
                ic_secret,
                values.secret_name,
                "set it to the secret that signs payer JWTs (default: IC_SECRET_NAME)",
            ),
            managed_identity_client_id=self.raw("MANAGED_IDENTITY_CLIENT_ID"),
            key_refresh_interval=self.get(
                "KEY_REFRESH_SECONDS",
                d.key_refresh_interval,
                values.int_between(10, 86_400),
                "set it to seconds between key refreshes, 10 to 86400 (default 300)",
            ),
            key_overlap=self.get(
                "KEY_OVERLAP_SECONDS",
                d.key_overlap,
                values.int_between(0, 604_800),
                "set it to seconds a new key is published before it signs (default 7200)",
            ),
            keyvault_verify_challenge_resource=self.get(
                "KEYVAULT_VERIFY_CHALLENGE_RESOURCE",
                True,
                values.boolean,
                "set it to true (default) or false (only for a private vault host name)",
            ),
            keyvault_retries=self.get(
                "KEYVAULT_RETRIES", d.keyvault_retries, values.int_between(0, 10), "set it to 0 to 10 (default 3)"
            ),
            sql_access_token=self.get(
                "SQL_ACCESS_TOKEN",
                d.sql_access_token,
                values.boolean,
                "set it to true to connect to SQL Server with the managed identity's "
                "access token (omit Authentication= then), or false",
            ),
            tenant_secrets_vault_url=self.get(
                "TENANT_SECRETS_VAULT_URL",
                keyvault_url,
                values.vault_url,
                "set it to the URL of the vault holding HS256 tenant secrets",
            ),
        )
        if settings.key_source == "keyvault" and not settings.keyvault_url:
            self.problems.append(
                f"{PREFIX}KEY_SOURCE is 'keyvault' but {PREFIX}KEYVAULT_URL is not set: "
                "set it to e.g. https://icappsettingsdevtest.vault.azure.net"
            )
        if settings.key_overlap < 3600 + 300 and settings.environment == "production":
            self.problems.append(
                f"{PREFIX}KEY_OVERLAP_SECONDS must exceed APIM's JWKS cache (3600 s) plus "
                "its refetch interval (300 s) in production"
            )
        if settings.environment == "production":
            self._check_production(settings)
        if self.env.get(PLATFORM_MARKER) and self.raw("ENVIRONMENT") is None:
            self.problems.append(
                f"{PREFIX}ENVIRONMENT is not set, but this app runs on Azure ({PLATFORM_MARKER} "
                "is set): set it to 'production' (or 'development' for a test deployment)"
            )
        self._warn_unread()
        if self.problems:
            raise ConfigurationError("Invalid settings:\n  - " + "\n  - ".join(self.problems))
        return settings

    def _warn_unread(self) -> None:
        for name in sorted(self.env):
            if name.startswith(PREFIX) and name not in self.known and not name.startswith(DEPLOY_PREFIX):
                closest = difflib.get_close_matches(name, sorted(self.known), n=1, cutoff=0.0)
                log.warning(
                    "%s is set but is not a setting of this app; did you mean %s?",
                    name,
                    closest[0] if closest else "none",
                )

    def _check_production(self, s: Settings) -> None:
        for name, url in (("PUBLIC_BASE_URL", s.public_base_url), ("PAYER_ISSUER", s.payer_issuer)):
            if urlsplit(url).scheme != "https":
                self.problems.append(f"{PREFIX}{name} must be an https URL in production")
            elif (urlsplit(url).hostname or "") in LOOPBACK_HOSTS or values.is_loopback_ip(urlsplit(url).hostname):
                self.problems.append(
                    f"{PREFIX}{name} names a loopback host, which production refuses: set the app's public https URL"
                )
        for host in sorted(s.tenant_jwks_allowed_hosts):
            if values.never_allow_listed(host):
                self.problems.append(
                    f"{PREFIX}TENANT_JWKS_ALLOWED_HOSTS lists {host!r}, a loopback, link-local "
                    "or metadata address, which production refuses: remove it"
                )
        vault_host = (urlsplit(s.keyvault_url).hostname or "") if s.keyvault_url else ""
        if (
            s.keyvault_url
            and not s.keyvault_verify_challenge_resource
            and not vault_host.endswith(KEYVAULT_DNS_SUFFIXES)
        ):
            self.problems.append(
                f"{PREFIX}KEYVAULT_URL is outside Key Vault's DNS suffixes while "
                f"{PREFIX}KEYVAULT_VERIFY_CHALLENGE_RESOURCE is false, which production refuses: "
                "use the vault's *.vault.azure.net URL or turn the verification back on"
            )
        if s.key_source == "local":
            self.problems.append(
                f"{PREFIX}KEY_SOURCE is 'local' (generated development keys), which production "
                "refuses: set it to 'keyvault' and set the Key Vault settings"
            )
        for name, conn in [("MASTER_DB", s.master_db), *(("SHARD_DBS", c) for c in s.shard_dbs.values())]:
            if conn.startswith("sqlite:") or _SQLITE_ODBC_DRIVER.search(conn):
                self.problems.append(
                    f"{PREFIX}{name} points at SQLite, which production refuses: "
                    "set an 'odbc:' SQL Server connection string"
                )
