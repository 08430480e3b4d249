"""The sites the Firefox tests (client/test/*.test.js) open, on ephemeral loopback ports.

Started by client/test/sites.js with the project's Python: it builds a service on temporary
SQLite databases (as tests/conftest.py does), serves its functions on http://localhost:<port>
with the local host (tools/localhost.py: the platform's response encoding and the edge's
Partitioned rule), and one demo biller page per scenario on http://127.0.0.1:<port>. It prints
one JSON line naming them, then obeys lines on stdin: ``down`` makes the databases unreachable,
``quit`` (or end of input) stops.
"""

from __future__ import annotations

import inspect
import json
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import function_app  # noqa: E402
from shared.billers.directory import Actor  # noqa: E402
from shared.keystores.local import LocalKeySource  # noqa: E402
from tests.conftest import START, Env, build_env  # noqa: E402
from tools.demo_site import (  # noqa: E402
    DEMO_BILLER_GUID,
    DemoServer,
    serve_demo,
)
from tools.kestrel import stop  # noqa: E402
from tools.localhost import serve  # noqa: E402


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo(api_base: str, token_for: Callable[[str], str]) -> DemoServer:
    server = serve_demo("127.0.0.1", 0, api_base)
    server.biller_jwt = token_for(server.origin.removeprefix("http://"))
    return server


def host_options(local_dir: Path) -> dict[str, Any]:
    """Where the local host keeps its function key, when it has one (the Flex emulation does)."""
    return {"local_dir": local_dir} if "local_dir" in inspect.signature(serve).parameters else {}


def revoked(env: Env, domain: str) -> str:
    minted = env.service.biller_tokens.mint(DEMO_BILLER_GUID, domain, Actor(sub="firefox-tests"))
    env.service.biller_tokens.revoke(DEMO_BILLER_GUID, minted.record.jti, Actor(sub="firefox-tests"))
    return minted.token


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="payer-auth-firefox-") as folder:
        tmp = Path(folder)
        LocalKeySource(tmp / "keys", lambda: START).add_version()
        env = build_env(tmp / "service", tmp / "keys")
        functions = serve("localhost", 0, **host_options(tmp / "service"))
        function_app.install(env.service)
        api = f"http://localhost:{functions.server_address[1]}"
        pages = {
            "ok": demo(api, env.mint),
            "mismatch": demo(api, lambda _domain: env.mint("127.0.0.1:1")),
            "revoked": demo(api, lambda domain: revoked(env, domain)),
            "network": demo(f"http://localhost:{closed_port()}", env.mint),
        }
        strict = serve_demo("127.0.0.1", 0, api, csp=f"script-src 'self'; style-src 'self'; connect-src {api}")
        csp_origin = strict.origin
        strict.biller_jwt = env.mint(csp_origin.removeprefix("http://"))
        urls = {name: page.origin + "/" for name, page in pages.items()}
        print(json.dumps({"api": api, **urls, "csp": csp_origin + "/"}), flush=True)
        for line in sys.stdin:
            if line.strip() == "down":
                (tmp / "service" / "master.db").unlink()
                env.clock.advance(env.settings.revocation_bound + 1)  # past what the cache may serve
                print("down", flush=True)
            elif line.strip() == "quit":
                break
        for server in (functions, *pages.values(), strict):
            stop(server)


if __name__ == "__main__":
    main()
