"""Bootstrap (one round trip), the protected profile route, the payer guard and logout."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest

import function_app
from shared.tokens import BILLER_GUID, USERTYPE
from tests.conftest import DEMO_ORIGIN, GRANT, JWT_TYPE, Answer, Env, build_env
from tools.demo_site import DEMO_BILLER_GUID


def bootstrap(env: Env, token: str | None = None, **extra: str) -> Answer:
    fields = {"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": token or env.mint(), **extra}
    return env.call(
        function_app.payer_bootstrap,
        "POST",
        "api/payer/bootstrap",
        body=urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": DEMO_ORIGIN},
    )


def session_cookie(answer: Answer) -> str:
    (cookie,) = answer.cookies()
    return cookie.split(";")[0]


def profile(
    env: Env, *, cookie: str | None = None, bearer: str | None = None, origin: str | None = DEMO_ORIGIN
) -> Answer:
    headers = {}
    if cookie:
        headers["Cookie"] = cookie
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if origin:
        headers["Origin"] = origin
    return env.call(function_app.payer_profile, "GET", "api/payer/profile", headers=headers)


PUBLIC_PROFILE = {
    "billerGuid": DEMO_BILLER_GUID,
    "displayName": "Demo Biller",
    "domain": "127.0.0.1:8080",
    "status": "active",
}


def test_bootstrap_sets_the_cookie_and_returns_the_profile_in_one_round_trip(env: Env) -> None:
    answer = bootstrap(env)
    assert answer.status == 200
    body = answer.json()
    assert body == {"expires_in": 900, "data": {"profile": PUBLIC_PROFILE}}
    assert session_cookie(answer).startswith("__Host-payer_session=")
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN


def test_bootstrap_data_equals_what_the_protected_route_serves(env: Env) -> None:
    answer = bootstrap(env)
    assert profile(env, cookie=session_cookie(answer)).json() == answer.json()["data"]["profile"]


def test_an_unknown_resource_is_400_listing_the_known_ones(env: Env) -> None:
    answer = bootstrap(env, resources="profile,invoices")
    assert answer.status == 400 and answer.cookies() == []
    assert (
        "'invoices'" in answer.json()["error_description"]
        and "known resources: profile" in answer.json()["error_description"]
    )


def test_bootstrap_refuses_body_delivery(env: Env) -> None:
    answer = bootstrap(env, token_delivery="body")
    assert answer.status == 400 and answer.cookies() == [] and "access_token" not in answer.json()
    assert (
        answer.json()["error"] == "invalid_request"
        and "always delivers the session by cookie" in answer.json()["error_description"]
    )


def test_bootstrap_rejects_what_the_token_endpoint_rejects(env: Env) -> None:
    answer = bootstrap(env, env.mint("pay.other.example"))
    assert answer.status == 400 and answer.cookies() == [] and "origin" in answer.json()["error_description"]


def test_the_profile_accepts_the_cookie(env: Env) -> None:
    answer = profile(env, cookie=session_cookie(bootstrap(env)))
    assert answer.status == 200 and answer.json() == PUBLIC_PROFILE
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN
    assert answer.header("Access-Control-Allow-Credentials") == "true"


def test_the_profile_accepts_a_bearer_token_and_shows_nothing_internal(env: Env) -> None:
    token = env.exchange().json()["access_token"]
    answer = profile(env, bearer=token)
    assert answer.status == 200
    assert not {"billerId", "BillerID", "shard", "ShardName"} & set(answer.json())


def assert_401(answer: Answer, text: str) -> None:
    assert answer.status == 401, answer.body
    assert answer.header("WWW-Authenticate").startswith("Bearer ")  # type: ignore[union-attr]
    assert answer.header("Content-Type") == "application/problem+json"
    body = answer.json()
    assert body["status"] == 401 and text in body["detail"]
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN  # the page sees the 401


def test_no_credential_is_401(env: Env) -> None:
    assert_401(profile(env), "no payer session")


def test_a_biller_jwt_is_not_a_payer_jwt(env: Env) -> None:
    assert_401(profile(env, bearer=env.mint()), "typ")


def test_a_portal_jwt_signed_by_our_own_key_is_not_a_payer_jwt(env: Env) -> None:
    portal = {
        "urn:invoicecloud:billerguid": DEMO_BILLER_GUID,
        USERTYPE: "Biller",
        "sub": "u1",
        "jti": "j",
        "iss": "https://www.invoicecloud.com",
        "aud": "https://www.invoicecloud.com",
        "iat": 1,
        "exp": 4_000_000_000,
    }
    assert_401(profile(env, bearer=env.service.ic_keys.sign(portal, typ="JWT")), "typ")
    dressed_up = {**portal, "sid": "s", "urn:invoicecloud:origin": DEMO_ORIGIN}  # even with payer-shaped claims
    assert_401(profile(env, bearer=env.service.ic_keys.sign(dressed_up, typ="at+jwt")), "issuer")


def test_a_tampered_payer_jwt_is_401(env: Env) -> None:
    head, payload, signature = env.exchange().json()["access_token"].split(".")
    claims = jwt.decode(f"{head}.{payload}.{signature}", options={"verify_signature": False})
    claims[BILLER_GUID] = "00000000-0000-0000-0000-000000000000"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    assert_401(profile(env, bearer=f"{head}.{forged}.{signature}"), "signature")


def test_an_expired_payer_jwt_is_401(env: Env) -> None:
    token = env.exchange().json()["access_token"]
    env.clock.advance(900 + 61)
    assert_401(profile(env, bearer=token), "expired")


def test_a_malformed_authorization_header_is_401(env: Env) -> None:
    answer = env.call(
        function_app.payer_profile,
        "GET",
        "api/payer/profile",
        headers={"Authorization": "Basic dXNlcjpwYXNz", "Origin": DEMO_ORIGIN},
    )
    assert_401(answer, "Bearer")


def test_a_payer_jwt_used_from_another_origin_is_403(env: Env) -> None:
    token = env.exchange().json()["access_token"]
    answer = profile(env, bearer=token, origin="https://evil.example")
    assert answer.status == 403 and answer.header("Access-Control-Allow-Origin") != DEMO_ORIGIN
    assert answer.json()["type"] == "https://payer-auth.invoicecloud.dev/problems/payer-origin-mismatch"


def test_backends_without_an_origin_may_call_with_the_bearer_token(env: Env) -> None:
    assert profile(env, bearer=env.exchange().json()["access_token"], origin=None).status == 200


def test_the_profile_preflight_allows_authorization(env: Env) -> None:
    answer = env.call(
        function_app.payer_profile,
        "OPTIONS",
        "api/payer/profile",
        headers={"Origin": DEMO_ORIGIN, "Access-Control-Request-Headers": "authorization"},
    )
    assert answer.status == 204 and "Authorization" in (answer.header("Access-Control-Allow-Headers") or "")


def logout(env: Env, *, cookie: str | None = None, origin: str = DEMO_ORIGIN) -> Answer:
    headers = {"Origin": origin, **({"Cookie": cookie} if cookie else {})}
    answer = env.call(function_app.payer_logout, "POST", "api/payer/logout", headers=headers)
    assert answer.status == 204
    (cleared,) = answer.cookies()
    assert cleared.startswith("__Host-payer_session=;") and "max-age=0" in cleared.lower()
    return answer


def test_logout_clears_the_cookie_and_grants_the_sessions_origin(env: Env) -> None:
    answer = logout(env, cookie=session_cookie(bootstrap(env)))
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN


def test_logout_of_an_expired_session_still_lets_its_page_read_the_answer(env: Env) -> None:
    cookie = session_cookie(bootstrap(env))
    env.clock.advance(900 + 3600)
    assert logout(env, cookie=cookie).header("Access-Control-Allow-Origin") == DEMO_ORIGIN


@pytest.mark.parametrize("origin", [DEMO_ORIGIN, "https://evil.example"])
def test_logout_without_a_verifiable_session_clears_the_cookie_and_grants_nothing(env: Env, origin: str) -> None:
    assert logout(env, origin=origin).header("Access-Control-Allow-Origin") is None
    forged = "__Host-payer_session=" + env.mint()  # a token of ours, but not a payer session
    assert logout(env, cookie=forged, origin=origin).header("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize(
    ("claim", "value"),  # each refusal's reason sorts after payer_token_expired's: only expiry is forgiven
    [("iss", "https://other.example"), ("aud", "someone-else"), (USERTYPE, "tenant-user")],
)
def test_logout_forgives_only_expiry_not_another_refusal(env: Env, claim: str, value: str) -> None:
    token = resigned(env, **{claim: value})
    assert logout(env, cookie=f"__Host-payer_session={token}").header("Access-Control-Allow-Origin") is None


def test_logout_when_the_key_store_cannot_answer_grants_nothing_and_still_clears(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.errors import KeyStoreUnavailable

    cookie = session_cookie(bootstrap(env))

    def unavailable() -> None:
        raise KeyStoreUnavailable("the key store cannot be reached")

    monkeypatch.setattr(env.service.payer_keys, "current", unavailable)
    answer = logout(env, cookie=cookie)
    assert answer.status == 204 and answer.header("Access-Control-Allow-Origin") is None
    assert any("max-age=0" in c.lower() for c in answer.cookies())


def test_logout_grants_the_sessions_origin_not_the_callers(env: Env) -> None:
    answer = logout(env, cookie=session_cookie(bootstrap(env)), origin="https://evil.example")
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN  # which the evil page cannot use


@pytest.mark.parametrize("origin", [f"{DEMO_ORIGIN}, {DEMO_ORIGIN}", f"{DEMO_ORIGIN},https://evil.example"])
def test_a_comma_joined_origin_is_refused_by_the_profile(env: Env, origin: str) -> None:
    token = env.exchange().json()["access_token"]
    answer = profile(env, bearer=token, origin=origin)
    assert answer.status == 403 and answer.header("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize("delivery", ["body", "cookie"])
def test_a_payer_jwt_with_production_length_claims_stays_under_1_kib(
    tmp_path: Path, key_folder: Path, delivery: str
) -> None:
    env = build_env(tmp_path, key_folder, payer_issuer="https://api.invoicecloud.com/payer")
    origin = "https://payments.water-utility-example.com"
    answer = env.exchange(env.mint(origin.removeprefix("https://")), origin=origin, delivery=delivery)
    token = answer.json().get("access_token") or session_cookie(answer).split("=", 1)[1]
    assert len(token) < 1024  # RS256-2048 signature alone is 342 characters
    if delivery == "cookie":
        assert len(answer.cookies()[0]) < 1100  # a quarter of the browsers' 4096-byte cookie limit


def test_es256_payer_tokens_are_selectable_and_verified_by_the_guard(tmp_path: Path, key_folder: Path) -> None:
    env = build_env(tmp_path, key_folder, payer_algorithm="ES256")
    token = env.exchange().json()["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert len(token) < 800
    keys = env.call(function_app.jwks, "GET", ".well-known/jwks.json").json()["keys"]
    assert [(k["kty"], k["crv"], k["alg"]) for k in keys] == [("EC", "P-256", "ES256")]
    discovery = env.call(function_app.openid_configuration, "GET", ".well-known/openid-configuration").json()
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256"]
    assert profile(env, bearer=token).status == 200
    assert jwt.get_unverified_header(env.mint())["alg"] == "RS256"  # biller JWTs stay RS256


# --- the guard, one rule at a time (issue 16) ----------------------------------------------------------

PROBLEMS = "https://payer-auth.invoicecloud.dev/problems/"


def resigned(env: Env, **changes: object) -> str:
    """A genuine payer JWT's claims, changed as asked and signed again with our own payer key."""
    claims = jwt.decode(env.exchange().json()["access_token"], options={"verify_signature": False})
    claims.update(changes)
    return env.service.payer_keys.sign({k: v for k, v in claims.items() if v is not None}, typ="at+jwt")


def test_a_payer_jwt_resigned_unchanged_is_accepted(env: Env) -> None:
    assert profile(env, bearer=resigned(env)).status == 200


@pytest.mark.parametrize("usertype", ["tenant-user", "Biller", "PAYER", "", None])
def test_a_payer_jwt_correct_in_everything_but_usertype_is_401(env: Env, usertype: str | None) -> None:
    answer = profile(env, bearer=resigned(env, **{USERTYPE: usertype}))
    assert_401(answer, "usertype")
    assert answer.json()["type"] == PROBLEMS + "payer-token-usertype-mismatch"


@pytest.mark.parametrize(("after", "status"), [(900 + 59, 200), (900 + 60, 401)])
def test_the_payer_jwt_expires_exactly_at_the_leeway_boundary(env: Env, after: int, status: int) -> None:
    token = env.exchange().json()["access_token"]
    env.clock.advance(after)
    answer = profile(env, bearer=token)
    assert answer.status == status, answer.body
    if status == 401:
        assert answer.json()["type"] == PROBLEMS + "payer-token-expired"


def test_a_payer_jwt_without_exp_is_401(env: Env) -> None:
    answer = profile(env, bearer=resigned(env, exp=None))
    assert_401(answer, "'exp'")
    assert answer.json()["type"] == PROBLEMS + "payer-token-claim-missing"


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:7000", "http://127.0.0.1:8080/"])
def test_any_other_origin_is_403_whichever_way_it_sorts(env: Env, origin: str) -> None:
    answer = profile(env, bearer=env.exchange().json()["access_token"], origin=origin)
    assert answer.status == 403, answer.body
    assert answer.json()["type"] == PROBLEMS + "payer-origin-mismatch"


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer    "])
def test_an_authorization_that_is_not_bearer_is_401_whatever_its_scheme(env: Env, authorization: str) -> None:
    answer = env.call(
        function_app.payer_profile,
        "GET",
        "api/payer/profile",
        headers={"Authorization": authorization, "Origin": DEMO_ORIGIN},
    )
    assert_401(answer, "Bearer")
    assert answer.json()["type"] == PROBLEMS + "authorization-malformed"
