"""Compact JWS built byte by byte, for tokens no JOSE library would produce (duplicate members, NaN).

Test-only: the signature is computed here with ``cryptography`` directly, so a hostile token can be validly
signed by a key the service trusts and its refusal can only come from the token's contents.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | bytes, header: str, payload: str) -> str:
    """Sign exactly these header and payload texts (RS256, ES256 or, for bytes, HS256)."""
    signing_input = f"{b64(header.encode())}.{b64(payload.encode())}"
    data = signing_input.encode()
    if isinstance(key, bytes):
        signature = hmac.new(key, data, hashlib.sha256).digest()
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{b64(signature)}"


def with_member(claims: dict[str, Any], name: str, raw: str) -> str:
    """The JSON text of ``claims`` with one more member ``name`` whose value is the raw JSON text ``raw``."""
    rest = {k: v for k, v in claims.items() if k != name}
    return json.dumps(rest)[:-1] + f', "{name}": {raw}}}'


def duplicated(claims: dict[str, Any], name: str, first: Any) -> str:
    """The JSON text of ``claims`` preceded by a first ``name`` member: a parser that keeps the last one
    reads ``claims`` unchanged."""
    return f'{{"{name}": {json.dumps(first)}, ' + json.dumps(claims)[1:]


# The values a present time claim may not have (RFC 7519 NumericDate: a finite JSON number).
NOT_NUMERIC_DATES = [
    "null",
    '"1700000000"',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "true",
    pytest.param("1" + "0" * 400, id="10**400"),
]
