"""The Biller Portal's RS256 portal JWT (seed 004), for the biller-token administration API.

401 when the token is missing or invalid; 403 when it is valid but may not act
here: a usertype other than ``Biller``, or a biller GUID other than the path's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from shared.billers.directory import Actor
from shared.errors import Forbidden, Unauthorized
from shared.http import Request
from shared.jose.keys import KeyRing
from shared.jose.verify import TokenRules, verify
from shared.reasons import Reason
from shared.tokens import BILLER_GUID, PORTAL, USERTYPE, canonical_guid


@dataclass(frozen=True)
class PortalPrincipal:
    biller_guid: str
    actor: Actor  # sub, and obo when someone acts on behalf of the biller user


class PortalGuard:
    def __init__(self, rules: TokenRules, ic_keys: KeyRing, now: Callable[[], dt.datetime], *, leeway: int) -> None:
        self.leeway = leeway
        self.ic_keys = ic_keys
        self.now = now
        self.rules = rules  # the portal JWT's (``shared.tokens.PORTAL``), built once

    def require(self, request: Request, biller_guid: str) -> PortalPrincipal:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "send the Biller Portal's JWT as 'Authorization: Bearer <portal JWT>'", reason=Reason.CREDENTIAL_MISSING
            )
        claims = verify(
            token.strip(),
            self.ic_keys.current(),
            self.rules,
            now=self.now(),
            leeway=self.leeway,
            reject=Unauthorized,
        )
        if claims[USERTYPE] != PORTAL.usertype:
            raise Forbidden("the portal JWT's usertype is not 'Biller'", reason=Reason.PORTAL_USERTYPE_FORBIDDEN)
        if canonical_guid(claims[BILLER_GUID]) != canonical_guid(biller_guid):
            raise Forbidden("the portal JWT is for another biller", reason=Reason.PORTAL_BILLER_MISMATCH)
        obo = claims.get("obo")
        return PortalPrincipal(
            canonical_guid(biller_guid) or biller_guid,
            Actor(sub=str(claims["sub"])[:64], obo=str(obo)[:64] if isinstance(obo, str) else None),
        )
