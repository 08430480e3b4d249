"""One handler per route over framework-free requests; ``function_app`` only adapts types.

Each handler parses, calls one use case and renders.  ``_answer`` is where any
core error becomes its documented 4xx/503 and where one log line per request
is written (route, status, reason, latency; never a token).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from shared import telemetry
from shared.billers.exchange import JWT_TOKEN_TYPE, Issued, parse_exchange
from shared.errors import InvalidRequest, PayerAuthError
from shared.http import Request, Response
from shared.origins import ascii_origins
from shared.payers.guard import PayerPrincipal
from shared.tokens import BILLER_GUID
from shared.web import cors
from shared.web.cookies import cleared_cookie, session_cookie
from shared.web.forms import read_fields
from shared.web.responses import NO_STORE, html_error, internal_error, oauth_error, problem

if TYPE_CHECKING:
    from shared.app import PayerAuth

log = logging.getLogger("payerauth.request")

Handler = Callable[[Request], Response]
JWKS_MAX_AGE = 900  # well under the signing-key overlap (2 h by default)
OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"  # deployed with the app


class Endpoints:
    def __init__(self, service: PayerAuth) -> None:
        self.service = service
        self.settings = service.settings

    # --- POST api/payer/token ------------------------------------------------------

    def token(self, request: Request) -> Response:
        return self._answer("payer_token", request, self._token, oauth=True)

    def _token(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._preflight(request, "POST, OPTIONS", "Content-Type")
        exchange_request = parse_exchange(read_fields(request), origin=request.header("origin"),
                                          referer=request.header("referer"))
        return self._issued(self.service.exchange.run(exchange_request))

    def _issued(self, issued: Issued, body: dict[str, object] | None = None) -> Response:
        if body is None:
            body = {"issued_token_type": JWT_TOKEN_TYPE, "token_type": "Bearer", "expires_in": issued.expires_in}
        headers = [*NO_STORE, *cors.grant(issued.origin.serialize()), *cors.vary()]
        telemetry.exchanges.add(1, {"delivery": issued.delivery})
        if issued.delivery == "cookie":
            headers.append(("Set-Cookie", session_cookie(self.settings.cookie_name, issued.token,
                                                         issued.expires_in)))
        else:
            body = {"access_token": issued.token, **body}
        return Response.json(200, body, headers=headers, biller_guid=issued.claims[BILLER_GUID])

    # --- POST api/payer/bootstrap: exchange, cookie and first data in one round trip ------------

    def bootstrap(self, request: Request) -> Response:
        return self._answer("payer_bootstrap", request, self._bootstrap, oauth=True)

    def _bootstrap(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._preflight(request, "POST, OPTIONS", "Content-Type")
        fields = read_fields(request)
        names = self.service.resources.parse(fields.pop("resources", None))
        exchange_request = parse_exchange(fields, origin=request.header("origin"),
                                          referer=request.header("referer"), default_delivery="cookie")
        if exchange_request.delivery != "cookie":
            raise InvalidRequest("bootstrap always delivers the session by cookie; use api/payer/token for body "
                                 "delivery", reason="token_delivery_invalid")
        issued = self.service.exchange.run(exchange_request)
        try:
            data = self.service.resources.fetch(names, PayerPrincipal.from_claims(issued.claims))
        except PayerAuthError as exc:
            exc.allow_origin = issued.origin.serialize()
            raise
        return self._issued(issued, {"expires_in": issued.expires_in, "data": data})

    # --- protected data: GET api/payer/profile -------------------------------------------------

    def profile(self, request: Request) -> Response:
        return self._answer("payer_profile", request, lambda r: self._protected(r, "profile"), protected=True)

    def _protected(self, request: Request, resource: str) -> Response:
        if request.method == "OPTIONS":
            return self._preflight(request, "GET, OPTIONS", "Authorization")
        principal = self.service.guard.require(request)
        body = self.service.resources.handlers[resource](principal)
        return Response.json(200, body, headers=[*NO_STORE, *cors.grant(principal.origin), *cors.vary()])

    # --- POST api/payer/logout ---------------------------------------------------------------

    def logout(self, request: Request) -> Response:
        return self._answer("payer_logout", request, self._logout)

    def _logout(self, request: Request) -> Response:
        """Always 204 and a cleared cookie; CORS only for the origin of a session that verifies."""
        if request.method == "OPTIONS":
            return self._preflight(request, "POST, OPTIONS", "Content-Type")
        origin = self.service.guard.session_origin(request)
        headers = [*NO_STORE, ("Set-Cookie", cleared_cookie(self.settings.cookie_name)), *cors.vary()]
        return Response(204, headers=headers + (cors.grant(origin) if origin else []))

    # --- biller-token administration (the Biller Portal, with its portal JWT) ---------------------

    def biller_tokens(self, request: Request) -> Response:
        """POST mints, GET lists: ``api/billers/{billerGuid}/tokens``."""
        return self._answer("biller_tokens", request, self._biller_tokens)

    def _biller_tokens(self, request: Request) -> Response:
        principal = self.service.portal.require(request, request.route.get("billerGuid", ""))
        tokens = self.service.biller_tokens
        if request.method == "GET":
            listed = [record.public() for record in tokens.list(principal.biller_guid)]
            return Response.json(200, {"tokens": listed}, headers=list(NO_STORE))
        domain = read_fields(request).get("domain")
        if not domain:
            raise InvalidRequest("send {\"domain\": \"<host[:port] or *.host>\"}", reason="domain_missing")
        minted = tokens.mint(principal.biller_guid, domain, principal.actor)
        record = minted.record
        body = {"jti": record.jti, "token": minted.token, "domain": record.domain, "createdAt": record.created_at}
        location = f"/api/billers/{principal.biller_guid}/tokens/{record.jti}"
        return Response.json(201, body, headers=[("Location", location), *NO_STORE])

    def biller_token(self, request: Request) -> Response:
        """DELETE revokes: ``api/billers/{billerGuid}/tokens/{jti}``."""
        return self._answer("biller_token", request, self._biller_token)

    def _biller_token(self, request: Request) -> Response:
        principal = self.service.portal.require(request, request.route.get("billerGuid", ""))
        self.service.biller_tokens.revoke(principal.biller_guid, request.route.get("jti", ""), principal.actor)
        return Response(204, headers=list(NO_STORE))

    # --- GET or POST api/tenant/login: seamless login from a tenant's iframe ----------------

    def tenant_login(self, request: Request) -> Response:
        return self._answer("tenant_login", request, self._tenant_login)

    def _tenant_login(self, request: Request) -> Response:
        """Every answer, whatever the token, is a page with the login's security headers."""
        login = self.service.tenant_login
        ancestors: tuple[str, ...] = ()
        try:
            token = _tenant_token(request)
            tenant = login.tenant_of(token)
            ancestors = tenant.frame_ancestors
            session = login.login(token, tenant)
        except Exception as exc:  # a bug still answers with the login's headers
            if not isinstance(exc, PayerAuthError):
                log.exception("unexpected error in tenant_login")
                exc = PayerAuthError("an unexpected error; it has been logged", reason="internal_error")
            response = html_error(exc, _login_headers(ancestors))
            response.reason = exc.reason
            return response
        cookie = session_cookie(self.settings.cookie_name, session.token, session.max_age)
        return Response(303, headers=[("Location", session.return_url), ("Set-Cookie", cookie),
                                      *_login_headers(ancestors)])

    # --- published keys ------------------------------------------------------------

    def jwks(self, request: Request) -> Response:
        return self._answer("jwks", request, self._jwks)

    def _jwks(self, request: Request) -> Response:
        keyset = self.service.payer_keys.current()
        headers = [("Cache-Control", f"public, max-age={JWKS_MAX_AGE}"), ("ETag", keyset.etag),
                   ("Access-Control-Allow-Origin", "*")]
        if keyset.etag in _etags(request.header("if-none-match")):
            return Response(304, headers=headers)
        return Response(200, keyset.jwks_body, [("Content-Type", "application/jwk-set+json"), *headers])

    def openid_configuration(self, request: Request) -> Response:
        return self._answer("openid_configuration", request, self._openid_configuration)

    def _openid_configuration(self, request: Request) -> Response:
        base = self.settings.public_base_url
        keyset = self.service.payer_keys.current()
        document = {
            "issuer": self.settings.payer_issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": f"{base}/api/payer/token",
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({v.algorithm for v in keyset.published}),
        }
        return Response.json(200, document, headers=[("Cache-Control", f"public, max-age={JWKS_MAX_AGE}"),
                                                     ("Access-Control-Allow-Origin", "*")])

    # --- GET api/openapi.yaml ----------------------------------------------------

    def openapi(self, request: Request) -> Response:
        return self._answer("openapi", request, self._openapi)

    def _openapi(self, request: Request) -> Response:
        return Response(200, _openapi_document(), [("Content-Type", "application/yaml"),
                                                   ("Cache-Control", "public, max-age=300"),
                                                   ("Access-Control-Allow-Origin", "*")])

    # --- GET api/health ----------------------------------------------------------

    def health(self, request: Request) -> Response:
        return self._answer("health", request, self._health)

    def _health(self, request: Request) -> Response:
        """Anonymous: only ok or degraded.  The detail goes to the log and ``python -m tools.cli health``."""
        if self.service.can_serve():
            return Response.json(200, {"status": "ok"}, headers=list(NO_STORE))
        return Response.json(503, {"status": "degraded"}, headers=list(NO_STORE))

    # --- shared plumbing -----------------------------------------------------------

    def _preflight(self, request: Request, methods: str, headers: str) -> Response:
        return cors.preflight(self._valid_origin(request), methods, headers)

    def _valid_origin(self, request: Request) -> str | None:
        """The request's Origin if it is one we could ever grant (https, or loopback http in development)."""
        return cors.grantable(request.header("origin"), development=self.settings.development)

    def _answer(self, route: str, request: Request, handler: Handler, *, oauth: bool = False,
                protected: bool = False) -> Response:
        """``oauth`` and ``protected`` routes are called from the biller's page: their errors carry a CORS
        grant for any grantable origin, so the page reads why it was refused instead of a network error."""
        started = time.perf_counter()
        reason = None
        page_route = oauth or protected
        try:
            response = handler(request)
        except PayerAuthError as exc:
            reason = exc.reason
            if page_route and exc.allow_origin is None:
                exc.allow_origin = self._valid_origin(request)
            response = oauth_error(exc) if oauth else problem(exc)
            response.biller_guid = exc.biller_guid
        except Exception:
            log.exception("unexpected error in %s", route)
            reason = "internal_error"
            response = internal_error(self._valid_origin(request) if page_route else None)
        reason = reason or response.reason
        self._log(route, request, response, reason, (time.perf_counter() - started) * 1000)
        return response

    @staticmethod
    def _log(route: str, request: Request, response: Response, reason: str | None, ms: float) -> None:
        """One line per request; its fields also go to Application Insights as custom dimensions."""
        if reason and response.status >= 400:
            telemetry.rejections.add(1, {"route": route, "reason": reason})
        if not log.isEnabledFor(logging.INFO):
            return  # nobody listens: build nothing on the warm path
        fields = {"route": route, "method": request.method, "status": response.status,
                  "biller_guid": response.biller_guid or "-", "reason": reason or "-", "ms": round(ms, 1)}
        log.info("request " + " ".join(f"{k}=%s" for k in fields), *fields.values(), extra=fields)


@functools.cache
def _openapi_document() -> bytes:
    return OPENAPI_PATH.read_bytes()


def _tenant_token(request: Request) -> str:
    """The one tenant JWT of a login: from the query on GET, from the form on POST.

    Repetition is read from the raw query string: the Functions host joins repeated query values with ","
    and drops empty ones, so ``request.query`` cannot show it; a "," (never in a JWS) counts as a repeat."""
    copies = [v for k, v in parse_qsl(urlsplit(request.url).query, keep_blank_values=True) if k == "token"]
    if not copies and request.query.get("token"):
        copies = [request.query["token"]]
    if request.method != "GET":
        form = read_fields(request, duplicate_reasons={"token": "tenant_token_duplicated"}).get("token")
        copies = [*copies, form] if form is not None else copies
    if len(copies) > 1 or any("," in copy for copy in copies):
        raise InvalidRequest("the tenant JWT was given more than once; send it exactly once",
                             reason="tenant_token_duplicated")
    if not copies or not copies[0]:
        raise InvalidRequest("no token: open the login with ?token=<tenant JWT> or post a form field "
                             "'token'", reason="tenant_token_missing")
    return copies[0]


def _login_headers(frame_ancestors: tuple[str, ...]) -> list[tuple[str, str]]:
    # Only the tenant's own pages may frame a login (clickjacking); an unknown tenant: nobody.
    # Header values are ASCII: a registered internationalized host is written as its punycode.
    ancestors = " ".join(ascii_origins(frame_ancestors)) or "'none'"
    return [*NO_STORE, ("Referrer-Policy", "no-referrer"), ("Content-Security-Policy", f"frame-ancestors {ancestors}")]


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}
