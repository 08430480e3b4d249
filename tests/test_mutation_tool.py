"""``make mutation``'s table (``tools/mutation.py``): it names modules and tests that exist, so a rename
cannot leave a module unmutated or its mutants run against nothing."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tools import mutation

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", mutation.MODULES)
def test_each_module_and_the_tests_that_kill_its_mutants_exist(module: str) -> None:
    assert (ROOT / "shared" / f"{module}.py").is_file()
    assert mutation.MODULES[module] and all((ROOT / test).is_file() for test in mutation.MODULES[module])


def test_the_cosmic_ray_configuration_mutates_one_module_against_its_unit_tests() -> None:
    config = tomllib.loads(mutation.cosmic_ray_config("tenants/jwks"))["cosmic-ray"]
    assert config["module-path"] == "shared/tenants/jwks.py"
    assert config["test-command"].endswith("tests/test_tenant_jwks.py tests/test_tenant_login.py")
    assert "-m 'not odbc and not browser'" in config["test-command"] and " -x " in config["test-command"]


def test_annotations_and_signatures_are_skipped_but_default_values_are_not() -> None:
    source = "def f(a: int | None, *, b: str = 'x' + 'y') -> int | None:\n    return a\n"
    spans = mutation._signature_spans(ast.parse(source))
    inside = [(1, 13), (1, 21)]  # the `|` of `int | None` and the bare `*`
    assert all(any(start <= at < end for start, end in spans["skip"]) for at in inside)
    assert any(start <= (1, 37) < end for start, end in spans["keep"])  # the `+` of the default `'x' + 'y'`
    assert not any(start <= (2, 4) < end for start, end in spans["skip"])  # the body
