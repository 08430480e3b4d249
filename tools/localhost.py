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

Each job has its module: ``functions_host`` (route discovery, the library's
response encoding, platform modes, function keys), ``kestrel`` (HTTP/1.1 and
its limits), ``local_edge`` (API Management's part), ``instances`` (several
processes behind one port), ``demo_site`` (the demo page and its constants) and
``local_settings`` (``local.settings.json``); this module puts them together.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.demo_site import demo_biller_jwt, serve_demo
from tools.functions_host import PLATFORMS, FunctionsHost, Platform
from tools.instances import report_io_counts, serve_instances
from tools.kestrel import Answer, listen, stop
from tools.local_edge import LocalEdge, function_key
from tools.local_settings import host_route_prefix, the_app

log = logging.getLogger("payerauth.localhost")


def serve(
    host_name: str,
    port: int,
    *,
    platform: Platform = "flex",
    with_edge: bool = True,
    local_dir: Path | None = None,
    key: str = "",
) -> ThreadingHTTPServer:
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
        answer = LocalEdge(
            host.handle,
            host.routes,
            platform=platform,
            key=key,
            cookie_name=app.SETTINGS.cookie_name,
            development=app.SETTINGS.development,
        ).handle
    server = listen(host_name, port, answer, "functions-host")
    server.function_key = key  # type: ignore[attr-defined]
    return server


def run_instance(platform: Platform) -> None:
    """One instance: the bare host on a loopback port; it ends when its parent does (stdin closes)."""
    key = sys.stdin.readline().strip()
    server = serve("127.0.0.1", 0, platform=platform, with_edge=False, key=key)
    print(f"instance listening on {server.server_address[1]}", flush=True)
    sys.stdin.read()
    report_io_counts()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--demo-host", default="127.0.0.1", help="the demo page's host: another site")
    parser.add_argument("--demo-port", type=int, default=8080, help="0 to serve no demo page")
    parser.add_argument(
        "--platform",
        choices=PLATFORMS,
        default="flex",
        help="flex: as Azure's Flex Consumption host behind API Management (default); core-tools: as `func start`",
    )
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
        front, children = bound(
            lambda: serve_instances(args.host, args.port, args.instances, args.platform),
            args.port,
            "--port (make run PORT=...)",
        )
    else:
        front = bound(
            lambda: serve(args.host, args.port, platform=args.platform), args.port, "--port (make run PORT=...)"
        )
    servers: list[ThreadingHTTPServer] = [front]
    print(f"Functions: http://{args.host}:{args.port}  ({args.platform}, {args.instances} instance(s))", flush=True)
    token = demo_biller_jwt(f"{args.demo_host}:{args.demo_port}") if args.demo_port else None
    if token:
        servers.append(
            bound(
                lambda: serve_demo(args.demo_host, args.demo_port, f"http://{args.host}:{args.port}", token),
                args.demo_port,
                "--demo-port (make run DEMO_PORT=...)",
            )
        )
        print(
            f"Demo biller page: http://{args.demo_host}:{args.demo_port}/  (flows: ?flow=auto|bootstrap|cookie|body)",
            flush=True,
        )
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


if __name__ == "__main__":
    sys.exit(main())
