"""Our JWS framing against PyJWT, an independent implementation, both ways."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared import jws

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
CLAIMS = {"iss": "me", "n": 1, "list": [1, "two"], "unicode": "bücher", "exp": 4_000_000_000}


@pytest.mark.parametrize(("alg", "key"), [("RS256", RSA_KEY), ("ES256", EC_KEY)])
def test_pyjwt_verifies_what_we_sign(alg: str, key: jws.PrivateKey) -> None:
    token = jws.sign(alg, key, {"kid": "k1", "typ": "at+jwt"}, CLAIMS)
    assert jwt.decode(token, key.public_key(), algorithms=[alg]) == CLAIMS
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": "k1", "typ": "at+jwt"}


@pytest.mark.parametrize(("alg", "key"), [("RS256", RSA_KEY), ("ES256", EC_KEY)])
def test_we_verify_what_pyjwt_signs(alg: str, key: jws.PrivateKey) -> None:
    token = jwt.encode(CLAIMS, key, algorithm=alg, headers={"kid": "k2"})
    parsed = jws.parse(token)
    assert parsed.header["kid"] == "k2"
    assert jws.verify_signature(alg, key.public_key(), parsed)
    assert not jws.verify_signature(alg, (RSA_KEY if alg == "ES256" else EC_KEY).public_key(), parsed)


def test_a_signature_by_another_key_does_not_verify() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jws.sign("RS256", other, {}, CLAIMS)
    assert not jws.verify_signature("RS256", RSA_KEY.public_key(), jws.parse(token))


@pytest.mark.parametrize("token", ["a.b", "a.b.c.d", "!!!!.e30.AA", "e30=.e30.AA", "W10.e30.AA", "bnVsbA.e30.AA",
                                   "e30.e30.A", "e30.e31.AA"])
def test_malformed_compact_serializations_are_refused(token: str) -> None:
    with pytest.raises(jws.MalformedJWS):
        jws.parse(token)


def test_an_es256_signature_of_the_wrong_length_never_verifies() -> None:
    token = jws.sign("ES256", EC_KEY, {}, {"t": dt.datetime.now().isoformat()})
    head, body, _ = token.split(".")
    assert not jws.verify_signature("ES256", EC_KEY.public_key(), jws.parse(f"{head}.{body}.{'A' * 90}"))
