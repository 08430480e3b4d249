"""The two formats of a Key Vault certificate's backing secret, both ways.

Key Vault stores a certificate's private key and chain as a secret whose
``contentType`` is ``application/x-pkcs12`` (the value is base64 of a PFX with
a blank password) or ``application/x-pem-file`` (key and certificates as PEM
blocks, in an order we do not assume).  The local key source writes the same
values, so one parser serves both.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from shared.errors import ConfigurationError

PKCS12 = "application/x-pkcs12"
PEM = "application/x-pem-file"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class KeyMaterial:
    private_key: PrivateKey
    certificates: tuple[x509.Certificate, ...]  # leaf first

    @property
    def not_after(self) -> dt.datetime | None:
        return self.certificates[0].not_valid_after_utc if self.certificates else None

    @property
    def not_before(self) -> dt.datetime | None:
        return self.certificates[0].not_valid_before_utc if self.certificates else None


def parse_secret(value: str, content_type: str | None, *, name: str) -> KeyMaterial:
    """Parse a backing secret; ``name`` only labels errors (never the value)."""
    if content_type == PEM or (content_type is None and "-----BEGIN" in value):
        return _parse_pem(value, name)
    if content_type in (PKCS12, None):
        return _parse_pkcs12(value, name)
    raise ConfigurationError(
        f"secret {name!r} has content type {content_type!r}; expected {PKCS12} or {PEM} "
        "(the backing secret of a Key Vault certificate)"
    )


def _parse_pkcs12(value: str, name: str) -> KeyMaterial:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(value, validate=True), None)
    except (ValueError, binascii.Error) as exc:
        raise ConfigurationError(f"secret {name!r} is not a base64 PKCS#12 file with a blank password") from exc
    chain = tuple(c for c in (cert, *extra) if c is not None)
    return _material(key, chain, name)


def _parse_pem(value: str, name: str) -> KeyMaterial:
    data = value.encode()
    key_block = _pem_blocks(data, b"PRIVATE KEY")
    if not key_block:
        raise ConfigurationError(
            f"secret {name!r} holds no private key: make the certificate's key exportable in Key Vault"
        )
    try:
        key = serialization.load_pem_private_key(key_block[0], None)
        certificates = x509.load_pem_x509_certificates(data) if b"CERTIFICATE-----" in data else []
    except ValueError as exc:
        raise ConfigurationError(f"secret {name!r} is not a readable PEM key and certificate chain") from exc
    return _material(key, _leaf_first(key, certificates), name)


def _pem_blocks(data: bytes, label_suffix: bytes) -> list[bytes]:
    blocks = []
    for chunk in data.split(b"-----BEGIN ")[1:]:
        label = chunk.split(b"-----", 1)[0]
        if label.endswith(label_suffix):
            end = chunk.index(b"-----END ")
            tail = chunk.index(b"-----", end + 9) + 5
            blocks.append(b"-----BEGIN " + chunk[:tail])
    return blocks


def _leaf_first(key: object, certificates: list[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return tuple(certificates)  # _material refuses the key with a clear message
    public = _spki(key.public_key())
    leaf = [c for c in certificates if _spki(c.public_key()) == public]
    return tuple(leaf + [c for c in certificates if c not in leaf])


def _spki(public_key: object) -> bytes:
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return b""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _material(key: object, chain: tuple[x509.Certificate, ...], name: str) -> KeyMaterial:
    if key is None:
        raise ConfigurationError(
            f"secret {name!r} holds no private key: make the certificate's key exportable in Key Vault"
        )
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ConfigurationError(f"secret {name!r} holds an RSA key of {key.key_size} bits; 2048 is the minimum")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigurationError(f"secret {name!r} holds an EC key on {key.curve.name}; only P-256 is supported")
    else:
        raise ConfigurationError(f"secret {name!r} holds a {type(key).__name__}; expected RSA or EC P-256")
    return KeyMaterial(key, chain)


def generate_self_signed(
    common_name: str, now: dt.datetime, *, days: int = 825, algorithm: str = "RS256"
) -> KeyMaterial:
    key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return KeyMaterial(key, (cert,))


def to_pkcs12_secret(material: KeyMaterial) -> str:
    leaf, *cas = material.certificates
    pfx = pkcs12.serialize_key_and_certificates(
        None, material.private_key, leaf, cas or None, serialization.NoEncryption()
    )
    return base64.b64encode(pfx).decode()


def to_pem_secret(material: KeyMaterial) -> str:
    key = material.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    certs = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in material.certificates)
    return (key + certs).decode()
