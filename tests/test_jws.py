"""Our JWS, signed and verified by PyJWT, against joserfc (an independent implementation) both ways;
the pre-check's refusals; and the PyJWT traps we close (HS256 keyed by an RSA key, ``none``)."""

from __future__ import annotations

import ast
import base64
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from shared.errors import InvalidRequest
from shared.jose import jws
from shared.jose.certificates import generate_self_signed
from shared.jose.keys import KeyRing, KeyVersion
from shared.jose.verify import MAX_TOKEN_BYTES, TokenRules, verify
from tests.conftest import START
from tests.raw_jws import b64, sign_raw

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
SECRET = b"s" * 32
CLAIMS = {"iss": "me", "aud": "you", "n": 1, "list": [1, "two"], "unicode": "bücher", "exp": 4_000_000_000}
ROOT = Path(__file__).resolve().parent.parent


class OneKeySource:
    description = "one key"

    def __init__(self, algorithm: str) -> None:
        self.version = KeyVersion(
            "v1",
            generate_self_signed("k", START - dt.timedelta(days=1), algorithm=algorithm),
            START - dt.timedelta(days=1),
        )

    def load(self) -> list[KeyVersion]:
        return [self.version]


def rules(*algorithms: str, typ: frozenset[str | None] = frozenset({None, "JWT"})) -> TokenRules:
    return TokenRules(
        kind="test JWT",
        algorithms=frozenset(algorithms),
        issuer="me",
        audience="you",
        required=(),
        require_exp=True,
        allowed_typ=typ,
    )


def check(token: str, key: Any, *algorithms: str) -> dict[str, Any]:
    return verify(token, lambda kid, alg: [key], rules(*algorithms), now=START, leeway=60)


def refusal(token: str, key: Any = None, *algorithms: str) -> str:
    with pytest.raises(InvalidRequest) as caught:
        check(token, key if key is not None else RSA_KEY.public_key(), *(algorithms or ("RS256",)))
    return caught.value.reason


# --- joserfc checks what PyJWT signs for us, and we take what joserfc signs ----------------------


@pytest.mark.parametrize(("algorithm", "joserfc_key"), [("RS256", RSAKey), ("ES256", ECKey)])
def test_joserfc_verifies_what_our_key_ring_signs(algorithm: str, joserfc_key: Any) -> None:
    source = OneKeySource(algorithm)
    ring = KeyRing(source, lambda: START, algorithm=algorithm)
    token = ring.sign(CLAIMS, typ="at+jwt")
    public = joserfc_key.import_key(source.version.public_key)
    decoded = joserfc_jwt.decode(token, public, algorithms=[algorithm])
    assert decoded.header == {"alg": algorithm, "kid": source.version.kid, "typ": "at+jwt"}
    assert decoded.claims == CLAIMS


@pytest.mark.parametrize(
    ("algorithm", "private", "public"),
    [
        ("RS256", RSAKey.import_key(RSA_KEY), RSA_KEY.public_key()),
        ("ES256", ECKey.import_key(EC_KEY), EC_KEY.public_key()),
        ("HS256", OctKey.import_key(SECRET), SECRET),
    ],
)
def test_we_verify_what_joserfc_signs_and_nothing_else(algorithm: str, private: Any, public: Any) -> None:
    token = joserfc_jwt.encode({"alg": algorithm, "kid": "k2"}, CLAIMS, private, algorithms=[algorithm])
    assert check(token, public, algorithm) == CLAIMS
    head, body, signature = token.split(".")
    flipped = base64.urlsafe_b64decode(signature + "==")
    flipped = bytes([flipped[0] ^ 1]) + flipped[1:]
    assert refusal(f"{head}.{body}.{b64(flipped)}", public, algorithm) == "token_signature_invalid"


def test_every_candidate_key_is_tried_until_one_verifies() -> None:
    others = [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key() for _ in range(2)]
    token = sign_raw(RSA_KEY, '{"alg":"RS256"}', json.dumps(CLAIMS))
    candidates = [*others, RSA_KEY.public_key()]
    assert verify(token, lambda kid, alg: candidates, rules("RS256"), now=START, leeway=60) == CLAIMS


def test_a_signature_by_another_key_does_not_verify() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = joserfc_jwt.encode({"alg": "RS256"}, CLAIMS, RSAKey.import_key(other))
    assert refusal(token) == "token_signature_invalid"


# --- the pre-check ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "a.b",
        "a.b.c.d",
        "!!!!.e30.AA",
        "e30=.e30.AA",
        "W10.e30.AA",
        "bnVsbA.e30.AA",
        "e30.e30.A",
        "e30.e31.AA",
        "e30.W10.AA",
        "e30.e30.AA==",
        "e30.e30.AAAAA",
        "e30.e30.AB",  # the byte 0x00, but not as it is written ("AA")
        "e30.e30._0",  # the byte 0xff, but not as it is written ("_w", which sorts after it)
    ],
)
def test_malformed_compact_serializations_are_refused(token: str) -> None:
    with pytest.raises(jws.MalformedJWS):
        jws.precheck(token, max_bytes=MAX_TOKEN_BYTES)


@pytest.mark.parametrize("signature", ["", "AA", "AAA", "AAAA", "_w", "AAAAAQ"])
def test_segments_of_every_length_a_byte_string_encodes_to_are_well_formed(signature: str) -> None:
    assert jws.precheck(f"e30.e30.{signature}", max_bytes=MAX_TOKEN_BYTES) == jws.Framed({}, {})


def test_a_long_duplicate_member_is_named_by_its_first_32_characters() -> None:
    name = "d" * 32 + "ef"
    with pytest.raises(jws.MalformedJWS, match=f"duplicate member '{'d' * 32}'\\)$"):
        jws.precheck(sign_raw(RSA_KEY, '{"alg":"RS256"}', f'{{"{name}":1,"{name}":2}}'), max_bytes=MAX_TOKEN_BYTES)


def test_a_payload_with_many_members_is_one_object() -> None:
    claims = {f"c{i}": i for i in range(1000)}
    framed = jws.precheck(sign_raw(RSA_KEY, '{"alg":"RS256"}', json.dumps(claims)), max_bytes=MAX_TOKEN_BYTES * 4)
    assert framed.claims == claims


@pytest.mark.parametrize(
    ("payload", "why"),
    [("{", "Expecting property name enclosed in double quotes"), ("{}x", "Extra data"), ('{"a":}', "Expecting value")],
)
def test_json_that_does_not_parse_is_refused_with_the_parsers_reason_and_no_position(payload: str, why: str) -> None:
    with pytest.raises(jws.MalformedJWS) as caught:
        jws.precheck(sign_raw(RSA_KEY, '{"alg":"RS256"}', payload), max_bytes=MAX_TOKEN_BYTES)
    assert str(caught.value) == f"payload is not strict JSON ({why})"


@pytest.mark.parametrize(("extra", "refused"), [(0, False), (1, True)])
def test_the_pre_check_caps_the_size_at_max_bytes(extra: int, refused: bool) -> None:
    token = sign_raw(RSA_KEY, '{"alg":"RS256"}', "{}")
    if refused:
        with pytest.raises(jws.MalformedJWS) as caught:
            jws.precheck(token, max_bytes=len(token) - extra)
        assert caught.value.what == "too_large" and str(caught.value) == f"is longer than {len(token) - 1} bytes"
    else:
        assert jws.precheck(token, max_bytes=len(token)).header == {"alg": "RS256"}


def test_a_duplicate_member_is_named_in_the_refusal() -> None:
    with pytest.raises(jws.MalformedJWS, match="duplicate member 'typ'"):
        jws.precheck(sign_raw(RSA_KEY, '{"alg":"RS256","typ":"JWT","typ":"at+jwt"}', "{}"), max_bytes=MAX_TOKEN_BYTES)


@pytest.mark.parametrize(
    ("header", "payload", "text"),
    [
        ('{"alg":"RS256","alg":"RS256"}', "{}", "duplicate member 'alg'"),
        ('{"alg":"RS256"}', '{"a":{"b":1,"b":1}}', "duplicate member 'b'"),
        ('{"alg":"RS256"}', '{"exp":NaN}', "NaN is not a JSON number"),
        ('{"alg":"RS256"}', '{"exp":-Infinity}', "-Infinity is not a JSON number"),
        ('{"alg":"RS256","x":Infinity}', "{}", "Infinity is not a JSON number"),
        ('{"alg":"RS256"}', '"a string"', "payload is not a JSON object"),
    ],
)
def test_json_that_parsers_read_differently_is_refused(header: str, payload: str, text: str) -> None:
    with pytest.raises(jws.MalformedJWS, match=text):
        jws.precheck(sign_raw(RSA_KEY, header, payload), max_bytes=MAX_TOKEN_BYTES)


def test_a_payload_that_is_not_utf8_is_refused() -> None:
    token = f"{b64(b'{}')}.{b64(json.dumps(CLAIMS).encode('utf-16'))}.AA"
    with pytest.raises(jws.MalformedJWS, match="not UTF-8"):
        jws.precheck(token, max_bytes=MAX_TOKEN_BYTES)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RS256", "crit": ["exp"], "exp": 1},
        {"alg": "RS256", "b64": False, "crit": ["b64"]},
        {"alg": "RS256", "b64": True},
    ],
)
def test_crit_and_b64_headers_are_refused(header: dict[str, Any]) -> None:
    assert refusal(sign_raw(RSA_KEY, json.dumps(header), json.dumps(CLAIMS))) == "token_crit_unsupported"


def test_a_token_over_the_size_cap_is_refused_before_it_is_decoded() -> None:
    assert refusal("x" * (MAX_TOKEN_BYTES + 1)) == "token_too_large"


def reason_and_description(token: str) -> tuple[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        check(token, RSA_KEY.public_key(), "RS256")
    return caught.value.reason, caught.value.description


@pytest.mark.parametrize(
    ("alg", "shown"), [("HS" + "5" * 14, "'HS55555555555555'"), ("HS" + "5" * 15, "'?'"), (256, "'?'")]
)
def test_a_refused_alg_is_named_only_when_it_is_a_short_string(alg: Any, shown: str) -> None:
    token = sign_raw(RSA_KEY, json.dumps({"alg": alg}), json.dumps(CLAIMS))
    reason, description = reason_and_description(token)
    assert reason == "token_alg_not_allowed"
    assert description == f"the test JWT is signed with alg {shown}; only RS256 is accepted"


@pytest.mark.parametrize("typ", [["JWT"], {"JWT": 1}, 1, True, "jwt"])
def test_a_typ_header_of_another_kind_or_type_is_refused_by_name(typ: Any) -> None:
    token = sign_raw(RSA_KEY, json.dumps({"alg": "RS256", "typ": typ}), json.dumps(CLAIMS))
    assert reason_and_description(token)[0] == "token_typ_not_allowed"


@pytest.mark.parametrize("kid", [1, ["k1"], {"k": 1}, True])
def test_a_kid_that_is_not_a_string_is_malformed(kid: Any) -> None:
    token = sign_raw(RSA_KEY, json.dumps({"alg": "RS256", "kid": kid}), json.dumps(CLAIMS))
    assert reason_and_description(token) == ("token_malformed", "the test JWT has a kid header that is not a string")


@pytest.mark.parametrize(("alg", "weak"), [("RS256", "rsa-1024"), ("HS256", "secret-16")])
def test_a_key_under_the_minimum_length_never_verifies_whoever_hands_it_over(alg: str, weak: str) -> None:
    if weak == "rsa-1024":
        private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        signer: Any = private
        verifier: Any = private.public_key()
    else:
        signer = verifier = b"s" * 16
    token = sign_raw(signer, json.dumps({"alg": alg}), json.dumps(CLAIMS))
    assert refusal(token, verifier, alg) == "token_signature_invalid"


@pytest.mark.parametrize(
    ("token", "reason", "description"),
    [
        ("x" * (MAX_TOKEN_BYTES + 1), "token_too_large", f"the test JWT is longer than {MAX_TOKEN_BYTES} bytes"),
        (
            sign_raw(RSA_KEY, '{"alg":"RS256","crit":["exp"]}', "{}"),
            "token_crit_unsupported",
            "the test JWT names a critical or b64 header parameter we do not support",
        ),
        (
            "e30.e30",
            "token_malformed",
            "the test JWT is not a well-formed JWS: is not a JWS compact serialization (three segments)",
        ),
    ],
    ids=["too large", "crit", "malformed"],
)
def test_each_pre_check_refusal_reads_as_one_sentence(token: str, reason: str, description: str) -> None:
    assert reason_and_description(token) == (reason, description)


@pytest.mark.parametrize("sub", [123, ["u1"], {"id": "u1"}, True, "", None])
def test_a_required_claim_must_be_a_non_empty_string(sub: Any) -> None:
    strict = dataclasses.replace(rules("RS256"), required=("sub",))
    token = sign_raw(RSA_KEY, '{"alg":"RS256"}', json.dumps({**CLAIMS, "sub": sub}))
    with pytest.raises(InvalidRequest) as caught:
        verify(token, lambda kid, alg: [RSA_KEY.public_key()], strict, now=START, leeway=60)
    assert caught.value.reason == "token_claim_missing"


def test_the_rules_every_request_of_a_kind_shares_cannot_be_changed() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PAYER_LIKE.algorithms = frozenset({"none"})  # type: ignore[misc]


def test_a_token_of_exactly_the_size_cap_is_not_too_large() -> None:
    assert refusal("x" * MAX_TOKEN_BYTES) == "token_malformed"


PAYER_LIKE = dataclasses.replace(rules("RS256"), usertype=("ut", "payer"))


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "a"}, "token_iss_mismatch"),  # sorts before ours
        ({"iss": "zz"}, "token_iss_mismatch"),  # and after
        ({"iss": 1}, "token_iss_mismatch"),
        ({"aud": "a"}, "token_aud_mismatch"),
        ({"aud": "zz"}, "token_aud_mismatch"),
        ({"aud": 1}, "token_aud_mismatch"),
        ({"aud": ["a", "zz"]}, "token_aud_mismatch"),
        ({"aud": ["you", 1]}, "token_aud_mismatch"),
        ({"ut": "a"}, "token_usertype_mismatch"),
        ({"ut": "zz"}, "token_usertype_mismatch"),
        ({"ut": 1}, "token_usertype_mismatch"),
        ({"ut": None}, "token_usertype_mismatch"),
    ],
)
def test_iss_aud_and_usertype_must_be_ours_whichever_way_a_wrong_one_sorts(claims: dict[str, Any], reason: str) -> None:
    token = sign_raw(RSA_KEY, '{"alg":"RS256"}', json.dumps({**CLAIMS, "ut": "payer", **claims}))
    with pytest.raises(InvalidRequest) as caught:
        verify(token, lambda kid, alg: [RSA_KEY.public_key()], PAYER_LIKE, now=START, leeway=60)
    assert caught.value.reason == reason


def test_a_wrong_usertype_is_refused_naming_the_one_required() -> None:
    token = sign_raw(RSA_KEY, '{"alg":"RS256"}', json.dumps({**CLAIMS, "ut": "tenant-user"}))
    with pytest.raises(InvalidRequest) as caught:
        verify(token, lambda kid, alg: [RSA_KEY.public_key()], PAYER_LIKE, now=START, leeway=60)
    assert caught.value.description == "the test JWT does not carry usertype 'payer'"


def test_a_token_with_our_iss_aud_and_usertype_passes() -> None:
    for aud in ("you", ["other", "you"]):
        token = sign_raw(RSA_KEY, '{"alg":"RS256"}', json.dumps({**CLAIMS, "aud": aud, "ut": "payer"}))
        assert verify(token, lambda kid, alg: [RSA_KEY.public_key()], PAYER_LIKE, now=START, leeway=60)["ut"] == "payer"


def test_claims_no_rule_of_the_kind_names_are_not_ours_to_check() -> None:
    claims = {**CLAIMS, "sub": 123, "jti": 4.5, "iss": "me"}
    assert check(sign_raw(RSA_KEY, '{"alg":"RS256"}', json.dumps(claims)), RSA_KEY.public_key(), "RS256") == claims


# --- what PyJWT would let through if we let it ----------------------------------------------------


def test_hs256_keyed_with_our_rsa_public_key_is_refused() -> None:
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = sign_raw(pem, '{"alg":"HS256"}', json.dumps(CLAIMS))
    assert refusal(token) == "token_alg_not_allowed"  # RS256 kinds never take HS256
    assert refusal(token, pem, "HS256") == "token_signature_invalid"  # and PyJWT refuses a PEM as an HMAC secret


@pytest.mark.parametrize("alg", ["none", "None", "RS512", "PS256", "ES256K", ""])
def test_algorithms_outside_the_kinds_are_refused(alg: str) -> None:
    token = f"{b64(json.dumps({'alg': alg}).encode())}.{b64(json.dumps(CLAIMS).encode())}."
    assert refusal(token) in ("token_alg_not_allowed", "token_malformed")


@pytest.mark.parametrize("header", ["jwk", "jku", "x5u", "x5c"])
def test_key_headers_are_ignored(header: str) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    named = {
        "jwk": RSAKey.import_key(stranger.public_key()).as_dict(),
        "jku": "https://evil.example/jwks",
        "x5u": "https://evil.example/cert.pem",
        "x5c": ["MIIB"],
    }[header]
    token = sign_raw(stranger, json.dumps({"alg": "RS256", header: named}), json.dumps(CLAIMS))
    assert refusal(token) == "token_signature_invalid"


def test_no_code_of_ours_computes_or_checks_a_jws_signature() -> None:
    """Signatures over a signing input are PyJWT's (certificates.py signs X.509 certificates, not JWS)."""
    primitives = {"PKCS1v15", "ECDSA", "encode_dss_signature", "decode_dss_signature"}
    for path in (ROOT / "shared").rglob("*.py"):
        if path.name == "certificates.py":
            continue
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name) and node.id in primitives:
                found.add(node.id)
            elif isinstance(node, ast.Attribute) and (
                node.attr in primitives | {"verify"}
                or (node.attr == "new" and isinstance(node.value, ast.Name) and node.value.id == "hmac")
            ):
                found.add(node.attr)  # key.verify(...), padding.PKCS1v15(), hmac.new(...)
        assert not found, f"{path.name} does JWS cryptography itself: {found}"
