"""The demo biller site: ``client/`` and a page embedding a biller JWT, on another site than the functions."""

from __future__ import annotations

import html
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tools.local_settings import ROOT

log = logging.getLogger("payerauth.localhost")
DEMO_BILLER_GUID = "6f1d2a4e-3b5c-4d7e-8f90-a1b2c3d4e5f6"
DEMO_ORIGIN_DOMAIN = "127.0.0.1:8080"
CLIENT = ROOT / "client"
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def demo_page(api_base: str, biller_jwt: str, page_origin: str) -> bytes:
    text = (CLIENT / "demo.html").read_text()
    for name, value in (("API_BASE", api_base), ("BILLER_JWT", biller_jwt), ("PAGE_ORIGIN", page_origin)):
        text = text.replace("{{" + name + "}}", html.escape(value))
    return text.encode()


class DemoServer(ThreadingHTTPServer):
    biller_jwt = ""  # what the page embeds; may be set after the port is known

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}"


def serve_demo(host_name: str, port: int, api_base: str, biller_jwt: str = "", *, csp: str | None = None) -> DemoServer:
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

    try:
        tokens = function_app.endpoints().service.biller_tokens
        return tokens.mint(DEMO_BILLER_GUID, domain, Actor(sub="localhost-demo")).token
    except PayerAuthError:
        return None
