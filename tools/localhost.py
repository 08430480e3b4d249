"""The local stand-in for Azure: the Functions host, the edge in front of it, and a demo biller site.

    python -m tools.localhost [--port 7071] [--demo-port 8080] [--platform flex|core-tools] [--instances N]

* The host (``tools.functions_host``) serves ``function_app``'s own registered
  functions as the Azure Functions host does: by default as on Flex
  Consumption (``--platform flex``), or as ``func start`` does
  (``--platform core-tools``).  Kestrel's limits apply in front of it: 413
  over the body limit, 414 over an 8 KiB request line, 431 over 32 KiB of
  headers or 100 of them.
* The edge plays API Management (``shared.web.edge``'s rules): on Flex it answers
  our routes' preflights and sends the function key; always, it removes the
  session cookie's empty ``domain=`` and adds ``Partitioned``.
* Flex runs one request at a time per Python instance and scales out;
  ``--instances N`` runs N instances as separate processes (the app keeps
  module-level state) behind the one port, round-robin.
* The demo biller page (``client/``) is served on http://127.0.0.1:8080, a
  different site from the functions on http://localhost:7071, so the web
  component runs cross-site as on a biller's page.
"""

from __future__ import annotations

import argparse
import errno
import html
import http.client
import itertools
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.web import edge
from tools.functions_host import (
    FUNCTION_KEY_HEADER,
    PLATFORMS,
    FunctionsHost,
    Platform,
    RawRequest,
    RawResponse,
    Route,
    decoded_path,
    encode_response,
    host_answer,
    indexed_functions,
    route_pattern,
)
from tools.functions_host import host_route_prefix as _route_prefix_in

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("payerauth.localhost")
Answer = Callable[[RawRequest], RawResponse]
__all__ = ["FunctionsHost", "encode_response", "indexed_functions", "route_pattern", "serve", "serve_demo", "stop"]

# Kestrel's limits (KestrelServerLimits) and the host's body limit (ScriptConstants.DefaultMaxRequestBodySize,
# or FUNCTIONS_REQUEST_BODY_SIZE_LIMIT through HttpRequestBodySizeMiddleware).
MAX_REQUEST_LINE = 8 * 1024  # the line with its CRLF; longer: 414
MAX_HEADERS_TOTAL = 32 * 1024  # the header lines with their CRLFs; more: 431
MAX_HEADER_COUNT = 100  # more: 431
DEFAULT_BODY_LIMIT = 100 * 1024 * 1024  # more: 413
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length",
                        "proxy-connection", "trailer"})


def load_local_settings(path: Path = ROOT / "local.settings.json") -> None:
    """Put ``Values`` into the environment as Core Tools does (the real environment wins)."""
    if path.exists():
        values = json.loads(path.read_text()).get("Values", {})
        for name, value in values.items():
            os.environ.setdefault(name, str(value))


def host_route_prefix(path: Path = ROOT / "host.json") -> str:
    return _route_prefix_in(path)


def body_limit() -> int:
    value = os.environ.get("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "")
    return int(value) if value.strip().lstrip("-").isdigit() else DEFAULT_BODY_LIMIT


def function_key(local_dir: Path) -> str:
    """The local function key (Azure keeps them in the host's secrets; APIM sends one): made once."""
    path = local_dir / "function-key"
    if not path.exists() or not path.read_text().strip():
        local_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


# --- the edge: API Management's policies, locally ----------------------------------------------

class LocalEdge:
    """``shared.web.edge``'s rules around an upstream host, and the function key API Management sends.

    On ``core-tools`` there is no APIM in front of ``func start``: preflights and requests pass as sent,
    and only the cookie rule applies (without ``Partitioned`` the browser drops the cookie).
    """

    def __init__(self, upstream: Answer, routes: list[Route], *, platform: Platform, key: str,
                 cookie_name: str, development: bool) -> None:
        self.upstream = upstream
        self.cors_routes = [r for r in routes if r.methods is not None and "OPTIONS" in r.methods]
        self.platform = platform
        self.key = key
        self.cookie_name = cookie_name
        self.development = development

    def handle(self, request: RawRequest) -> RawResponse:
        if self.platform == "flex":
            if edge.is_preflight(request.method, request.headers) and self.is_cors_route(request.target):
                answer = edge.preflight(request.headers, development=self.development)
                return RawResponse(answer.status, list(answer.headers), answer.body)
            request = request.with_header(FUNCTION_KEY_HEADER, self.key)
        response = self.upstream(request)
        response.headers = edge.response_headers(response.headers, self.cookie_name)
        return response

    def is_cors_route(self, target: str) -> bool:
        path = decoded_path(urlsplit(target).path).lstrip("/")
        return any(r.pattern.fullmatch(path) for r in self.cors_routes)


# --- HTTP/1.1 with Kestrel's limits ---------------------------------------------------------------

class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def make_handler(answer: Answer, max_body: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "PayerAuthLocalHost"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def handle_one_request(self) -> None:
            self.command, self.request_version, self.requestline = "", "HTTP/1.1", ""
            try:
                request = self.read_request()
            except Refused as refused:  # Kestrel answers and closes the connection
                self.close_connection = True
                self.send(host_answer(refused.status))
                return
            except (OSError, ValueError):
                self.close_connection = True
                return
            if request is None:
                self.close_connection = True
                return
            self.send(answer(request))

        def read_request(self) -> RawRequest | None:
            line = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(line) > MAX_REQUEST_LINE:
                raise Refused(414)
            if not line.endswith(b"\n"):
                return None
            self.requestline = line.decode("latin-1").rstrip("\r\n")
            parts = self.requestline.split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
                raise Refused(400)
            self.command, target, self.request_version = parts
            headers = self.read_headers()
            connection = ",".join(v for k, v in headers if k.lower() == "connection").lower()
            self.close_connection = "close" in connection or (
                self.request_version == "HTTP/1.0" and "keep-alive" not in connection)
            body = self.read_body(headers)
            return RawRequest(self.command, target, tuple(headers), body)

        def read_headers(self) -> list[tuple[str, str]]:
            headers: list[tuple[str, str]] = []
            total = 0
            while True:
                raw = self.rfile.readline(MAX_HEADERS_TOTAL + 3 - total)
                total += len(raw)
                if total > MAX_HEADERS_TOTAL + 2 or len(headers) > MAX_HEADER_COUNT:
                    raise Refused(431)
                if raw in (b"\r\n", b"\n"):
                    return headers
                name, colon, value = raw.decode("latin-1").partition(":")
                if not colon or not name or name != name.strip():
                    raise Refused(400)
                headers.append((name, value.strip()))

        def read_body(self, headers: list[tuple[str, str]]) -> bytes:
            names = {k.lower(): v for k, v in headers}
            if names.get("transfer-encoding", "").lower() == "chunked":
                return self.read_chunked()
            lengths = [v.strip() for k, v in headers if k.lower() == "content-length"]
            length = lengths[0] if lengths else "0"
            if len(lengths) > 1 or not length.isdigit():
                raise Refused(400)  # Kestrel: RequestRejectionReason.MultipleContentLengths / InvalidContentLength
            if int(length) > max_body:
                raise Refused(413)  # without reading it
            return self.rfile.read(int(length))

        def read_chunked(self) -> bytes:
            body = b""
            while size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
                if len(body) + size > max_body:
                    raise Refused(413)
                body += self.rfile.read(size)
                self.rfile.readline(3)
            while self.rfile.readline(MAX_HEADERS_TOTAL) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return body

        def send(self, response: RawResponse) -> None:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            # A query string can hold a token (tenant login ?token=): never log it.
            log.debug("%s %s", self.address_string(), re.sub(r"\?\S*", "?...", format % args))

    return Handler


def listen(host_name: str, port: int, answer: Answer, name: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host_name, port), make_handler(answer, body_limit()))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name=name).start()
    return server


# --- putting it together ------------------------------------------------------------------------

def the_app() -> Any:
    load_local_settings()
    sys.path.insert(0, str(ROOT))
    import function_app

    return function_app


def serve(host_name: str, port: int, *, platform: Platform = "flex", with_edge: bool = True,
          local_dir: Path | None = None, key: str = "") -> ThreadingHTTPServer:
    """Serve function_app in this process (one instance) in a background thread; returns the server.

    ``with_edge=False`` serves the bare host, as Azure would without API Management in front.  The
    function key is ``key``, else the one kept in ``local_dir`` (default: the settings' folder).
    """
    app = the_app()
    if platform == "flex" and not key:
        key = function_key(local_dir or app.SETTINGS.local_dir)
    host = FunctionsHost(app.app, host_route_prefix(), platform=platform, function_key=key)
    answer: Answer = host.handle
    if with_edge:
        answer = LocalEdge(host.handle, host.routes, platform=platform, key=key,
                           cookie_name=app.SETTINGS.cookie_name, development=app.SETTINGS.development).handle
    server = listen(host_name, port, answer, "functions-host")
    server.function_key = key  # type: ignore[attr-defined]
    return server


class RoundRobin:
    """N host instances behind one port, as the platform's front end spreads requests over instances."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = itertools.cycle(ports)
        self.lock = threading.Lock()

    def handle(self, request: RawRequest) -> RawResponse:
        with self.lock:
            port = next(self.ports)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        try:
            connection.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers:
                if name.lower() not in HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(request.body)))
            connection.endheaders(request.body)
            reply = connection.getresponse()
            headers = [(k, v) for k, v in reply.getheaders() if k.lower() not in ("server", "date")]
            return RawResponse(reply.status, headers, reply.read())
        finally:
            connection.close()


def start_instances(count: int, platform: Platform, key: str) -> tuple[list[subprocess.Popen[str]], list[int]]:
    """Each instance a process of its own (``--instance``), on a loopback port it reports on stdout."""
    command = [sys.executable, "-m", "tools.localhost", "--instance", "--platform", platform]
    children = [subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
                for _ in range(count)]
    ports = []
    for child in children:
        if child.stdin is None or child.stdout is None:
            raise RuntimeError("an instance process has no pipes")
        child.stdin.write(key + "\n")  # the key the edge sends; never on a command line
        child.stdin.flush()
        ports.append(int(child.stdout.readline().split()[-1]))
    return children, ports


def serve_instances(host_name: str, port: int, count: int, platform: Platform,
                    local_dir: Path | None = None) -> tuple[ThreadingHTTPServer, list[subprocess.Popen[str]]]:
    """The edge on ``port``, round-robin over ``count`` instance processes (each reads the same settings)."""
    app = the_app()
    key = function_key(local_dir or app.SETTINGS.local_dir) if platform == "flex" else ""
    children, ports = start_instances(count, platform, key)
    routes = FunctionsHost(app.app, host_route_prefix(), platform=platform, function_key=key).routes
    front = LocalEdge(RoundRobin(ports).handle, routes, platform=platform, key=key,
                      cookie_name=app.SETTINGS.cookie_name, development=app.SETTINGS.development)
    return listen(host_name, port, front.handle, "functions-front"), children


def run_instance(platform: Platform) -> None:
    """One instance: the bare host on a loopback port; it ends when its parent does (stdin closes)."""
    key = sys.stdin.readline().strip()
    server = serve("127.0.0.1", 0, platform=platform, with_edge=False, key=key)
    print(f"instance listening on {server.server_address[1]}", flush=True)
    sys.stdin.read()
    report_io_counts()


def report_io_counts() -> None:
    """This process's database cursors and key-store loads, for bench/capacity.py --simulate."""
    from shared import iocounts

    print(f"io counts {json.dumps(iocounts.snapshot(), sort_keys=True)}", file=sys.stderr, flush=True)


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


def serve_demo(host_name: str, port: int, api_base: str, biller_jwt: str = "", *, csp: str | None = None
               ) -> DemoServer:
    """Serve client/ and a demo biller page embedding ``biller_jwt`` (a static site, no cookies).

    With ``csp`` every answer carries that Content-Security-Policy, as a biller's own site may send.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if urlsplit(f"http://{self.headers.get('Host', '')}").hostname != host_name:
                # http://localhost:<port> would be another origin than the one the demo JWT names
                self.send_response(302)
                self.send_header("Location", f"{server.origin}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
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
            if csp:
                self.send_header("Content-Security-Policy", csp)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            log.debug("demo %s", format % args)

    server = DemoServer((host_name, port), Handler)
    server.daemon_threads = True
    server.biller_jwt = biller_jwt
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-site").start()
    return server


def demo_biller_jwt(domain: str) -> str | None:
    """A fresh biller JWT for the demo biller at ``domain`` (the demo page's), or None before ``tools.cli init``."""
    import function_app
    from shared.billers.directory import Actor
    from shared.errors import PayerAuthError
    from tools.cli import DEMO_BILLER_GUID

    try:
        tokens = function_app.endpoints().service.biller_tokens
        return tokens.mint(DEMO_BILLER_GUID, domain, Actor(sub="localhost-demo")).token
    except PayerAuthError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--demo-host", default="127.0.0.1", help="the demo page's host: another site")
    parser.add_argument("--demo-port", type=int, default=8080, help="0 to serve no demo page")
    parser.add_argument("--platform", choices=PLATFORMS, default="flex",
                        help="flex: as Azure's Flex Consumption host behind API Management (default); "
                             "core-tools: as `func start`")
    parser.add_argument("--instances", type=int, default=1, help="host instances, each its own process")
    parser.add_argument("--instance", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from shared.errors import ConfigurationError

    try:
        if args.instance:
            run_instance(args.platform)
            return 0
        return run(args)
    except ConfigurationError:
        return 2  # function_app has logged the setting and what to put there, once: no traceback
    except BusyPort as busy:
        print(busy, file=sys.stderr)
        return 2


class BusyPort(Exception):
    pass


def bound(make: Callable[[], Any], port: int, flag: str) -> Any:
    try:
        return make()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise BusyPort(f"port {port} is in use: choose another with {flag}") from None
        raise


def run(args: argparse.Namespace) -> int:
    children: list[subprocess.Popen[str]] = []
    if args.instances > 1:
        front, children = bound(lambda: serve_instances(args.host, args.port, args.instances, args.platform),
                                args.port, "--port (make run PORT=...)")
    else:
        front = bound(lambda: serve(args.host, args.port, platform=args.platform), args.port,
                      "--port (make run PORT=...)")
    servers: list[ThreadingHTTPServer] = [front]
    print(f"Functions: http://{args.host}:{args.port}  ({args.platform}, {args.instances} instance(s))", flush=True)
    token = demo_biller_jwt(f"{args.demo_host}:{args.demo_port}") if args.demo_port else None
    if token:
        servers.append(bound(lambda: serve_demo(args.demo_host, args.demo_port, f"http://{args.host}:{args.port}",
                                                token), args.demo_port, "--demo-port (make run DEMO_PORT=...)"))
        print(f"Demo biller page: http://{args.demo_host}:{args.demo_port}/  (flows: ?flow=auto|bootstrap|cookie|body)",
              flush=True)
    elif args.demo_port:
        print("No demo page: run `python -m tools.cli init` first to create the demo biller.", flush=True)
    print("Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, interrupt)  # `kill` stops the host as Ctrl-C does
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        for server in servers:
            stop(server)
        for child in children:  # an instance ends, reporting its I/O counts, when its stdin closes
            if child.stdin:
                child.stdin.close()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.terminate()
        if not children:
            report_io_counts()
    return 0


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    sys.exit(main())
