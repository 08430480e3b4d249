"""HTTP/1.1 with Kestrel's limits, in front of the local Functions host.

Kestrel's limits (KestrelServerLimits) and the host's body limit (ScriptConstants.DefaultMaxRequestBodySize,
or FUNCTIONS_REQUEST_BODY_SIZE_LIMIT through HttpRequestBodySizeMiddleware): 413 over the body limit, 414
over an 8 KiB request line, 431 over 32 KiB of headers or 100 of them.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tools.functions_host import RawRequest, RawResponse, host_answer

log = logging.getLogger("payerauth.localhost")
Answer = Callable[[RawRequest], RawResponse]

MAX_REQUEST_LINE = 8 * 1024  # the line with its CRLF; longer: 414
MAX_HEADERS_TOTAL = 32 * 1024  # the header lines with their CRLFs; more: 431
MAX_HEADER_COUNT = 100  # more: 431
DEFAULT_BODY_LIMIT = 100 * 1024 * 1024  # more: 413
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length", "proxy-connection", "trailer"}
)


def body_limit() -> int:
    value = os.environ.get("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "")
    return int(value) if value.strip().lstrip("-").isdigit() else DEFAULT_BODY_LIMIT


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
                self.request_version == "HTTP/1.0" and "keep-alive" not in connection
            )
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


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
