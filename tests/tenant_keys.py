"""Tenant signing keys and a tenant's JWKS endpoint, for the login and the JWKS fetcher tests."""

from __future__ import annotations

from typing import Any

import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.azure_fakes import HttpsFake


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


class JwksServer(HttpsFake):
    """A tenant's JWKS URL over HTTPS on loopback: serves ``keys`` (or ``override``); ``requests`` counts fetches."""

    def __init__(self, ca: trustme.CA) -> None:
        self.keys = [jwk(KEY_1, "k1")]
        self.override: tuple[int, dict[str, str], Any] | None = None
        super().__init__(ca)

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return self.override or (200, {}, {"keys": self.keys})
