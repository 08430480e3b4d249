"""Token parsing for every kind (biller, portal, payer, tenant), through the routes that take each.

Every token here is validly signed by a key the service trusts, so a refusal can only come from its
contents: a present time claim that is not a finite JSON number (``null`` is not "absent"), the
non-JSON literals ``NaN``/``Infinity``, duplicate member names in the header or the payload, and
signatures re-encoded to other strings (padding, non-canonical base64url).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from shared.billers.directory import Actor
from shared.errors import InvalidRequest
from shared.tokens import BILLER_GUID, ORIGIN, USERTYPE, biller_claims, payer_claims
from tests.conftest import DEMO_DOMAIN, DEMO_ORIGIN, START, Answer, Env
from tests.raw_jws import NOT_NUMERIC_DATES, duplicated, sign_raw, with_member
from tests.tenant_keys import KEY_1, pem
from tests.test_admin import admin
from tests.test_payer_session import profile
from tests.test_tenant_login import assert_refused, login, register
from tools.demo_site import DEMO_BILLER_GUID

NOW = int(START.timestamp())
TIME_CLAIMS = ["exp", "nbf", "iat"]


def header_text(env: Env, typ: str, *, ring: str = "ic") -> str:
    keys = env.service.ic_keys if ring == "ic" else env.service.payer_keys
    signer = keys.current().signer
    return json.dumps({"alg": signer.algorithm, "kid": signer.kid, "typ": typ})


def private_key(env: Env, ring: str = "ic") -> Any:
    keys = env.service.ic_keys if ring == "ic" else env.service.payer_keys
    return keys.current().signer.material.private_key


# --- biller JWTs, at the exchange -------------------------------------------------------------


def biller_token(
    env: Env, payload: str | None = None, *, header: str | None = None, claims: dict[str, Any] | None = None
) -> str:
    """A biller JWT signed by our IC key and recorded in the shard under its jti, as the admin API would."""
    claims = claims or valid_biller_claims(env)
    token = sign_raw(private_key(env), header or header_text(env, "JWT"), payload or json.dumps(claims))
    biller = env.service.directory.biller(DEMO_BILLER_GUID)
    assert biller is not None
    env.service.directory.record_token(biller, claims["jti"], token, DEMO_DOMAIN, Actor(sub="test"))
    return token


def valid_biller_claims(env: Env) -> dict[str, Any]:
    return biller_claims(
        issuer=env.settings.biller_issuer,
        audience=env.settings.biller_audience,
        biller_guid=DEMO_BILLER_GUID,
        domain=DEMO_DOMAIN,
        jti=str(uuid.uuid4()),
        now=START,
        expires_in=3600,
    )


def assert_no_token(answer: Answer, *texts: str) -> None:
    assert answer.status == 400, answer.body
    body = answer.json()
    assert body["error"] == "invalid_request" and "access_token" not in body and answer.cookies() == []
    assert any(text in body["error_description"] for text in texts), body["error_description"]


def test_a_recorded_biller_jwt_built_here_exchanges(env: Env) -> None:
    assert env.exchange(biller_token(env)).status == 200  # the helpers below differ from it in one thing only


@pytest.mark.parametrize("name", TIME_CLAIMS)
@pytest.mark.parametrize("raw", NOT_NUMERIC_DATES)
def test_a_biller_jwt_whose_time_claim_is_not_a_finite_number_is_refused(env: Env, name: str, raw: str) -> None:
    claims = valid_biller_claims(env)
    answer = env.exchange(biller_token(env, with_member(claims, name, raw), claims=claims))
    assert_no_token(answer, "NumericDate", "strict JSON")


@pytest.mark.parametrize("name", ["iss", "aud", "exp", "domain"])
def test_a_biller_jwt_with_a_duplicated_claim_is_refused(env: Env, name: str) -> None:
    claims = valid_biller_claims(env)
    answer = env.exchange(biller_token(env, duplicated(claims, name, "https://evil.example"), claims=claims))
    assert_no_token(answer, "duplicate member")


def test_a_biller_jwt_whose_header_names_alg_twice_is_refused(env: Env) -> None:
    signer = env.service.ic_keys.current().signer
    header = f'{{"alg":"none","alg":"RS256","kid":"{signer.kid}","typ":"JWT"}}'
    assert_no_token(env.exchange(biller_token(env, header=header)), "duplicate member")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_biller_jwt_with_a_non_json_number_anywhere_is_refused(env: Env, literal: str) -> None:
    claims = valid_biller_claims(env)
    assert_no_token(
        env.exchange(biller_token(env, with_member(claims, "score", literal), claims=claims)), "strict JSON"
    )
    signer = env.service.ic_keys.current().signer
    header = f'{{"alg":"RS256","kid":"{signer.kid}","typ":"JWT","n":{literal}}}'
    assert_no_token(env.exchange(biller_token(env, header=header)), "strict JSON")


def test_a_duplicated_member_deep_in_a_claim_is_refused(env: Env) -> None:
    claims = valid_biller_claims(env)
    assert_no_token(
        env.exchange(biller_token(env, with_member(claims, "x", '{"a": 1, "a": 2}'), claims=claims)), "duplicate member"
    )


def padded(token: str) -> str:
    return token + "=" * (-len(token.rsplit(".", 1)[1]) % 4)


def non_canonical(token: str) -> str:
    """The same signature bytes, written with other unused low bits in the last character."""
    head, body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    spare_bits = {2: 4, 3: 2}[len(signature) % 4]
    changed = alphabet[last ^ ((1 << spare_bits) - 1)]
    assert base64.urlsafe_b64decode(signature + "==") == base64.urlsafe_b64decode(signature[:-1] + changed + "==")
    return f"{head}.{body}.{signature[:-1]}{changed}"


@pytest.mark.parametrize("malleate", [padded, non_canonical])
def test_a_biller_jwt_whose_signature_is_re_encoded_is_refused(env: Env, malleate: Any) -> None:
    token = env.mint()
    assert env.exchange(token).status == 200
    assert_no_token(env.exchange(malleate(token)), "well-formed", "base64url")


# --- portal JWTs, at the admin API ------------------------------------------------------------


def portal_claims() -> dict[str, Any]:
    return {
        BILLER_GUID: DEMO_BILLER_GUID,
        USERTYPE: "Biller",
        "sub": "u1",
        "jti": str(uuid.uuid4()),
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "iss": "https://www.invoicecloud.com",
        "aud": "https://www.invoicecloud.com",
    }


def assert_401(answer: Answer, *texts: str) -> None:
    assert answer.status == 401, answer.body
    detail = answer.json()["detail"]
    assert any(text in detail for text in texts), detail


def test_a_portal_jwt_built_here_is_accepted(env: Env) -> None:
    token = sign_raw(private_key(env), header_text(env, "JWT"), json.dumps(portal_claims()))
    assert admin(env, "GET", token=token).status == 200


@pytest.mark.parametrize("name", TIME_CLAIMS)
@pytest.mark.parametrize("raw", NOT_NUMERIC_DATES)
def test_a_portal_jwt_whose_time_claim_is_not_a_finite_number_is_401(env: Env, name: str, raw: str) -> None:
    token = sign_raw(private_key(env), header_text(env, "JWT"), with_member(portal_claims(), name, raw))
    assert_401(admin(env, "GET", token=token), "NumericDate", "strict JSON")


@pytest.mark.parametrize("name", ["iss", "aud", BILLER_GUID, "exp"])
def test_a_portal_jwt_with_a_duplicated_claim_is_401(env: Env, name: str) -> None:
    token = sign_raw(private_key(env), header_text(env, "JWT"), duplicated(portal_claims(), name, "x"))
    assert_401(admin(env, "GET", token=token), "duplicate member")


def test_a_portal_jwt_whose_header_names_alg_twice_is_401(env: Env) -> None:
    kid = env.service.ic_keys.current().signer.kid
    token = sign_raw(private_key(env), f'{{"alg":"none","alg":"RS256","kid":"{kid}"}}', json.dumps(portal_claims()))
    assert_401(admin(env, "GET", token=token), "duplicate member")


# --- payer JWTs, at the profile route ---------------------------------------------------------


def valid_payer_claims(env: Env) -> dict[str, Any]:
    return payer_claims(
        issuer=env.settings.payer_issuer,
        audience=env.settings.payer_audience,
        biller_guid=DEMO_BILLER_GUID,
        origin=DEMO_ORIGIN,
        now=START,
        lifetime=900,
    )


def payer_token(env: Env, payload: str, header: str | None = None) -> str:
    return sign_raw(private_key(env, "payer"), header or header_text(env, "at+jwt", ring="payer"), payload)


def test_a_payer_jwt_built_here_is_accepted(env: Env) -> None:
    assert profile(env, bearer=payer_token(env, json.dumps(valid_payer_claims(env)))).status == 200


@pytest.mark.parametrize("name", TIME_CLAIMS)
@pytest.mark.parametrize("raw", NOT_NUMERIC_DATES)
def test_a_payer_jwt_whose_time_claim_is_not_a_finite_number_is_401(env: Env, name: str, raw: str) -> None:
    token = payer_token(env, with_member(valid_payer_claims(env), name, raw))
    assert_401(profile(env, bearer=token), "NumericDate", "strict JSON")


@pytest.mark.parametrize("name", ["iss", "aud", BILLER_GUID, ORIGIN, USERTYPE])
def test_a_payer_jwt_with_a_duplicated_claim_is_401(env: Env, name: str) -> None:
    token = payer_token(env, duplicated(valid_payer_claims(env), name, "x"))
    assert_401(profile(env, bearer=token), "duplicate member")


def test_a_payer_jwt_whose_header_names_typ_twice_is_401(env: Env) -> None:
    signer = env.service.payer_keys.current().signer
    header = f'{{"alg":"{signer.algorithm}","kid":"{signer.kid}","typ":"JWT","typ":"at+jwt"}}'
    assert_401(profile(env, bearer=payer_token(env, json.dumps(valid_payer_claims(env)), header)), "duplicate member")


# --- tenant JWTs, at the login ----------------------------------------------------------------


def tenant_claims(**changes: Any) -> dict[str, Any]:
    return {
        "iss": "VISA",
        "aud": "MondiaPortal",
        "email": "customer@visa.com",
        "iat": NOW,
        "exp": NOW + 120,
        "jti": str(uuid.uuid4()),
        **changes,
    }


def without_none(claims: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if v is not None}


def tenant_token(payload: str, header: str = '{"alg":"RS256","typ":"JWT"}') -> str:
    return sign_raw(KEY_1, header, payload)


def test_a_tenant_jwt_built_here_logs_in(env: Env) -> None:
    register(env, public_key_pem=pem(KEY_1))
    assert login(env, tenant_token(json.dumps(tenant_claims()))).status == 303


@pytest.mark.parametrize("name", TIME_CLAIMS)
@pytest.mark.parametrize("raw", NOT_NUMERIC_DATES)
def test_a_tenant_jwt_whose_time_claim_is_not_a_finite_number_is_refused(env: Env, name: str, raw: str) -> None:
    register(env, public_key_pem=pem(KEY_1))
    token = tenant_token(with_member(tenant_claims(), name, raw))
    answer = login(env, token)
    code = "tenant_token_malformed" if raw in ("NaN", "Infinity", "-Infinity") else "tenant_token_claim_invalid"
    assert_refused(answer, code, token=token)


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("exp", NOW + 100_000),
        ("aud", "SomebodyElse"),
        ("iss", "MASTERCARD"),
        ("iat", NOW - 100_000),
        ("jti", "used-before"),
    ],
)
def test_a_tenant_jwt_with_a_duplicated_claim_is_refused(env: Env, name: str, first: Any) -> None:
    register(env, public_key_pem=pem(KEY_1))
    token = tenant_token(duplicated(tenant_claims(), name, first))
    assert_refused(login(env, token), "tenant_token_malformed", token=token)


def test_a_tenant_jwt_whose_header_names_alg_twice_is_refused(env: Env) -> None:
    register(env, public_key_pem=pem(KEY_1))
    token = tenant_token(json.dumps(tenant_claims()), '{"alg":"HS256","alg":"RS256","typ":"JWT"}')
    assert_refused(login(env, token), "tenant_token_malformed", token=token)


@pytest.mark.parametrize("malleate", [padded, non_canonical])
def test_a_tenant_jwt_re_encoded_is_not_a_new_token(env: Env, malleate: Any) -> None:
    """A token without jti is remembered by its hash: another string for the same signature must not pass."""
    register(env, public_key_pem=pem(KEY_1))
    token = tenant_token(json.dumps(without_none(tenant_claims(jti=None))))
    assert login(env, token).status == 303
    assert_refused(login(env, malleate(token)), "tenant_token_malformed")


# --- what we mint -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"exp": float("nan")}, "not JSON compliant"),
        ({"nbf": float("inf")}, "not JSON compliant"),
        ({"iss": 5}, "must be a string"),
        ({"x": b"bytes"}, "not JSON serializable"),
    ],
)
def test_we_never_sign_claims_we_would_refuse(env: Env, extra: dict[str, Any], text: str) -> None:
    with pytest.raises(InvalidRequest, match=text) as caught:
        env.mint(extra=extra)
    assert caught.value.reason == "claims_invalid"
