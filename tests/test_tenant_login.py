"""Seamless login (seed 003): tenants with a PEM key, a JWKS URL (a real HTTPS server on loopback that
rotates and goes down) or an HS256 secret; and every way a tenant JWT must be refused."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import secrets
import uuid
import warnings
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import function_app
from shared.errors import ConfigurationError, InvalidRequest, NotFound
from shared.tenants.registry import Tenant
from tests.conftest import START, Answer, Env
from tests.tenant_keys import KEY_1, KEY_2, STRANGER, JwksServer, jwk, pem

NOW = int(START.timestamp())
RETURN_URL = "https://partner.example/app/home"
ANCESTORS = ("https://partner.example", "https://www.partner.example")


def tenant_jwt(key: Any, *, alg: str = "RS256", headers: dict[str, Any] | None = None, **claims: Any) -> str:
    body = {
        "iss": "VISA",
        "aud": "MondiaPortal",
        "email": "customer@visa.com",
        "mobile": "+49123456789",
        "userId": "12345678",
        "iat": NOW,
        "exp": NOW + 120,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg, headers=headers)


def register(env: Env, tenant_id: str = "VISA", **source: Any) -> Tenant:
    algorithm = "HS256" if source.get("secret_name") else "RS256"
    return env.service.tenants.add(
        Tenant(tenant_id, "MondiaPortal", algorithm, RETURN_URL, ANCESTORS, **source), development=True
    )


def login(env: Env, token: str, *, post: bool = False) -> Answer:
    if post:
        return env.call(
            function_app.tenant_login,
            "POST",
            "api/tenant/login",
            body=urlencode({"token": token}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    return env.call(function_app.tenant_login, "GET", f"api/tenant/login?token={quote(token)}")


def session_claims(answer: Answer) -> dict[str, Any]:
    (cookie,) = answer.cookies()
    return dict(jwt.decode(cookie.split(";")[0].split("=", 1)[1], options={"verify_signature": False}))


def assert_refused(answer: Answer, code: str, *, status: int = 400, token: str = "") -> None:
    assert answer.status == status, answer.body
    assert answer.cookies() == [] and answer.header("Location") is None
    assert answer.header("Content-Type") == "text/html; charset=utf-8"
    page = answer.body.decode()
    assert f"<code>{code}</code>" in page
    assert not token or all(part not in page for part in token.split("."))
    assert answer.header("Cache-Control") == "no-store" and answer.header("Referrer-Policy") == "no-referrer"


@pytest.fixture
def pem_tenant(env: Env) -> Env:
    register(env, public_key_pem=pem(KEY_1))
    return env


# --- success ------------------------------------------------------------------------------------


def test_a_valid_token_starts_a_session_and_redirects_to_the_registered_url(pem_tenant: Env) -> None:
    answer = login(pem_tenant, tenant_jwt(KEY_1))
    assert answer.status == 303 and answer.header("Location") == RETURN_URL
    assert answer.header("Cache-Control") == "no-store" and answer.header("Referrer-Policy") == "no-referrer"
    assert answer.header("Content-Security-Policy") == "frame-ancestors " + " ".join(ANCESTORS)
    (cookie,) = answer.cookies()
    assert cookie.startswith("__Host-payer_session=") and "max-age=1800" in cookie.lower()
    claims = session_claims(answer)
    assert claims["iss"] == pem_tenant.settings.payer_issuer and claims["aud"] == pem_tenant.settings.payer_audience
    assert claims["urn:invoicecloud:tenant"] == "VISA" and claims["urn:invoicecloud:usertype"] == "tenant-user"
    assert (claims["email"], claims["mobile"], claims["userId"]) == ("customer@visa.com", "+49123456789", "12345678")
    assert claims["exp"] - claims["iat"] == 1800


def test_the_session_subject_is_stable_and_pseudonymous(pem_tenant: Env) -> None:
    first = session_claims(login(pem_tenant, tenant_jwt(KEY_1)))
    second = session_claims(login(pem_tenant, tenant_jwt(KEY_1, email="other@visa.com")))
    assert first["sub"] == second["sub"] and "12345678" not in first["sub"]
    third = session_claims(login(pem_tenant, tenant_jwt(KEY_1, userId="999")))
    assert third["sub"] != first["sub"]


def test_a_form_post_works_and_keeps_the_token_out_of_urls(
    pem_tenant: Env, captured_logs: pytest.LogCaptureFixture
) -> None:
    token = tenant_jwt(KEY_1)
    answer = login(pem_tenant, token, post=True)
    assert answer.status == 303 and answer.header("Location") == RETURN_URL
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in captured_logs.records)
    assert "tenant login tenant=VISA" in logged  # the log was captured, and still holds no part of the token
    assert all(part not in logged for part in token.split(".")[1:])


def test_the_seeds_minimal_token_is_accepted(pem_tenant: Env) -> None:
    token = tenant_jwt(KEY_1, email=None, mobile="+49123456789", userId=None, jti=None, iat=None)
    assert login(pem_tenant, token).status == 303


# --- refusals -----------------------------------------------------------------------------------


def test_the_same_token_is_accepted_once(pem_tenant: Env) -> None:
    token = tenant_jwt(KEY_1)
    assert login(pem_tenant, token).status == 303
    assert_refused(login(pem_tenant, token), "tenant_token_replayed", token=token)


def test_a_token_without_jti_is_remembered_by_its_hash(pem_tenant: Env) -> None:
    token = tenant_jwt(KEY_1, jti=None)
    assert login(pem_tenant, token).status == 303
    assert_refused(login(pem_tenant, token, post=True), "tenant_token_replayed")


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": NOW - 61}, "tenant_token_expired"),
        ({"exp": NOW + 301}, "tenant_token_too_long_lived"),
        ({"iat": NOW - 400, "exp": NOW + 10}, "tenant_token_too_long_lived"),
        ({"exp": None}, "tenant_token_claim_missing"),
        ({"aud": "SomebodyElse"}, "tenant_token_aud_mismatch"),
        ({"email": "not-an-email"}, "tenant_email_invalid"),
        ({"mobile": "0049123456789"}, "tenant_mobile_invalid"),
        ({"email": None, "mobile": None, "userId": None}, "tenant_user_missing"),
        ({"nbf": NOW + 600}, "tenant_token_not_yet_valid"),
    ],
)
def test_invalid_claims_are_refused_with_a_stable_code(pem_tenant: Env, claims: dict[str, Any], code: str) -> None:
    token = tenant_jwt(KEY_1, **claims)
    assert_refused(login(pem_tenant, token), code, token=token)


def test_an_unregistered_issuer_is_401_and_nobody_may_frame_it(pem_tenant: Env) -> None:
    answer = login(pem_tenant, tenant_jwt(KEY_1, iss="MASTERCARD"))
    assert_refused(answer, "tenant_unregistered", status=401)
    assert answer.header("Content-Security-Policy") == "frame-ancestors 'none'"


def test_a_failure_for_a_known_tenant_may_be_framed_by_that_tenant(pem_tenant: Env) -> None:
    answer = login(pem_tenant, tenant_jwt(KEY_1, exp=NOW - 100))
    assert answer.header("Content-Security-Policy") == "frame-ancestors " + " ".join(ANCESTORS)


def test_alg_none_is_refused(pem_tenant: Env) -> None:
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = (
        base64.urlsafe_b64encode(
            json.dumps({"iss": "VISA", "aud": "MondiaPortal", "exp": NOW + 60, "email": "a@b.co"}).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    assert_refused(login(pem_tenant, f"{head}.{body}."), "tenant_token_alg_not_allowed")


def test_hs256_signed_with_the_tenants_rsa_public_key_is_refused(pem_tenant: Env) -> None:
    import hmac
    from hashlib import sha256

    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    body = tenant_jwt(KEY_1).split(".")[1]
    mac = hmac.new(pem(KEY_1).encode(), f"{head}.{body}".encode(), sha256).digest()
    token = f"{head}.{body}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert_refused(login(pem_tenant, token), "tenant_token_alg_not_allowed")


def test_jku_and_jwk_headers_are_ignored(pem_tenant: Env) -> None:
    token = tenant_jwt(STRANGER, headers={"jwk": jwk(STRANGER, "x"), "jku": "https://evil.example/jwks.json"})
    assert_refused(login(pem_tenant, token), "tenant_token_signature_invalid")


def test_no_token_and_garbage_are_refused(pem_tenant: Env) -> None:
    assert_refused(login(pem_tenant, ""), "tenant_token_missing")
    assert_refused(login(pem_tenant, "not.a.jwt"), "tenant_token_malformed")


# --- HS256 tenants ------------------------------------------------------------------------------


def test_an_hs256_tenant_logs_in_with_its_shared_secret(env: Env) -> None:
    secret = secrets.token_bytes(32)
    env.service.tenants.secrets.put("tenant-acme", base64.b64encode(secret).decode())  # type: ignore[attr-defined]
    register(env, "ACME", secret_name="tenant-acme")
    assert login(env, tenant_jwt(secret, alg="HS256", iss="ACME")).status == 303
    assert_refused(login(env, tenant_jwt(KEY_1, iss="ACME")), "tenant_token_alg_not_allowed")
    assert_refused(
        login(env, tenant_jwt(secrets.token_bytes(32), alg="HS256", iss="ACME")), "tenant_token_signature_invalid"
    )


def test_a_shared_secret_under_32_bytes_is_refused_at_registration(env: Env) -> None:
    env.service.tenants.secrets.put("tenant-short", base64.b64encode(b"x" * 31).decode())  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="31 bytes; HS256 needs at least 32"):
        register(env, "SHORT", secret_name="tenant-short")


def test_registration_refuses_two_key_sources_and_plain_http(env: Env) -> None:
    with pytest.raises(InvalidRequest, match="exactly one key source"):
        register(env, public_key_pem=pem(KEY_1), jwks_url="https://partner.example/jwks.json")
    with pytest.raises(InvalidRequest, match="https"):
        register(env, jwks_url="http://partner.example/jwks.json")


# --- a JWKS tenant on loopback ------------------------------------------------------------------


def test_a_jwks_tenant_rotates_goes_down_and_is_not_hammered(env: Env, jwks_server: JwksServer) -> None:
    register(env, jwks_url=f"{jwks_server.url}/.well-known/jwks.json")
    assert login(env, tenant_jwt(KEY_1, headers={"kid": "k1"})).status == 303
    assert login(env, tenant_jwt(KEY_1, headers={"kid": "k1"})).status == 303
    assert jwks_server.requests == 1  # cached

    jwks_server.keys = [jwk(KEY_1, "k1"), jwk(KEY_2, "k2")]  # the tenant rotates
    assert_refused(login(env, tenant_jwt(KEY_2, headers={"kid": "k2"})), "tenant_token_key_untrusted")
    assert jwks_server.requests == 1  # at most one fetch per interval
    env.clock.advance(env.settings.tenant_jwks_min_refetch)
    now = int(env.clock.now().timestamp())
    assert login(env, tenant_jwt(KEY_2, headers={"kid": "k2"}, iat=now, exp=now + 120)).status == 303
    assert jwks_server.requests == 2  # one refetch for the new kid

    for _ in range(5):  # unknown kids do not hammer the URL
        assert_refused(login(env, tenant_jwt(STRANGER, headers={"kid": "k9"})), "tenant_token_key_untrusted")
    assert jwks_server.requests == 2
    env.clock.advance(env.settings.tenant_jwks_min_refetch)
    assert_refused(login(env, tenant_jwt(STRANGER, headers={"kid": "k9"})), "tenant_token_key_untrusted")
    assert jwks_server.requests == 3  # at most once per interval

    jwks_server.down()  # the tenant's URL goes down
    env.clock.advance(env.settings.tenant_jwks_ttl + 1)
    later = int(env.clock.now().timestamp())
    fresh = tenant_jwt(KEY_2, headers={"kid": "k2"}, iat=later, exp=later + 120)
    assert login(env, fresh).status == 303  # the last good set is kept
    assert jwks_server.requests == 3  # (the down server saw nothing)


def test_a_jwks_url_that_answers_nothing_good_at_first_is_503(env: Env, jwks_server: JwksServer) -> None:
    register(env, jwks_url=f"{jwks_server.url}/jwks.json")
    jwks_server.override = (500, {}, {"error": "boom"})
    assert_refused(login(env, tenant_jwt(KEY_1, headers={"kid": "k1"})), "tenant_jwks_unavailable", status=503)


# --- hardening: duplicates, e-mail, frame-ancestors, key caches, fetch limits ------------------


def call_login(env: Env, method: str, query: str = "", form: str | None = None) -> Answer:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
    return env.call(
        function_app.tenant_login, method, f"api/tenant/login{query}", body=(form or "").encode(), headers=headers
    )


@pytest.mark.parametrize(
    "shape", ["query-twice", "query-with-empty-copy", "form-twice", "query-and-form", "comma-joined"]
)
def test_a_token_given_twice_is_refused_whichever_copy_is_valid(pem_tenant: Env, shape: str) -> None:
    good, junk = tenant_jwt(KEY_1), "junk"
    answer = {
        "query-twice": lambda: call_login(pem_tenant, "GET", f"?token={junk}&token={good}"),
        "query-with-empty-copy": lambda: call_login(pem_tenant, "GET", f"?token=&token={good}"),
        "form-twice": lambda: call_login(pem_tenant, "POST", form=f"token={good}&token={junk}"),
        "query-and-form": lambda: call_login(pem_tenant, "POST", f"?token={junk}", form=f"token={good}"),
        "comma-joined": lambda: call_login(pem_tenant, "GET", f"?token={quote(good + ',' + junk)}"),
    }[shape]()
    assert_refused(answer, "tenant_token_duplicated", token=good)
    assert login(pem_tenant, good).status == 303  # the refusal did not spend the valid token


@pytest.mark.parametrize(
    "email",
    [
        "<script>alert(1)</script>@example.com",
        "a b@example.com",
        '"quoted"@example.com',
        "a@[192.0.2.1]",
        "a(comment)@example.com",
        "a,b@example.com",
        "a;b@example.com",
        "a\x07b@example.com",
        "a@example",
        "a@-example.com",
        "Name <a@example.com>",
    ],
)
def test_an_email_that_is_not_a_plain_addr_spec_is_refused(pem_tenant: Env, email: str) -> None:
    assert_refused(login(pem_tenant, tenant_jwt(KEY_1, email=email)), "tenant_email_invalid")


@pytest.mark.parametrize(
    "email", ["customer@visa.com", "first.last+tag@mail.example.co.uk", "o'brien@example.ie", "jörg@bücher.example"]
)
def test_ordinary_addresses_are_accepted(pem_tenant: Env, email: str) -> None:
    assert login(pem_tenant, tenant_jwt(KEY_1, email=email)).status == 303


def test_an_internationalized_frame_ancestor_is_stored_and_sent_as_punycode(env: Env) -> None:
    tenant = Tenant(
        "IDN",
        "MondiaPortal",
        "RS256",
        RETURN_URL,
        ("https://bücher.example", "https://Partner.Example"),
        public_key_pem=pem(KEY_1),
    )
    env.service.tenants.add(tenant, development=True)
    (listed,) = [t for t in env.service.tenants.list() if t.tenant_id == "IDN"]
    assert listed.frame_ancestors == ("https://xn--bcher-kva.example", "https://partner.example")
    answer = login(env, tenant_jwt(KEY_1, iss="IDN"))
    assert answer.status == 303
    assert (
        answer.header("Content-Security-Policy")
        == "frame-ancestors https://xn--bcher-kva.example https://partner.example"
    )


def test_a_frame_ancestor_edited_into_the_database_is_sent_as_ascii_or_not_at_all(pem_tenant: Env) -> None:
    with pem_tenant.service.directory.master.cursor() as cursor:
        cursor.execute(
            "UPDATE Tenants SET FrameAncestors = ? WHERE TenantId = 'VISA'",
            ("https://bücher.example https://x.example;script-src:*",),
        )
    pem_tenant.clock.advance(pem_tenant.settings.revocation_bound + 1)
    answer = login(pem_tenant, tenant_jwt(KEY_1, iat=NOW + 61, exp=NOW + 180))
    assert answer.header("Content-Security-Policy") == "frame-ancestors https://xn--bcher-kva.example"


def test_an_unexpected_failure_still_answers_with_the_logins_security_headers(
    pem_tenant: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise ArithmeticError("a bug")

    monkeypatch.setattr(pem_tenant.service.tenant_login, "login", broken)
    answer = login(pem_tenant, tenant_jwt(KEY_1))
    assert answer.header("Content-Type") == "text/html; charset=utf-8"
    assert "<code>internal_error</code>" in answer.body.decode() and "a bug" not in answer.body.decode()
    assert answer.header("Cache-Control") == "no-store" and answer.header("Referrer-Policy") == "no-referrer"
    assert answer.header("Content-Security-Policy") == "frame-ancestors " + " ".join(ANCESTORS)


def test_a_re_registered_pem_key_takes_effect_without_a_restart(pem_tenant: Env) -> None:
    assert login(pem_tenant, tenant_jwt(KEY_1)).status == 303
    pem_tenant.service.tenants.remove("VISA")
    register(pem_tenant, public_key_pem=pem(KEY_2))
    assert login(pem_tenant, tenant_jwt(KEY_2)).status == 303
    assert_refused(login(pem_tenant, tenant_jwt(KEY_1)), "tenant_token_signature_invalid")


def test_a_pem_key_edited_in_the_database_takes_effect_with_the_row_cache(pem_tenant: Env) -> None:
    assert login(pem_tenant, tenant_jwt(KEY_1)).status == 303
    with pem_tenant.service.directory.master.cursor() as cursor:
        cursor.execute("UPDATE Tenants SET PublicKeyPem = ? WHERE TenantId = 'VISA'", (pem(KEY_2),))
    pem_tenant.clock.advance(pem_tenant.settings.revocation_bound + 1)
    later = NOW + pem_tenant.settings.revocation_bound + 1
    assert login(pem_tenant, tenant_jwt(KEY_2, iat=later, exp=later + 120)).status == 303
    assert_refused(login(pem_tenant, tenant_jwt(KEY_1, iat=later, exp=later + 120)), "tenant_token_signature_invalid")


def test_a_failing_jwks_url_is_fetched_once_per_interval_however_many_logins(env: Env, jwks_server: JwksServer) -> None:
    register(env, jwks_url=f"{jwks_server.url}/jwks.json")
    jwks_server.override = (500, {}, {"error": "boom"})
    for _ in range(10):
        assert_refused(login(env, tenant_jwt(KEY_1, headers={"kid": "k1"})), "tenant_jwks_unavailable", status=503)
    assert jwks_server.requests == 1
    jwks_server.override = None
    env.clock.advance(env.settings.tenant_jwks_min_refetch)
    later = int(env.clock.now().timestamp())
    assert login(env, tenant_jwt(KEY_1, headers={"kid": "k1"}, iat=later, exp=later + 120)).status == 303
    assert jwks_server.requests == 2


def test_dependency_failures_on_the_login_page_name_only_the_kind_of_dependency(env: Env) -> None:
    env.service.tenants.secrets.put("tenant-acme", base64.b64encode(secrets.token_bytes(32)).decode())  # type: ignore[attr-defined]
    register(env, "ACME", secret_name="tenant-acme")
    env.service.tenants.secrets.put("tenant-acme", base64.b64encode(b"x" * 20).decode())  # type: ignore[attr-defined]
    answer = login(env, tenant_jwt(secrets.token_bytes(32), alg="HS256", iss="ACME"))
    page = answer.body.decode()
    assert answer.status == 503 and "registered key cannot be used" in page
    assert "tenant-acme" not in page and "20 bytes" not in page
    register(env, "POLICY", jwks_url="https://10.0.0.1/jwks.json")
    page = login(env, tenant_jwt(KEY_1, iss="POLICY")).body.decode()
    assert "PAYERAUTH_" not in page and "10.0.0.1" not in page and "published keys (JWKS)" in page


# --- replay, secret length, lifetime cap, JWKS address policy and redirects (issue 16) --------------------


def test_two_different_tokens_with_the_same_jti_are_accepted_once(pem_tenant: Env) -> None:
    jti = str(uuid.uuid4())
    assert login(pem_tenant, tenant_jwt(KEY_1, jti=jti)).status == 303
    second = tenant_jwt(KEY_1, jti=jti, email="someone.else@visa.com")
    assert_refused(login(pem_tenant, second), "tenant_token_replayed", token=second)


def test_the_same_jti_from_two_tenants_is_two_tokens(pem_tenant: Env) -> None:
    register(pem_tenant, "MASTERCARD", public_key_pem=pem(KEY_2))
    jti = str(uuid.uuid4())
    assert login(pem_tenant, tenant_jwt(KEY_1, jti=jti)).status == 303
    assert login(pem_tenant, tenant_jwt(KEY_2, iss="MASTERCARD", jti=jti)).status == 303


def test_a_shared_secret_shortened_after_registration_is_not_used(env: Env) -> None:
    store = env.service.tenants.secrets
    store.put("tenant-acme", base64.b64encode(secrets.token_bytes(32)).decode())  # type: ignore[attr-defined]
    register(env, "ACME", secret_name="tenant-acme")
    short = secrets.token_bytes(31)
    store.put("tenant-acme", base64.b64encode(short).decode())  # type: ignore[attr-defined]
    with warnings.catch_warnings():  # PyJWT warns about a short key: that is the point here
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        token = tenant_jwt(short, alg="HS256", iss="ACME")
    assert_refused(login(env, token), "configuration_error", status=503, token=token)


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"iat": None, "exp": NOW + 300}, True),
        ({"iat": None, "exp": NOW + 301}, False),  # no iat: the cap counts from now
        ({"iat": NOW - 100, "exp": NOW + 200}, True),  # exactly the cap
        ({"iat": NOW - 100, "exp": NOW + 201}, False),
    ],
)
def test_the_lifetime_cap_holds_with_and_without_iat(pem_tenant: Env, claims: dict[str, Any], accepted: bool) -> None:
    answer = login(pem_tenant, tenant_jwt(KEY_1, **claims))
    if accepted:
        assert answer.status == 303, answer.body
    else:
        assert_refused(answer, "tenant_token_too_long_lived")


# --- edges the mutation run found untested ------------------------------------------------------------------


def unsigned(claims: dict[str, Any]) -> str:
    """A token that only reaches the tenant lookup (which reads ``iss`` before anything is verified)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(("length", "code"), [(8192, "tenant_token_malformed"), (8193, "tenant_token_too_large")])
def test_a_tenant_jwt_may_be_8_kib_long(pem_tenant: Env, length: int, code: str) -> None:
    assert_refused(login(pem_tenant, "a" * length, post=True), code)


@pytest.mark.parametrize("issuer", [123, None, ["VISA"], {"id": "VISA"}])
def test_an_issuer_that_is_not_a_string_names_no_tenant(pem_tenant: Env, issuer: Any) -> None:
    assert_refused(login(pem_tenant, unsigned({"iss": issuer})), "tenant_unregistered", status=401)


@pytest.mark.parametrize(("length", "found"), [(256, True), (257, False)])
def test_tenant_ids_are_looked_up_up_to_256_characters(env: Env, length: int, found: bool) -> None:
    tenant_id = "T" * length
    register(env, tenant_id, public_key_pem=pem(KEY_1))
    answer = login(env, tenant_jwt(KEY_1, iss=tenant_id))
    if found:
        assert answer.status == 303, answer.body
    else:
        assert_refused(answer, "tenant_unregistered", status=401)


@pytest.mark.parametrize("jti", [7, "", ["j"]])
def test_a_jti_that_is_no_identifier_falls_back_to_the_tokens_hash(pem_tenant: Env, jti: Any) -> None:
    first, second = tenant_jwt(KEY_1, jti=jti), tenant_jwt(KEY_1, jti=jti, email="other@visa.com")
    assert login(pem_tenant, first).status == 303
    assert login(pem_tenant, second).status == 303  # a different token
    assert_refused(login(pem_tenant, first), "tenant_token_replayed")


def test_a_token_is_remembered_while_the_leeway_still_accepts_it_and_forgotten_after(pem_tenant: Env) -> None:
    token = tenant_jwt(KEY_1, exp=NOW + 120)
    assert login(pem_tenant, token).status == 303
    pem_tenant.clock.advance(120 + 59)  # expired, but inside the leeway: still refused
    assert_refused(login(pem_tenant, token), "tenant_token_replayed")
    pem_tenant.clock.advance(2)
    later = int(pem_tenant.clock.now().timestamp())
    assert login(pem_tenant, tenant_jwt(KEY_1, iat=later, exp=later + 120)).status == 303
    with pem_tenant.service.directory.master.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM TenantTokenReplay")
        row = cursor.fetchone()
    assert row is not None and row[0] == 1  # the first token's row is gone, the new one's kept


def test_the_subject_is_the_user_id_else_the_email_else_the_mobile(pem_tenant: Env) -> None:
    def sub(**user: Any) -> str:
        return str(session_claims(login(pem_tenant, tenant_jwt(KEY_1, **user)))["sub"])

    by_email = sub(userId=None, email="a@visa.com", mobile="+49111111111")
    assert sub(userId=None, email="a@visa.com", mobile="+49222222222") == by_email
    first_mobile = sub(userId=None, email=None, mobile="+49333333333")
    assert sub(userId=None, email=None, mobile="+49444444444") != first_mobile
    assert first_mobile != by_email


@pytest.mark.parametrize(
    ("user_id", "accepted"), [(123, False), ("", False), (True, False), ("u" * 254, True), ("u" * 255, False)]
)
def test_user_fields_are_non_empty_strings_of_at_most_254_characters(
    pem_tenant: Env, user_id: Any, accepted: bool
) -> None:
    answer = login(pem_tenant, tenant_jwt(KEY_1, userId=user_id))
    if accepted:
        assert answer.status == 303, answer.body
    else:
        assert_refused(answer, "tenant_user_invalid")


def test_the_login_log_masks_the_email_and_phone(pem_tenant: Env, captured_logs: pytest.LogCaptureFixture) -> None:
    assert login(pem_tenant, tenant_jwt(KEY_1)).status == 303
    assert login(pem_tenant, tenant_jwt(KEY_1, mobile=None, userId=None)).status == 303
    lines = [r.getMessage() for r in captured_logs.records if r.getMessage().startswith("tenant login")]
    assert lines == [
        "tenant login tenant=VISA email=c***@visa.com mobile=+49***89",
        "tenant login tenant=VISA email=c***@visa.com mobile=-",
    ]


# --- the registry's rules (the CLI registers tenants through it) ----------------------------------------------


def tenant(
    tenant_id: str = "VISA",
    audience: str = "MondiaPortal",
    algorithm: str = "RS256",
    *,
    return_url: str = RETURN_URL,
    ancestors: tuple[str, ...] = ANCESTORS,
    **source: Any,
) -> Tenant:
    return Tenant(tenant_id, audience, algorithm, return_url, ancestors, **source)


def hs256_store(env: Env) -> str:
    env.service.tenants.secrets.put("tenant-acme", base64.b64encode(b"k" * 32).decode())  # type: ignore[attr-defined]
    return "tenant-acme"


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({}, "exactly one key source"),
        ({"public_key_pem": "PEM", "algorithm": "HS256"}, "a PEM key or JWKS URL means RS256"),
        ({"secret_name": "SECRET", "algorithm": "RS256"}, "a shared secret means HS256"),
        ({"jwks_url": "https://partner.example/jwks.json", "ancestors": ("not an origin",)}, "origin"),
        ({"jwks_url": "https://partner.example/jwks.json", "audience": ""}, "issuer (tenant id) and the audience"),
        ({"jwks_url": "https://partner.example/jwks.json", "tenant_id": ""}, "issuer (tenant id) and the audience"),
        ({"jwks_url": "https://partner.example/jwks.json", "return_url": "ws://localhost/app"}, "return URL"),
        ({"jwks_url": "https://partner.example/jwks.json", "return_url": "ftp://localhost/app"}, "return URL"),
        ({"jwks_url": "https://partner.example/jwks.json", "return_url": "wss://partner.example/app"}, "return URL"),
        ({"jwks_url": "http://partner.example/jwks.json"}, "JWKS URL"),
    ],
)
def test_registrations_that_could_never_log_anyone_in_are_refused(env: Env, changes: dict[str, Any], text: str) -> None:
    if changes.get("public_key_pem") == "PEM":
        changes["public_key_pem"] = pem(KEY_1)
    if changes.get("secret_name") == "SECRET":
        changes["secret_name"] = hs256_store(env)
    with pytest.raises(InvalidRequest, match=re.escape(text)):
        env.service.tenants.add(tenant(**changes), development=True)


def test_a_registration_names_its_algorithm_however_the_string_was_made(env: Env) -> None:
    registered = env.service.tenants.add(tenant(algorithm="rs256".upper(), public_key_pem=pem(KEY_1)), development=True)
    assert registered.algorithm == "RS256"


def test_plain_http_urls_are_for_loopback_in_development_only(env: Env) -> None:
    local = tenant(
        jwks_url="http://localhost:9/jwks.json",
        return_url="http://localhost:3000/app",
        ancestors=("http://localhost:3000",),
    )
    assert env.service.tenants.add(local, development=True) == local
    with pytest.raises(InvalidRequest, match="https"):
        env.service.tenants.add(
            tenant("OTHER", jwks_url="https://partner.example/jwks.json", return_url="http://localhost:3000/app"),
            development=False,
        )


@pytest.mark.parametrize(("bits", "accepted"), [(1024, False), (2047, False), (2048, True), (3072, True)])
def test_a_pem_key_must_be_rsa_of_at_least_2048_bits(env: Env, bits: int, accepted: bool) -> None:
    key = KEY_1 if bits == 2048 else rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if accepted:
        register(env, public_key_pem=pem(key))
    else:
        with pytest.raises(ConfigurationError, match="at least 2048 bits"):
            register(env, public_key_pem=pem(key))


def test_a_pem_that_is_not_a_public_key_is_refused(env: Env) -> None:
    with pytest.raises(ConfigurationError, match="not a PEM public key"):
        register(env, public_key_pem="-----BEGIN PUBLIC KEY-----\nbm9wZQ==\n-----END PUBLIC KEY-----\n")


def test_each_key_source_offers_keys_for_its_own_algorithm_only(env: Env) -> None:
    tenants = env.service.tenants
    by_pem = register(env, public_key_pem=pem(KEY_1))
    by_secret = register(env, "ACME", secret_name=hs256_store(env))
    by_jwks = tenant("JWKS", jwks_url="https://partner.example/jwks.json")
    assert [t.public()["keySource"] for t in (by_pem, by_secret, by_jwks)] == ["pem", "hs256-secret", "jwks"]
    assert len(tenants.keys(by_pem)(None, "RS256")) == 1 and len(tenants.keys(by_secret)(None, "HS256")) == 1
    for source, others in (
        (by_pem, ["HS256", "ES256", "RS512", "PS256"]),
        (by_secret, ["RS256", "ES256", "A"]),
        (by_jwks, ["HS256", "ES256", "RS512"]),
    ):
        assert all(tenants.keys(source)(None, alg) == [] for alg in others), source.tenant_id


def test_removing_a_tenant_and_removing_nobody(pem_tenant: Env) -> None:
    tenants = pem_tenant.service.tenants
    tenants.remove("VISA")
    assert tenants.get("VISA") is None
    with pytest.raises(NotFound):
        tenants.remove("VISA")


def test_the_cached_tenant_rows_are_immutable(pem_tenant: Env) -> None:
    cached = pem_tenant.service.tenants.get("VISA")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cached.audience = "SomebodyElse"  # type: ignore[misc, union-attr]
