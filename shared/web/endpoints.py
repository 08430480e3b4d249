"""The route table, and the one place a request's answer and log line are made; ``function_app`` only adapts types.

Each route names its handler (``shared.web.handlers``), how its errors are
rendered, and the preflight it answers.  ``Endpoints.answer`` is where any
core error becomes its documented 4xx/503 and where one log line per request
is written (route, status, biller, reason, latency; never a token).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from shared import telemetry
from shared.errors import PayerAuthError
from shared.http import Request, Response
from shared.reasons import Reason
from shared.web import cors, handlers
from shared.web.record import RequestRecord
from shared.web.responses import internal_error, oauth_error, problem

if TYPE_CHECKING:
    from shared.app import PayerAuth

log = logging.getLogger("payerauth.request")

Handler = Callable[["PayerAuth", Request, RequestRecord], Response]


@dataclass(frozen=True)
class Route:
    handler: Handler
    errors: Literal["oauth", "problem", "html"]  # html: the handler answers its own errors with a page
    preflight: tuple[str, str] | None = None  # (methods, headers) answered on OPTIONS
    # Called from the biller's page: a refusal carries a CORS grant for any grantable origin, so the page
    # reads why it was refused instead of a network error.
    page: bool = False


ROUTES: dict[str, Route] = {
    "payer_token": Route(handlers.token, "oauth", ("POST, OPTIONS", "Content-Type"), page=True),
    "payer_bootstrap": Route(handlers.bootstrap, "oauth", ("POST, OPTIONS", "Content-Type"), page=True),
    "payer_profile": Route(handlers.profile, "problem", ("GET, OPTIONS", "Authorization"), page=True),
    "payer_logout": Route(handlers.logout, "problem", ("POST, OPTIONS", "Content-Type")),
    "tenant_login": Route(handlers.tenant_login, "html"),
    "biller_tokens": Route(handlers.biller_tokens, "problem"),
    "biller_token": Route(handlers.biller_token, "problem"),
    "jwks": Route(handlers.jwks, "problem"),
    "openid_configuration": Route(handlers.openid_configuration, "problem"),
    "openapi": Route(handlers.openapi, "problem"),
    "health": Route(handlers.health, "problem"),
}


class Endpoints:
    def __init__(self, service: PayerAuth) -> None:
        self.service = service
        self.settings = service.settings

    def answer(self, name: str, request: Request) -> Response:
        route = ROUTES[name]
        record = RequestRecord(name)
        started = time.perf_counter()
        try:
            if route.preflight and request.method == "OPTIONS":
                response = cors.preflight(self._valid_origin(request), *route.preflight)
            else:
                response = route.handler(self.service, request, record)
        except PayerAuthError as exc:
            record.reason = exc.reason
            response = self._refusal(route, request, record, exc)
        except Exception:
            log.exception("unexpected error in %s", name)
            record.reason = Reason.INTERNAL_ERROR
            response = internal_error(self._valid_origin(request) if route.page else None)
        _log(request, response, record, (time.perf_counter() - started) * 1000)
        return response

    def _refusal(self, route: Route, request: Request, record: RequestRecord, exc: PayerAuthError) -> Response:
        cors_origin = record.cors_origin
        if route.page and cors_origin is None:
            cors_origin = self._valid_origin(request)
        if route.errors == "oauth":
            return oauth_error(exc, cors_origin=cors_origin)
        return problem(exc, cors_origin=cors_origin)

    def _valid_origin(self, request: Request) -> str | None:
        """The request's Origin if it is one we could ever grant (https, or loopback http in development)."""
        return cors.grantable(request.header("origin"), development=self.settings.development)


def _log(request: Request, response: Response, record: RequestRecord, ms: float) -> None:
    """One line per request; its fields also go to Application Insights as custom dimensions."""
    if record.reason and response.status >= 400:
        telemetry.rejections.add(1, {"route": record.route, "reason": record.reason})
    if not log.isEnabledFor(logging.INFO):
        return  # nobody listens: build nothing on the warm path
    fields = {
        "route": record.route,
        "method": request.method,
        "status": response.status,
        "biller_guid": record.biller_guid or "-",
        "reason": record.reason or "-",
        "ms": round(ms, 1),
    }
    log.info("request " + " ".join(f"{k}=%s" for k in fields), *fields.values(), extra=fields)
