"""The token-kind table and the identifiers its tokens carry (``shared/tokens.py``)."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from shared.tokens import KINDS, Issuer, TokenKind, canonical_guid

GUID = "6f1d2a4e-3b5c-4d7e-8f90-a1b2c3d4e5f6"


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_the_token_kinds_shared_by_every_request_cannot_be_changed(kind: TokenKind) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        kind.algorithms = frozenset({"none"})  # type: ignore[misc]


def test_an_issuer_shared_by_every_request_cannot_be_changed() -> None:
    issuer = Issuer("https://payer-auth.example", "https://api.example", 900)
    with pytest.raises(dataclasses.FrozenInstanceError):
        issuer.lifetime = 10**9  # type: ignore[misc]


@pytest.mark.parametrize(
    "form", [GUID, GUID.upper(), GUID.replace("-", ""), "{" + GUID + "}", "{" + GUID.upper() + "}"]
)
def test_a_guid_in_any_of_its_usual_forms_reads_as_the_canonical_one(form: str) -> None:
    assert canonical_guid(form) == GUID


@pytest.mark.parametrize(
    "value",
    ["", "not-a-guid", GUID[:-1], GUID + "0", "urn:" + GUID.replace("-", "") + "---", "urn:uuid:" + GUID],
)
def test_anything_else_is_no_guid_even_when_python_would_read_it(value: str) -> None:
    assert canonical_guid(value) is None
    if value.startswith("urn:"):
        assert uuid.UUID(value) == uuid.UUID(GUID)
