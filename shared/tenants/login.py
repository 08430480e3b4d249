"""Seamless login (seed 003): a tenant's JWT in, a session of ours out.

The tenant is found by the token's (unverified) ``iss``; from then on
everything comes from its registration: the algorithm is pinned, the key is
the tenant's, ``aud`` must be the registered one, ``exp`` is required and the
lifetime is capped.  Each token is accepted once (its ``jti``, or its hash),
remembered in the database until it expires so the rule holds across
instances.  The session is a JWT of ours (``usertype`` ``tenant-user``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidRequest, Unauthorized
from shared.jose.keys import KeyRing
from shared.jose.verify import framed, verify
from shared.reasons import Reason
from shared.storage.database import Database
from shared.telemetry import mask_email, mask_phone
from shared.tenants.registry import Tenant, TenantRegistry
from shared.tokens import TENANT_JWT, TENANT_SESSION, Issuer, tenant_session_claims

log = logging.getLogger("payerauth.tenant_login")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass(frozen=True)
class Session:
    token: str
    max_age: int
    return_url: str


class ReplayStore:
    """Tenant tokens already used, in the Master DB, until they expire."""

    def __init__(self, master: Database) -> None:
        self.master = master

    def first_use(self, key: str, tenant_id: str, expires_at: int, now: int) -> bool:
        with self.master.cursor() as cursor:
            cursor.execute("DELETE FROM TenantTokenReplay WHERE ExpiresAt < ?", (now,))
            cursor.execute(
                "INSERT INTO TenantTokenReplay (TokenKey, TenantId, ExpiresAt) SELECT ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM TenantTokenReplay WHERE TokenKey = ?)",
                (key, tenant_id, expires_at, key),
            )
            return cursor.rowcount == 1


class TenantLogin:
    def __init__(
        self,
        registry: TenantRegistry,
        replay: ReplayStore,
        payer_keys: KeyRing,
        now: Callable[[], dt.datetime],
        *,
        session: Issuer,
        leeway: int,
        max_lifetime: int,
    ) -> None:
        self.session = session  # the session JWT's iss, aud and lifetime
        self.leeway = leeway
        self.max_lifetime = max_lifetime  # of the tenant JWTs we accept
        self.registry = registry
        self.replay = replay
        self.payer_keys = payer_keys
        self.now = now

    def tenant_of(self, token: str) -> Tenant:
        """The registered tenant named by the token's ``iss``; 401 when there is none."""
        issuer = framed(token, _refused).claims.get("iss")  # unverified: it only names the tenant
        tenant = self.registry.get(issuer) if isinstance(issuer, str) and len(issuer) <= 256 else None
        if tenant is None:
            raise Unauthorized("the tenant JWT's issuer is not a registered tenant", reason=Reason.TENANT_UNREGISTERED)
        return tenant

    def login(self, token: str, tenant: Tenant) -> Session:
        now = self.now()
        at = int(now.timestamp())
        rules = TENANT_JWT.rules(tenant.tenant_id, tenant.audience, frozenset({tenant.algorithm}))
        claims = verify(token, self.registry.keys(tenant), rules, now=now, leeway=self.leeway)
        self._check_lifetime(claims, at)
        user = _user(claims)
        self._accept_once(token, tenant, claims, at)
        lifetime = self.session.lifetime
        session_claims = tenant_session_claims(
            issuer=self.session.issuer,
            audience=self.session.audience,
            tenant_id=tenant.tenant_id,
            user=user,
            now=now,
            lifetime=lifetime,
        )
        session = self.payer_keys.sign(session_claims, typ=TENANT_SESSION.typ)
        log.info(
            "tenant login tenant=%s email=%s mobile=%s",
            tenant.tenant_id,
            mask_email(user["email"]) if "email" in user else "-",
            mask_phone(user["mobile"]) if "mobile" in user else "-",
        )
        return Session(session, lifetime, tenant.return_url)

    def _check_lifetime(self, claims: dict[str, Any], now: int) -> None:
        issued = claims.get("iat", now)
        if claims["exp"] - issued > self.max_lifetime:
            raise InvalidRequest(
                f"the tenant JWT lives longer than {self.max_lifetime} s; sign it just before opening the login",
                reason=Reason.TENANT_TOKEN_TOO_LONG_LIVED,
            )

    def _accept_once(self, token: str, tenant: Tenant, claims: dict[str, Any], now: int) -> None:
        jti = claims.get("jti")
        seed = f"{tenant.tenant_id}\0jti\0{jti}" if isinstance(jti, str) and jti else f"token\0{token}"
        key = hashlib.sha256(seed.encode()).hexdigest()
        expires = int(claims["exp"]) + self.leeway
        if not self.replay.first_use(key, tenant.tenant_id, expires, now):
            raise InvalidRequest("the tenant JWT has been used already", reason=Reason.TENANT_TOKEN_REPLAYED)


def _refused(what: str, description: str) -> InvalidRequest:
    return InvalidRequest(f"the tenant JWT {description}", reason=f"tenant_token_{what}")


def _user(claims: dict[str, Any]) -> dict[str, str]:
    user = {name: claims[name] for name in ("email", "mobile", "userId") if claims.get(name) is not None}
    if not user:
        raise InvalidRequest(
            "the tenant JWT names no user: give email, mobile or userId", reason=Reason.TENANT_USER_MISSING
        )
    for name, value in user.items():
        if not isinstance(value, str) or not value or len(value) > 254:
            raise InvalidRequest(
                f"the tenant JWT's {name} must be a non-empty string", reason=Reason.TENANT_USER_INVALID
            )
    if "email" in user and not _is_addr_spec(user["email"]):
        raise InvalidRequest("the tenant JWT's email is not an e-mail address", reason=Reason.TENANT_EMAIL_INVALID)
    if "mobile" in user and not E164.fullmatch(user["mobile"]):
        raise InvalidRequest(
            "the tenant JWT's mobile is not an E.164 number (+ and 7 to 15 digits)", reason=Reason.TENANT_MOBILE_INVALID
        )
    return user


def _is_addr_spec(email: str) -> bool:
    """An RFC 5322 addr-spec with an unquoted local part and a host name as domain (no IP literal)."""
    from email_validator import EmailNotValidError, validate_email  # ~20 ms, on the first login only

    try:
        validate_email(
            email,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError:
        return False
    return True
