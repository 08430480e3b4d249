"""Biller JWT administration: mint (signed with the IC key, recorded in the shard), revoke, list.

Used by the command-line tool now and by the Biller Portal's admin API.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.billers.directory import Actor, Biller, BillerDirectory, TokenRecord
from shared.errors import InvalidRequest, NotFound
from shared.jose.keys import KeyRing
from shared.origins import parse_registrable_domain
from shared.reasons import Reason
from shared.tokens import BILLER, biller_claims, canonical_guid


@dataclass(frozen=True)
class MintedToken:
    token: str
    record: TokenRecord


class BillerTokens:
    def __init__(
        self,
        ic_keys: KeyRing,
        directory: BillerDirectory,
        now: Callable[[], dt.datetime],
        *,
        issuer: str,
        audience: str,
    ) -> None:
        self.issuer = issuer  # the biller JWT's iss and aud (IC's values)
        self.audience = audience
        self.ic_keys = ic_keys
        self.directory = directory
        self.now = now

    def biller(self, guid: str) -> Biller:
        canonical = canonical_guid(guid)
        biller = self.directory.biller(canonical) if canonical else None
        if biller is None:
            raise NotFound(f"no biller with GUID {guid!r}", reason=Reason.NOT_FOUND)
        return biller

    def mint(
        self,
        guid: str,
        domain: str,
        by: Actor,
        *,
        expires_in: int | None = None,
        extra: dict[str, Any] | None = None,
        record: bool = True,
    ) -> MintedToken:
        biller = self.biller(guid)
        parse_registrable_domain(domain)  # refuse a malformed or too-wide domain before signing anything
        jti = str(uuid.uuid4())
        claims = biller_claims(
            issuer=self.issuer,
            audience=self.audience,
            biller_guid=biller.guid,
            domain=domain,
            jti=jti,
            now=self.now(),
            expires_in=expires_in,
            extra=extra,
        )
        try:
            token = self.ic_keys.sign(claims, typ=BILLER.typ)
        except (TypeError, ValueError) as exc:  # extra claims that are not JSON, or a non-string iss
            raise InvalidRequest(f"cannot sign these claims: {exc}", reason=Reason.CLAIMS_INVALID) from None
        stored_jti = canonical_guid(str(claims.get("jti", jti))) or jti
        if not record:
            return MintedToken(token, _unrecorded(stored_jti, biller, domain))
        return MintedToken(token, self.directory.record_token(biller, stored_jti, token, domain, by))

    def revoke(self, guid: str, jti: str, by: Actor) -> TokenRecord:
        biller = self.biller(guid)
        canonical = canonical_guid(jti)
        if canonical is None:
            raise NotFound(f"no token with jti {jti!r}")
        return self.directory.revoke(biller, canonical, by)

    def list(self, guid: str) -> list[TokenRecord]:
        return self.directory.list_tokens(self.biller(guid))


def _unrecorded(jti: str, biller: Biller, domain: str) -> TokenRecord:
    return TokenRecord(jti, biller.biller_id, b"", domain, False, "", Actor(), None, Actor())
