"""Payer Auth: the Azure Functions shell (Python v2 programming model).

Each function adapts ``func.HttpRequest`` to the core's framework-free request,
calls one endpoint of ``shared/`` and adapts the answer back.  Nothing else
lives here.  Settings are validated at import, so a misconfigured app fails at
start-up with a message naming the setting; the service itself (keys,
databases) is built on the first request and shared by all that follow.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import azure.functions as func

from shared.errors import ConfigurationError
from shared.http import Request, Response
from shared.settings import Settings

if TYPE_CHECKING:  # the core (cryptography, x509, databases) loads on the first request, not at indexing
    from shared.app import PayerAuth
    from shared.web.endpoints import Endpoints

try:
    SETTINGS = Settings.from_env()
except ConfigurationError as exc:
    logging.getLogger("payerauth").critical("%s", exc.description)
    raise

# Every function needs the function key (API Management sends it); only the health probe is open.
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

_endpoints: Endpoints | None = None
_lock = threading.Lock()


def endpoints() -> Endpoints:
    global _endpoints
    if _endpoints is None:
        with _lock:
            if _endpoints is None:
                from shared import telemetry
                from shared.app import PayerAuth
                from shared.web.endpoints import Endpoints

                telemetry.configure()
                service = PayerAuth.from_settings(SETTINGS)
                service.start_background_refresh()
                _endpoints = Endpoints(service)
    return _endpoints


def install(service: PayerAuth) -> None:
    """Use this service instead of the one built from the environment (tests, local host)."""
    from shared.web.endpoints import Endpoints

    global _endpoints
    _endpoints = Endpoints(service)


def serve(req: func.HttpRequest, route: str) -> func.HttpResponse:
    """Adapt the request, answer it by the route table (``shared.web.endpoints.ROUTES``), adapt back."""
    request = Request(
        method=req.method.upper(),
        url=req.url,
        headers={k.lower(): v for k, v in req.headers.items()},
        body=req.get_body() or b"",
        query=dict(req.params),
        route=dict(req.route_params),
    )
    return to_http_response(endpoints().answer(route, request))


def to_http_response(response: Response) -> func.HttpResponse:
    result = func.HttpResponse(response.body, status_code=response.status)
    for name, value in response.headers:
        result.headers.add(name, value)
    return result


@app.route(route="api/payer/token", methods=["POST", "OPTIONS"])
def payer_token(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "payer_token")


@app.route(route="api/payer/bootstrap", methods=["POST", "OPTIONS"])
def payer_bootstrap(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "payer_bootstrap")


@app.route(route="api/payer/profile", methods=["GET", "OPTIONS"])
def payer_profile(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "payer_profile")


@app.route(route="api/payer/logout", methods=["POST", "OPTIONS"])
def payer_logout(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "payer_logout")


@app.route(route="api/tenant/login", methods=["GET", "POST"])
def tenant_login(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "tenant_login")


@app.route(route="api/billers/{billerGuid}/tokens", methods=["POST", "GET"])
def biller_tokens(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "biller_tokens")


@app.route(route="api/billers/{billerGuid}/tokens/{jti}", methods=["DELETE"])
def biller_token(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "biller_token")


@app.route(route=".well-known/jwks.json", methods=["GET"])
def jwks(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "jwks")


@app.route(route=".well-known/openid-configuration", methods=["GET"])
def openid_configuration(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "openid_configuration")


@app.route(route="api/openapi.yaml", methods=["GET"])
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "openapi")


@app.route(route="api/health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req, "health")
