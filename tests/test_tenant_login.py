"""Seamless login (seed 003): tenants with a PEM key, a JWKS URL (a real HTTPS server on loopback that
rotates and goes down) or an HS256 secret; and every way a tenant JWT must be refused."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import re
import secrets
import socket
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import function_app
from shared.errors import ConfigurationError, InvalidRequest, NotFound
from shared.tenants.jwks import FetchPolicy, JwksFetchError, TenantJwks, fetch_jwks
from shared.tenants.registry import Tenant
from tests.azure_fakes import HttpsFake
from tests.conftest import START, Answer, Env

NOW = int(START.timestamp())
RETURN_URL = "https://partner.example/app/home"
ANCESTORS = ("https://partner.example", "https://www.partner.example")


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY_1, KEY_2, STRANGER = rsa_key(), rsa_key(), rsa_key()


def pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {
        **jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
    }


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


class JwksServer(HttpsFake):
    def __init__(self, ca: trustme.CA) -> None:
        self.keys = [jwk(KEY_1, "k1")]
        self.fetches = 0
        self.override: tuple[int, dict[str, str], Any] | None = None
        super().__init__(ca)

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        self.fetches += 1
        return self.override or (200, {}, {"keys": self.keys})


@pytest.fixture
def jwks_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JwksServer]:
    ca = trustme.CA()
    bundle = tmp_path / "tenant-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    server = JwksServer(ca)
    yield server
    if not server.is_down:
        server.down()


def test_a_jwks_tenant_rotates_goes_down_and_is_not_hammered(env: Env, jwks_server: JwksServer) -> None:
    register(env, jwks_url=f"{jwks_server.url}/.well-known/jwks.json")
    assert login(env, tenant_jwt(KEY_1, headers={"kid": "k1"})).status == 303
    assert login(env, tenant_jwt(KEY_1, headers={"kid": "k1"})).status == 303
    assert jwks_server.fetches == 1  # cached

    jwks_server.keys = [jwk(KEY_1, "k1"), jwk(KEY_2, "k2")]  # the tenant rotates
    assert_refused(login(env, tenant_jwt(KEY_2, headers={"kid": "k2"})), "tenant_token_key_untrusted")
    assert jwks_server.fetches == 1  # at most one fetch per interval
    env.clock.advance(env.settings.tenant_jwks_min_refetch)
    now = int(env.clock.now().timestamp())
    assert login(env, tenant_jwt(KEY_2, headers={"kid": "k2"}, iat=now, exp=now + 120)).status == 303
    assert jwks_server.fetches == 2  # one refetch for the new kid

    for _ in range(5):  # unknown kids do not hammer the URL
        assert_refused(login(env, tenant_jwt(STRANGER, headers={"kid": "k9"})), "tenant_token_key_untrusted")
    assert jwks_server.fetches == 2
    env.clock.advance(env.settings.tenant_jwks_min_refetch)
    assert_refused(login(env, tenant_jwt(STRANGER, headers={"kid": "k9"})), "tenant_token_key_untrusted")
    assert jwks_server.fetches == 3  # at most once per interval

    jwks_server.down()  # the tenant's URL goes down
    env.clock.advance(env.settings.tenant_jwks_ttl + 1)
    later = int(env.clock.now().timestamp())
    fresh = tenant_jwt(KEY_2, headers={"kid": "k2"}, iat=later, exp=later + 120)
    assert login(env, fresh).status == 303  # the last good set is kept
    assert jwks_server.fetches == 3  # (the down server saw nothing)


def test_a_jwks_url_that_answers_nothing_good_at_first_is_503(env: Env, jwks_server: JwksServer) -> None:
    register(env, jwks_url=f"{jwks_server.url}/jwks.json")
    jwks_server.override = (500, {}, {"error": "boom"})
    assert_refused(login(env, tenant_jwt(KEY_1, headers={"kid": "k1"})), "tenant_jwks_unavailable", status=503)


def policy(**changes: Any) -> FetchPolicy:
    return FetchPolicy(**{"allow_http_loopback": False, "allowed_hosts": frozenset(), **changes})


def test_the_fetcher_refuses_private_addresses_unless_allow_listed(jwks_server: JwksServer) -> None:
    with pytest.raises(JwksFetchError, match="non-public address"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", policy())
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(allowed_hosts=frozenset({"127.0.0.1"})))) == {"k1"}


def test_the_fetcher_refuses_redirects_to_other_hosts_and_oversized_bodies(jwks_server: JwksServer) -> None:
    allowed = policy(allowed_hosts=frozenset({"127.0.0.1", "localhost"}))
    jwks_server.override = (302, {"Location": f"https://localhost:{jwks_server.port}/jwks.json"}, None)
    with pytest.raises(JwksFetchError, match="redirects to another host"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", allowed)
    jwks_server.override = (200, {}, {"keys": [jwk(KEY_1, "k1")], "padding": "x" * 70_000})
    with pytest.raises(JwksFetchError, match="larger than"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", allowed)


def test_the_fetcher_refuses_plain_http_except_loopback_in_development() -> None:
    with pytest.raises(JwksFetchError, match="https"):
        fetch_jwks("http://partner.example/jwks.json", policy(allow_http_loopback=True))
    with pytest.raises(JwksFetchError, match="https"):
        fetch_jwks("http://127.0.0.1:9/jwks.json", policy())


def test_keys_under_2048_bits_are_not_taken_from_a_jwks(jwks_server: JwksServer) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks_server.keys = [jwk(weak, "weak")]
    with pytest.raises(JwksFetchError, match="at least 2048"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", policy(allowed_hosts=frozenset({"127.0.0.1"})))


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
    assert jwks_server.fetches == 1
    jwks_server.override = None
    env.clock.advance(env.settings.tenant_jwks_min_refetch)
    later = int(env.clock.now().timestamp())
    assert login(env, tenant_jwt(KEY_1, headers={"kid": "k1"}, iat=later, exp=later + 120)).status == 303
    assert jwks_server.fetches == 2


def tenant_jwks(fetch: Callable[[str, FetchPolicy], Any], **changes: Any) -> TenantJwks:
    """A tenant's JWKS cache over ``fetch``: TTL 1 h, refetch interval 60 s, a clock standing still."""
    settings: dict[str, Any] = {"ttl": 3600, "min_interval": 60, "monotonic": lambda: 1000.0, **changes}
    return TenantJwks("https://partner.example/jwks.json", policy(), fetch=fetch, **settings)


def stalled_jwks(wait: float) -> tuple[TenantJwks, threading.Event, threading.Event]:
    """A tenant JWKS whose fetch starts and then hangs until released."""
    started, release = threading.Event(), threading.Event()

    def slow_fetch(url: str, policy: FetchPolicy) -> dict[str | None, Any]:
        started.set()
        release.wait(30)
        return {"k1": KEY_1.public_key()}

    jwks = tenant_jwks(slow_fetch, wait=wait)
    return jwks, started, release


def test_a_login_finding_a_fetch_in_flight_with_nothing_cached_is_503_at_once() -> None:
    jwks, started, release = stalled_jwks(wait=30)
    first = threading.Thread(target=jwks.keys_for, args=("k1",))
    first.start()
    assert started.wait(30)
    with pytest.raises(JwksFetchError, match="being fetched") as caught:
        jwks.keys_for("k1")  # does not wait for the fetch in flight
    assert caught.value.retry_after == 2  # seconds: about what a healthy fetch takes
    release.set()
    first.join(30)
    assert jwks.keys_for("k1") == [KEY_1.public_key()] and jwks.fetches == 1


def test_the_login_that_starts_a_stalling_fetch_stops_waiting_for_it() -> None:
    # On Flex one request at a time runs per instance: a login must not hold it for the fetch's deadline.
    jwks, started, release = stalled_jwks(wait=0.05)
    with pytest.raises(JwksFetchError, match="being fetched") as caught:
        jwks.keys_for("k1")  # returns while the fetch it started still hangs
    assert started.is_set() and not release.is_set() and caught.value.retry_after > 0
    release.set()
    fetcher = next(t for t in threading.enumerate() if t.name == "tenant-jwks")
    fetcher.join(30)  # the fetch finishes on its own thread; the next login uses what it brought
    assert jwks.keys_for("k1") == [KEY_1.public_key()] and jwks.fetches == 1


def test_one_deadline_bounds_the_whole_fetch_even_when_the_body_drips(drip_server: str) -> None:
    with pytest.raises(JwksFetchError, match=r"took longer than 0\.5 s"):
        fetch_jwks(drip_server, policy(allow_http_loopback=True, timeout=0.5))


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "169.254.10.1", "fe80::1", "::ffff:169.254.169.254", "168.63.129.16"]
)
def test_an_allow_listed_host_never_reaches_link_local_or_metadata_addresses(address: str) -> None:
    allowed = policy(allowed_hosts=frozenset({"jwks.partner.internal"}), resolver=lambda host, port: [address])
    with pytest.raises(JwksFetchError, match="link-local or metadata"):
        fetch_jwks("https://jwks.partner.internal/jwks.json", allowed)


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


@pytest.fixture
def drip_server() -> Iterator[str]:
    """Plain HTTP on loopback: headers at once, then a valid JWKS ten bytes every 50 ms (about 3 s in all)."""
    body = json.dumps({"keys": [jwk(KEY_1, "k1")]}).encode()
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                )
                for start in range(0, len(body), 10):
                    if stop.wait(0.05):
                        return
                    connection.sendall(body[start : start + 10])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
    stop.set()
    listener.close()
    thread.join(10)


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


class Resolved:
    """A stubbed resolver and connector: what the name resolves to, and where the fetcher connected."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
        self.addresses = addresses
        self.connected: list[tuple[str, int]] = []
        monkeypatch.setattr("shared.tenants.jwks.socket.getaddrinfo", self.getaddrinfo)
        monkeypatch.setattr("shared.tenants.jwks.socket.create_connection", self.create_connection)

    def getaddrinfo(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        import socket

        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in self.addresses
        ]

    def create_connection(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        self.connected.append(address)
        raise ConnectionRefusedError("stubbed: nothing listens")


PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "169.254.169.254",
        "::ffff:127.0.0.1",
        "fc00::1",
        "fd12:3456::1",
        "0.0.0.0",
        "127.0.0.1",
        "::1",
        "192.168.1.10",
        "172.16.0.1",
        "100.64.0.1",
        "fe80::1",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
    ],
)
def test_the_fetcher_refuses_every_non_public_address(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    resolved = Resolved(monkeypatch, address)
    with pytest.raises(JwksFetchError, match=r"non-public address|link-local or metadata"):
        fetch_jwks("https://partner.example/jwks.json", policy())
    assert resolved.connected == []


@pytest.mark.parametrize("private", ["10.0.0.7", "169.254.169.254", "::ffff:127.0.0.1", "fc00::1", "0.0.0.0"])
def test_the_fetcher_checks_every_resolved_address_not_just_the_first(
    monkeypatch: pytest.MonkeyPatch, private: str
) -> None:
    resolved = Resolved(monkeypatch, PUBLIC, private)
    with pytest.raises(JwksFetchError, match=r"non-public address|link-local or metadata"):
        fetch_jwks("https://partner.example/jwks.json", policy())
    assert resolved.connected == []


def test_the_fetcher_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = Resolved(monkeypatch, PUBLIC, "2606:2800:220:1:248:1893:25c8:1946")
    with pytest.raises(JwksFetchError, match="cannot be fetched"):
        fetch_jwks("https://partner.example:8443/jwks.json", policy())
    assert resolved.connected == [(PUBLIC, 8443)]


def test_an_allow_listed_host_may_resolve_to_a_private_address(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = Resolved(monkeypatch, "10.0.0.7")
    with pytest.raises(JwksFetchError, match="cannot be fetched"):
        fetch_jwks(
            "https://jwks.internal.example/jwks.json", policy(allowed_hosts=frozenset({"jwks.internal.example"}))
        )
    assert resolved.connected == [("10.0.0.7", 443)]


def redirect_chain(server: JwksServer, hops: int) -> None:
    """``/hop/N`` redirects (on the same host) to ``/hop/N-1``; ``/hop/0`` is the JWKS."""

    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        left = int(path.rsplit("/", 1)[1])
        return (302, {"Location": f"/hop/{left - 1}"}, None) if left else (200, {}, {"keys": [jwk(KEY_1, "k1")]})

    server.answer = answer  # type: ignore[method-assign]


@pytest.mark.parametrize(("hops", "followed"), [(0, True), (2, True), (3, False), (50, False)])
def test_the_fetcher_follows_at_most_two_redirects(jwks_server: JwksServer, hops: int, followed: bool) -> None:
    redirect_chain(jwks_server, hops)
    url = f"{jwks_server.url}/hop/{hops}"
    allowed = policy(allowed_hosts=frozenset({"127.0.0.1"}))
    if followed:
        assert set(fetch_jwks(url, allowed)) == {"k1"}
    else:
        with pytest.raises(JwksFetchError, match="redirects too often"):
            fetch_jwks(url, allowed)
        assert jwks_server.requests == 3  # the first request and two redirects, then it gives up


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


# --- the JWKS fetcher and cache, edges the mutation run of tenants/jwks found untested ----------------------

LOOPBACK_ALLOWED = {"allowed_hosts": frozenset({"127.0.0.1"})}


def padded_jwks(size: int) -> dict[str, Any]:
    """A JWKS whose JSON body is exactly ``size`` bytes (as the fake serializes it)."""
    body: dict[str, Any] = {"keys": [jwk(KEY_1, "k1")], "padding": ""}
    body["padding"] = "x" * (size - len(json.dumps(body).encode()))
    assert len(json.dumps(body).encode()) == size
    return body


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
def test_a_jwks_body_may_be_exactly_the_cap_and_not_a_byte_more(
    jwks_server: JwksServer, extra: int, accepted: bool
) -> None:
    capped = policy(max_bytes=4096, **LOOPBACK_ALLOWED)
    jwks_server.override = (200, {}, padded_jwks(4096 + extra))
    if accepted:
        assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", capped)) == {"k1"}
    else:
        with pytest.raises(JwksFetchError, match="larger than"):
            fetch_jwks(f"{jwks_server.url}/jwks.json", capped)


def test_keys_of_2048_bits_and_more_are_taken(jwks_server: JwksServer) -> None:
    strong = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    jwks_server.keys = [jwk(KEY_1, "k2048"), jwk(strong, "k3072")]
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k2048", "k3072"}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed_on_the_same_host(jwks_server: JwksServer, status: int) -> None:
    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return (
            (status, {"Location": "/jwks.json"}, None) if path == "/moved" else (200, {}, {"keys": [jwk(KEY_1, "k1")]})
        )

    jwks_server.answer = answer  # type: ignore[method-assign]
    assert set(fetch_jwks(f"{jwks_server.url}/moved", policy(**LOOPBACK_ALLOWED))) == {"k1"}


@pytest.mark.parametrize("status", [201, 203, 300, 304, 404, 500])
def test_only_a_200_is_a_jwks_even_when_its_body_would_be_one(jwks_server: JwksServer, status: int) -> None:
    jwks_server.override = (status, {"Location": "/elsewhere"}, {"keys": [jwk(KEY_1, "k1")]})
    with pytest.raises(JwksFetchError):
        fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))


def test_only_rsa_signing_keys_for_rs256_are_taken(jwks_server: JwksServer) -> None:
    jwks_server.keys = [
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"},  # sorts before RSA
        {**jwk(KEY_2, "not-rsa"), "kty": "EC"},  # RSA numbers under another kty are still not an RSA key
        {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},  # sorts after RSA
        {**jwk(KEY_2, "enc"), "use": "enc"},
        {**jwk(KEY_2, "ps"), "alg": "PS256"},  # sorts before RS256
        {**jwk(KEY_2, "rs512"), "alg": "RS512"},  # sorts after RS256
        jwk(KEY_1, "k1"),
    ]
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k1"}


def test_a_plain_http_loopback_url_without_a_port_goes_to_port_80(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = Resolved(monkeypatch, "127.0.0.1")
    with pytest.raises(JwksFetchError):
        fetch_jwks("http://localhost/jwks.json", policy(allow_http_loopback=True))
    assert resolved.connected == [("127.0.0.1", 80)]


class Clocked:
    """A TenantJwks over a counting fetch and a clock the test moves."""

    def __init__(self, *, ttl: float = 3600, min_interval: float = 60) -> None:
        self.now = 1000.0
        self.fetches = 0
        self.block: threading.Event | None = None
        self.jwks = tenant_jwks(self.fetch, ttl=ttl, min_interval=min_interval, monotonic=lambda: self.now, wait=30)

    def fetch(self, url: str, fetch_policy: FetchPolicy) -> dict[str | None, Any]:
        self.fetches += 1
        if self.block is not None:
            self.block.wait(30)
        return {"k1": KEY_1.public_key(), None: KEY_2.public_key()}


@pytest.mark.parametrize("kid", ["k1", None])
def test_a_fresh_set_is_not_fetched_again_for_a_known_kid_or_none(kid: str | None) -> None:
    cache = Clocked()
    assert cache.jwks.keys_for(kid) and cache.fetches == 1
    cache.now += 600  # past the refetch interval, within the TTL
    assert cache.jwks.keys_for(kid) and cache.fetches == 1


def test_a_set_is_fetched_again_once_its_ttl_is_over() -> None:
    cache = Clocked(ttl=3600)
    cache.jwks.keys_for("k1")
    cache.now += 3599
    cache.jwks.keys_for("k1")
    assert cache.fetches == 1
    cache.now += 1
    cache.jwks.keys_for("k1")
    assert cache.fetches == 2


def test_a_stale_set_is_served_while_its_refetch_is_in_flight() -> None:
    cache = Clocked(ttl=3600)
    cache.jwks.keys_for("k1")
    cache.now += 3600
    cache.block = threading.Event()
    cache.jwks.wait = 0.01  # the login that starts the refetch goes on with the stale set
    assert cache.jwks.keys_for("k1") == [KEY_1.public_key()]
    assert cache.jwks.keys_for("k1") == [KEY_1.public_key()]  # another login, the refetch still in flight
    cache.block.set()
    assert cache.fetches == 2


def test_only_https_or_loopback_http_in_development_is_fetched() -> None:
    for url in ("ftp://127.0.0.1/jwks.json", "file://localhost/jwks.json", "gopher://localhost/jwks.json"):
        with pytest.raises(JwksFetchError, match="https"):
            fetch_jwks(url, policy(allow_http_loopback=True))


def test_a_jwk_whose_numbers_do_not_parse_is_skipped_not_fatal(jwks_server: JwksServer) -> None:
    jwks_server.keys = [
        {"kty": "RSA", "kid": "bad-n", "n": "not base64url!", "e": "AQAB"},
        {"kty": "RSA", "kid": "no-e", "n": jwk(KEY_2, "x")["n"]},
        jwk(KEY_1, "k1"),
    ]
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k1"}


def test_a_2047_bit_key_is_one_bit_short(jwks_server: JwksServer) -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=2047)
    jwks_server.keys = [jwk(short, "short")]
    with pytest.raises(JwksFetchError, match="at least 2048"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))


def test_unknown_kids_refetch_once_per_interval() -> None:
    cache = Clocked(min_interval=60)
    cache.jwks.keys_for("k1")
    cache.now += 59.5
    assert cache.jwks.keys_for("k9") == [] and cache.jwks.keys_for("k8") == []
    assert cache.fetches == 1
    cache.now += 0.5
    assert cache.jwks.keys_for("k9") == [] and cache.fetches == 2


def test_a_second_fetch_attempt_never_queues_behind_the_one_in_flight() -> None:
    jwks, started, release = stalled_jwks(wait=0.01)
    jwks.min_interval = 0  # every login may try to fetch: the one in flight must not make them wait
    with pytest.raises(JwksFetchError, match="being fetched"):
        jwks.keys_for("k1")
    assert started.wait(30)
    outcome: list[str] = []

    def try_again() -> None:
        try:
            jwks.keys_for("k1")
            outcome.append("keys")
        except JwksFetchError as exc:
            outcome.append(f"503 {exc.retry_after}")

    second = threading.Thread(target=try_again)
    second.start()
    second.join(5)  # with the fetch still hanging, a queued login would not have answered
    answered = not second.is_alive()
    release.set()
    second.join(30)
    assert answered and outcome == ["503 2"]


def test_a_redirect_to_another_host_is_refused_whichever_way_the_names_sort(jwks_server: JwksServer) -> None:
    both = policy(allowed_hosts=frozenset({"127.0.0.1", "localhost"}))
    jwks_server.override = (302, {"Location": f"https://127.0.0.1:{jwks_server.port}/jwks.json"}, None)
    with pytest.raises(JwksFetchError, match="redirects to another host"):
        fetch_jwks(f"https://localhost:{jwks_server.port}/jwks.json", both)


def test_a_200_with_a_location_header_is_the_jwks_not_a_redirect(jwks_server: JwksServer) -> None:
    jwks_server.override = (200, {"Location": "/elsewhere"}, {"keys": [jwk(KEY_1, "k1")]})
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k1"}


def test_a_set_long_past_its_ttl_is_fetched_again() -> None:
    cache = Clocked(ttl=3600)
    cache.jwks.keys_for("k1")
    cache.now += 5000
    cache.jwks.keys_for("k1")
    assert cache.fetches == 2


def test_a_token_without_kid_is_tried_against_three_keys_at_most() -> None:
    keys = {f"k{i}": rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key() for i in range(4)}
    jwks = tenant_jwks(lambda url, fetch_policy: dict(keys))
    assert jwks.keys_for(None) == list(keys.values())[:3]
