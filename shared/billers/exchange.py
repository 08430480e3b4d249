"""The biller-token exchange (RFC 8693): a biller JWT in, a short-lived payer JWT out.

Checks run in the contract's order: form and sizes; signature (RS256, a
trusted IC key); ``iss``/``aud``/``nbf``/``exp``; ``domain`` against the
request's origin; the biller in the Master DB; the ``jti`` row in the biller's
shard holding this token, active.  Each failure is an ``InvalidRequest`` with
a stable reason.  The steps are separate (``authenticate``, ``admit_origin``,
``issue``) so the endpoint knows, for each refusal, the biller and whether the
origin is the token's own (then the page may read why it was refused).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.billers.directory import BillerDirectory
from shared.errors import InvalidRequest, UnsupportedGrantType
from shared.jose.keys import KeyRing
from shared.jose.verify import TokenRules, verify
from shared.origins import Origin, parse_domain, request_origin
from shared.reasons import Reason
from shared.storage.cache import TtlCache
from shared.tokens import PAYER, Issuer, canonical_guid, payer_claims

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 - a URN, not a secret

Delivery = Literal["body", "cookie"]


@dataclass(frozen=True)
class ExchangeRequest:
    subject_token: str
    delivery: Delivery
    origin_header: str | None
    referer_header: str | None


@dataclass(frozen=True)
class Subject:
    """An authenticated subject token: its verified claims, the request's origin and the biller it names."""

    token: str
    claims: dict[str, Any]
    origin: Origin
    biller_guid: str | None  # the canonical ``sub``; None when it is not a GUID (refused by ``issue``)


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int
    origin: Origin
    claims: dict[str, Any]
    delivery: Delivery


def parse_exchange(
    fields: Mapping[str, str], *, origin: str | None, referer: str | None, default_delivery: Delivery = "body"
) -> ExchangeRequest:
    grant_type = fields.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("grant_type is required", reason=Reason.GRANT_TYPE_MISSING)
    if grant_type != GRANT_TYPE:
        raise UnsupportedGrantType(f"grant_type must be {GRANT_TYPE}", reason=Reason.GRANT_TYPE_UNSUPPORTED)
    if fields.get("subject_token_type") != JWT_TOKEN_TYPE:
        raise InvalidRequest(f"subject_token_type must be {JWT_TOKEN_TYPE}", reason=Reason.SUBJECT_TOKEN_TYPE_INVALID)
    token = fields.get("subject_token", "")
    if not token:
        raise InvalidRequest("subject_token is required", reason=Reason.SUBJECT_TOKEN_MISSING)
    delivery = fields.get("token_delivery", default_delivery)
    if delivery not in ("body", "cookie"):
        raise InvalidRequest("token_delivery must be 'body' or 'cookie'", reason=Reason.TOKEN_DELIVERY_INVALID)
    return ExchangeRequest(token, "cookie" if delivery == "cookie" else "body", origin, referer)


class Exchange:
    def __init__(
        self,
        ic_keys: KeyRing,
        payer_keys: KeyRing,
        directory: BillerDirectory,
        now: Callable[[], dt.datetime],
        *,
        rules: TokenRules,
        payer: Issuer,
        leeway: int,
        allow_http_loopback: bool,
        verified: TtlCache[dict[str, Any]] | None = None,
    ) -> None:
        self.payer = payer  # the payer JWT's iss, aud and lifetime
        self.leeway = leeway
        self.allow_http_loopback = allow_http_loopback  # development only
        self.verified = verified  # biller JWTs are long-lived and shared by every payer of a biller
        self.ic_keys = ic_keys
        self.payer_keys = payer_keys
        self.directory = directory
        self.now = now
        self.rules = rules  # the biller JWT's (``shared.tokens.BILLER``), built once

    def run(self, request: ExchangeRequest) -> Issued:
        """The whole exchange, for callers that need no context on a refusal (the benchmark)."""
        subject = self.authenticate(request)
        self.admit_origin(subject)
        return self.issue(subject, request.delivery)

    def authenticate(self, request: ExchangeRequest) -> Subject:
        """The biller JWT verified (signature, ``iss``, ``aud``, times) and the request's origin read."""
        claims = verify(
            request.subject_token,
            self.ic_keys.current(),
            self.rules,
            now=self.now(),
            leeway=self.leeway,
            cache=self.verified,
        )
        origin = request_origin(
            request.origin_header, request.referer_header, allow_http_loopback=self.allow_http_loopback
        )
        return Subject(request.subject_token, claims, origin, canonical_guid(claims["sub"]))

    def admit_origin(self, subject: Subject) -> None:
        """The request's origin must be one the token's ``domain`` admits; only then may a refusal be read."""
        if not _domain_rule_admits(subject.claims["domain"], subject.origin):
            raise InvalidRequest(
                "the request's origin does not match the biller JWT's domain", reason=Reason.ORIGIN_MISMATCH
            )

    def issue(self, subject: Subject, delivery: Delivery) -> Issued:
        """The directory's checks (biller active, this token registered and active), then the payer JWT."""
        guid = self._check_directory(subject)
        return self._issue(guid, subject.origin, delivery, self.now())

    def _check_directory(self, subject: Subject) -> str:
        guid = subject.biller_guid
        jti = canonical_guid(subject.claims["jti"])
        if guid is None:
            raise InvalidRequest("the biller JWT's sub is not a biller GUID", reason=Reason.BILLER_GUID_INVALID)
        if jti is None:
            raise InvalidRequest("the biller JWT's jti is not a GUID", reason=Reason.JTI_INVALID)
        biller = self.directory.biller(guid)
        if biller is None:
            raise InvalidRequest("the biller JWT names an unknown biller", reason=Reason.BILLER_UNKNOWN)
        if not biller.active:
            raise InvalidRequest("the biller is not active", reason=Reason.BILLER_INACTIVE)
        record = self.directory.token(biller, jti)
        if record is None:
            raise InvalidRequest("the biller JWT is not registered for this biller", reason=Reason.JTI_UNKNOWN)
        if not record.holds(subject.token):
            raise InvalidRequest(
                "the biller JWT does not match the token registered under its jti", reason=Reason.JTI_MISMATCH
            )
        if not record.active:
            raise InvalidRequest("the biller JWT has been revoked", reason=Reason.JTI_INACTIVE)
        return guid

    def _issue(self, biller_guid: str, origin: Origin, delivery: Delivery, now: dt.datetime) -> Issued:
        lifetime = self.payer.lifetime
        payer = payer_claims(
            issuer=self.payer.issuer,
            audience=self.payer.audience,
            biller_guid=biller_guid,
            origin=origin.serialize(),
            now=now,
            lifetime=lifetime,
        )
        token = self.payer_keys.sign(payer, typ=PAYER.typ)
        return Issued(token, lifetime, origin, payer, delivery)


def _domain_rule_admits(domain: str, origin: Origin) -> bool:
    try:
        return parse_domain(domain).admits(origin)
    except InvalidRequest:
        return False
