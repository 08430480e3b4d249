"""The composition root: builds the adapters named by the settings and wires the use cases.

Nothing here runs at import time; ``PayerAuth.from_settings`` is called once
per process (``function_app`` does it lazily on the first request) and the
result is shared by every request: it holds only thread-safe caches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.billers.admin import BillerTokens
from shared.billers.directory import BillerDirectory
from shared.billers.exchange import Exchange
from shared.billers.portal import PortalGuard
from shared.errors import DatabaseUnavailable, PayerAuthError
from shared.jose.keys import KeyRefresher, KeyRing, KeySource
from shared.keystores.keyvault import KeyVaultSource, secret_client
from shared.keystores.local import LocalKeySource
from shared.keystores.secret_store import KeyVaultSecretStore, LocalSecretStore, SecretStore
from shared.payers.data import Resources
from shared.payers.guard import PayerGuard
from shared.settings import Settings
from shared.storage.cache import TtlCache
from shared.storage.database import Cursor, Database, TokenProvider, managed_identity_token
from shared.telemetry import DependencyStates
from shared.tenants.jwks import FetchPolicy
from shared.tenants.login import ReplayStore, TenantLogin
from shared.tenants.registry import TenantRegistry
from shared.tokens import BILLER, PORTAL, Issuer


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class PayerAuth:
    settings: Settings
    ic_keys: KeyRing
    payer_keys: KeyRing
    directory: BillerDirectory
    now: Callable[[], dt.datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    exchange: Exchange = field(init=False)
    biller_tokens: BillerTokens = field(init=False)
    guard: PayerGuard = field(init=False)
    portal: PortalGuard = field(init=False)
    tenants: TenantRegistry = field(init=False)
    tenant_login: TenantLogin = field(init=False)
    resources: Resources = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        policy = FetchPolicy(allow_http_loopback=s.development, allowed_hosts=s.tenant_jwks_allowed_hosts)
        self.tenants = TenantRegistry(
            self.directory.master,
            secret_store(s, self.monotonic),
            policy,
            ttl=s.revocation_bound,
            jwks_ttl=s.tenant_jwks_ttl,
            jwks_min_interval=s.tenant_jwks_min_refetch,
            monotonic=self.monotonic,
            now=self.now,
        )
        self.tenant_login = TenantLogin(
            self.tenants,
            ReplayStore(self.directory.master),
            self.payer_keys,
            self.now,
            session=Issuer(s.payer_issuer, s.payer_audience, s.tenant_session_lifetime),
            leeway=s.leeway,
            max_lifetime=s.tenant_token_max_lifetime,
        )
        self.guard = PayerGuard(
            self.payer_keys,
            self.now,
            issuer=s.payer_issuer,
            audience=s.payer_audience,
            leeway=s.leeway,
            cookie_name=s.cookie_name,
        )
        self.portal = PortalGuard(
            PORTAL.rules(s.portal_issuer, s.portal_audience), self.ic_keys, self.now, leeway=s.leeway
        )
        self.resources = Resources(self.directory)
        verified: TtlCache[dict[str, Any]] = TtlCache(
            self.settings.revocation_bound, self.settings.directory_cache_size, self.monotonic
        )
        self.exchange = Exchange(
            self.ic_keys,
            self.payer_keys,
            self.directory,
            self.now,
            rules=BILLER.rules(s.biller_issuer, s.biller_audience),
            payer=Issuer(s.payer_issuer, s.payer_audience, s.payer_token_lifetime),
            leeway=s.leeway,
            allow_http_loopback=s.development,
            verified=verified,
        )
        self.biller_tokens = BillerTokens(
            self.ic_keys, self.directory, self.now, issuer=s.biller_issuer, audience=s.biller_audience
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        now: Callable[[], dt.datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        key_source: KeySource | None = None,
        states: DependencyStates | None = None,
    ) -> PayerAuth:
        states = states or DependencyStates()
        ic_keys, payer_keys = key_rings(settings, now, key_source, states)
        token = managed_identity_token(settings.managed_identity_client_id) if settings.sql_access_token else None
        master = MonitoredDatabase("Master", settings.master_db, states, access_token=token)
        shards: dict[str, Database] = {
            name: MonitoredDatabase(f"shard {name}", conn, states, access_token=token)
            for name, conn in settings.shard_dbs.items()
        }
        directory = BillerDirectory(
            master,
            shards,
            ttl=settings.revocation_bound,
            max_entries=settings.directory_cache_size,
            monotonic=monotonic,
            now=now,
        )
        return cls(settings, ic_keys, payer_keys, directory, now, monotonic)

    def start_background_refresh(self) -> KeyRefresher:
        rings = [self.ic_keys] if self.ic_keys is self.payer_keys else [self.ic_keys, self.payer_keys]
        refresher = KeyRefresher(rings, self.settings.key_refresh_interval)
        refresher.start()
        return refresher

    def can_serve(self) -> bool:
        """True while a signing key is loaded (even if the last refresh failed): what ``api/health`` says."""
        try:
            self.payer_keys.current()
            self.ic_keys.current()
        except PayerAuthError:
            return False
        return True

    def health_detail(self) -> dict[str, Any]:
        """Keys and databases in detail, for the operator's CLI (never served over HTTP).  Probes each
        database once."""
        rings = (
            {"payer": self.payer_keys}
            if self.ic_keys is self.payer_keys
            else {"ic": self.ic_keys, "payer": self.payer_keys}
        )
        keys = {name: _ring_health(ring) for name, ring in rings.items()}
        databases = {db.label: _probe(db) for db in (self.directory.master, *self.directory.shards.values())}
        healthy = self.can_serve() and all(v == "ok" for v in databases.values())
        return {"status": "ok" if healthy else "degraded", "keys": keys, "databases": databases}


class MonitoredDatabase(Database):
    """A database whose reachability is reported to ``DependencyStates`` as queries succeed or fail."""

    def __init__(
        self, label: str, setting: str, states: DependencyStates, *, access_token: TokenProvider | None = None
    ) -> None:
        super().__init__(label, setting, access_token=access_token)
        self.states = states

    @contextlib.contextmanager
    def cursor(self, *, create: bool = False) -> Iterator[Cursor]:
        try:
            with super().cursor(create=create) as cursor:
                yield cursor
        except DatabaseUnavailable as exc:
            self.states.report(f"database {self.label}", "unreachable", error=exc.description)
            raise
        self.states.report(f"database {self.label}", "ok")


@dataclass(eq=False)
class MonitoredKeyRing(KeyRing):
    """A key ring whose refreshes are reported to ``DependencyStates`` (signing key, last error)."""

    states: DependencyStates = field(default_factory=DependencyStates)
    dependency: str = "key store"

    def refresh(self) -> bool:
        refreshed = super().refresh()
        current = self._current
        if refreshed and current is not None:
            self.states.report(
                self.dependency, "ok", signing_kid=current.signer.kid, versions=str(len(current.trusted))
            )
        else:
            self.states.report(
                self.dependency,
                "failed",
                error=self.last_error or "unknown",
                serving="yes" if current is not None else "no",
            )
        return refreshed


def key_rings(
    settings: Settings,
    now: Callable[[], dt.datetime],
    source: KeySource | None = None,
    states: DependencyStates | None = None,
) -> tuple[KeyRing, KeyRing]:
    """The IC ring (verifies biller and portal JWTs, signs biller JWTs) and the payer ring (signs payer
    JWTs, published in the JWKS): one ring when one secret serves both."""
    shared_states = states or DependencyStates()

    def ring(secret_name: str, algorithm: str) -> KeyRing:
        return MonitoredKeyRing(
            source or key_source(settings, secret_name, now, algorithm),
            now,
            algorithm=algorithm,
            overlap=dt.timedelta(seconds=settings.key_overlap),
            retention=dt.timedelta(seconds=settings.payer_token_lifetime + settings.leeway),
            states=shared_states,
            dependency=f"key store {secret_name}/{algorithm}",
        )

    ic = ring(settings.ic_secret_name, "RS256")
    same_secret = (
        source is not None or settings.key_source == "local" or settings.payer_secret_name == settings.ic_secret_name
    )
    if same_secret and settings.payer_algorithm == "RS256":
        return ic, ic
    return ic, ring(settings.payer_secret_name, settings.payer_algorithm)


def key_source(
    settings: Settings, secret_name: str, now: Callable[[], dt.datetime], algorithm: str = "RS256"
) -> KeySource:
    if settings.key_source == "local" or settings.keyvault_url is None:
        folder = "keys" if algorithm == "RS256" else f"keys-{algorithm.lower()}"
        return LocalKeySource(settings.local_dir / folder, now, algorithm=algorithm)
    return KeyVaultSource(
        settings.keyvault_url,
        secret_name,
        now=now,
        client_id=settings.managed_identity_client_id,
        verify_challenge_resource=settings.keyvault_verify_challenge_resource,
        retries=settings.keyvault_retries,
    )


def secret_store(settings: Settings, monotonic: Callable[[], float]) -> SecretStore:
    """Where HS256 tenants' shared secrets live: Key Vault in Azure, .local/secrets/ locally."""
    if settings.key_source == "local" or settings.keyvault_url is None:
        return LocalSecretStore(settings.local_dir / "secrets")
    url = settings.tenant_secrets_vault_url or settings.keyvault_url  # a vault of this service's own in Azure
    client = functools.cache(
        lambda: secret_client(
            url,
            client_id=settings.managed_identity_client_id,
            retries=settings.keyvault_retries,
            verify_challenge_resource=settings.keyvault_verify_challenge_resource,
        )
    )
    return KeyVaultSecretStore(client, ttl=settings.key_refresh_interval, monotonic=monotonic)


def _ring_health(ring: KeyRing) -> dict[str, Any]:
    try:
        keyset = ring.current()
    except PayerAuthError as exc:
        return {
            "status": "unavailable",
            "source": ring.source.description,
            "detail": exc.description,
            "lastRefreshError": ring.last_error,
        }
    return {
        "status": "ok",
        "source": ring.source.description,
        "signingKid": keyset.signer.kid,
        "trusted": sorted(keyset.trusted),
        "published": len(keyset.published),
        "lastRefreshError": ring.last_error,
    }


def _probe(database: Database) -> str:
    try:
        with database.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except PayerAuthError:
        return "unreachable"
