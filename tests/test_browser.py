"""The web component in a real browser (Debian's Chromium driven by Playwright), cross-site:
the demo biller page on http://127.0.0.1:<port>, the functions on http://localhost:<port> as Azure
serves them (the Flex Consumption host behind the edge: tools/localhost.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import function_app
import shared.web.edge
from shared.http import Response
from tests.conftest import Env
from tools.demo_site import serve_demo
from tools.kestrel import stop
from tools.localhost import serve

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run `make system-deps` (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Sites:
    env: Env
    api_base: str
    demo_origin: str
    servers: list[Any] = field(default_factory=list)

    def demo(self, biller_jwt: str | None = None) -> str:
        """Serve the demo page on a new 127.0.0.1 port; its biller JWT names that origin unless given."""
        server = serve_demo("127.0.0.1", 0, self.api_base)
        self.servers.append(server)
        server.biller_jwt = biller_jwt or self.env.mint(server.origin.removeprefix("http://"))
        return server.origin + "/"


@pytest.fixture
def sites(env: Env) -> Iterator[Sites]:
    functions = serve("localhost", 0, local_dir=env.tmp)  # platform flex, behind the edge
    function_app.install(env.service)
    sites = Sites(env, f"http://localhost:{functions.server_address[1]}", "", [functions])
    yield sites
    for server in sites.servers:
        stop(server)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.seen = {"responses": [], "requests": []}
    # Playwright needs real Python functions as handlers (it tags them), not a builtin like list.append.
    page.on("request", lambda r: page.seen["requests"].append(r))  # noqa: PLW0108
    page.on("response", lambda r: page.seen["responses"].append(r))  # noqa: PLW0108
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / (re.sub(r"[^\w.-]+", "_", request.node.name) + ".png")), full_page=True)
    context.close()


def open_demo(page: Any, sites: Sites, flow: str) -> dict[str, Any]:
    """Open a demo page whose biller JWT names the page's own origin; wait for the component."""
    page.goto(f"{sites.demo()}?flow={flow}")
    page.wait_for_function("window.payerAuthResult !== undefined", timeout=15_000)
    return dict(page.evaluate("window.payerAuthResult"))


def response_bodies(page: Any) -> str:
    # A body the browser did not keep fails the test: an unread body proves nothing about its content.
    bodies = [
        response.text()
        for response in page.seen["responses"]
        if "/api/" in response.url and response.request.method != "OPTIONS"
    ]
    assert any("expires_in" in body for body in bodies), "the exchange's answer was not seen"
    return "\n".join(bodies)


def sent_headers(page: Any, path: str) -> list[dict[str, str]]:
    return [r.all_headers() for r in page.seen["requests"] if r.url.endswith(path) and r.method == "GET"]


@pytest.mark.parametrize(
    ("flow", "used"), [("body", "body"), ("cookie", "cookie"), ("bootstrap", "bootstrap"), ("auto", "bootstrap")]
)
def test_each_flow_shows_the_profile_cross_site(page: Any, sites: Sites, flow: str, used: str) -> None:
    result = open_demo(page, sites, flow)
    assert result["flow"] == used, result
    assert result["profile"]["displayName"] == "Demo Biller"
    assert page.locator("payer-auth").get_attribute("data-state") == "ready"
    assert page.locator("payer-auth [data-field=displayName]").inner_text() == "Demo Biller"


@pytest.mark.parametrize("flow", ["cookie", "bootstrap"])
def test_in_the_cookie_flows_the_token_is_invisible_to_page_javascript(page: Any, sites: Sites, flow: str) -> None:
    open_demo(page, sites, flow)
    assert page.evaluate("document.cookie") == ""
    assert "access_token" not in response_bodies(page)
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "__Host-payer_session" and cookie["httpOnly"] and cookie["secure"]
    assert cookie["partitionKey"] == "http://127.0.0.1"  # kept in the biller site's partition (CHIPS)


def test_the_profile_call_succeeds_only_because_the_browser_sent_the_cookie(page: Any, sites: Sites) -> None:
    open_demo(page, sites, "cookie")
    (headers,) = sent_headers(page, "/api/payer/profile")
    assert "__Host-payer_session=" in headers.get("cookie", "") and "authorization" not in headers
    page.context.clear_cookies()
    status = page.evaluate("document.querySelector('payer-auth').profile().then(() => 200, e => e.status)")
    assert status == 401


def test_logout_ends_the_cookie_session(page: Any, sites: Sites) -> None:
    open_demo(page, sites, "bootstrap")
    page.evaluate("document.querySelector('payer-auth').logout()")
    assert page.context.cookies() == []
    assert page.evaluate("document.querySelector('payer-auth').profile().then(() => 200, e => e.status)") == 401


def test_the_session_cookie_is_stored_as_a_host_cookie_with_no_domain(page: Any, sites: Sites) -> None:
    """The host writes an empty ``domain=``; the edge removes it, so the browser keeps a host-only cookie."""
    open_demo(page, sites, "cookie")
    (set_cookie,) = [r.headers_array() for r in page.seen["responses"] if r.url.endswith("/api/payer/token")]
    (value,) = [h["value"] for h in set_cookie if h["name"].lower() == "set-cookie"]
    assert "domain" not in value.lower() and value.endswith("; Partitioned")
    (cookie,) = page.context.cookies()
    assert cookie["name"].startswith("__Host-") and cookie["domain"] == "localhost"  # host-only: no leading dot


def test_without_the_edge_answering_preflights_the_body_flow_fails_as_it_did_in_azure(
    page: Any, sites: Sites, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the edge answers preflights: on Flex the host answers them itself, 204 with no CORS headers."""
    monkeypatch.setattr(shared.web.edge, "preflight", lambda headers, development: Response(204))
    result = open_demo(page, sites, "body")
    assert result["error"]["status"] == 0, result  # the Bearer GET's preflight failed: a network error
    assert page.locator("payer-auth").get_attribute("data-state") == "error"


def test_the_body_flow_keeps_the_token_in_memory_only(page: Any, sites: Sites) -> None:
    open_demo(page, sites, "body")
    (headers,) = sent_headers(page, "/api/payer/profile")
    assert headers["authorization"].startswith("Bearer ")
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.context.cookies() == []


def test_a_page_whose_origin_does_not_match_the_biller_jwt_gets_no_token_and_no_cookie_but_reads_why(
    page: Any, sites: Sites
) -> None:
    token = sites.env.mint("127.0.0.1:1")  # a domain no page here is served from
    page.goto(sites.demo(token) + "?flow=auto")
    page.wait_for_function("window.payerAuthResult !== undefined", timeout=15_000)
    result = page.evaluate("window.payerAuthResult")
    assert result["error"]["status"] == 400  # the refusal is readable, not "the service could not be reached"
    assert result["error"]["error"] == "invalid_request"
    assert "origin does not match" in result["error"]["description"]
    assert page.context.cookies() == []
    assert page.locator("payer-auth").get_attribute("data-state") == "error"


def test_without_partitioned_chromium_drops_the_cookie_and_auto_falls_back_to_body(
    page: Any, sites: Sites, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the edge adds Partitioned: without it this third-party cookie never comes back."""
    monkeypatch.setattr(shared.web.edge, "add_partitioned", lambda set_cookie, name: set_cookie)
    result = open_demo(page, sites, "auto")
    assert result["flow"] == "body-fallback"
    assert page.context.cookies() == []
    assert result["profile"]["displayName"] == "Demo Biller"
