"""JWS compact serialization (RFC 7515) for RS256 and ES256 (ours and IC's) and HS256 (tenants only).

The signature maths is the ``cryptography`` package's; this module only frames
it.  It exists because the framing is on every exchange's path twice (verify
the biller JWT, sign the payer JWT): PyJWT 2.15 checks each base64url character
in a Python loop and parses the header twice per decode, which cost more than
the RSA verify itself (see bench/README.md).  The tests check every token we
sign with PyJWT, and every kind of token PyJWT signs against our verifier.

Strictness follows PyJWT: base64url without padding, canonical encodings only
(GHSA-hxm8-2xgr-2p9m), exactly three segments, a JSON object header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_SHA256 = hashes.SHA256()
_ES256_SIZE = 32

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
VerificationKey = PublicKey | bytes  # bytes: an HS256 shared secret
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class MalformedJWS(ValueError):
    """Not a well-formed compact JWS."""


@dataclass(frozen=True)
class CompactJWS:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise MalformedJWS("not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedJWS("not base64url") from None
    if b64url_encode(data) != segment:  # only the canonical encoding of these bytes
        raise MalformedJWS("not canonical base64url")
    return data


def parse(token: str) -> CompactJWS:
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJWS("expected three segments")
    header_segment, payload_segment, signature_segment = parts
    try:
        header = json.loads(b64url_decode(header_segment))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedJWS("header is not JSON") from None
    if not isinstance(header, dict):
        raise MalformedJWS("header is not a JSON object")
    return CompactJWS(header, b64url_decode(payload_segment),
                      f"{header_segment}.{payload_segment}".encode("ascii"), b64url_decode(signature_segment))


def verify_signature(algorithm: str, key: VerificationKey, jws: CompactJWS) -> bool:
    """True only when ``key`` is of the kind ``algorithm`` needs and the signature checks out."""
    if isinstance(key, bytes):
        # HS256 only with a secret handed over as bytes: an RSA key never becomes an HMAC secret.
        expected = hmac.new(key, jws.signing_input, hashlib.sha256).digest()
        return algorithm == "HS256" and hmac.compare_digest(expected, jws.signature)
    try:
        if algorithm == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), _SHA256)
            return True
        if algorithm == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(_es256_der(jws.signature), jws.signing_input, ec.ECDSA(_SHA256))
            return True
    except InvalidSignature:
        return False
    return False  # an algorithm this key cannot do: never a match


def _es256_der(signature: bytes) -> bytes:
    # RFC 7518 §3.4: R || S, 32 bytes each; any other length cannot verify.
    if len(signature) != 2 * _ES256_SIZE:
        raise InvalidSignature
    r = int.from_bytes(signature[:_ES256_SIZE], "big")
    s = int.from_bytes(signature[_ES256_SIZE:], "big")
    return encode_dss_signature(r, s)


def sign(algorithm: str, key: PrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    head = b64url_encode(json.dumps({"alg": algorithm, **header}, separators=(",", ":")).encode())
    body = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode("ascii")
    if algorithm == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input, padding.PKCS1v15(), _SHA256)
    elif algorithm == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(_SHA256)))
        signature = r.to_bytes(_ES256_SIZE, "big") + s.to_bytes(_ES256_SIZE, "big")
    else:
        raise ValueError(f"cannot sign {algorithm} with a {type(key).__name__}")
    return f"{head}.{body}.{b64url_encode(signature)}"
