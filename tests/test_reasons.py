"""The stable reasons are public: the code lists them once (shared/reasons.py), and openapi.yaml and
docs/api.md list the same set; every reason the core raises is one of them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from shared.reasons import TOKEN_PREFIXES, TOKEN_REFUSALS, Reason, catalogue
from shared.tokens import KINDS, TENANT_SESSION

ROOT = Path(__file__).resolve().parent.parent


def test_openapi_lists_exactly_the_catalogue() -> None:
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert document["components"]["schemas"]["Reason"]["enum"] == catalogue()


def test_the_api_docs_name_every_reason() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    assert [reason for reason in catalogue() if f"`{reason}`" not in text] == []


def test_no_reason_is_a_bare_string_in_the_core() -> None:
    """A reason is raised as ``Reason.X``, so a typo is a NameError, not a new public reason."""
    bare = []
    for path in (ROOT / "shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "reason" and isinstance(node.value, ast.Constant):
                bare.append(f"{path.relative_to(ROOT)}:{node.value.lineno} {node.value.value!r}")
    assert bare == []


def test_every_token_refusal_is_catalogued() -> None:
    """The suffixes the verifier and the pre-check raise, and the prefixes of the kinds that are verified."""
    jose = ROOT / "shared" / "jose"
    sources = (jose / "verify.py").read_text() + (jose / "jws.py").read_text()
    raised = set(re.findall(r'fail\("([a-z_]+)"', sources))
    raised |= set(re.findall(r'MalformedJWS\([^)]*, "([a-z_]+)"\)', sources))
    assert {"expired", "signature_invalid", "too_large", "crit_unsupported"} <= raised <= set(TOKEN_REFUSALS)
    assert {kind.reason_prefix for kind in KINDS if kind is not TENANT_SESSION} == set(TOKEN_PREFIXES)


def test_reasons_are_snake_case_and_unique() -> None:
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", reason) for reason in catalogue())
    assert len({reason.value for reason in Reason}) == len(Reason)
