"""Token rules: verify a JWT of a given kind, and the claims of the ones we mint.

Each kind pins its algorithms, issuer, audience, required claims, ``typ`` and
usertype; the token header only ever selects among keys we already trust
(``kid`` is a lookup, ``jku``/``x5u``/``jwk`` are ignored).  Time claims are
checked here with an injected ``now`` and a leeway of at most 60 s, one small
function per claim, so tests need no sleeping.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import jws
from .cache import TtlCache
from .errors import InvalidRequest, RequestRejected
from .keys import KeySet

MAX_TOKEN_BYTES = 8 * 1024
URN = "urn:invoicecloud:"
BILLER_GUID = URN + "billerguid"
USERTYPE = URN + "usertype"
ORIGIN = URN + "origin"


@dataclass(frozen=True)
class TokenRules:
    kind: str  # "biller JWT": used in messages
    algorithms: frozenset[str]
    issuer: str
    audience: str
    required: tuple[str, ...]
    require_exp: bool
    allowed_typ: frozenset[str | None]  # header typ values accepted (None: absent)
    usertype: str | None = None
    reason_prefix: str = "token"
    require_iat: bool = False


# Keys for a (kid, alg): our KeySet's, or a tenant's (public keys, or an HS256 secret as bytes).
KeyLookup = Callable[[str | None, str], Sequence[jws.VerificationKey]]


def verify(token: str, keys: KeySet | KeyLookup, rules: TokenRules, *, now: dt.datetime, leeway: int,
           reject: type[RequestRejected] = InvalidRequest,
           cache: TtlCache[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Verify signature and claims; return the claims or raise ``reject``.

    With a ``cache``, a token whose signature verified under the same trusted key set is not verified
    again (its bytes cannot have changed); its claims are still checked against ``now`` every time.
    """
    check = _Checker(rules, reject)
    lookup = keys.lookup if isinstance(keys, KeySet) else keys
    if cache is None or not isinstance(keys, KeySet) or len(token) > MAX_TOKEN_BYTES:
        claims = check.signature(check.header(token), lookup)
    else:
        key = (hashlib.sha256(token.encode()).digest(), keys.trusted_id, rules.kind)
        claims = cache.get_or_load(key, lambda: check.signature(check.header(token), lookup))
    check.claims(claims, int(now.timestamp()), leeway)
    return claims


class _Checker:
    def __init__(self, rules: TokenRules, reject: type[RequestRejected]) -> None:
        self.rules = rules
        self.reject = reject

    def fail(self, what: str, description: str) -> RequestRejected:
        return self.reject(f"the {self.rules.kind} {description}", reason=f"{self.rules.reason_prefix}_{what}")

    def header(self, token: str) -> jws.CompactJWS:
        if len(token) > MAX_TOKEN_BYTES:
            raise self.fail("too_large", f"is longer than {MAX_TOKEN_BYTES} bytes")
        try:
            parsed = jws.parse(token)
        except jws.MalformedJWS:
            raise self.fail("malformed", "is not a well-formed JWS compact serialization") from None
        header = parsed.header
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.rules.algorithms:
            allowed = ", ".join(sorted(self.rules.algorithms))
            shown = alg if isinstance(alg, str) and len(alg) <= 16 else "?"
            raise self.fail("alg_not_allowed", f"is signed with alg {shown!r}; only {allowed} is accepted")
        typ = header.get("typ")
        if not (typ is None or isinstance(typ, str)) or typ not in self.rules.allowed_typ:
            raise self.fail("typ_not_allowed", "has a typ header that does not belong to this kind of token")
        if "crit" in header:
            raise self.fail("crit_unsupported", "names critical header parameters we do not support")
        return parsed

    def signature(self, parsed: jws.CompactJWS, lookup: KeyLookup) -> dict[str, Any]:
        alg, kid = parsed.header["alg"], parsed.header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise self.fail("malformed", "has a kid header that is not a string")
        candidates = lookup(kid, alg)
        if not candidates:
            raise self.fail("key_untrusted", "is signed by a key we do not trust")
        if not any(jws.verify_signature(alg, key, parsed) for key in candidates):
            raise self.fail("signature_invalid", "has a signature that does not verify with a trusted key")
        try:
            claims = json.loads(parsed.payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            claims = None
        if not isinstance(claims, dict):
            raise self.fail("malformed", "payload is not a JSON object")
        return claims

    def claims(self, claims: dict[str, Any], now: int, leeway: int) -> None:
        rules = self.rules
        for name in rules.required:
            value = claims.get(name)
            if not isinstance(value, str) or not value:
                raise self.fail("claim_missing", f"lacks the required claim {name!r}")
        if claims.get("iss") != rules.issuer:
            raise self.fail("iss_mismatch", "has an issuer we do not accept")
        if not _audience_ok(claims.get("aud"), rules.audience):
            raise self.fail("aud_mismatch", "is not meant for this audience")
        self._time_claims(claims, now, leeway)
        if rules.usertype is not None and claims.get(USERTYPE) != rules.usertype:
            raise self.fail("usertype_mismatch", f"does not carry usertype {rules.usertype!r}")

    def _time_claims(self, claims: dict[str, Any], now: int, leeway: int) -> None:
        exp, nbf, iat = (self._numeric(claims, name) for name in ("exp", "nbf", "iat"))
        if exp is None and self.rules.require_exp:
            raise self.fail("claim_missing", "lacks the required claim 'exp'")
        if iat is None and self.rules.require_iat:
            raise self.fail("claim_missing", "lacks the required claim 'iat'")
        if exp is not None and exp <= now - leeway:
            raise self.fail("expired", "has expired")
        if nbf is not None and nbf > now + leeway:
            raise self.fail("not_yet_valid", "is not valid yet (nbf is in the future)")
        if iat is not None and iat > now + leeway:
            raise self.fail("issued_in_future", "was issued in the future (iat)")

    def _numeric(self, claims: dict[str, Any], name: str) -> float | None:
        value = claims.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail("claim_invalid", f"has a {name!r} claim that is not a NumericDate")
        return float(value)


def _audience_ok(aud: object, expected: str) -> bool:
    # RFC 7519 §4.1.3: a string, or an array that contains our value.
    if isinstance(aud, str):
        return aud == expected
    return isinstance(aud, list) and expected in aud and all(isinstance(a, str) for a in aud)


@functools.lru_cache(maxsize=4096)
def canonical_guid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value)) if len(value) <= 38 else None
    except ValueError:
        return None


def biller_rules(issuer: str, audience: str) -> TokenRules:
    return TokenRules(
        kind="biller JWT",
        algorithms=frozenset({"RS256"}),
        issuer=issuer,
        audience=audience,
        required=("iss", "sub", "domain", "jti"),
        require_exp=False,  # long-lived; enforced when present
        allowed_typ=frozenset({None, "JWT"}),
        reason_prefix="biller_token",
    )


def payer_claims(*, issuer: str, audience: str, biller_guid: str, origin: str, now: dt.datetime,
                 lifetime: int) -> dict[str, Any]:
    issued = int(now.timestamp())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": str(uuid.uuid4()),
        BILLER_GUID: biller_guid,
        USERTYPE: "payer",
        ORIGIN: origin,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(16),  # 128 random bits in 22 characters: the cookie stays small
        "sid": secrets.token_urlsafe(16),
    }


def biller_claims(*, issuer: str, audience: str, biller_guid: str, domain: str, jti: str, now: dt.datetime,
                  expires_in: int | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    issued = int(now.timestamp())
    claims: dict[str, Any] = {"iss": issuer, "sub": biller_guid, "aud": audience, "domain": domain,
                              "jti": jti, "iat": issued}
    if expires_in is not None:
        claims["exp"] = issued + expires_in
    claims.update(extra or {})
    return {name: value for name, value in claims.items() if value is not None}  # None drops a claim
