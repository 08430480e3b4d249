"""Several host instances behind one port, as Flex Consumption scales out (``--instances N``)."""

from __future__ import annotations

import http.client
import itertools
import json
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from tools.functions_host import Platform, RawRequest, RawResponse, discover_routes
from tools.kestrel import HOP_BY_HOP, listen
from tools.local_edge import LocalEdge, function_key
from tools.local_settings import ROOT, host_route_prefix, the_app


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
    children = [
        subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(count)
    ]
    ports = []
    for child in children:
        if child.stdin is None or child.stdout is None:
            raise RuntimeError("an instance process has no pipes")
        child.stdin.write(key + "\n")  # the key the edge sends; never on a command line
        child.stdin.flush()
        ports.append(int(child.stdout.readline().split()[-1]))
    return children, ports


def serve_instances(
    host_name: str, port: int, count: int, platform: Platform, local_dir: Path | None = None
) -> tuple[ThreadingHTTPServer, list[subprocess.Popen[str]]]:
    """The edge on ``port``, round-robin over ``count`` instance processes (each reads the same settings)."""
    app = the_app()
    key = function_key(local_dir or app.SETTINGS.local_dir) if platform == "flex" else ""
    children, ports = start_instances(count, platform, key)
    routes = discover_routes(app.app, host_route_prefix())
    front = LocalEdge(
        RoundRobin(ports).handle,
        routes,
        platform=platform,
        key=key,
        cookie_name=app.SETTINGS.cookie_name,
        development=app.SETTINGS.development,
    )
    return listen(host_name, port, front.handle, "functions-front"), children


def report_io_counts() -> None:
    """This process's database cursors and key-store loads, for bench/capacity.py --simulate."""
    from shared import iocounts

    print(f"io counts {json.dumps(iocounts.snapshot(), sort_keys=True)}", file=sys.stderr, flush=True)
