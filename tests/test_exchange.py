"""POST api/payer/token, as a browser and APIM see it through the platform's encoding."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import uuid
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import function_app
from shared.billers.directory import Actor
from shared.jose.certificates import generate_self_signed
from tests.conftest import DEMO_ORIGIN, GRANT, JWT_TYPE, START, Answer, Env, build_env
from tools.demo_site import DEMO_BILLER_GUID

PAYER_CLAIMS = {
    "iss",
    "aud",
    "sub",
    "urn:invoicecloud:billerguid",
    "urn:invoicecloud:usertype",
    "urn:invoicecloud:origin",
    "iat",
    "nbf",
    "exp",
    "jti",
    "sid",
}


def published_key(env: Env, kid: str) -> jwt.PyJWK:
    answer = env.call(function_app.jwks, "GET", ".well-known/jwks.json")
    return jwt.PyJWKSet.from_dict(answer.json())[kid]


def assert_rejected(answer: Answer, reason_text: str, *, status: int = 400, error: str = "invalid_request") -> None:
    assert answer.status == status, answer.body
    body = answer.json()
    assert body["error"] == error
    assert reason_text in body["error_description"]
    assert "access_token" not in body
    assert answer.cookies() == []
    assert answer.header("Cache-Control") == "no-store"


# --- the happy paths ------------------------------------------------------------------


def test_body_delivery_returns_rfc8693_fields_and_a_payer_jwt_verifiable_with_the_published_key(env: Env) -> None:
    answer = env.exchange()
    assert answer.status == 200
    body = answer.json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in"}
    assert body["issued_token_type"] == JWT_TYPE
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    key = published_key(env, header["kid"])
    claims = jwt.decode(
        body["access_token"],
        key.key,
        algorithms=["RS256"],
        audience="https://api.invoicecloud.com",
        issuer="http://localhost:7071",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert set(claims) >= PAYER_CLAIMS
    assert claims["urn:invoicecloud:billerguid"] == DEMO_BILLER_GUID
    assert claims["urn:invoicecloud:usertype"] == "payer"
    assert claims["urn:invoicecloud:origin"] == DEMO_ORIGIN
    assert claims["exp"] - claims["iat"] == 900 and claims["iat"] == int(START.timestamp())
    assert uuid.UUID(claims["sub"])


def test_each_exchange_mints_a_new_anonymous_subject_and_session(env: Env) -> None:
    token = env.mint()
    first, second = (
        jwt.decode(env.exchange(token).json()["access_token"], options={"verify_signature": False}) for _ in range(2)
    )
    assert first["sub"] != second["sub"] and first["sid"] != second["sid"] and first["jti"] != second["jti"]


def test_the_payer_jwt_jti_and_sid_are_128_random_bits_in_22_characters(env: Env) -> None:
    claims = jwt.decode(env.exchange().json()["access_token"], options={"verify_signature": False})
    for name in ("jti", "sid"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", claims[name]), claims[name]


def test_cookie_delivery_sets_a_secure_httponly_host_cookie_and_keeps_the_token_out_of_the_body(env: Env) -> None:
    answer = env.exchange(delivery="cookie")
    assert answer.status == 200
    assert "access_token" not in answer.json()
    (cookie,) = answer.cookies()
    name, _, rest = cookie.partition("=")
    value, *attributes = [part.strip() for part in rest.split(";")]
    assert name == "__Host-payer_session"
    assert {a.lower() for a in attributes} == {
        "max-age=900",
        "path=/",
        "secure",
        "httponly",
        "samesite=none",
        "partitioned",
    }
    assert jwt.decode(value, options={"verify_signature": False})["urn:invoicecloud:usertype"] == "payer"


def test_json_requests_are_accepted_like_forms(env: Env) -> None:
    answer = env.exchange(as_json=True, delivery="body")
    assert answer.status == 200 and "access_token" in answer.json()


def test_referer_stands_in_for_a_missing_origin(env: Env) -> None:
    answer = env.exchange(origin=None, headers={"Referer": "http://127.0.0.1:8080/pay/invoice?id=1"})
    assert answer.status == 200


def test_the_payer_jwt_is_far_below_the_browser_cookie_limit(env: Env) -> None:
    token = env.exchange().json()["access_token"]
    assert len(token) < 1024


# --- CORS -------------------------------------------------------------------------------


def test_success_grants_cors_to_the_matching_origin_only(env: Env) -> None:
    answer = env.exchange()
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN
    assert answer.header("Access-Control-Allow-Credentials") == "true"
    assert answer.header("Vary") == "Origin"
    assert answer.header("Pragma") == "no-cache"


def test_another_origin_gets_no_token_but_may_read_why(env: Env) -> None:
    answer = env.exchange(origin="http://localhost:8080")
    assert_rejected(answer, "origin does not match")
    assert answer.json()["error_uri"].endswith("/origin-mismatch")
    assert answer.header("Access-Control-Allow-Origin") == "http://localhost:8080"
    assert answer.header("Access-Control-Allow-Credentials") == "true" and answer.header("Vary") == "Origin"


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "http://evil.example",
        "http://127.0.0.1:8080, http://127.0.0.1:8080",
        "http://127.0.0.1:8080,https://evil.example",
    ],
)
def test_an_origin_we_could_never_grant_gets_no_cors_grant_even_on_errors(env: Env, origin: str) -> None:
    answer = env.exchange(origin=origin)
    assert answer.status == 400 and "access_token" not in answer.json()
    assert answer.header("Access-Control-Allow-Origin") is None


def test_every_refusal_of_the_token_routes_is_readable_by_a_grantable_page(env: Env) -> None:
    for function, path in (
        (function_app.payer_token, "api/payer/token"),
        (function_app.payer_bootstrap, "api/payer/bootstrap"),
    ):
        answer = env.call(
            function,
            "POST",
            path,
            body=b"grant_type=nope",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": DEMO_ORIGIN},
        )
        assert answer.status == 400
        assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN


def test_oauth_errors_carry_the_stable_reason_as_error_uri(env: Env) -> None:
    token = env.mint()
    env.service.biller_tokens.revoke(DEMO_BILLER_GUID, str(claims_of(token)["jti"]), Actor(sub="test"))
    body = env.exchange(token).json()
    assert set(body) == {"error", "error_description", "error_uri"}
    assert body["error_uri"] == "https://payer-auth.invoicecloud.dev/problems/jti-inactive"


@pytest.mark.parametrize(
    ("claim", "value", "reason"),
    [
        ("sub", "not-a-guid", "biller-guid-invalid"),
        ("sub", "{" + DEMO_BILLER_GUID + "}x", "biller-guid-invalid"),
        ("sub", "urn:uuid:" + DEMO_BILLER_GUID, "biller-guid-invalid"),
        ("jti", "not-a-guid", "jti-invalid"),
        ("sub", str(uuid.UUID(int=7)), "biller-unknown"),
    ],
)
def test_a_biller_jwt_whose_sub_or_jti_is_no_known_guid_is_refused_by_name(
    env: Env, claim: str, value: str, reason: str
) -> None:
    answer = env.exchange(env.mint(extra={claim: value}, record=False))
    assert_rejected(answer, "biller")
    assert answer.json()["error_uri"] == f"https://payer-auth.invoicecloud.dev/problems/{reason}"


def test_a_later_rejection_still_lets_the_matching_page_read_why(env: Env) -> None:
    token = env.mint()
    env.service.biller_tokens.revoke(
        DEMO_BILLER_GUID, jwt.decode(token, options={"verify_signature": False})["jti"], Actor(sub="test")
    )
    answer = env.exchange(token)
    assert_rejected(answer, "revoked")
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN


def test_preflight_is_answered_for_json_posts(env: Env) -> None:
    answer = env.call(
        function_app.payer_token,
        "OPTIONS",
        "api/payer/token",
        headers={
            "Origin": DEMO_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert answer.status == 204
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN
    assert "POST" in (answer.header("Access-Control-Allow-Methods") or "")
    assert "Content-Type" in (answer.header("Access-Control-Allow-Headers") or "")
    assert answer.header("Access-Control-Allow-Credentials") == "true"


@pytest.mark.parametrize("origin", ["http://evil.example", "null", f"{DEMO_ORIGIN}, {DEMO_ORIGIN}"])
@pytest.mark.parametrize(
    ("function", "path"),
    [
        (function_app.payer_token, "api/payer/token"),
        (function_app.payer_bootstrap, "api/payer/bootstrap"),
        (function_app.payer_profile, "api/payer/profile"),
        (function_app.payer_logout, "api/payer/logout"),
    ],
)
def test_preflight_from_an_origin_we_could_never_grant_gets_no_grant(
    env: Env, function: object, path: str, origin: str
) -> None:
    answer = env.call(function, "OPTIONS", path, headers={"Origin": origin})
    assert answer.status == 204 and answer.header("Access-Control-Allow-Origin") is None


def test_preflight_grants_only_an_origin_as_browsers_serialize_it(env: Env) -> None:
    # The function and the edge share one rule (shared.web.cors.grantable): the grant is compared byte for byte.
    answer = env.call(function_app.payer_token, "OPTIONS", "api/payer/token", headers={"Origin": "https://pay.example"})
    assert answer.header("Access-Control-Allow-Origin") == "https://pay.example"
    answer = env.call(function_app.payer_token, "OPTIONS", "api/payer/token", headers={"Origin": "https://Pay.Example"})
    assert answer.header("Access-Control-Allow-Origin") is None


# --- rejections, in the contract's order ---------------------------------------------------


def fields(token: str, **changes: str) -> dict[str, str]:
    base = {"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": token}
    base.update(changes)
    return {k: v for k, v in base.items() if v != "<drop>"}


def test_wrong_grant_type_is_unsupported_grant_type(env: Env) -> None:
    answer = env.exchange(fields=fields(env.mint(), grant_type="client_credentials"))
    assert_rejected(answer, "grant_type", error="unsupported_grant_type")


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"grant_type": "<drop>"}, "grant_type is required"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:access_token"}, "subject_token_type"),
        ({"subject_token": ""}, "subject_token is required"),
        ({"token_delivery": "smoke-signal"}, "token_delivery"),
    ],
)
def test_malformed_forms_are_invalid_requests(env: Env, change: dict[str, str], text: str) -> None:
    assert_rejected(env.exchange(fields=fields(env.mint(), **change)), text)


def test_a_field_sent_twice_is_rejected(env: Env) -> None:
    token = env.mint()
    body = f"grant_type={GRANT}&subject_token_type={JWT_TYPE}&subject_token={token}&subject_token={token}"
    answer = env.call(
        function_app.payer_token,
        "POST",
        "api/payer/token",
        body=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": DEMO_ORIGIN},
    )
    assert_rejected(answer, "more than once")


def test_a_json_key_sent_twice_is_rejected(env: Env) -> None:
    token = env.mint()
    body = (
        f'{{"grant_type":"{GRANT}","subject_token_type":"{JWT_TYPE}",'
        f'"subject_token":"{token}","subject_token":"{token}"}}'
    )
    answer = env.call(
        function_app.payer_token,
        "POST",
        "api/payer/token",
        body=body.encode(),
        headers={"Content-Type": "application/json", "Origin": DEMO_ORIGIN},
    )
    assert_rejected(answer, "more than once")


def form_in_charset(env: Env, parameter: str) -> Answer:
    body = urlencode({"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": env.mint()})
    return env.call(
        function_app.payer_token,
        "POST",
        "api/payer/token",
        body=body.encode(),
        headers={"Content-Type": f"application/x-www-form-urlencoded{parameter}", "Origin": DEMO_ORIGIN},
    )


@pytest.mark.parametrize("charset", ["utf-7", "iso-8859-1", "utf-16"])
def test_a_form_in_another_charset_than_utf8_is_415(env: Env, charset: str) -> None:
    answer = form_in_charset(env, f"; charset={charset}")
    assert_rejected(answer, "UTF-8", status=415)
    assert answer.json()["error_uri"].endswith("/charset-unsupported")


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", '"UTF8"'])
def test_a_form_declared_utf8_is_read(env: Env, charset: str) -> None:
    assert form_in_charset(env, f";charset={charset}").status == 200


def test_an_unsupported_content_type_is_rejected(env: Env) -> None:
    answer = env.call(
        function_app.payer_token,
        "POST",
        "api/payer/token",
        body=b"x",
        headers={"Content-Type": "text/plain", "Origin": DEMO_ORIGIN},
    )
    assert_rejected(answer, "x-www-form-urlencoded")


def test_a_body_over_16_kib_is_413(env: Env) -> None:
    answer = env.exchange(fields=fields("a" * (17 * 1024)))
    assert_rejected(answer, "larger than", status=413)


def test_a_token_over_8_kib_is_rejected(env: Env) -> None:
    answer = env.exchange(env.mint(extra={"padding": "x" * 9000}))
    assert_rejected(answer, "longer than 8192")


def forge(header: dict[str, object], claims: dict[str, object], signature: bytes = b"sig") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)])


def claims_of(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_alg_none_is_rejected(env: Env) -> None:
    token = forge({"alg": "none", "typ": "JWT"}, claims_of(env.mint()), b"")
    assert_rejected(env.exchange(token), "alg 'none'")


def test_hs256_signed_with_our_public_key_is_rejected(env: Env) -> None:
    from cryptography.hazmat.primitives import serialization

    public_pem = env.service.ic_keys.current().signer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    header: dict[str, object] = {"alg": "HS256", "typ": "JWT"}
    unsigned = forge(header, claims_of(env.mint())).rsplit(".", 1)[0]
    mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    token = unsigned + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert_rejected(env.exchange(token), "alg 'HS256'")


def test_a_token_signed_by_a_key_we_do_not_trust_is_rejected(env: Env) -> None:
    stranger = generate_self_signed("stranger", START).private_key
    assert isinstance(stranger, rsa.RSAPrivateKey)
    token = jwt.encode(claims_of(env.mint()), stranger, algorithm="RS256")
    assert_rejected(env.exchange(token), "does not verify with a trusted key")


def test_an_unknown_kid_is_rejected_without_trying_other_keys(env: Env) -> None:
    stranger = generate_self_signed("stranger", START).private_key
    token = jwt.encode(claims_of(env.mint()), stranger, algorithm="RS256", headers={"kid": "not-ours"})
    assert_rejected(env.exchange(token), "key we do not trust")


def test_keys_named_by_jku_or_jwk_headers_are_ignored(env: Env) -> None:
    stranger = generate_self_signed("stranger", START).private_key
    assert isinstance(stranger, rsa.RSAPrivateKey)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(stranger.public_key(), as_dict=True)
    token = jwt.encode(
        claims_of(env.mint()),
        stranger,
        algorithm="RS256",
        headers={"jwk": public, "jku": "https://evil.example/jwks.json"},
    )
    assert_rejected(env.exchange(token), "trusted key")


def test_a_tampered_payload_is_rejected(env: Env) -> None:
    head, payload, signature = env.mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["domain"] = "evil.example"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_rejected(env.exchange(f"{head}.{forged}.{signature}"), "signature")


@pytest.mark.parametrize(
    ("claim", "value", "text"),
    [
        ("iss", "https://evil.example", "issuer"),
        ("aud", "https://api.invoicecloud.com", "audience"),
        ("aud", ["https://other.example"], "audience"),
    ],
)
def test_wrong_issuer_or_audience_is_rejected(env: Env, claim: str, value: object, text: str) -> None:
    assert_rejected(env.exchange(env.mint(extra={claim: value})), text)


def test_an_audience_list_that_contains_ours_is_accepted(env: Env) -> None:
    token = env.mint(extra={"aud": ["https://other.example", "https://api.invoicecloud.com/payer"]})
    assert env.exchange(token).status == 200


def test_an_expired_token_is_rejected_after_the_leeway(env: Env) -> None:
    token = env.mint(expires_in=100)
    env.clock.advance(100 + 59)
    assert env.exchange(token).status == 200
    env.clock.advance(2)
    assert_rejected(env.exchange(token), "expired")


def test_a_token_not_yet_valid_is_rejected(env: Env) -> None:
    now = int(START.timestamp())
    assert_rejected(env.exchange(env.mint(extra={"nbf": now + 120})), "not valid yet")
    assert_rejected(env.exchange(env.mint(extra={"iat": now + 120})), "issued in the future")


@pytest.mark.parametrize("claim", ["sub", "domain", "jti", "iss"])
def test_a_missing_required_claim_is_rejected(env: Env, claim: str) -> None:
    token = env.mint(extra={claim: None})
    assert_rejected(env.exchange(token), f"'{claim}'")


@pytest.mark.parametrize(
    ("origin", "text"),
    [
        ("http://127.0.0.1:8081", "origin does not match"),  # another port
        ("http://localhost:8080", "origin does not match"),  # another host, though also loopback
        ("null", "Origin is 'null'"),  # opaque origin
    ],
)
def test_origins_that_do_not_match_the_domain_are_rejected(env: Env, origin: str, text: str) -> None:
    assert_rejected(env.exchange(origin=origin), text)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evilbiller-site.com",
        "https://biller-site.com.evil.example",
        "https://biller-site.co",
        "http://biller-site.com",
    ],
)
def test_suffix_and_look_alike_hosts_do_not_match(env: Env, origin: str) -> None:
    assert_rejected(env.exchange(env.mint("biller-site.com"), origin=origin), "origin")


def test_a_wildcard_domain_admits_subdomains_but_not_the_parent(env: Env) -> None:
    token = env.mint("*.biller-site.com")
    assert env.exchange(token, origin="https://pay.biller-site.com").status == 200
    assert env.exchange(token, origin="https://a.b.biller-site.com").status == 200
    assert_rejected(env.exchange(token, origin="https://biller-site.com"), "origin does not match")


def test_hosts_compare_after_idna_and_case_normalisation(env: Env) -> None:
    token = env.mint("Bücher.Example")
    assert env.exchange(token, origin="https://xn--bcher-kva.example").status == 200


def test_no_origin_and_no_referer_is_rejected(env: Env) -> None:
    assert_rejected(env.exchange(origin=None), "neither Origin nor Referer")


def test_an_unknown_biller_is_rejected(env: Env) -> None:
    token = env.mint(extra={"sub": str(uuid.uuid4())}, record=False)
    assert_rejected(env.exchange(token), "unknown biller")


def test_a_suspended_biller_is_rejected(env: Env) -> None:
    token = env.mint()
    with env.service.directory.master.cursor() as cursor:
        cursor.execute("UPDATE AzureBillers SET Status = 'suspended'")
    env.clock.advance(61)
    assert_rejected(env.exchange(token), "not active")


def test_an_unrecorded_jti_is_rejected(env: Env) -> None:
    assert_rejected(env.exchange(env.mint(record=False)), "not registered")


def test_a_token_whose_jti_row_holds_another_token_is_rejected(env: Env) -> None:
    recorded = env.mint()
    impostor = env.mint(extra={"jti": claims_of(recorded)["jti"], "note": "another"}, record=False)
    assert_rejected(env.exchange(impostor), "does not match the token registered")


def test_revocation_takes_effect_within_the_bound(env: Env) -> None:
    token = env.mint()
    assert env.exchange(token).status == 200
    # Revoked from another instance (straight in the shard), so this one's cache still holds the row.
    with env.service.directory.shards["shard01"].cursor() as cursor:
        cursor.execute("UPDATE BillerJwt SET Active = 0")
    assert env.exchange(token).status == 200  # cached: within the bound
    env.clock.advance(env.settings.revocation_bound + 1)
    assert_rejected(env.exchange(token), "revoked")


def test_an_unreachable_database_is_503_with_retry_after(env: Env) -> None:
    token = env.mint()
    (env.tmp / "master.db").unlink()
    env.clock.advance(env.settings.revocation_bound + 1)  # past what the cache may serve
    answer = env.exchange(token)
    assert answer.status == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert answer.header("Retry-After")
    assert answer.cookies() == [] and "access_token" not in answer.json()
    assert answer.header("Access-Control-Allow-Origin") == DEMO_ORIGIN
    assert answer.header("Access-Control-Expose-Headers") == "Retry-After"  # so the page can honour it
    assert answer.json()["error_description"] == "the database is unavailable"  # not which one, nor why


def test_a_cached_verification_ends_when_its_key_stops_being_trusted(env: Env) -> None:
    from shared.jose.keys import KeyVersion

    token = env.mint()
    assert env.exchange(token).status == 200  # verified once, now cached

    class OtherKey:
        description = "another key"

        def load(self) -> list[KeyVersion]:
            return [KeyVersion("other", generate_self_signed("other", START), START)]

    env.service.ic_keys.source = OtherKey()
    assert env.service.ic_keys.refresh()
    assert_rejected(env.exchange(token), "key we do not trust")


def test_keys_named_by_x5u_or_x5c_headers_are_ignored(env: Env) -> None:
    material = generate_self_signed("stranger", START)
    assert isinstance(material.private_key, rsa.RSAPrivateKey)
    from cryptography.hazmat.primitives.serialization import Encoding

    chain = [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in material.certificates]
    token = jwt.encode(
        claims_of(env.mint()),
        material.private_key,
        algorithm="RS256",
        headers={"x5c": chain, "x5u": "https://evil.example/cert.pem"},
    )
    assert_rejected(env.exchange(token), "trusted key")


def test_a_cache_hit_still_checks_the_time_claims(env: Env) -> None:
    token = env.mint(expires_in=100)
    assert env.exchange(token).status == 200  # verified by PyJWT once, its claims cached
    env.clock.advance(100 + 61)
    assert_rejected(env.exchange(token), "expired")


def test_pyjwt_decodes_a_biller_jwt_once_and_a_cache_hit_not_at_all(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    decodes: list[object] = []
    original = jwt.PyJWS.decode_complete

    def counting(self: jwt.PyJWS, *args: object, **kwargs: object) -> dict[str, object]:
        decodes.append(args[0])
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt.PyJWS, "decode_complete", counting)
    token = env.mint()
    assert env.exchange(token).status == 200
    assert env.exchange(token).status == 200
    assert decodes == [token]


# --- time claims at their leeway boundaries (issue 16) ----------------------------------------------------

# (claim, where the claim sits relative to its leeway boundary, accepted?, what the refusal says)
TIME_BOUNDARIES = [
    ("exp", "inside", True, ""),
    ("exp", "at", False, "expired"),
    ("exp", "beyond", False, "expired"),
    ("nbf", "inside", True, ""),
    ("nbf", "at", True, ""),
    ("nbf", "beyond", False, "not valid yet"),
    ("iat", "inside", True, ""),
    ("iat", "at", True, ""),
    ("iat", "beyond", False, "issued in the future"),
]


def time_claim(claim: str, where: str, now: int, leeway: int) -> int:
    """``exp`` is refused from ``now - leeway`` on; ``nbf`` and ``iat`` are refused after ``now + leeway``."""
    step = {"inside": -1, "at": 0, "beyond": 1}[where]
    return now - leeway - step if claim == "exp" else now + leeway + step


@pytest.mark.parametrize("leeway", [60, 5])
@pytest.mark.parametrize(("claim", "where", "accepted", "text"), TIME_BOUNDARIES)
def test_time_claims_are_checked_exactly_at_their_leeway_boundary(
    tmp_path: Path, key_folder: Path, leeway: int, claim: str, where: str, accepted: bool, text: str
) -> None:
    env = build_env(tmp_path, key_folder, leeway=str(leeway))
    env.clock.advance(3600)  # away from START: "now" is the injected clock's
    now = int(env.clock.now().timestamp())
    token = env.mint(extra={claim: time_claim(claim, where, now, leeway)})
    answer = env.exchange(token)
    if accepted:
        assert answer.status == 200, answer.body
        assert "access_token" in answer.json()
    else:
        assert_rejected(answer, text)


def test_a_wildcard_domain_with_a_port_admits_that_port_only(env: Env) -> None:
    token = env.mint("*.biller-site.com:8443")
    assert env.exchange(token, origin="https://pay.biller-site.com:8443").status == 200
    assert_rejected(env.exchange(token, origin="https://pay.biller-site.com"), "origin does not match")
    assert_rejected(
        env.exchange(env.mint("*.biller-site.com"), origin="https://pay.biller-site.com:8443"), "origin does not match"
    )


@pytest.mark.parametrize(
    ("change", "error", "text"),
    [
        ({"grant_type": "zz"}, "unsupported_grant_type", "grant_type must be"),  # sorts after the URN
        ({"grant_type": GRANT + ":x"}, "unsupported_grant_type", "grant_type must be"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request", "subject_token_type"),
        ({"subject_token_type": "<drop>"}, "invalid_request", "subject_token_type"),
    ],
)
def test_grant_and_token_types_must_be_exactly_the_rfc_8693_urns(
    env: Env, change: dict[str, str], error: str, text: str
) -> None:
    assert_rejected(env.exchange(fields=fields(env.mint(), **change)), text, error=error)


def test_what_the_directory_cache_hands_to_every_request_is_immutable(env: Env) -> None:
    token = env.mint()
    directory = env.service.directory
    biller = directory.biller(DEMO_BILLER_GUID)
    assert biller is not None
    record = directory.token(biller, str(claims_of(token)["jti"]))
    assert record is not None and record.holds(token)
    for shared, name in ((biller, "status"), (record, "active"), (record.created_by, "sub")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(shared, name, None)
