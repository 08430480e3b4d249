"""Every token kind in one table: how we verify it, what we write when we sign it, and its claims.

=============== ========= ============ ============== ==============================================
kind            alg       typ          usertype       verified by / minted by
=============== ========= ============ ============== ==============================================
biller JWT      RS256     JWT          --             the exchange / biller-token administration
payer JWT       key set's at+jwt       payer          the payer guard / the exchange
portal JWT      RS256     JWT          Biller (403)   the portal guard / the Biller Portal
tenant JWT      tenant's  JWT or none  --             seamless login / the tenant
tenant session  key set's at+jwt       tenant-user    (downstream) / seamless login
=============== ========= ============ ============== ==============================================

Rules with a fixed issuer and audience are built once, at start-up, by the
composition root (``shared.app``) and handed to the use case that verifies.
The JOSE work itself (pre-check, PyJWT, claim checks) is ``shared.jose.verify``.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from shared.jose.verify import TokenRules

URN = "urn:invoicecloud:"
BILLER_GUID = URN + "billerguid"
USERTYPE = URN + "usertype"
ORIGIN = URN + "origin"
TENANT = URN + "tenant"
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - RFC 9068: the payer JWT and the tenant session
SUBJECT_NAMESPACE = uuid.UUID("8d6b3c5e-8f0a-4f59-9a3e-6e1c2b7d4a10")  # a tenant user's stable sub


@dataclass(frozen=True)
class Issuer:
    """What the tokens we sign for one audience carry: our ``iss``, their ``aud``, and how long they live."""

    issuer: str
    audience: str
    lifetime: int


@dataclass(frozen=True)
class TokenKind:
    name: str  # in messages: "the biller JWT has expired"
    typ: str  # the header typ we write when we sign one
    accepted_typ: frozenset[str | None]  # header typ values accepted (None: absent)
    reason_prefix: str  # refusals read ``<prefix>_<what>``: biller_token_expired
    algorithms: frozenset[str] = frozenset()  # empty: decided by the key set or the tenant
    required: tuple[str, ...] = ()
    require_exp: bool = True
    require_iat: bool = False
    usertype: str | None = None  # what ours carry, or what the token must carry
    usertype_is_rule: bool = False  # a wrong usertype is a 401 of the rules (else the guard's own 403)

    def rules(self, issuer: str, audience: str, algorithms: frozenset[str] | None = None) -> TokenRules:
        """This kind's rules for one issuer and audience (about 1.2 µs to build: no cache is worth its state)."""
        usertype = (USERTYPE, self.usertype) if self.usertype_is_rule and self.usertype else None
        return TokenRules(
            kind=self.name,
            algorithms=algorithms or self.algorithms,
            issuer=issuer,
            audience=audience,
            required=self.required,
            require_exp=self.require_exp,
            allowed_typ=self.accepted_typ,
            usertype=usertype,
            reason_prefix=self.reason_prefix,
            require_iat=self.require_iat,
        )


BILLER = TokenKind(
    "biller JWT",
    "JWT",
    frozenset({None, "JWT"}),
    "biller_token",
    frozenset({"RS256"}),
    required=("iss", "sub", "domain", "jti"),
    require_exp=False,
)  # long-lived; checked when present
PAYER = TokenKind(
    "payer JWT",
    ACCESS_TOKEN_TYP,
    frozenset({ACCESS_TOKEN_TYP}),
    "payer_token",
    required=("sub", "jti", "sid", BILLER_GUID, ORIGIN),
    usertype="payer",
    usertype_is_rule=True,
)
PORTAL = TokenKind(
    "portal JWT",
    "JWT",
    frozenset({None, "JWT"}),
    "portal_token",
    frozenset({"RS256"}),
    required=(BILLER_GUID, USERTYPE, "sub", "jti"),
    require_iat=True,
    usertype="Biller",
)
TENANT_JWT = TokenKind("tenant JWT", "JWT", frozenset({None, "JWT"}), "tenant_token", required=("iss",))
TENANT_SESSION = TokenKind(
    "tenant session", ACCESS_TOKEN_TYP, frozenset({ACCESS_TOKEN_TYP}), "tenant_session", usertype="tenant-user"
)
KINDS = (BILLER, PAYER, PORTAL, TENANT_JWT, TENANT_SESSION)


@functools.lru_cache(maxsize=4096)
def canonical_guid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value)) if len(value) <= 38 else None
    except ValueError:
        return None


# --- the claims of the tokens we mint ---------------------------------------------


def payer_claims(
    *, issuer: str, audience: str, biller_guid: str, origin: str, now: dt.datetime, lifetime: int
) -> dict[str, Any]:
    issued = int(now.timestamp())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": str(uuid.uuid4()),
        BILLER_GUID: biller_guid,
        USERTYPE: PAYER.usertype,
        ORIGIN: origin,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(16),  # 128 random bits in 22 characters: the cookie stays small
        "sid": secrets.token_urlsafe(16),
    }


def biller_claims(
    *,
    issuer: str,
    audience: str,
    biller_guid: str,
    domain: str,
    jti: str,
    now: dt.datetime,
    expires_in: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": biller_guid,
        "aud": audience,
        "domain": domain,
        "jti": jti,
        "iat": issued,
    }
    if expires_in is not None:
        claims["exp"] = issued + expires_in
    claims.update(extra or {})
    return {name: value for name, value in claims.items() if value is not None}  # None drops a claim


def tenant_session_claims(
    *, issuer: str, audience: str, tenant_id: str, user: dict[str, str], now: dt.datetime, lifetime: int
) -> dict[str, Any]:
    issued = int(now.timestamp())
    stable = user.get("userId") or user.get("email") or user.get("mobile") or ""
    return {
        "iss": issuer,
        "aud": audience,
        "sub": str(uuid.uuid5(SUBJECT_NAMESPACE, f"{tenant_id}\0{stable}")),
        TENANT: tenant_id,
        USERTYPE: TENANT_SESSION.usertype,
        **user,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
    }
