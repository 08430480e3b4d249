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

import function_app
from tests.conftest import build_env
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


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory, key_folder: Path) -> Iterator[str]:
    server = serve("127.0.0.1", 0)
    build_env(tmp_path_factory.mktemp("schemathesis"), key_folder)  # installs its service
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop(server)


schema = schemathesis.openapi.from_path(
    str(ROOT / "openapi.yaml"), config=SchemathesisConfig.from_path(Path(__file__).parent / "schemathesis.toml")
)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_documented_response_conforms_and_nothing_is_a_5xx(case: Any, live_url: str) -> None:
    case.call_and_validate(base_url=live_url)
