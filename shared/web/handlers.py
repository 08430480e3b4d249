"""One handler per route: each parses, calls one use case and renders its success.

Errors propagate to ``shared.web.endpoints``, which renders them; a handler
writes what it learns about the request (the biller, the origin a refusal may
be shown to, a reason it rendered itself) on the request's ``RequestRecord``.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from shared import telemetry
from shared.billers.exchange import JWT_TOKEN_TYPE, ExchangeRequest, Issued, parse_exchange
from shared.errors import InvalidRequest, PayerAuthError
from shared.http import Request, Response
from shared.payers.guard import PayerPrincipal
from shared.reasons import Reason
from shared.web import cors
from shared.web.cookies import cleared_cookie, session_cookie
from shared.web.forms import read_fields
from shared.web.record import RequestRecord
from shared.web.responses import NO_STORE, html_error

if TYPE_CHECKING:
    from shared.app import PayerAuth

log = logging.getLogger("payerauth.request")

JWKS_MAX_AGE = 900  # well under the signing-key overlap (2 h by default)
OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"  # deployed with the app


# --- POST api/payer/token ------------------------------------------------------


def token(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    exchange_request = parse_exchange(
        read_fields(request), origin=request.header("origin"), referer=request.header("referer")
    )
    return _issued(service, _exchange(service, exchange_request, record))


def _exchange(service: PayerAuth, exchange_request: ExchangeRequest, record: RequestRecord) -> Issued:
    """Authenticate, then issue; once the origin is the token's own, a refusal is granted to it."""
    subject = service.exchange.authenticate(exchange_request)
    record.biller_guid = subject.biller_guid
    service.exchange.admit_origin(subject)
    record.cors_origin = subject.origin.serialize()
    return service.exchange.issue(subject, exchange_request.delivery)


def _issued(service: PayerAuth, issued: Issued, body: dict[str, object] | None = None) -> Response:
    if body is None:
        body = {"issued_token_type": JWT_TOKEN_TYPE, "token_type": "Bearer", "expires_in": issued.expires_in}
    headers = [*NO_STORE, *cors.grant(issued.origin.serialize()), *cors.vary()]
    telemetry.exchanges.add(1, {"delivery": issued.delivery})
    if issued.delivery == "cookie":
        headers.append(("Set-Cookie", session_cookie(service.settings.cookie_name, issued.token, issued.expires_in)))
    else:
        body = {"access_token": issued.token, **body}
    return Response.json(200, body, headers=headers)


# --- POST api/payer/bootstrap: exchange, cookie and first data in one round trip ------------


def bootstrap(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    fields = read_fields(request)
    names = service.resources.parse(fields.pop("resources", None))
    exchange_request = parse_exchange(
        fields, origin=request.header("origin"), referer=request.header("referer"), default_delivery="cookie"
    )
    if exchange_request.delivery != "cookie":
        raise InvalidRequest(
            "bootstrap always delivers the session by cookie; use api/payer/token for body delivery",
            reason=Reason.TOKEN_DELIVERY_INVALID,
        )
    issued = _exchange(service, exchange_request, record)
    data = service.resources.fetch(names, PayerPrincipal.from_claims(issued.claims))
    return _issued(service, issued, {"expires_in": issued.expires_in, "data": data})


# --- protected data: GET api/payer/profile, POST api/payer/logout ----------------------------


def profile(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    principal = service.guard.require(request)
    body = service.resources.handlers["profile"](principal)
    return Response.json(200, body, headers=[*NO_STORE, *cors.grant(principal.origin), *cors.vary()])


def logout(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    """Always 204 and a cleared cookie; CORS only for the origin of a session that verifies."""
    origin = service.guard.session_origin(request)
    headers = [*NO_STORE, ("Set-Cookie", cleared_cookie(service.settings.cookie_name)), *cors.vary()]
    return Response(204, headers=headers + (cors.grant(origin) if origin else []))


# --- biller-token administration (the Biller Portal, with its portal JWT) ---------------------


def biller_tokens(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    """POST mints, GET lists: ``api/billers/{billerGuid}/tokens``."""
    principal = service.portal.require(request, request.route.get("billerGuid", ""))
    tokens = service.biller_tokens
    if request.method == "GET":
        listed = [row.public() for row in tokens.list(principal.biller_guid)]
        return Response.json(200, {"tokens": listed}, headers=list(NO_STORE))
    domain = read_fields(request).get("domain")
    if not domain:
        raise InvalidRequest('send {"domain": "<host[:port] or *.host>"}', reason=Reason.DOMAIN_MISSING)
    minted = tokens.mint(principal.biller_guid, domain, principal.actor)
    row = minted.record
    body = {"jti": row.jti, "token": minted.token, "domain": row.domain, "createdAt": row.created_at}
    location = f"/api/billers/{principal.biller_guid}/tokens/{row.jti}"
    return Response.json(201, body, headers=[("Location", location), *NO_STORE])


def biller_token(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    """DELETE revokes: ``api/billers/{billerGuid}/tokens/{jti}``."""
    principal = service.portal.require(request, request.route.get("billerGuid", ""))
    service.biller_tokens.revoke(principal.biller_guid, request.route.get("jti", ""), principal.actor)
    return Response(204, headers=list(NO_STORE))


# --- GET or POST api/tenant/login: seamless login from a tenant's iframe ----------------


def tenant_login(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    """Every answer, whatever the token, is a page with the login's security headers."""
    login = service.tenant_login
    ancestors: tuple[str, ...] = ()
    try:
        token = _tenant_token(request)
        tenant = login.tenant_of(token)
        ancestors = tenant.frame_ancestors
        session = login.login(token, tenant)
    except Exception as exc:  # a bug still answers with the login's headers
        if not isinstance(exc, PayerAuthError):
            log.exception("unexpected error in tenant_login")
            exc = PayerAuthError("an unexpected error; it has been logged", reason=Reason.INTERNAL_ERROR)
        record.reason = exc.reason
        return html_error(exc, _login_headers(ancestors))
    cookie = session_cookie(service.settings.cookie_name, session.token, session.max_age)
    return Response(303, headers=[("Location", session.return_url), ("Set-Cookie", cookie), *_login_headers(ancestors)])


def _tenant_token(request: Request) -> str:
    """The one tenant JWT of a login: from the query on GET, from the form on POST.

    Repetition is read from the raw query string: the Functions host joins repeated query values with ","
    and drops empty ones, so ``request.query`` cannot show it; a "," (never in a JWS) counts as a repeat."""
    copies = [v for k, v in parse_qsl(urlsplit(request.url).query, keep_blank_values=True) if k == "token"]
    if not copies and request.query.get("token"):
        copies = [request.query["token"]]
    if request.method != "GET":
        form = read_fields(request, duplicate_reasons={"token": Reason.TENANT_TOKEN_DUPLICATED}).get("token")
        copies = [*copies, form] if form is not None else copies
    if len(copies) > 1 or any("," in copy for copy in copies):
        raise InvalidRequest(
            "the tenant JWT was given more than once; send it exactly once", reason=Reason.TENANT_TOKEN_DUPLICATED
        )
    if not copies or not copies[0]:
        raise InvalidRequest(
            "no token: open the login with ?token=<tenant JWT> or post a form field 'token'",
            reason=Reason.TENANT_TOKEN_MISSING,
        )
    return copies[0]


def _login_headers(frame_ancestors: tuple[str, ...]) -> list[tuple[str, str]]:
    # Only the tenant's own pages may frame a login (clickjacking); an unknown tenant: nobody.
    # Header values are ASCII: the registry hands over an internationalized host as its punycode.
    ancestors = " ".join(frame_ancestors) or "'none'"
    return [*NO_STORE, ("Referrer-Policy", "no-referrer"), ("Content-Security-Policy", f"frame-ancestors {ancestors}")]


# --- published documents and health ------------------------------------------------


def jwks(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    keyset = service.payer_keys.current()
    headers = [
        ("Cache-Control", f"public, max-age={JWKS_MAX_AGE}"),
        ("ETag", keyset.etag),
        ("Access-Control-Allow-Origin", "*"),
    ]
    if keyset.etag in _etags(request.header("if-none-match")):
        return Response(304, headers=headers)
    return Response(200, keyset.jwks_body, [("Content-Type", "application/jwk-set+json"), *headers])


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def openid_configuration(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    settings = service.settings
    base = settings.public_base_url
    keyset = service.payer_keys.current()
    document = {
        "issuer": settings.payer_issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/api/payer/token",
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": sorted({v.algorithm for v in keyset.published}),
    }
    return Response.json(
        200,
        document,
        headers=[("Cache-Control", f"public, max-age={JWKS_MAX_AGE}"), ("Access-Control-Allow-Origin", "*")],
    )


def openapi(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    return Response(
        200,
        _openapi_document(),
        [
            ("Content-Type", "application/yaml"),
            ("Cache-Control", "public, max-age=300"),
            ("Access-Control-Allow-Origin", "*"),
        ],
    )


@functools.cache
def _openapi_document() -> bytes:
    return OPENAPI_PATH.read_bytes()


def health(service: PayerAuth, request: Request, record: RequestRecord) -> Response:
    """Anonymous: only ok or degraded.  The detail goes to the log and ``python -m tools.cli health``."""
    if service.can_serve():
        return Response.json(200, {"status": "ok"}, headers=list(NO_STORE))
    return Response.json(503, {"status": "degraded"}, headers=list(NO_STORE))
