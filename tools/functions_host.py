"""What the Azure Functions host does between HTTP and the Python worker, emulated.

Everyone here runs and tests the functions through this emulation, so it
follows the real host's code, cited beside each behaviour (read at
Azure/azure-functions-host 89dc438, azure-functions-python-worker 7e6acf3,
azure-functions-core-tools 3ee97a6):

* ``GrpcMessageConversionExtensions.ToRpcHttp``: the request the worker gets.
* ``WebScriptHostBuilderExtension`` + ``CorsOptionsSetup``: on Flex (any Linux
  Consumption) the host always runs ASP.NET Core's CORS middleware, with the
  platform's origin list, empty for us.
* ``FunctionInvocationMiddleware`` + ``AuthenticationLevelHandler``: routing
  and function keys.
* ``RawScriptResult`` + ``GrpcMessageExtensionUtilities``: the response.

Two platforms: ``flex`` (Flex Consumption, the default) and ``core-tools``
(``func start``: no CORS middleware without ``--cors``, auth bypassed unless
``--enableAuth``; Core Tools ``Actions/HostActions/Startup.cs``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import functools
import hmac
import json
import logging
import posixpath
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from http.cookies import Morsel
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from shared.web.edge import is_preflight

log = logging.getLogger("payerauth.localhost")

Platform = Literal["flex", "core-tools"]
PLATFORMS: tuple[Platform, ...] = ("flex", "core-tools")
FUNCTION_KEY_HEADER = "x-functions-key"  # AuthenticationLevelHandler.FunctionsKeyHeaderName
FUNCTION_KEY_QUERY = "code"  # AuthenticationLevelHandler.FunctionsKeyQueryParamName


@dataclass(frozen=True)
class RawRequest:
    """A request as it arrived: repeated headers, their order and case kept."""

    method: str
    target: str  # path and query, as sent
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def with_header(self, name: str, value: str) -> RawRequest:
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return replace(self, headers=(*kept, (name, value)))


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def host_answer(status: int) -> RawResponse:
    """An answer the host produces itself (404, 401, a preflight...): empty, none of the app's headers."""
    return RawResponse(status)


# --- routes, from the app's own bindings ------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: the function declared none and accepts any method
    param: str
    function: Callable[..., Any]
    anonymous: bool

    def accepts(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods  # HttpMethodRouteConstraint ignores case


def route_pattern(template: str, prefix: str) -> re.Pattern[str]:
    path = "/".join(p for p in (prefix.strip("/"), template.strip("/")) if p)
    regex = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]*)\})?", path):
        regex += re.escape(literal)
        if name:
            group = name.lstrip("*").split(":")[0].rstrip("?")
            regex += f"(?P<{group}>.*)" if name.startswith("*") else f"(?P<{group}>[^/]+)"
    return re.compile(regex + "/?", re.IGNORECASE)


@functools.cache
def indexed_functions(app: Any) -> tuple[Any, ...]:
    """Index once, as the worker does: the library refuses a second ``get_functions``."""
    return tuple(app.get_functions())


def discover_routes(app: Any, prefix: str) -> list[Route]:
    routes = []
    for function in indexed_functions(app):
        trigger = function.get_trigger()
        if trigger is None or trigger.get_binding_name() != "httpTrigger":
            continue
        methods = frozenset(str(getattr(m, "value", m)).upper() for m in (trigger.methods or ()))
        level = str(getattr(trigger.auth_level, "value", trigger.auth_level or "function")).lower()
        routes.append(
            Route(
                function.get_function_name(),
                route_pattern(trigger.route, prefix),
                methods or None,
                trigger.name,
                function.get_user_function(),
                anonymous=level == "anonymous",
            )
        )
    return routes


def host_route_prefix(path: Path) -> str:
    config = json.loads(path.read_text())
    prefix = config.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return str(prefix)


# --- the request the worker builds a func.HttpRequest from --------------------------------------


def decoded_path(raw: str) -> str:
    """Kestrel decodes the path before routing, except ``%2F`` (so a route parameter never gains a
    ``/``), and removes dot segments; invalid UTF-8 stays encoded."""
    pieces = re.split(r"(%2[Ff])", raw)
    decoded = [piece if i % 2 else _unquote_strict(piece) for i, piece in enumerate(pieces)]
    path = posixpath.normpath("".join(decoded)) if raw not in ("", "/") else "/"
    return path + ("/" if raw.endswith("/") and path != "/" else "")


def _unquote_strict(piece: str) -> str:
    try:
        return unquote(piece, errors="strict")
    except UnicodeDecodeError:
        return piece


def joined(values: list[str]) -> str:
    """ASP.NET Core ``StringValues.ToString()``: one value as is; several joined with "," (no space),
    empty ones skipped."""
    return values[0] if len(values) == 1 else ",".join(v for v in values if v)


def request_headers(request: RawRequest) -> dict[str, str]:
    """``ToRpcHttp``: ``http.Headers.Add(pair.Key.ToLowerInvariant(), pair.Value.ToString())``."""
    grouped: dict[str, list[str]] = {}
    for name, value in request.headers:
        grouped.setdefault(name.lower(), []).append(value)
    return {name: joined(values) for name, values in grouped.items()}


def query_params(query: str) -> dict[str, str]:
    """``ToRpcHttp``: repeated keys joined with ","; a key whose value is empty is dropped
    (``if (!string.IsNullOrEmpty(value))``).  ASP.NET Core's query keys are case-insensitive."""
    grouped: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        spelling.setdefault(key.lower(), key)
        grouped.setdefault(key.lower(), []).append(value)
    params = {spelling[k]: joined(values) for k, values in grouped.items()}
    return {k: v for k, v in params.items() if v}


def request_url(request: RawRequest, path: str, query: str) -> str:
    """``ToRpcHttp``: ``{scheme}://{request.Host}{request.Path}{request.QueryString}``; the scheme is the
    first ``X-Forwarded-Proto`` (``AppServiceHeaderFixupMiddleware``), else the connection's (http here)."""
    scheme = next(iter(request.values("x-forwarded-proto")), "") or "http"
    host = next(iter(request.values("host")), "")
    escaped = quote(path, safe="/:@!$&'()*+,;=%")  # PathString.ToUriComponent
    return f"{scheme}://{host}{escaped}" + (f"?{query}" if query else "")


# --- the answer: what the host writes for a func.HttpResponse ------------------------------------


def encode_response(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Encode as the Functions Python library does, then write it as the host does."""
    from azure.functions.http import HttpResponseConverter

    datum = HttpResponseConverter.encode(response, expected_type=None)
    value = datum.value
    headers = response_headers((name, str(h.value)) for name, h in value["headers"].items())
    for cookie in value["cookies"] or ():
        headers += [("Set-Cookie", rpc_cookie_header(m)) for m in cookie.values()]
    return int(value["status_code"].value), headers, value["body"].value or b""


def response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``RawScriptResult.ExecuteResultAsync``: a header whose name is already set (case-insensitively) is
    dropped, so the first wins; ``content-type`` is assigned each time, so the last wins."""
    written: dict[str, tuple[str, str]] = {}
    for name, value in headers:
        key = name.lower()
        if key == "content-type" or key not in written:
            written[key] = (name, value)
    return list(written.values())


def rpc_cookie_header(morsel: Morsel[str]) -> str:
    """One cookie as the host writes it.

    The worker keeps only ``RpcHttpCookie``'s fields (``datumdef.parse_to_rpc_http_cookie_list``, every
    string attribute sent even when empty); the host turns them into ``CookieOptions``
    (``GrpcMessageExtensionUtilities.RpcHttpCookieConverter``) and ASP.NET Core's ``ResponseCookies.Append``
    writes ``name=Uri.EscapeDataString(value); expires=<RFC 1123>; max-age=N; domain=D; path=P; secure;
    samesite=S; httponly`` (``SetCookieHeaderValue``): an empty ``domain=`` whenever no Domain was set.
    """
    parts = [f"{morsel.key}={quote(morsel.value, safe='')}"]
    if morsel["expires"]:
        parts.append(f"expires={_expires(str(morsel['expires']))}")
    if morsel["max-age"] != "":
        parts.append(f"max-age={int(float(morsel['max-age']))}")  # NullableDouble, then (long)TotalSeconds
    parts += [f"domain={morsel['domain']}", f"path={morsel['path']}"]
    if morsel["secure"]:
        parts.append("secure")
    same_site = str(morsel["samesite"]).lower()
    if same_site in ("lax", "strict", "none"):  # anything else is SameSiteMode.Unspecified: not written
        parts.append(f"samesite={same_site}")
    if morsel["httponly"]:
        parts.append("httponly")
    return "; ".join(parts)


def _expires(value: str) -> str:
    """The worker parses ``expires`` (an unparsable one fails the invocation); the host writes RFC 1123."""
    parsed = email.utils.parsedate_to_datetime(value)  # ValueError: the invocation fails, as in Azure
    utc = parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return email.utils.format_datetime(utc, usegmt=True)


# --- the host ---------------------------------------------------------------------------------


class FunctionsHost:
    """Routes a request to the app's function and answers as the host would.

    Flex: the CORS middleware answers every preflight (204, no CORS headers: the platform's origin list
    is empty), ``AuthLevel.FUNCTION`` needs the function key, and one request runs at a time (HTTP
    ``perInstanceConcurrency`` defaults to 1 for Python at every instance size; Learn, "Flex Consumption
    plan", concurrency).  Core Tools: preflights reach the function, auth is bypassed, requests run
    concurrently (the worker's thread pool).
    """

    def __init__(self, app: Any, prefix: str, *, platform: Platform = "flex", function_key: str = "") -> None:
        if platform == "flex" and not function_key:
            raise ValueError("the flex platform needs a function key")
        self.routes = discover_routes(app, prefix)
        self.platform = platform
        self.function_key = function_key
        self._instance: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if platform == "flex" else contextlib.nullcontext()
        )

    def handle(self, request: RawRequest) -> RawResponse:
        if self.platform == "flex" and is_preflight(request.method, request.headers):
            return host_answer(204)  # JobHostCorsMiddleware, before routing: the function never sees it
        split = urlsplit(request.target)
        path = decoded_path(split.path)
        found = self.match(request.method, path)
        if found is None:
            return host_answer(404)  # an unknown route, or a method the route's constraint refuses: no 405
        route, params = found
        if self.platform == "flex" and not route.anonymous and not self.authorized(request, split.query):
            return host_answer(401)  # UnauthorizedResult: empty body
        return self.invoke(route, request, path, split.query, params)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """``WebScriptHostHttpRoutesManager``: each route carries an ``HttpMethodRouteConstraint``."""
        for route in self.routes:
            found = route.pattern.fullmatch(path.lstrip("/"))
            if found and route.accepts(method):
                return route, {k: v for k, v in found.groupdict().items() if v is not None}
        return None

    def authorized(self, request: RawRequest, query: str) -> bool:
        """``AuthenticationLevelHandler``: the header wins over ``?code=``; first value of either."""
        headers = request.values(FUNCTION_KEY_HEADER)
        codes = [v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() == FUNCTION_KEY_QUERY]
        key = headers[0] if headers else (codes[0] if codes else "")
        return bool(key) and hmac.compare_digest(key.encode(), self.function_key.encode())

    def invoke(self, route: Route, request: RawRequest, path: str, query: str, params: dict[str, str]) -> RawResponse:
        import azure.functions as func

        function_request = func.HttpRequest(
            method=request.method,
            url=request_url(request, path, query),
            headers=request_headers(request),
            params=query_params(query),
            route_params=params,
            body=request.body,
        )
        with self._instance:
            try:
                status, headers, body = encode_response(route.function(**{route.param: function_request}))
            except Exception:  # an unhandled exception, or one in the worker's conversion: the host answers 500
                log.exception("function %s failed", route.name)
                return host_answer(500)
        return RawResponse(status, headers, body)
