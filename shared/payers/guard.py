"""The guard every protected route uses: a verified payer JWT becomes a typed ``PayerPrincipal``.

The token comes from ``Authorization: Bearer`` or, failing that, the session
cookie.  It is verified with the payer key ring only (our keys, our ``iss`` and
``aud``, ``typ`` ``at+jwt``, usertype ``payer``, ``exp`` required), so a biller
JWT, a portal JWT or a tampered token is a 401 whatever key signed it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import Forbidden, PayerAuthError, Unauthorized
from shared.http import Request
from shared.jose import jws
from shared.jose.keys import KeyRing
from shared.jose.verify import MAX_TOKEN_BYTES, verify
from shared.reasons import Reason
from shared.tokens import BILLER_GUID, ORIGIN, PAYER


@dataclass(frozen=True)
class PayerPrincipal:
    subject: str
    biller_guid: str
    origin: str
    session_id: str
    token_id: str
    expires_at: int

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> PayerPrincipal:
        return cls(claims["sub"], claims[BILLER_GUID], claims[ORIGIN], claims["sid"], claims["jti"], int(claims["exp"]))


class PayerGuard:
    def __init__(
        self,
        payer_keys: KeyRing,
        now: Callable[[], dt.datetime],
        *,
        issuer: str,
        audience: str,
        leeway: int,
        cookie_name: str,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.cookie_name = cookie_name
        self.payer_keys = payer_keys
        self.now = now

    def _verified(self, token: str) -> dict[str, Any]:
        keyset = self.payer_keys.current()
        rules = PAYER.rules(self.issuer, self.audience, keyset.algorithms)
        return verify(token, keyset, rules, now=self.now(), leeway=self.leeway, reject=Unauthorized)

    def require(self, request: Request) -> PayerPrincipal:
        claims = self._verified(self.credential(request))
        principal = PayerPrincipal.from_claims(claims)
        origin = request.header("origin")
        if origin is not None and origin != principal.origin:
            raise Forbidden("the payer JWT was issued to another origin", reason=Reason.PAYER_ORIGIN_MISMATCH)
        return principal

    def session_origin(self, request: Request) -> str | None:
        """The origin a request's session was issued to, when its signature verifies (expired or not).

        Logout grants CORS to this origin only, so it never answers an arbitrary site's page."""
        try:
            token = self.credential(request)
            claims = self._verified(token)
        except Unauthorized as exc:
            if exc.reason != "payer_token_expired":
                return None
            # Expiry is checked after the signature, issuer, audience and usertype: only it failed here.
            claims = jws.precheck(token, max_bytes=MAX_TOKEN_BYTES).claims
        except PayerAuthError:
            return None
        origin = claims.get(ORIGIN)
        return origin if isinstance(origin, str) else None

    def credential(self, request: Request) -> str:
        authorization = request.header("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("use 'Authorization: Bearer <payer JWT>'", reason=Reason.AUTHORIZATION_MALFORMED)
            return token.strip()
        cookie = request.cookie(self.cookie_name)
        if not cookie:
            raise Unauthorized(
                "no payer session: send the session cookie or 'Authorization: Bearer'", reason=Reason.CREDENTIAL_MISSING
            )
        return cookie
