"""A local Functions host for machines without Azure Functions Core Tools.

It serves ``function_app``'s own registered functions over HTTP: it routes by
each function's ``route`` and ``methods`` bindings (``routePrefix`` from
``host.json``), builds real ``func.HttpRequest`` objects, and turns each
``func.HttpResponse`` into HTTP the way the platform does: the Functions
Python library's ``HttpResponseConverter`` encodes it (parsing every
``Set-Cookie`` with ``http.cookies``, so a cookie the platform would drop is
dropped here too), and the cookies are written back from the fields an
``RpcHttpCookie`` carries.  In front of that sits the edge rule API Management
applies in Azure: ``Partitioned`` is added to our session cookie.

    python -m tools.localhost [--port 7071] [--demo-port 8080]

It also serves the demo biller page (``client/``) on http://127.0.0.1:8080, a
different site from the functions on http://localhost:7071, so the web
component runs cross-site as it does on a biller's page.
"""

from __future__ import annotations

import argparse
import functools
import html
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.cookies import Morsel
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("payerauth.localhost")


def load_local_settings(path: Path = ROOT / "local.settings.json") -> None:
    """Put ``Values`` into the environment as Core Tools does (the real environment wins)."""
    if path.exists():
        values = json.loads(path.read_text()).get("Values", {})
        for name, value in values.items():
            os.environ.setdefault(name, str(value))


@dataclass(frozen=True)
class Route:
    name: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    param: str
    function: Callable[..., Any]


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
        routes.append(Route(function.get_function_name(), route_pattern(trigger.route, prefix),
                            methods or frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"}),
                            trigger.name, function.get_user_function()))
    return routes


def host_route_prefix(path: Path = ROOT / "host.json") -> str:
    config = json.loads(path.read_text())
    prefix = config.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return str(prefix)


# --- what the platform does with a func.HttpResponse -----------------------------

def encode_response(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Encode as the Functions Python library does, then render as the host does."""
    from azure.functions.http import HttpResponseConverter

    datum = HttpResponseConverter.encode(response, expected_type=None)
    value = datum.value
    headers = [(name, str(h.value)) for name, h in value["headers"].items()]
    for cookie in value["cookies"] or ():
        headers += [("Set-Cookie", rpc_cookie_header(m)) for m in cookie.values()]
    return int(value["status_code"].value), headers, value["body"].value or b""


def rpc_cookie_header(morsel: Morsel[str]) -> str:
    """Only the fields an ``RpcHttpCookie`` has survive: unknown attributes are lost."""
    parts = [f"{morsel.key}={morsel.value}"]
    for attribute in ("expires", "max-age", "domain", "path"):
        if morsel[attribute]:
            parts.append(f"{attribute}={morsel[attribute]}")
    if morsel["secure"]:
        parts.append("secure")
    same_site = str(morsel["samesite"]).lower()
    if same_site in ("lax", "strict", "none"):
        parts.append(f"samesite={same_site}")
    if morsel["httponly"]:
        parts.append("httponly")
    return "; ".join(parts)


def edge(headers: Iterable[tuple[str, str]], cookie_name: str) -> list[tuple[str, str]]:
    """The edge rule (APIM's outbound policy in Azure): see ``shared.cookies``."""
    from shared.cookies import add_partitioned

    return [(k, add_partitioned(v, cookie_name) if k.lower() == "set-cookie" else v) for k, v in headers]


# --- the HTTP server ---------------------------------------------------------------

class FunctionsHost:
    def __init__(self, app: Any, prefix: str, cookie_name: str) -> None:
        self.routes = discover_routes(app, prefix)
        self.cookie_name = cookie_name

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes,
               base_url: str) -> tuple[int, list[tuple[str, str]], bytes]:
        import azure.functions as func

        split = urlsplit(target)
        path = split.path.lstrip("/")
        matches = [(r, m) for r in self.routes if (m := r.pattern.fullmatch(path))]
        if not matches:
            return 404, [("Content-Type", "text/plain")], b"no function serves this route\n"
        chosen = next(((r, m) for r, m in matches if method in r.methods), None)
        if chosen is None:
            return 405, [("Allow", ", ".join(sorted(matches[0][0].methods)))], b""
        route, match = chosen
        request = func.HttpRequest(method=method, url=base_url + target, headers=dict(headers),
                                   params=dict(parse_qsl(split.query, keep_blank_values=True)),
                                   route_params=match.groupdict(), body=body)
        try:
            response = route.function(**{route.param: request})
        except Exception:  # the platform answers 500 for an unhandled exception; so do we
            log.exception("function %s raised", route.name)
            return 500, [], b""
        status, out_headers, out_body = encode_response(response)
        return status, edge(out_headers, self.cookie_name), out_body


def make_handler(host: FunctionsHost, base_url: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "PayerAuthLocalHost"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            status, out_headers, out_body = host.handle(self.command, self.path, headers, body, base_url)
            self.send_response(status)
            for name, value in out_headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(out_body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out_body)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the router, which answers 405 for one no function binds (not 501).
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            # A query string can hold a token (tenant login ?token=): never log it.
            log.debug("%s %s", self.address_string(), re.sub(r"\?\S*", "?...", format % args))

    return Handler


def serve(host_name: str, port: int) -> ThreadingHTTPServer:
    """Start serving function_app in a background thread; returns the server."""
    load_local_settings()
    sys.path.insert(0, str(ROOT))
    import function_app

    host = FunctionsHost(function_app.app, host_route_prefix(), function_app.SETTINGS.cookie_name)
    server = ThreadingHTTPServer((host_name, port), make_handler(host, f"http://{host_name}:{port}"))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="functions-host").start()
    return server


# --- the demo biller page, on another site than the functions -------------------------

CLIENT = ROOT / "client"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".html": "text/html; charset=utf-8",
                ".css": "text/css; charset=utf-8"}


def demo_page(api_base: str, biller_jwt: str, page_origin: str) -> bytes:
    text = (CLIENT / "demo.html").read_text()
    for name, value in (("API_BASE", api_base), ("BILLER_JWT", biller_jwt), ("PAGE_ORIGIN", page_origin)):
        text = text.replace("{{" + name + "}}", html.escape(value))
    return text.encode()


class DemoServer(ThreadingHTTPServer):
    biller_jwt = ""  # what the page embeds; may be set after the port is known

    @property
    def origin(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"


def serve_demo(host_name: str, port: int, api_base: str, biller_jwt: str = "") -> DemoServer:
    """Serve client/ and a demo biller page embedding ``biller_jwt`` (a static site, no cookies)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            origin = f"http://{self.headers.get('Host', f'{host_name}:{port}')}"
            if path in ("/", "/index.html"):
                self._send(200, STATIC_TYPES[".html"], demo_page(api_base, server.biller_jwt, origin))
                return
            file = (CLIENT / path.lstrip("/")).resolve()
            if file.parent == CLIENT.resolve() and file.suffix in STATIC_TYPES and file.is_file():
                self._send(200, STATIC_TYPES[file.suffix], file.read_bytes())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            log.debug("demo %s", format % args)

    server = DemoServer((host_name, port), Handler)
    server.daemon_threads = True
    server.biller_jwt = biller_jwt
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-site").start()
    return server


def demo_biller_jwt() -> str | None:
    """A fresh biller JWT for the demo biller, or None before ``tools.cli init``."""
    import function_app
    from shared.billers import Actor
    from shared.errors import PayerAuthError
    from tools.cli import DEMO_BILLER_GUID, DEMO_ORIGIN_DOMAIN

    try:
        tokens = function_app.endpoints().service.biller_tokens
        return tokens.mint(DEMO_BILLER_GUID, DEMO_ORIGIN_DOMAIN, Actor(sub="localhost-demo")).token
    except PayerAuthError:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--demo-host", default="127.0.0.1", help="the demo page's host: another site")
    parser.add_argument("--demo-port", type=int, default=8080, help="0 to serve no demo page")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    servers: list[ThreadingHTTPServer] = [serve(args.host, args.port)]
    print(f"Functions: http://{args.host}:{args.port}", flush=True)
    token = demo_biller_jwt() if args.demo_port else None
    if token:
        servers.append(serve_demo(args.demo_host, args.demo_port, f"http://{args.host}:{args.port}", token))
        print(f"Demo biller page: http://{args.demo_host}:{args.demo_port}/  (flows: ?flow=auto|bootstrap|cookie|body)",
              flush=True)
    elif args.demo_port:
        print("No demo page: run `python -m tools.cli init` first to create the demo biller.", flush=True)
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        for server in servers:
            stop(server)


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
