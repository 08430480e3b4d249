"""The local host behaves as the Flex Consumption host behind API Management (tools/localhost.py,
tools/functions_host.py, shared/web/edge.py), and as `func start` with --platform core-tools."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest

import function_app
from shared.web import cors
from shared.web.edge import preflight
from tests.conftest import DEMO_ORIGIN, GRANT, JWT_TYPE, Env
from tools.demo_site import demo_biller_jwt, serve_demo
from tools.functions_host import (
    FunctionsHost,
    RawRequest,
    RawResponse,
    decoded_path,
    encode_response,
    route_pattern,
    rpc_cookie_header,
)
from tools.instances import RoundRobin, serve_instances
from tools.kestrel import DEFAULT_BODY_LIMIT, Answer, body_limit, listen, stop
from tools.local_settings import host_route_prefix
from tools.localhost import serve

ROOT = Path(__file__).resolve().parent.parent

HOST_HEADERS = {"server", "date", "content-length", "connection"}  # all an answer of the host's own carries
PREFLIGHT = [
    ("Origin", DEMO_ORIGIN),
    ("Access-Control-Request-Method", "GET"),
    ("Access-Control-Request-Headers", "authorization"),
]


# --- plumbing ---------------------------------------------------------------------------------


def send(
    server: ThreadingHTTPServer,
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> http.client.HTTPResponse:
    """One request, headers exactly as given (repeated ones too)."""
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=20)
    headers = headers or []
    connection.putrequest(
        method, target, skip_host=any(k.lower() == "host" for k, _ in headers), skip_accept_encoding=True
    )
    for name, value in headers:
        connection.putheader(name, value)
    if body or method in ("POST", "PUT", "PATCH"):
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    return connection.getresponse()


def assert_host_answer(answer: http.client.HTTPResponse, status: int) -> None:
    """An answer the host (or Kestrel) produces itself: empty, with none of the app's headers."""
    assert answer.status == status
    assert answer.read() == b""
    assert {name.lower() for name, _ in answer.getheaders()} <= HOST_HEADERS, answer.getheaders()


def exchange_body(env: Env, delivery: str = "body") -> bytes:
    return urlencode(
        {"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": env.mint(), "token_delivery": delivery}
    ).encode()


FORM = ("Content-Type", "application/x-www-form-urlencoded")


@pytest.fixture
def live(env: Env) -> Iterator[ThreadingHTTPServer]:
    """The default: the Flex host behind the local edge, as `make run` serves it."""
    server = serve("127.0.0.1", 0, local_dir=env.tmp)
    function_app.install(env.service)  # serve() imported function_app; keep the test's service
    yield server
    stop(server)


@pytest.fixture
def bare(env: Env) -> Iterator[ThreadingHTTPServer]:
    """The Flex host with no edge in front: what Azure answers when API Management is bypassed."""
    server = serve("127.0.0.1", 0, with_edge=False, local_dir=env.tmp)
    function_app.install(env.service)
    yield server
    stop(server)


@pytest.fixture
def core_tools(env: Env) -> Iterator[ThreadingHTTPServer]:
    server = serve("127.0.0.1", 0, platform="core-tools")
    function_app.install(env.service)
    yield server
    stop(server)


# A small app of our own, to see exactly what a function receives from the host.
echo_app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@echo_app.route(route="echo/{name}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    seen = {
        "headers": dict(req.headers.items()),
        "params": dict(req.params),
        "route": dict(req.route_params),
        "url": req.url,
    }
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")


@echo_app.route(route="any")
def any_method(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.method)


@echo_app.route(route="headers", methods=["GET"])
def same_header_twice(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("x")
    response.headers.add("X-Case", "first")
    response.headers.add("x-case", "second")
    return response


entered = threading.Event()
release = threading.Event()


@echo_app.route(route="hold", methods=["GET"])
def hold(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("first"):
        entered.set()
        release.wait(20)
    else:
        entered.set()
    return func.HttpResponse("done")


@pytest.fixture
def echo_host() -> Iterator[ThreadingHTTPServer]:
    server = listen("127.0.0.1", 0, FunctionsHost(echo_app, "", platform="core-tools").handle, "echo")
    yield server
    stop(server)


def echoed(server: ThreadingHTTPServer, target: str, headers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    answer = send(server, "GET", target, headers)
    assert answer.status == 200
    return dict(json.loads(answer.read()))


# --- routing by the app's own bindings --------------------------------------------------------------


def test_host_json_sets_an_empty_route_prefix() -> None:
    assert host_route_prefix() == ""


def test_every_registered_function_is_routed_by_its_own_bindings() -> None:
    host = FunctionsHost(function_app.app, "", function_key="k")
    routes = {r.name: r for r in host.routes}
    assert routes["payer_token"].methods == frozenset({"POST", "OPTIONS"})
    assert routes["jwks"].pattern.fullmatch(".well-known/jwks.json")
    assert not routes["jwks"].pattern.fullmatch(".well-known/jwksXjson")


def test_every_function_but_health_needs_the_function_key() -> None:
    routes = FunctionsHost(function_app.app, "", function_key="k").routes
    assert {r.name for r in routes if r.anonymous} == {"health"}


def test_route_templates_capture_parameters() -> None:
    pattern = route_pattern("api/billers/{billerGuid}/tokens/{jti:guid}", "")
    match = pattern.fullmatch("api/billers/abc/tokens/def")
    assert match is not None and match.groupdict() == {"billerGuid": "abc", "jti": "def"}


def test_a_method_the_function_did_not_declare_is_404_with_an_empty_body(live: ThreadingHTTPServer) -> None:
    assert_host_answer(send(live, "GET", "/api/payer/token"), 404)  # no 405, no Allow
    assert_host_answer(send(live, "DELETE", "/.well-known/jwks.json"), 404)


def test_an_unknown_route_is_404_with_an_empty_body(live: ThreadingHTTPServer) -> None:
    assert_host_answer(send(live, "GET", "/api/nothing-here"), 404)


def test_a_function_that_declares_no_methods_accepts_any(echo_host: ThreadingHTTPServer) -> None:
    for method in ("GET", "POST", "PATCH", "DELETE", "OPTIONS", "TRACE"):
        answer = send(echo_host, method, "/any")
        assert answer.status == 200 and answer.read() == method.encode()


def test_route_parameters_are_percent_decoded_except_a_slash(echo_host: ThreadingHTTPServer) -> None:
    assert echoed(echo_host, "/echo/caf%C3%A9%20au%20lait")["route"] == {"name": "café au lait"}
    assert echoed(echo_host, "/echo/a%2Fb")["route"] == {"name": "a%2Fb"}
    assert echoed(echo_host, "/%65cho/x")["route"] == {"name": "x"}  # matched after decoding
    assert decoded_path("/a/./b/../c") == "/a/c"


# --- the request the function receives ------------------------------------------------------------


def test_repeated_request_headers_arrive_joined_with_a_comma_empty_values_skipped(
    echo_host: ThreadingHTTPServer,
) -> None:
    headers = echoed(echo_host, "/echo/x", [("X-Many", "1"), ("X-MANY", ""), ("x-many", "2"), ("X-Empty", "")])
    assert headers["headers"]["x-many"] == "1,2"
    assert headers["headers"]["x-empty"] == ""
    assert all(name == name.lower() for name in headers["headers"])


def test_two_origin_headers_reach_the_function_as_one_list_and_the_exchange_is_refused(
    env: Env, live: ThreadingHTTPServer
) -> None:
    """The emulator used to keep the last value: the hostile first one was ignored and the exchange passed."""
    answer = send(
        live,
        "POST",
        "/api/payer/token",
        [FORM, ("Origin", "https://evil.example"), ("Origin", DEMO_ORIGIN)],
        exchange_body(env),
    )
    assert answer.status == 400 and "access_token" not in json.loads(answer.read())
    assert answer.getheader("Access-Control-Allow-Origin") is None


def test_repeated_query_parameters_arrive_joined_and_empty_ones_dropped(echo_host: ThreadingHTTPServer) -> None:
    params = echoed(echo_host, "/echo/x?token=a&token=b&Token=c&empty=&blank&late=&late=z")["params"]
    assert params == {"token": "a,b,c", "late": "z"}


def test_the_request_url_comes_from_x_forwarded_proto_and_host(echo_host: ThreadingHTTPServer) -> None:
    seen = echoed(echo_host, "/echo/a%20b?q=1", [("Host", "pay.example.com"), ("X-Forwarded-Proto", "https")])
    assert seen["url"] == "https://pay.example.com/echo/a%20b?q=1"


# --- the answer the host writes -------------------------------------------------------------------


def test_response_headers_that_differ_only_in_case_keep_the_first(echo_host: ThreadingHTTPServer) -> None:
    answer = send(echo_host, "GET", "/headers")
    assert [v for k, v in answer.getheaders() if k.lower() == "x-case"] == ["first"]


def test_a_cookie_carrying_partitioned_is_dropped_by_the_platform_encoding() -> None:
    """Why the function emits no Partitioned: http.cookies loses the whole cookie."""
    response = func.HttpResponse("x")
    response.headers.add("Set-Cookie", "__Host-a=1; Path=/; Secure; HttpOnly; SameSite=None; Partitioned")
    response.headers.add("Set-Cookie", "__Host-b=2; Path=/; Secure; HttpOnly; SameSite=None")
    _, headers, _ = encode_response(response)
    cookies = [v for k, v in headers if k == "Set-Cookie"]
    assert len(cookies) == 1 and cookies[0].startswith("__Host-b=2")


def test_cookies_are_written_as_the_host_writes_them() -> None:
    response = func.HttpResponse("x")
    response.headers.add(
        "Set-Cookie", 'pref="dark mode/é"; Expires=Wed, 09 Jun 2027 10:18:14 GMT; Path=/p; SameSite=Lax'
    )
    response.headers.add("Set-Cookie", "s=1; Max-Age=90; Domain=example.com; Secure; HttpOnly")
    _, headers, _ = encode_response(response)
    assert [v for k, v in headers if k == "Set-Cookie"] == [
        "pref=dark%20mode%2F%C3%A9; expires=Wed, 09 Jun 2027 10:18:14 GMT; domain=; path=/p; samesite=lax",
        "s=1; max-age=90; domain=example.com; path=; secure; httponly",
    ]


def test_the_host_writes_the_session_cookie_with_an_empty_domain(env: Env, bare: ThreadingHTTPServer) -> None:
    answer = send(
        bare,
        "POST",
        "/api/payer/token?code=" + bare.function_key,  # type: ignore[attr-defined]
        [FORM, ("Origin", DEMO_ORIGIN)],
        exchange_body(env, "cookie"),
    )
    cookie = answer.getheader("Set-Cookie") or ""
    value = cookie.split(";")[0]
    assert answer.status == 200
    assert cookie == f"{value}; max-age=900; domain=; path=/; secure; samesite=none; httponly"


def test_the_edge_removes_the_empty_domain_then_adds_partitioned(env: Env, live: ThreadingHTTPServer) -> None:
    answer = send(live, "POST", "/api/payer/token", [FORM, ("Origin", DEMO_ORIGIN)], exchange_body(env, "cookie"))
    cookie = answer.getheader("Set-Cookie") or ""
    assert answer.status == 200 and cookie.startswith("__Host-payer_session=")
    assert cookie.endswith("; max-age=900; path=/; secure; samesite=none; httponly; Partitioned")


# --- preflights -----------------------------------------------------------------------------------


def test_on_flex_the_host_answers_every_preflight_itself_with_no_cors_headers(bare: ThreadingHTTPServer) -> None:
    """CorsOptionsSetup + JobHostCorsMiddleware with an empty origin list: the function never sees it."""
    assert_host_answer(send(bare, "OPTIONS", "/api/payer/profile", PREFLIGHT), 204)
    assert_host_answer(send(bare, "OPTIONS", "/api/nothing-here", PREFLIGHT), 204)


def test_the_edge_answers_our_preflights_for_a_grantable_origin(live: ThreadingHTTPServer) -> None:
    answer = send(live, "OPTIONS", "/api/payer/profile", PREFLIGHT)
    assert answer.status == 204 and answer.read() == b""
    assert answer.getheader("Access-Control-Allow-Origin") == DEMO_ORIGIN
    assert answer.getheader("Access-Control-Allow-Credentials") == "true"
    assert answer.getheader("Access-Control-Allow-Methods") == "GET"
    assert answer.getheader("Access-Control-Allow-Headers") == "authorization"
    assert answer.getheader("Access-Control-Max-Age") == "600"


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "http://evil.example",
        f"{DEMO_ORIGIN},https://a.example",
        "https://A.example",
        "https://a.example/",
        "https://a.example:443",
    ],
)
def test_the_edge_grants_no_preflight_to_an_origin_that_is_not_grantable(
    live: ThreadingHTTPServer, origin: str
) -> None:
    answer = send(live, "OPTIONS", "/api/payer/token", [("Origin", origin), ("Access-Control-Request-Method", "POST")])
    assert answer.status == 204
    assert not [k for k, _ in answer.getheaders() if k.lower().startswith("access-control-")]


def test_a_preflight_gets_only_the_methods_and_headers_of_the_allowed_set() -> None:
    answer = preflight(
        [
            ("Origin", "https://pay.example"),
            ("Access-Control-Request-Method", "DELETE"),
            ("Access-Control-Request-Headers", "content-type,x-evil"),
        ],
        development=False,
    )
    assert answer.header("Access-Control-Allow-Origin") == "https://pay.example"
    assert answer.header("Access-Control-Allow-Methods") is None
    assert answer.header("Access-Control-Allow-Headers") == "content-type"


@pytest.mark.parametrize(
    ("origin", "development", "expected"),
    [
        ("https://pay.example", False, True),
        ("https://pay.example:8443", False, True),
        ("http://127.0.0.1:8080", True, True),
        ("http://localhost:8080", True, True),
        ("http://[::1]:8080", True, True),
        ("http://127.0.0.1:8080", False, False),
        ("http://pay.example", True, False),
        ("null", True, False),
        ("https://a.example https://b.example", False, False),
        ("https://a.example,https://b.example", False, False),
        ("https://pay.example/path", False, False),
        ("", False, False),
        ("https://user@pay.example", False, False),
    ],
)
def test_a_grantable_origin_is_one_serialized_https_origin_or_loopback_http_in_development(
    origin: str, development: bool, expected: bool
) -> None:
    assert (cors.grantable(origin, development=development) == origin) is expected


def test_with_core_tools_a_preflight_reaches_the_function(core_tools: ThreadingHTTPServer) -> None:
    answer = send(core_tools, "OPTIONS", "/api/payer/profile", PREFLIGHT)
    assert answer.status == 204 and answer.getheader("Access-Control-Allow-Origin") == DEMO_ORIGIN
    assert answer.getheader("Vary") == "Origin"  # the function's own answer


# --- function keys --------------------------------------------------------------------------------


def test_on_flex_a_missing_or_wrong_function_key_is_401_with_an_empty_body(bare: ThreadingHTTPServer) -> None:
    assert_host_answer(send(bare, "GET", "/api/openapi.yaml"), 401)
    assert_host_answer(send(bare, "GET", "/api/openapi.yaml", [("x-functions-key", "wrong")]), 401)
    assert_host_answer(send(bare, "GET", "/api/openapi.yaml?code=wrong"), 401)


def test_the_function_key_is_read_from_the_header_or_code(bare: ThreadingHTTPServer) -> None:
    key = bare.function_key  # type: ignore[attr-defined]
    assert send(bare, "GET", "/api/openapi.yaml", [("x-functions-key", key)]).status == 200
    assert send(bare, "GET", f"/api/openapi.yaml?code={key}").status == 200
    assert send(bare, "GET", f"/api/openapi.yaml?code={key}", [("x-functions-key", "wrong")]).status == 401
    assert send(bare, "GET", "/api/health").status == 200  # anonymous


def test_the_key_is_generated_under_the_local_folder_and_the_edge_sends_it(env: Env, live: ThreadingHTTPServer) -> None:
    assert (env.tmp / "function-key").read_text().strip() == live.function_key  # type: ignore[attr-defined]
    assert len(live.function_key) >= 40  # type: ignore[attr-defined]
    assert send(live, "GET", "/api/openapi.yaml", [("x-functions-key", "client-guess")]).status == 200


def test_core_tools_bypasses_function_keys(core_tools: ThreadingHTTPServer) -> None:
    assert send(core_tools, "GET", "/api/openapi.yaml").status == 200


# --- Kestrel's limits -----------------------------------------------------------------------------


def test_a_request_line_over_8_kib_is_414(live: ThreadingHTTPServer) -> None:
    assert send(live, "GET", "/api/health?pad=" + "a" * 8000).status == 200
    assert_host_answer(send(live, "GET", "/api/health?pad=" + "a" * 8200), 414)


def test_headers_over_32_kib_are_431(live: ThreadingHTTPServer) -> None:
    assert send(live, "GET", "/api/health", [(f"X-Pad-{i}", "a" * 1000) for i in range(30)]).status == 200
    assert_host_answer(send(live, "GET", "/api/health", [(f"X-Pad-{i}", "a" * 1000) for i in range(33)]), 431)


def test_more_than_100_headers_are_431(live: ThreadingHTTPServer) -> None:
    assert_host_answer(send(live, "GET", "/api/health", [(f"X-N-{i}", "1") for i in range(101)]), 431)


def test_a_body_over_the_limit_is_413(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    assert body_limit() == DEFAULT_BODY_LIMIT == 100 * 1024 * 1024
    monkeypatch.setenv("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "4096")
    server = serve("127.0.0.1", 0, local_dir=env.tmp)
    function_app.install(env.service)
    try:
        assert_host_answer(send(server, "POST", "/api/payer/token", [FORM], b"a" * 4097), 413)
        assert send(server, "POST", "/api/payer/token", [FORM], b"a" * 4096).status == 400  # the app's own answer
    finally:
        stop(server)


# --- instances and concurrency -----------------------------------------------------------------------


def held_requests(platform: str) -> bool:
    """Whether a second request enters a function while the first is still running."""
    entered.clear()
    release.clear()
    host = FunctionsHost(echo_app, "", platform=platform, function_key="k")  # type: ignore[arg-type]
    server = listen("127.0.0.1", 0, host.handle, "hold")
    headers = [("x-functions-key", "k")]
    first = threading.Thread(target=lambda: send(server, "GET", "/hold?first=1", headers).read())
    first.start()
    assert entered.wait(20)
    entered.clear()
    second = threading.Thread(target=lambda: send(server, "GET", "/hold", headers).read())
    second.start()
    overlapped = entered.wait(0.5 if platform == "flex" else 20)
    release.set()
    first.join(20)
    second.join(20)
    assert entered.is_set()  # the second ran in the end
    stop(server)
    return overlapped


def test_a_flex_instance_runs_one_request_at_a_time() -> None:
    assert held_requests("flex") is False


def test_core_tools_runs_requests_concurrently() -> None:
    assert held_requests("core-tools") is True


def test_instances_behind_one_port_take_requests_in_turn() -> None:
    def answering(name: str) -> Answer:
        return lambda request: RawResponse(200, [], name.encode())

    backends = [listen("127.0.0.1", 0, answering(n), f"backend-{n}") for n in ("a", "b")]
    front = RoundRobin([b.server_address[1] for b in backends])
    seen = [front.handle(RawRequest("GET", "/")).body for _ in range(4)]
    assert seen == [b"a", b"b", b"a", b"b"]
    for backend in backends:
        stop(backend)


def test_instances_are_separate_processes_behind_the_edge(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PAYERAUTH_LOCAL_DIR": str(env.tmp),
        "PAYERAUTH_MASTER_DB": env.settings.master_db,
        "PAYERAUTH_SHARD_DBS": json.dumps(dict(env.settings.shard_dbs)),
    }.items():
        monkeypatch.setenv(name, value)
    front, children = serve_instances("127.0.0.1", 0, 2, "flex", local_dir=env.tmp)
    try:
        assert len({child.pid for child in children} | {os.getpid()}) == 3
        for _ in range(2):  # each instance once: each has its own key cache, databases connections, ...
            answer = send(front, "GET", "/.well-known/jwks.json")
            assert answer.status == 200 and json.loads(answer.read())["keys"]
        assert_host_answer(send(front, "GET", "/api/payer/token"), 404)
        assert (
            send(front, "OPTIONS", "/api/payer/profile", PREFLIGHT).getheader("Access-Control-Allow-Origin")
            == DEMO_ORIGIN
        )
    finally:
        stop(front)
        for child in children:
            child.terminate()
            child.wait(20)


# --- the app over HTTP ----------------------------------------------------------------------------


def test_the_exchange_works_over_http(env: Env, live: ThreadingHTTPServer) -> None:
    answer = send(live, "POST", "/api/payer/token", [FORM, ("Origin", DEMO_ORIGIN)], exchange_body(env))
    assert answer.status == 200
    assert "access_token" in json.loads(answer.read())
    assert answer.getheader("Access-Control-Allow-Origin") == DEMO_ORIGIN


def test_jwks_answers_304_to_its_etag(live: ThreadingHTTPServer) -> None:
    first = send(live, "GET", "/.well-known/jwks.json")
    etag = first.getheader("ETag")
    assert first.status == 200 and etag and json.loads(first.read())["keys"]
    assert "max-age" in (first.getheader("Cache-Control") or "")
    second = send(live, "GET", "/.well-known/jwks.json", [("If-None-Match", etag)])
    assert second.status == 304 and second.read() == b""


def test_openid_configuration_points_at_the_jwks(env: Env, live: ThreadingHTTPServer) -> None:
    document = json.loads(send(live, "GET", "/.well-known/openid-configuration").read())
    assert document["issuer"] == env.settings.payer_issuer
    assert document["jwks_uri"] == "http://localhost:7071/.well-known/jwks.json"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_health_says_ok_and_nothing_else(live: ThreadingHTTPServer) -> None:
    answer = send(live, "GET", "/api/health")
    assert answer.status == 200 and json.loads(answer.read()) == {"status": "ok"}


def test_health_does_not_probe_the_databases(env: Env) -> None:
    (env.tmp / "master.db").unlink()  # the exchanges' own queries report it, once, to the log
    answer = env.call(function_app.health, "GET", "api/health")
    assert (answer.status, answer.json()) == (200, {"status": "ok"})


def test_a_database_changing_state_is_logged_once_as_a_structured_event(
    env: Env, captured_logs: pytest.LogCaptureFixture
) -> None:
    token = env.mint()
    (env.tmp / "master.db").unlink()
    for _ in range(3):
        env.clock.advance(env.settings.revocation_bound + 1)
        assert env.exchange(token).status == 503
    events = [
        r
        for r in captured_logs.records
        if getattr(r, "event", None) == "dependency_state" and getattr(r, "dependency", None) == "database Master"
    ]
    assert [(vars(e)["state"], vars(e)["previous_state"]) for e in events] == [("unreachable", "ok")]
    assert "cannot be reached" in vars(events[0])["error"]


def test_a_cookie_value_is_percent_encoded_as_the_host_does() -> None:
    from http.cookies import SimpleCookie

    cookie = SimpleCookie('a="x;y"')
    assert rpc_cookie_header(cookie["a"]) == "a=x%3By; domain=; path="


def test_the_function_key_file_is_reused(tmp_path: Path) -> None:
    from tools.local_edge import function_key

    assert function_key(tmp_path) == function_key(tmp_path)
    assert oct((tmp_path / "function-key").stat().st_mode & 0o777) == "0o600"


# --- the command's messages ----------------------------------------------------------------------


def run_localhost(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PAYERAUTH_LOCAL_DIR": str(tmp), **env}
    return subprocess.run(
        [sys.executable, "-m", "tools.localhost", "--host", "127.0.0.1", "--demo-port", "0", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_busy_port_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_localhost(tmp_path, "--port", str(port))
    assert done.returncode == 2
    assert done.stderr == f"port {port} is in use: choose another with --port (make run PORT=...)\n"


def test_a_bad_setting_is_reported_once_without_a_traceback(tmp_path: Path) -> None:
    done = run_localhost(tmp_path, "--port", "0", PAYERAUTH_LEEWAY="soon")
    assert done.returncode == 2
    assert done.stderr.count("PAYERAUTH_LEEWAY") == 1 and "Traceback" not in done.stderr


def test_the_demo_page_opened_as_localhost_redirects_to_the_origin_its_jwt_names() -> None:
    demo = serve_demo("127.0.0.1", 0, "http://localhost:7071", "jwt")
    try:
        answer = send(demo, "GET", "/?flow=body", [("Host", f"localhost:{demo.server_address[1]}")])
        assert answer.status == 302 and answer.getheader("Location") == f"{demo.origin}/?flow=body"
        assert send(demo, "GET", "/?flow=body", [("Host", demo.origin.removeprefix("http://"))]).status == 200
    finally:
        stop(demo)


def test_the_demo_biller_jwt_names_the_demo_port(env: Env) -> None:
    import jwt

    token = demo_biller_jwt("127.0.0.1:8081")
    assert token and jwt.decode(token, options={"verify_signature": False})["domain"] == "127.0.0.1:8081"


def test_a_chunked_body_reaches_the_function_and_counts_against_the_limit(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "4096")
    server = serve("127.0.0.1", 0, local_dir=env.tmp)
    function_app.install(env.service)
    try:
        body = exchange_body(env)
        chunks = [f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:50], body[50:])]
        chunked = b"".join(chunks) + b"0\r\n\r\n"
        headers = [FORM, ("Origin", DEMO_ORIGIN), ("Transfer-Encoding", "chunked")]
        assert send(server, "POST", "/api/payer/token", headers, chunked).status == 200
        too_long = b"1001\r\n" + b"a" * 4097 + b"\r\n0\r\n\r\n"
        assert_host_answer(send(server, "POST", "/api/payer/token", headers, too_long), 413)
    finally:
        stop(server)
