"""Verifying a JWT of a given kind: PyJWT checks the signature, our rules check everything else.

Each kind (``shared.tokens``) pins its algorithms, issuer, audience, required
claims, ``typ`` and usertype; the token header only ever selects among keys we
already trust (``kid`` is a lookup, ``jku``/``x5u``/``x5c``/``jwk`` are
ignored).  A token passes, in order: the pre-check (``jws.precheck``: what
PyJWT does not refuse), our header rules, PyJWT's signature check with the
algorithms pinned and the key chosen by us, and our claim rules.  PyJWT's own
claim checks are off, so there is one set of claim rules with our reasons: time
claims are checked here with an injected ``now`` and a leeway of at most 60 s,
on every request, cache hit or miss, so tests need no sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from shared.errors import InvalidRequest, RequestRejected
from shared.jose import jws
from shared.jose.keys import KeySet, VerificationKey
from shared.storage.cache import TtlCache

MAX_TOKEN_BYTES = 8 * 1024
JOSE_LIBRARY = f"PyJWT {jwt.__version__}"

# PyJWT checks the signature and nothing else: every claim rule is ours (``_Checker.claims``).  It always
# checks the signature: ``decode_complete`` reads ``verify_signature`` from a call's own options only (True
# when none are given, and we never give any), so it is not among these.
_PYJWT = jwt.PyJWT(
    options={
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "verify_aud": False,
        "verify_iss": False,
        "verify_sub": False,
        "verify_jti": False,
        "require": [],
        "enforce_minimum_key_length": True,
    }
)


@dataclass(frozen=True)
class TokenRules:
    kind: str  # "biller JWT": used in messages
    algorithms: frozenset[str]
    issuer: str
    audience: str
    required: tuple[str, ...]
    require_exp: bool
    allowed_typ: frozenset[str | None]  # header typ values accepted (None: absent)
    usertype: tuple[str, str] | None = None  # (claim, value): the usertype the token must carry
    reason_prefix: str = "token"
    require_iat: bool = False


# Keys for a (kid, alg): our KeySet's, or a tenant's (public keys, or an HS256 secret as bytes).
KeyLookup = Callable[[str | None, str], Sequence[VerificationKey]]


def verify(
    token: str,
    keys: KeySet | KeyLookup,
    rules: TokenRules,
    *,
    now: dt.datetime,
    leeway: int,
    reject: type[RequestRejected] = InvalidRequest,
    cache: TtlCache[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Verify signature and claims; return the claims or raise ``reject``.

    With a ``cache``, a token verified under the same trusted key set is not verified again (the
    key is the SHA-256 of its exact bytes, which cannot have changed): a hit calls no PyJWT decode.
    Its claims are still checked against ``now`` every time.
    """
    check = _Checker(rules, reject)
    lookup = keys.lookup if isinstance(keys, KeySet) else keys
    if cache is None or not isinstance(keys, KeySet):
        claims = check.verified(token, lookup)
    else:
        key = (hashlib.sha256(token.encode()).digest(), keys.trusted_id, rules.kind)
        claims = cache.get_or_load(key, lambda: check.verified(token, lookup))
    check.claims(claims, int(now.timestamp()), leeway)
    return claims


def framed(token: str, fail: Callable[[str, str], RequestRejected]) -> jws.Framed:
    """The pre-check, its refusals raised through ``fail(what, description)``."""
    try:
        return jws.precheck(token, max_bytes=MAX_TOKEN_BYTES)
    except jws.MalformedJWS as exc:
        description = str(exc) if exc.what != "malformed" else f"is not a well-formed JWS: {exc}"
        raise fail(exc.what, description) from None


class _Checker:
    def __init__(self, rules: TokenRules, reject: type[RequestRejected]) -> None:
        self.rules = rules
        self.reject = reject

    def fail(self, what: str, description: str) -> RequestRejected:
        return self.reject(f"the {self.rules.kind} {description}", reason=f"{self.rules.reason_prefix}_{what}")

    def verified(self, token: str, lookup: KeyLookup) -> dict[str, Any]:
        """Pre-check, header rules, then PyJWT with each candidate key we chose; the claims, unchecked."""
        header = framed(token, self.fail).header
        alg, kid = self.header(header)
        candidates = lookup(kid, alg)
        if not candidates:
            raise self.fail("key_untrusted", "is signed by a key we do not trust")
        algorithms = sorted(self.rules.algorithms)  # pinned per kind, never read from the token
        for key in candidates:
            try:
                decoded = _PYJWT.decode_complete(token, key, algorithms=algorithms)
            except jwt.PyJWTError:  # a bad signature, or a key PyJWT refuses for this alg: not this key
                continue
            claims: dict[str, Any] = decoded["payload"]  # the segment the pre-check found strict JSON
            return claims
        raise self.fail("signature_invalid", "has a signature that does not verify with a trusted key")

    def header(self, header: dict[str, Any]) -> tuple[str, str | None]:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.rules.algorithms:
            allowed = ", ".join(sorted(self.rules.algorithms))
            shown = alg if isinstance(alg, str) and len(alg) <= 16 else "?"
            raise self.fail("alg_not_allowed", f"is signed with alg {shown!r}; only {allowed} is accepted")
        typ = header.get("typ")
        if not (typ is None or isinstance(typ, str)) or typ not in self.rules.allowed_typ:
            raise self.fail("typ_not_allowed", "has a typ header that does not belong to this kind of token")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise self.fail("malformed", "has a kid header that is not a string")
        return alg, kid

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
        if rules.usertype is not None and claims.get(rules.usertype[0]) != rules.usertype[1]:
            raise self.fail("usertype_mismatch", f"does not carry usertype {rules.usertype[1]!r}")

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
        """A present time claim is a finite JSON number (RFC 7519 NumericDate); ``null`` is not absent."""
        if name not in claims:
            return None
        value = claims[name]
        try:
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
        except OverflowError:  # an integer beyond any float
            number = math.nan
        if not math.isfinite(number):
            raise self.fail("claim_invalid", f"has a {name!r} claim that is not a NumericDate (a finite number)")
        return number


def _audience_ok(aud: object, expected: str) -> bool:
    # RFC 7519 §4.1.3: a string, or an array that contains our value.
    if isinstance(aud, str):
        return aud == expected
    return isinstance(aud, list) and expected in aud and all(isinstance(a, str) for a in aud)
