"""The local host: routes by the app's own bindings and encodes responses as the platform does."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import azure.functions as func
import pytest

import function_app
from tests.conftest import DEMO_ORIGIN, GRANT, JWT_TYPE, Env
from tools.localhost import FunctionsHost, encode_response, host_route_prefix, route_pattern, serve, stop


def test_host_json_sets_an_empty_route_prefix() -> None:
    assert host_route_prefix() == ""


def test_every_registered_function_is_routed_by_its_own_bindings() -> None:
    host = FunctionsHost(function_app.app, "", "__Host-payer_session")
    routes = {r.name: r for r in host.routes}
    assert routes["payer_token"].methods == {"POST", "OPTIONS"}
    assert routes["jwks"].pattern.fullmatch(".well-known/jwks.json")
    assert not routes["jwks"].pattern.fullmatch(".well-known/jwksXjson")


def test_route_templates_capture_parameters() -> None:
    pattern = route_pattern("api/billers/{billerGuid}/tokens/{jti:guid}", "")
    match = pattern.fullmatch("api/billers/abc/tokens/def")
    assert match is not None and match.groupdict() == {"billerGuid": "abc", "jti": "def"}


def test_a_cookie_carrying_partitioned_is_dropped_by_the_platform_encoding() -> None:
    """Why the function emits no Partitioned: http.cookies loses the whole cookie."""
    response = func.HttpResponse("x")
    response.headers.add("Set-Cookie", "__Host-a=1; Path=/; Secure; HttpOnly; SameSite=None; Partitioned")
    response.headers.add("Set-Cookie", "__Host-b=2; Path=/; Secure; HttpOnly; SameSite=None")
    _, headers, _ = encode_response(response)
    cookies = [v for k, v in headers if k == "Set-Cookie"]
    assert len(cookies) == 1 and cookies[0].startswith("__Host-b=2")


def test_the_function_emits_the_cookie_without_partitioned_and_the_edge_adds_it(env: Env) -> None:
    request = func.HttpRequest(
        method="POST", url="http://localhost:7071/api/payer/token",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": DEMO_ORIGIN},
        body=urlencode({"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": env.mint(),
                        "token_delivery": "cookie"}).encode())
    emitted = function_app.payer_token(request).headers.get("Set-Cookie")
    assert emitted is not None and "partitioned" not in emitted.lower()
    host = FunctionsHost(function_app.app, "", env.settings.cookie_name)
    status, headers, _ = host.handle("POST", "/api/payer/token", dict(request.headers), request.get_body(),
                                     "http://localhost:7071")
    (cookie,) = [v for k, v in headers if k == "Set-Cookie"]
    assert status == 200 and cookie.endswith("; Partitioned")


@pytest.fixture
def live(env: Env) -> Iterator[tuple[str, int]]:
    server = serve("127.0.0.1", 0)
    function_app.install(env.service)  # serve() imported function_app; keep the test's service
    yield server.server_address[0], server.server_address[1]  # type: ignore[misc]
    stop(server)


def request(live: tuple[str, int], method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(*live, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    return connection.getresponse()


def test_the_exchange_works_over_http(env: Env, live: tuple[str, int]) -> None:
    body = urlencode({"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": env.mint()})
    answer = request(live, "POST", "/api/payer/token", body.encode(),
                     {"Content-Type": "application/x-www-form-urlencoded", "Origin": DEMO_ORIGIN})
    assert answer.status == 200
    assert "access_token" in json.loads(answer.read())
    assert answer.getheader("Access-Control-Allow-Origin") == DEMO_ORIGIN


def test_unknown_routes_are_404_and_wrong_methods_405(live: tuple[str, int]) -> None:
    assert request(live, "GET", "/api/nothing-here").status == 404
    answer = request(live, "GET", "/api/payer/token")
    assert answer.status == 405 and "POST" in (answer.getheader("Allow") or "")


def test_jwks_answers_304_to_its_etag(live: tuple[str, int]) -> None:
    first = request(live, "GET", "/.well-known/jwks.json")
    etag = first.getheader("ETag")
    assert first.status == 200 and etag and json.loads(first.read())["keys"]
    assert "max-age" in (first.getheader("Cache-Control") or "")
    second = request(live, "GET", "/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert second.status == 304 and second.read() == b""


def test_openid_configuration_points_at_the_jwks(env: Env, live: tuple[str, int]) -> None:
    document = json.loads(request(live, "GET", "/.well-known/openid-configuration").read())
    assert document["issuer"] == env.settings.payer_issuer
    assert document["jwks_uri"] == "http://localhost:7071/.well-known/jwks.json"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_health_says_ok_and_nothing_else(live: tuple[str, int]) -> None:
    answer = request(live, "GET", "/api/health")
    assert answer.status == 200 and json.loads(answer.read()) == {"status": "ok"}


def test_health_does_not_probe_the_databases(env: Env) -> None:
    (env.tmp / "master.db").unlink()  # the exchanges' own queries report it, once, to the log
    answer = env.call(function_app.health, "GET", "api/health")
    assert (answer.status, answer.json()) == (200, {"status": "ok"})


def test_a_database_changing_state_is_logged_once_as_a_structured_event(
        env: Env, captured_logs: pytest.LogCaptureFixture) -> None:
    token = env.mint()
    (env.tmp / "master.db").unlink()
    for _ in range(3):
        env.clock.advance(env.settings.revocation_bound + 1)
        assert env.exchange(token).status == 503
    events = [r for r in captured_logs.records if getattr(r, "event", None) == "dependency_state"
              and getattr(r, "dependency", None) == "database Master"]
    assert [(e.state, e.previous_state) for e in events] == [("unreachable", "ok")]
    assert "cannot be reached" in events[0].error
