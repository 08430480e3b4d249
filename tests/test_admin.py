"""Biller-token administration through the Biller Portal's portal JWT (seeds 000, 004)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jwt
import pytest

import function_app
from tests.conftest import START, Answer, Env
from tools.demo_site import DEMO_BILLER_GUID

NOW = int(START.timestamp())
PROBLEMS = "https://payer-auth.invoicecloud.dev/problems/"


def portal_jwt(env: Env, **changes: Any) -> str:
    claims = {
        "urn:invoicecloud:billerguid": DEMO_BILLER_GUID.upper(),
        "urn:invoicecloud:usertype": "Biller",
        "sub": "DD5094D5-12F1-4CE1-B45C-000000000001",
        "jti": str(uuid.uuid4()),
        "nbf": NOW,
        "iat": NOW,
        "exp": NOW + 3600,
        "iss": "https://www.invoicecloud.com",
        "aud": "https://www.invoicecloud.com",
    }
    claims.update(changes)
    return env.service.ic_keys.sign({k: v for k, v in claims.items() if v is not None}, typ="JWT")


def admin(
    env: Env,
    method: str,
    *,
    guid: str = DEMO_BILLER_GUID,
    jti: str | None = None,
    token: str | None = "",
    body: dict[str, str] | None = None,
) -> Answer:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or portal_jwt(env)}"
    path = f"api/billers/{guid}/tokens" + (f"/{jti}" if jti else "")
    function = function_app.biller_token if jti else function_app.biller_tokens
    route = {"billerGuid": guid, **({"jti": jti} if jti else {})}
    return env.call(
        function, method, path, body=json.dumps(body).encode() if body else b"", headers=headers, route=route
    )


def test_mint_returns_the_token_once_and_it_exchanges(env: Env) -> None:
    answer = admin(env, "POST", body={"domain": "127.0.0.1:8080"})
    assert answer.status == 201
    body = answer.json()
    assert set(body) == {"jti", "token", "domain", "createdAt"}
    assert answer.header("Location") == f"/api/billers/{DEMO_BILLER_GUID}/tokens/{body['jti']}"
    assert answer.header("Cache-Control") == "no-store"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == DEMO_BILLER_GUID and claims["domain"] == "127.0.0.1:8080" and claims["jti"] == body["jti"]
    assert env.exchange(body["token"]).status == 200


def test_the_list_shows_who_did_what_and_never_a_token(env: Env) -> None:
    minted = admin(env, "POST", token=portal_jwt(env, obo="A1B2"), body={"domain": "127.0.0.1:8080"}).json()
    admin(env, "DELETE", jti=minted["jti"])
    listing = admin(env, "GET")
    assert listing.status == 200
    (row,) = listing.json()["tokens"]
    assert row["jti"] == minted["jti"] and row["active"] is False
    assert row["createdBy"] == {"sub": "DD5094D5-12F1-4CE1-B45C-000000000001", "obo": "A1B2"}
    assert row["revokedBy"] == {"sub": "DD5094D5-12F1-4CE1-B45C-000000000001"} and row["revokedAt"]
    assert minted["token"] not in listing.body.decode() and "hash" not in listing.body.decode().lower()


def test_a_revoked_token_stops_exchanging_within_the_bound(env: Env) -> None:
    minted = admin(env, "POST", body={"domain": "127.0.0.1:8080"}).json()
    assert env.exchange(minted["token"]).status == 200
    assert admin(env, "DELETE", jti=minted["jti"]).status == 204
    env.clock.advance(env.settings.revocation_bound + 1)
    answer = env.exchange(minted["token"])
    assert answer.status == 400 and "revoked" in answer.json()["error_description"]


def test_revoking_an_unknown_jti_is_404(env: Env) -> None:
    answer = admin(env, "DELETE", jti=str(uuid.uuid4()))
    assert_problem(answer, 404, "has no token with jti")
    assert answer.json()["type"] == PROBLEMS + "not-found"


def assert_problem(answer: Answer, status: int, text: str) -> None:
    assert answer.status == status, answer.body
    assert answer.header("Content-Type") == "application/problem+json"
    body = answer.json()
    assert body["status"] == status and text in body["detail"] and set(body) == {"type", "title", "status", "detail"}


def test_a_portal_jwt_for_another_biller_is_403(env: Env) -> None:
    other = portal_jwt(env, **{"urn:invoicecloud:billerguid": str(uuid.uuid4())})
    assert_problem(admin(env, "POST", token=other, body={"domain": "127.0.0.1:8080"}), 403, "another biller")
    assert_problem(admin(env, "GET", token=other), 403, "another biller")


def test_a_portal_jwt_that_is_not_a_biller_user_is_403(env: Env) -> None:
    assert_problem(admin(env, "GET", token=portal_jwt(env, **{"urn:invoicecloud:usertype": "Payer"})), 403, "usertype")


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"exp": NOW - 120}, "expired"),
        ({"aud": "https://api.invoicecloud.com/payer"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"iat": None}, "'iat'"),
        ({"sub": None}, "'sub'"),
    ],
)
def test_an_invalid_portal_jwt_is_401(env: Env, changes: dict[str, Any], text: str) -> None:
    answer = admin(env, "GET", token=portal_jwt(env, **changes))
    assert_problem(answer, 401, text)
    assert (answer.header("WWW-Authenticate") or "").startswith("Bearer ")


def test_no_portal_jwt_is_401_and_a_biller_or_payer_jwt_is_no_portal_jwt(env: Env) -> None:
    assert_problem(admin(env, "GET", token=None), 401, "Authorization: Bearer")
    biller_jwt = admin(env, "GET", token=env.mint())
    assert_problem(biller_jwt, 401, "the portal JWT ")  # its iss, aud and claims are a biller JWT's
    assert biller_jwt.json()["type"].startswith(PROBLEMS + "portal-token-")
    payer_jwt = admin(env, "GET", token=env.exchange().json()["access_token"])
    assert_problem(payer_jwt, 401, "typ header")
    assert payer_jwt.json()["type"] == PROBLEMS + "portal-token-typ-not-allowed"


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("https://biller.example", "domain-invalid"),
        ("biller.example/pay", "domain-invalid"),
        ("user@biller.example", "domain-invalid"),
        ("*", "host-invalid"),
        ("*.com", "domain-invalid"),
        ("*.co.uk", "domain-public-suffix"),
        ("*.github.io", "domain-public-suffix"),
        ("", "domain-missing"),
    ],
)
def test_domains_that_would_be_wrong_or_too_wide_are_400(env: Env, domain: str, reason: str) -> None:
    answer = admin(env, "POST", body={"domain": domain})
    assert answer.status == 400 and answer.header("Content-Type") == "application/problem+json"
    assert answer.json()["type"] == PROBLEMS + reason


def test_a_wildcard_under_the_billers_own_domain_is_fine(env: Env) -> None:
    assert admin(env, "POST", body={"domain": "*.biller-site.com"}).status == 201


def test_an_unknown_biller_is_404(env: Env) -> None:
    guid = str(uuid.uuid4())
    token = portal_jwt(env, **{"urn:invoicecloud:billerguid": guid})
    assert_problem(admin(env, "GET", guid=guid, token=token), 404, "no biller")


def test_a_database_failure_is_503_naming_only_the_kind_of_dependency(env: Env) -> None:
    (env.tmp / "shard01.db").unlink()
    env.clock.advance(env.settings.revocation_bound + 1)
    answer = admin(env, "GET")
    assert answer.status == 503 and answer.header("Retry-After")
    body = answer.json()
    assert body["detail"] == "the database is unavailable"
    assert body["type"].endswith("/database-unavailable") and "shard" not in answer.body.decode()


# --- the portal guard, one rule at a time (issue 16) ------------------------------------------------------


def test_a_portal_jwt_without_exp_is_401(env: Env) -> None:
    answer = admin(env, "GET", token=portal_jwt(env, exp=None))
    assert_problem(answer, 401, "'exp'")
    assert answer.json()["type"] == PROBLEMS + "portal-token-claim-missing"


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer   "])
def test_an_authorization_that_is_not_bearer_is_401_whatever_its_scheme(env: Env, authorization: str) -> None:
    answer = env.call(
        function_app.biller_tokens,
        "GET",
        f"api/billers/{DEMO_BILLER_GUID}/tokens",
        headers={"Authorization": authorization},
        route={"billerGuid": DEMO_BILLER_GUID},
    )
    assert_problem(answer, 401, "Authorization: Bearer")
    assert answer.json()["type"] == PROBLEMS + "credential-missing"


@pytest.mark.parametrize("usertype", ["Admin", "biller", "Payer", "BILLER"])
def test_any_usertype_but_biller_is_403_whichever_way_it_sorts(env: Env, usertype: str) -> None:
    answer = admin(env, "GET", token=portal_jwt(env, **{"urn:invoicecloud:usertype": usertype}))
    assert_problem(answer, 403, "usertype")
    assert answer.json()["type"] == PROBLEMS + "portal-usertype-forbidden"


def test_the_path_guid_is_canonical_in_what_the_api_answers(env: Env) -> None:
    answer = admin(env, "POST", guid=DEMO_BILLER_GUID.upper(), body={"domain": "127.0.0.1:8080"})
    assert answer.status == 201, answer.body
    assert answer.header("Location") == f"/api/billers/{DEMO_BILLER_GUID}/tokens/{answer.json()['jti']}"


@pytest.mark.parametrize("form", [DEMO_BILLER_GUID.replace("-", ""), "{" + DEMO_BILLER_GUID + "}"])
def test_a_path_guid_without_hyphens_or_in_braces_names_the_same_biller(env: Env, form: str) -> None:
    answer = admin(env, "POST", guid=form, body={"domain": "127.0.0.1:8080"})
    assert answer.status == 201, answer.body
    assert answer.header("Location") == f"/api/billers/{DEMO_BILLER_GUID}/tokens/{answer.json()['jti']}"


@pytest.mark.parametrize(
    "form",
    ["urn:" + DEMO_BILLER_GUID.replace("-", "") + "---", "urn:uuid:" + DEMO_BILLER_GUID],
    ids=["39 characters", "urn:uuid"],
)
def test_a_path_guid_longer_than_the_braced_form_is_not_the_portal_jwts_biller(env: Env, form: str) -> None:
    assert uuid.UUID(form) == uuid.UUID(DEMO_BILLER_GUID)  # Python would read it; the contract does not
    answer = admin(env, "POST", guid=form, body={"domain": "127.0.0.1:8080"})
    assert_problem(answer, 403, "another biller")
    assert answer.json()["type"] == PROBLEMS + "portal-biller-mismatch"


def test_the_audit_columns_keep_64_characters_of_sub_and_obo(env: Env) -> None:
    sub, obo = "S" * 100, "O" * 100
    admin(env, "POST", token=portal_jwt(env, sub=sub, obo=obo), body={"domain": "127.0.0.1:8080"})
    (row,) = admin(env, "GET").json()["tokens"]
    assert row["createdBy"] == {"sub": sub[:64], "obo": obo[:64]}


@pytest.mark.parametrize("other", ["00000000-0000-4000-8000-000000000000", "ffffffff-ffff-4fff-bfff-ffffffffffff"])
def test_a_portal_jwt_for_another_biller_is_403_whichever_way_its_guid_sorts(env: Env, other: str) -> None:
    answer = admin(env, "GET", token=portal_jwt(env, **{"urn:invoicecloud:billerguid": other}))
    assert_problem(answer, 403, "another biller")
    assert answer.json()["type"] == PROBLEMS + "portal-biller-mismatch"


def test_an_active_token_shows_nobody_as_its_revoker(env: Env) -> None:
    admin(env, "POST", body={"domain": "127.0.0.1:8080"})
    (row,) = admin(env, "GET").json()["tokens"]
    assert row["active"] is True and row["revokedAt"] is None and row["revokedBy"] is None
