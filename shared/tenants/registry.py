"""The tenant registry: partners whose users log in seamlessly with a JWT the partner signs.

Each tenant has exactly one key source, and its algorithm is pinned by it:
RS256 with a PEM public key, RS256 with a JWKS URL (``shared.tenants.jwks``), or HS256
with a shared secret kept in a ``SecretStore`` under a name.  Rows are read
through a short cache; keys are resolved per request from caches that do no
I/O while warm.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import InvalidRequest, NotFound, TenantKeyInvalid
from shared.hosts import LOOPBACK_HOSTS
from shared.jose.keys import VerificationKey
from shared.keystores.secret_store import SecretStore, hs256_secret
from shared.origins import ascii_origins, parse_origin
from shared.storage.cache import TtlCache
from shared.storage.database import Database
from shared.tenants.jwks import FetchPolicy, TenantJwks

MAX_CACHED_PEM_KEYS = 10_000
COLUMNS = "TenantId, Audience, Algorithm, PublicKeyPem, JwksUrl, SecretName, ReturnUrl, FrameAncestors"


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    audience: str
    algorithm: str
    return_url: str
    frame_ancestors: tuple[str, ...]
    public_key_pem: str | None = None
    jwks_url: str | None = None
    secret_name: str | None = None

    @property
    def key_source(self) -> str:
        return "pem" if self.public_key_pem else "jwks" if self.jwks_url else "hs256-secret"

    def public(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "audience": self.audience,
            "algorithm": self.algorithm,
            "keySource": self.key_source,
            "jwksUrl": self.jwks_url,
            "secretName": self.secret_name,
            "returnUrl": self.return_url,
            "frameAncestors": list(self.frame_ancestors),
        }


class TenantRegistry:
    def __init__(
        self,
        master: Database,
        secrets: SecretStore,
        policy: FetchPolicy,
        *,
        ttl: float,
        jwks_ttl: float,
        jwks_min_interval: float,
        monotonic: Callable[[], float],
        now: Callable[[], dt.datetime],
    ) -> None:
        self.master = master
        self.secrets = secrets
        self.policy = policy
        self.jwks_ttl = jwks_ttl
        self.jwks_min_interval = jwks_min_interval
        self.monotonic = monotonic
        self.now = now
        self._rows: TtlCache[Tenant | None] = TtlCache(ttl, 10_000, monotonic)
        self._jwks: dict[tuple[str, str], TenantJwks] = {}

    def get(self, tenant_id: str) -> Tenant | None:
        return self._rows.get_or_load(tenant_id, lambda: self._load(tenant_id))

    def _load(self, tenant_id: str) -> Tenant | None:
        with self.master.cursor() as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM Tenants WHERE TenantId = ?", (tenant_id,))  # noqa: S608
            row = cursor.fetchone()
        return _tenant(row) if row else None

    def keys(self, tenant: Tenant) -> Callable[[str | None, str], Sequence[VerificationKey]]:
        """The tenant's keys for a (kid, alg); empty for any algorithm but its own."""
        if tenant.public_key_pem:
            key = _pem_key(tenant.tenant_id, tenant.public_key_pem)
            return lambda kid, alg: [key] if alg == "RS256" else []
        if tenant.jwks_url:
            jwks = self._jwks_for(tenant.tenant_id, tenant.jwks_url)
            return lambda kid, alg: jwks.keys_for(kid) if alg == "RS256" else []
        secret = hs256_secret(self.secrets.get(tenant.secret_name or ""), name=tenant.secret_name or "")
        return lambda kid, alg: [secret] if alg == "HS256" else []

    def _jwks_for(self, tenant_id: str, url: str) -> TenantJwks:
        key = (tenant_id, url)
        if key not in self._jwks:
            self._jwks[key] = TenantJwks(
                url, self.policy, ttl=self.jwks_ttl, min_interval=self.jwks_min_interval, monotonic=self.monotonic
            )
        return self._jwks[key]

    # --- administration (CLI) ----------------------------------------------------------

    def add(self, tenant: Tenant, *, development: bool) -> Tenant:
        validate(tenant, development=development, secrets=self.secrets)
        tenant = replace(tenant, frame_ancestors=ascii_origins(tenant.frame_ancestors))
        with self.master.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO Tenants ({COLUMNS}, CreatedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    tenant.tenant_id,
                    tenant.audience,
                    tenant.algorithm,
                    tenant.public_key_pem,
                    tenant.jwks_url,
                    tenant.secret_name,
                    tenant.return_url,
                    " ".join(tenant.frame_ancestors),
                    self.now().strftime("%Y-%m-%d %H:%M:%S"),
                ),
            )
        self._rows.clear()
        return tenant

    def list(self) -> list[Tenant]:
        with self.master.cursor() as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM Tenants ORDER BY TenantId")  # noqa: S608
            return [_tenant(row) for row in cursor.fetchall()]

    def remove(self, tenant_id: str) -> None:
        with self.master.cursor() as cursor:
            cursor.execute("DELETE FROM Tenants WHERE TenantId = ?", (tenant_id,))
            if cursor.rowcount == 0:
                raise NotFound(f"no tenant {tenant_id!r}")
        self._rows.clear()


def validate(tenant: Tenant, *, development: bool, secrets: SecretStore) -> None:
    """Refuse a registration that could never log anyone in, with a message saying why."""
    sources = [s for s in (tenant.public_key_pem, tenant.jwks_url, tenant.secret_name) if s]
    if len(sources) != 1:
        raise InvalidRequest("give exactly one key source: a PEM public key, a JWKS URL or an HS256 secret")
    if tenant.algorithm != ("HS256" if tenant.secret_name else "RS256"):
        raise InvalidRequest("a PEM key or JWKS URL means RS256; a shared secret means HS256")
    if tenant.public_key_pem:
        _rsa_public_key(tenant.public_key_pem, tenant.tenant_id)
    if tenant.jwks_url:
        _check_url(tenant.jwks_url, "JWKS URL", development)
    if tenant.secret_name:
        hs256_secret(secrets.get(tenant.secret_name), name=tenant.secret_name)
    _check_url(tenant.return_url, "return URL", development)
    if not tenant.frame_ancestors:
        raise InvalidRequest("name at least one origin allowed to frame the login (the tenant's site)")
    for origin in tenant.frame_ancestors:
        parse_origin(origin, allow_http_loopback=development)
    if not tenant.tenant_id or not tenant.audience:
        raise InvalidRequest("a tenant needs its issuer (tenant id) and the audience its JWTs carry")


def _check_url(url: str, what: str, development: bool) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    loopback_http = parts.scheme == "http" and development and (parts.hostname or "") in LOOPBACK_HOSTS
    if not parts.hostname or (parts.scheme != "https" and not loopback_http):
        raise InvalidRequest(f"the {what} must be an absolute https URL (http only for loopback in development)")


@functools.lru_cache(maxsize=MAX_CACHED_PEM_KEYS)
def _pem_key(tenant_id: str, pem: str) -> rsa.RSAPublicKey:
    """Parsed once per key material: a re-registered key takes effect as soon as the row cache does."""
    return _rsa_public_key(pem, tenant_id)


def _rsa_public_key(pem: str, tenant_id: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise TenantKeyInvalid(f"tenant {tenant_id!r}: the public key is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise TenantKeyInvalid(f"tenant {tenant_id!r}: the public key must be RSA of at least 2048 bits")
    return key


def _tenant(row: Sequence[Any]) -> Tenant:
    tenant_id, audience, algorithm, pem, jwks_url, secret_name, return_url, ancestors = row
    return Tenant(
        str(tenant_id),
        str(audience),
        str(algorithm),
        str(return_url),
        ascii_origins(str(ancestors).split()),
        pem or None,
        jwks_url or None,
        secret_name or None,
    )
