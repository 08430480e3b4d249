"""Arbitrary bytes and near-miss tokens at the token function: never a 500, never a token or a cookie."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from tests.conftest import DEMO_ORIGIN, GRANT, JWT_TYPE, Answer, Env, build_env

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory, key_folder: Path) -> Env:
    return build_env(tmp_path_factory.mktemp("fuzz"), key_folder)


def assert_refused_cleanly(answer: Answer) -> None:
    assert answer.status in (400, 413), answer.body
    assert answer.cookies() == []
    body = answer.json()
    assert set(body) == {"error", "error_description", "error_uri"}
    assert body["error_uri"].startswith("https://payer-auth.invoicecloud.dev/problems/")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@FUZZ
@given(
    body=st.binary(max_size=2048),
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain", ""]),
    origin=st.one_of(st.none(), st.text(max_size=40), st.just(DEMO_ORIGIN)),
)
def test_arbitrary_bodies_are_refused_cleanly(
    fuzz_env: Env, body: bytes, content_type: str, origin: str | None
) -> None:
    function_app.install(fuzz_env.service)
    headers = {"Content-Type": content_type}
    if origin is not None and origin.isprintable():
        headers["Origin"] = origin
    assert_refused_cleanly(
        fuzz_env.call(function_app.payer_token, "POST", "api/payer/token", body=body, headers=headers)
    )


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku", "jwk", "x5u"]), json_values, max_size=4
    ),
    claims=st.dictionaries(
        st.sampled_from(["iss", "aud", "sub", "domain", "jti", "exp", "nbf", "iat"]), json_values, max_size=8
    ),
    signature=st.binary(max_size=300),
    alg=st.sampled_from(["RS256", "none", "HS256", "ES256", "RS512"]),
)
def test_near_miss_tokens_are_refused_cleanly(
    fuzz_env: Env, header: dict[str, Any], claims: dict[str, Any], signature: bytes, alg: str
) -> None:
    function_app.install(fuzz_env.service)
    header.setdefault("alg", alg)
    token = ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)])
    answer = fuzz_env.exchange(fields={"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": token})
    assert_refused_cleanly(answer)


@FUZZ
@given(mutation=st.tuples(st.integers(min_value=0, max_value=2000), st.characters(codec="ascii")))
def test_a_valid_token_with_one_character_changed_is_refused(fuzz_env: Env, mutation: tuple[int, str]) -> None:
    function_app.install(fuzz_env.service)
    token = fuzz_env.extra.setdefault("token", fuzz_env.mint())
    position, char = mutation
    position %= len(token)
    if token[position] == char:
        return
    mutated = token[:position] + char + token[position + 1 :]
    answer = fuzz_env.exchange(mutated)
    if answer.status == 200:  # only base64 padding bits can change without changing the decoded bytes
        assert base64.urlsafe_b64decode(mutated.split(".")[2] + "==") == base64.urlsafe_b64decode(
            token.split(".")[2] + "=="
        )
    else:
        assert_refused_cleanly(answer)


@pytest.fixture(scope="module")
def login_env(tmp_path_factory: pytest.TempPathFactory, key_folder: Path) -> Env:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from shared.tenants.registry import Tenant

    env = build_env(tmp_path_factory.mktemp("login-fuzz"), key_folder)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    env.service.tenants.add(
        Tenant(
            "VISA",
            "MondiaPortal",
            "RS256",
            "https://partner.example/",
            ("https://partner.example",),
            public_key_pem=pem,
        ),
        development=True,
    )
    return env


def assert_login_page(answer: Answer) -> None:
    assert answer.status in (400, 401, 503), answer.body
    assert answer.cookies() == [] and answer.header("Location") is None
    assert answer.header("Content-Type") == "text/html; charset=utf-8"
    assert answer.header("Cache-Control") == "no-store" and answer.header("Referrer-Policy") == "no-referrer"
    assert (answer.header("Content-Security-Policy") or "").startswith("frame-ancestors ")


@FUZZ
@given(
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "jku"]), json_values, max_size=4),
    claims=st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "jti", "email", "mobile", "userId"]),
        json_values,
        max_size=9,
    ),
    issuer=st.sampled_from(["VISA", None]),
    signature=st.binary(max_size=300),
    alg=st.sampled_from(["RS256", "none", "HS256"]),
)
def test_the_login_answers_any_token_with_a_page_carrying_its_security_headers(
    login_env: Env, header: dict[str, Any], claims: dict[str, Any], issuer: str | None, signature: bytes, alg: str
) -> None:
    function_app.install(login_env.service)
    header.setdefault("alg", alg)
    if issuer:
        claims.setdefault("iss", issuer)
    token = ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)])
    assert_login_page(login_env.call(function_app.tenant_login, "GET", f"api/tenant/login?token={token}"))


@FUZZ
@given(query=st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=80))
def test_the_login_answers_any_query_string_with_its_security_headers(login_env: Env, query: str) -> None:
    function_app.install(login_env.service)
    answer = login_env.call(function_app.tenant_login, "GET", f"api/tenant/login?{quote(query, safe='=&,')}")
    assert_login_page(answer)
