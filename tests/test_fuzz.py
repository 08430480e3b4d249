"""The token function under fuzzing: never a 500, never a token or a cookie for anything it must refuse.

Besides arbitrary bodies and tokens with random signatures, the contract fuzz signs every token with the
real test key and records it in the biller's shard, so each example gets past the signature and the
directory and carries exactly one contract violation, in its claims, its header or the request's origin:
every one must be a 4xx with no token.  Variants the contract allows (an extra claim, an ``aud`` list
that holds ours, unknown header parameters) must get their token.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import function_app
from shared.billers.directory import Actor
from tests.conftest import DEMO_DOMAIN, DEMO_ORIGIN, GRANT, JWT_TYPE, START, Answer, Env, build_env
from tools.demo_site import DEMO_BILLER_GUID

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOW = int(START.timestamp())
LEEWAY = 60
MISSING = object()  # a claim or header parameter left out


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


# JSON numbers are finite (RFC 8259 §6); NaN and Infinity are refusals of their own (tests/test_token_parsing.py)
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers() | finite | st.text(max_size=20)
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


def strict_b64(segment: str) -> bytes | None:
    try:
        return base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None


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
    if answer.status == 200:
        # Only a change that decodes to the very same bytes in every segment (base64 padding bits) may pass.
        assert [strict_b64(s) for s in mutated.split(".")] == [strict_b64(s) for s in token.split(".")], mutated
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


# --- validly signed, recorded tokens with exactly one contract violation ------------------------------------


@dataclass
class Case:
    """Changes to a valid exchange: claims and header parameters (``MISSING`` drops one), the signing
    algorithm, the request's origin, and what the shard holds under the token's ``jti``."""

    label: str
    claims: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    alg: str = "RS256"
    origin: str | None = DEMO_ORIGIN
    referer: str | None = None
    shard: str = "this token"  # or "nothing", "another token", "this token, revoked"


SIGNERS = {
    "RS256": (padding.PKCS1v15(), hashes.SHA256()),
    "RS384": (padding.PKCS1v15(), hashes.SHA384()),
    "RS512": (padding.PKCS1v15(), hashes.SHA512()),
    "PS256": (padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()),
}
REGISTERED = {"iss", "aud", "sub", "domain", "jti", "exp", "nbf", "iat"}


def sign(env: Env, header: dict[str, Any], claims: dict[str, Any], alg: str) -> str:
    """A JWS signed with the IC test key itself (no PyJWT: it would refuse to sign some of these)."""
    signer = env.service.ic_keys.current().signer
    head = {"alg": alg, "typ": "JWT", "kid": signer.kid, **header}
    signing_input = ".".join(
        b64(json.dumps({k: v for k, v in part.items() if v is not MISSING}).encode()) for part in (head, claims)
    )
    pad, digest = SIGNERS[alg]
    key = signer.material.private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    return f"{signing_input}.{b64(key.sign(signing_input.encode(), pad, digest))}"


def run_case(env: Env, case: Case) -> Answer:
    function_app.install(env.service)
    jti = str(uuid.uuid4())
    claims = {
        "iss": env.settings.biller_issuer,
        "aud": env.settings.biller_audience,
        "sub": DEMO_BILLER_GUID,
        "domain": DEMO_DOMAIN,
        "jti": jti,
        "iat": NOW,
        **case.claims,
    }
    token = sign(env, case.header, claims, case.alg)
    directory = env.service.directory
    biller = directory.biller(DEMO_BILLER_GUID)
    assert biller is not None
    if case.shard != "nothing":
        held = token if case.shard.startswith("this token") else sign(env, {}, {**claims, "note": "other"}, "RS256")
        directory.record_token(biller, jti, held, DEMO_DOMAIN, Actor(sub="fuzz"))
    if case.shard == "this token, revoked":
        directory.revoke(biller, jti, Actor(sub="fuzz"))
    return env.exchange(token, origin=case.origin, headers={"Referer": case.referer} if case.referer else None)


def claim_is(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Case]:
    return values.map(lambda value: Case(f"{name} = {type(value).__name__}", claims={name: value}))


not_a_string = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.lists(st.text(max_size=5), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
not_a_number = (
    st.text(max_size=8)
    | st.booleans()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=1)
)
other_text = st.text(min_size=1, max_size=30)
FOREIGN_ORIGINS = [
    "http://127.0.0.1:8081",
    "http://127.0.0.1",
    "http://localhost:8080",
    "http://[::1]:8080",
    "https://127.0.0.1",
    "https://evil.example",
    "null",
    "http://127.0.0.1:8080/pay",
    "ftp://127.0.0.1:8080",
    "http://user@127.0.0.1:8080",
    "https://127.0.0.1.evil.example:8080",
]
foreign_origins = st.sampled_from(FOREIGN_ORIGINS)
foreign_domains = st.sampled_from(
    [
        "127.0.0.1:8081",
        "127.0.0.1",
        "localhost:8080",
        "[::1]:8080",
        "*.127.0.0.1:8080",
        "*.0.0.1:8080",
        "127.0.0.2:8080",
        "https://127.0.0.1:8080",
        "127.0.0.1:8080/pay",
        "*",
        "",
    ]
) | st.from_regex(r"[a-z]{1,10}\.example(:[0-9]{2,4})?", fullmatch=True)


def is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


not_a_guid = other_text.filter(lambda t: not is_guid(t))


def violations(env: Env) -> st.SearchStrategy[Case]:
    issuer, audience = env.settings.biller_issuer, env.settings.biller_audience
    our_kid = env.service.ic_keys.current().signer.kid
    claim_cases = [
        claim_is("iss", (other_text.filter(lambda t: t != issuer)) | not_a_string | st.just(MISSING)),
        claim_is(
            "aud",
            other_text.filter(lambda t: t != audience)
            | st.just(MISSING)
            | st.integers()
            | st.lists(other_text.filter(lambda t: t != audience), max_size=3),
        ),
        claim_is("sub", not_a_string | st.just("") | st.just(MISSING) | not_a_guid | st.uuids().map(str)),
        claim_is("domain", not_a_string | st.just(MISSING) | foreign_domains),
        claim_is("jti", not_a_string | st.just("") | st.just(MISSING) | not_a_guid),
        claim_is("exp", st.integers(min_value=0, max_value=NOW - LEEWAY) | not_a_number),
        claim_is("nbf", st.integers(min_value=NOW + LEEWAY + 1, max_value=2**40) | not_a_number),
        claim_is("iat", st.integers(min_value=NOW + LEEWAY + 1, max_value=2**40) | not_a_number),
    ]
    header_cases = [
        st.sampled_from(["RS384", "RS512", "PS256"]).map(lambda alg: Case(f"alg {alg}", alg=alg)),
        (other_text.filter(lambda t: t.lower() not in ("jwt", "application/jwt")) | st.integers() | st.booleans()).map(
            lambda typ: Case("typ", header={"typ": typ})
        ),
        json_values.map(lambda crit: Case("crit", header={"crit": crit})),
        (other_text.filter(lambda t: t != our_kid) | st.integers()).map(lambda kid: Case("kid", header={"kid": kid})),
    ]
    origin_cases = [
        foreign_origins.map(lambda origin: Case("origin", origin=origin)),
        st.just(Case("no origin", origin=None)),
    ]
    shard_cases = [
        st.sampled_from(["nothing", "another token", "this token, revoked"]).map(
            lambda held: Case(f"shard holds {held}", shard=held)
        )
    ]
    return st.one_of(*claim_cases, *header_cases, *origin_cases, *shard_cases)


def allowed_variants(env: Env) -> st.SearchStrategy[Case]:
    audience = env.settings.biller_audience
    extra_claim = st.tuples(st.text(min_size=1, max_size=12).filter(lambda n: n not in REGISTERED), json_values)
    return st.one_of(
        extra_claim.map(lambda c: Case("an extra claim", claims={c[0]: c[1]})),
        st.lists(other_text, max_size=3).flatmap(
            lambda others: st.permutations([*others, audience]).map(lambda aud: Case("aud list", claims={"aud": aud}))
        ),
        st.integers(min_value=NOW - LEEWAY + 1, max_value=2**40).map(lambda exp: Case("exp", claims={"exp": exp})),
        st.integers(min_value=0, max_value=NOW + LEEWAY).map(lambda nbf: Case("nbf", claims={"nbf": nbf})),
        st.integers(min_value=0, max_value=NOW + LEEWAY).map(lambda iat: Case("iat", claims={"iat": iat})),
        st.dictionaries(st.sampled_from(["jku", "x5u", "jwk", "x5c", "x5t", "x-custom"]), json_values, min_size=1).map(
            lambda header: Case("unknown header parameters", header=header)
        ),
        st.just(Case("no typ, no kid", header={"typ": MISSING, "kid": MISSING})),
        st.just(Case("Referer instead of Origin", origin=None, referer=DEMO_ORIGIN + "/pay?invoice=1")),
    )


@FUZZ
@given(data=st.data())
def test_a_genuine_recorded_token_with_one_contract_violation_is_refused(fuzz_env: Env, data: st.DataObject) -> None:
    case = data.draw(violations(fuzz_env))
    event(case.label)
    answer = run_case(fuzz_env, case)
    assert_refused_cleanly(answer)
    assert "access_token" not in answer.json()


FIXED_VIOLATIONS = [
    *[Case("origin", origin=origin) for origin in FOREIGN_ORIGINS],
    Case("no origin", origin=None),
    *[Case(f"alg {alg}", alg=alg) for alg in ("RS384", "RS512", "PS256")],
    *[Case(f"shard holds {held}", shard=held) for held in ("nothing", "another token", "this token, revoked")],
]


@pytest.mark.parametrize("case", FIXED_VIOLATIONS, ids=lambda case: f"{case.label}: {case.origin}")
def test_each_fixed_violation_is_refused(fuzz_env: Env, case: Case) -> None:
    answer = run_case(fuzz_env, case)
    assert_refused_cleanly(answer)
    assert "access_token" not in answer.json()


@FUZZ
@given(data=st.data())
def test_a_genuine_recorded_token_in_a_form_the_contract_allows_gets_its_token(
    fuzz_env: Env, data: st.DataObject
) -> None:
    case = data.draw(allowed_variants(fuzz_env))
    event(case.label)
    answer = run_case(fuzz_env, case)
    assert answer.status == 200, (case, answer.body)
    assert answer.json()["access_token"].count(".") == 2
