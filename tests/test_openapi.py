"""openapi.yaml against the app: the same routes both ways, and schemathesis against the local host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

import function_app
from tests.conftest import DEMO_ORIGIN, Env, build_env
from tools.functions_host import indexed_functions
from tools.kestrel import stop
from tools.localhost import serve

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = yaml.safe_load((ROOT / "openapi.yaml").read_text())
METHODS = {"get", "post", "put", "patch", "delete", "options", "head"}


def served_routes() -> set[tuple[str, str]]:
    routes = set()
    for function in indexed_functions(function_app.app):
        trigger = function.get_trigger()
        for method in trigger.methods:
            routes.add(("/" + trigger.route, str(getattr(method, "value", method)).lower()))
    return routes


def documented_routes() -> set[tuple[str, str]]:
    return {(path, method) for path, item in DOCUMENT["paths"].items() for method in item if method in METHODS}


def test_every_served_route_is_documented_and_every_documented_route_is_served() -> None:
    assert served_routes() == documented_routes()


def test_the_document_is_openapi_3_1_and_served_at_api_openapi_yaml(tmp_path: Path, key_folder: Path) -> None:
    env = build_env(tmp_path, key_folder)
    answer = env.call(function_app.openapi_document, "GET", "api/openapi.yaml")
    assert answer.status == 200 and answer.header("Content-Type") == "application/yaml"
    assert yaml.safe_load(answer.body) == DOCUMENT and DOCUMENT["openapi"].startswith("3.1")


GENUINE: dict[str, Env] = {}  # the service the live host serves, for genuine credentials


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory, key_folder: Path) -> Iterator[str]:
    server = serve("127.0.0.1", 0)
    GENUINE["env"] = build_env(tmp_path_factory.mktemp("schemathesis"), key_folder)  # installs its service
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop(server)
    GENUINE.clear()


schema = schemathesis.openapi.from_path(
    str(ROOT / "openapi.yaml"), config=SchemathesisConfig.from_path(Path(__file__).parent / "schemathesis.toml")
)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_documented_response_conforms_and_nothing_is_a_5xx(case: Any, live_url: str) -> None:
    genuine = genuine_credentials(case)
    response = case.call_and_validate(base_url=live_url, headers=genuine)
    if genuine:  # a schema-valid request with genuine credentials is accepted, and its 200 was validated
        assert response.status_code == 200, response.text


EXCHANGES = {("/api/payer/token", "POST"), ("/api/payer/bootstrap", "POST")}
PROFILE = ("/api/payer/profile", "GET")


def genuine_credentials(case: Any) -> dict[str, str] | None:
    """Before the call: a positive case of an exchange route gets a genuine recorded biller JWT, one of the
    profile route a payer JWT instead of the generated credentials, each with the matching Origin, so that
    their 200 answers are validated against the schema too (schemathesis would only ever see refusals there).
    The payer JWT goes in as an explicit header, so schemathesis also probes the route without it and with
    an invalid one.  Returns the headers to send, or None for a case left as generated."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return None
    env = GENUINE["env"]
    route = (case.operation.path, case.operation.method.upper())
    if route in EXCHANGES and isinstance(case.body, dict):
        case.body["subject_token"] = env.mint()
        if "resources" in case.body:
            case.body["resources"] = "profile"
        return {"Origin": DEMO_ORIGIN}
    if route == PROFILE:
        case.cookies = {}
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        return {"Origin": DEMO_ORIGIN, "Authorization": "Bearer " + env.exchange().json()["access_token"]}
    return None
