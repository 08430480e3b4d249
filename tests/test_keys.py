"""Key material, kid thumbprints, the key ring's choice of signer and what it publishes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import ConfigurationError, KeyStoreUnavailable
from shared.jose.certificates import (
    PEM,
    PKCS12,
    KeyMaterial,
    generate_self_signed,
    parse_secret,
    to_pem_secret,
    to_pkcs12_secret,
)
from shared.jose.keys import KeyRing, KeyVersion
from shared.keystores.local import LocalKeySource
from tests.conftest import START


class ListSource:
    description = "a list"

    def __init__(self, versions: list[KeyVersion]) -> None:
        self.versions = versions
        self.fail = False

    def load(self) -> list[KeyVersion]:
        if self.fail:
            raise KeyStoreUnavailable("the list is down")
        return list(self.versions)


@pytest.fixture(scope="module")
def materials() -> list[KeyMaterial]:
    return [generate_self_signed(f"k{i}", START - dt.timedelta(days=10)) for i in range(3)]


def test_local_keys_are_generated_once_in_both_key_vault_formats(tmp_path: Path) -> None:
    source = LocalKeySource(tmp_path, lambda: START)
    (first,) = source.load()
    files = sorted(p.suffix for p in tmp_path.iterdir())
    assert files == [".pem", ".pkcs12"]
    assert (tmp_path / f"{first.version}.pkcs12").stat().st_mode & 0o077 == 0
    from_pem = parse_secret((tmp_path / f"{first.version}.pem").read_text(), PEM, name="pem")
    from_pfx = parse_secret((tmp_path / f"{first.version}.pkcs12").read_text(), PKCS12, name="pfx")
    assert isinstance(from_pfx.private_key, rsa.RSAPrivateKey) and from_pfx.private_key.key_size == 2048
    assert from_pem.certificates[0] == from_pfx.certificates[0]
    assert [v.kid for v in source.load()] == [first.kid]  # not regenerated


def test_kid_is_the_rfc7638_thumbprint(materials: list[KeyMaterial]) -> None:
    version = KeyVersion("v1", materials[0], START)
    numbers = materials[0].private_key.public_key().public_numbers()
    assert isinstance(numbers, rsa.RSAPublicNumbers)

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    canonical = f'{{"e":"{b64(numbers.e)}","kty":"RSA","n":"{b64(numbers.n)}"}}'
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert version.kid == expected


def test_pem_blocks_are_read_in_any_order(materials: list[KeyMaterial]) -> None:
    pem = to_pem_secret(materials[0])
    key_end = pem.index("-----END PRIVATE KEY-----") + len("-----END PRIVATE KEY-----\n")
    reordered = pem[key_end:] + pem[:key_end]
    assert parse_secret(reordered, PEM, name="x").certificates == materials[0].certificates


def test_a_secret_without_a_private_key_says_to_make_it_exportable(materials: list[KeyMaterial]) -> None:
    certificate_only = to_pem_secret(materials[0]).split("-----END PRIVATE KEY-----\n")[1]
    with pytest.raises(ConfigurationError, match="exportable"):
        parse_secret(certificate_only, PEM, name="JwtSigningCertificate")


def test_a_short_rsa_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = weak.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ConfigurationError, match="2048"):
        parse_secret(pem, PEM, name="weak")


def test_garbage_pkcs12_names_the_secret_not_its_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_secret("bm90IGEgcGZ4", PKCS12, name="JwtSigningCertificate")
    assert "JwtSigningCertificate" in caught.value.description and "bm90" not in caught.value.description


def test_a_new_version_signs_only_after_the_overlap_and_old_tokens_still_verify(materials: list[KeyMaterial]) -> None:
    now = [START]
    old = KeyVersion("old", materials[0], START - dt.timedelta(days=5))
    source = ListSource([old])
    ring = KeyRing(source, lambda: now[0], overlap=dt.timedelta(hours=2))
    assert ring.current().signer.kid == old.kid
    new = KeyVersion("new", materials[1], START)
    source.versions.append(new)
    ring.refresh()
    keyset = ring.current()
    assert keyset.signer.kid == old.kid  # not yet: consumers may not have it
    assert {v.kid for v in keyset.published} == {old.kid, new.kid}  # but it is published now
    now[0] = START + dt.timedelta(hours=2, seconds=1)
    ring.refresh()
    assert ring.current().signer.kid == new.kid
    assert old.kid in ring.current().trusted


def test_a_version_that_leaves_stays_published_until_its_tokens_expire(materials: list[KeyMaterial]) -> None:
    now = [START]
    old = KeyVersion("old", materials[0], START - dt.timedelta(days=5))
    new = KeyVersion("new", materials[1], START - dt.timedelta(days=1))
    source = ListSource([old, new])
    ring = KeyRing(source, lambda: now[0], retention=dt.timedelta(minutes=16))
    ring.refresh()
    source.versions = [new]  # old disabled
    ring.refresh()
    assert old.kid not in ring.current().trusted
    assert old.kid in {v.kid for v in ring.current().published}
    now[0] += dt.timedelta(minutes=17)
    ring.refresh()
    assert old.kid not in {v.kid for v in ring.current().published}


def test_a_failed_refresh_keeps_the_last_good_keys(materials: list[KeyMaterial]) -> None:
    source = ListSource([KeyVersion("v", materials[0], START)])
    ring = KeyRing(source, lambda: START)
    kid = ring.current().signer.kid
    source.fail = True
    assert ring.refresh() is False
    assert ring.current().signer.kid == kid and ring.last_error == "the list is down"


def test_no_keys_at_all_is_key_store_unavailable(materials: list[KeyMaterial]) -> None:
    source = ListSource([])
    source.fail = True
    with pytest.raises(KeyStoreUnavailable, match="the list is down"):
        KeyRing(source, lambda: START).current()


def test_jwks_carries_public_parts_and_certificates_only(materials: list[KeyMaterial]) -> None:
    ring = KeyRing(ListSource([KeyVersion("v", materials[0], START)]), lambda: START)
    (key,) = json.loads(ring.current().jwks_body)["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "use", "alg", "x5c", "x5t#S256"}
    assert key["use"] == "sig" and key["alg"] == "RS256"


def test_disabled_and_expired_versions_are_not_trusted(materials: list[KeyMaterial]) -> None:
    disabled = KeyVersion("d", materials[0], START - dt.timedelta(days=3), enabled=False)
    expired = KeyVersion("e", materials[1], START - dt.timedelta(days=3), expires=START - dt.timedelta(seconds=1))
    live = KeyVersion("l", materials[2], START - dt.timedelta(days=3))
    ring = KeyRing(ListSource([disabled, expired, live]), lambda: START)
    assert set(ring.current().trusted) == {live.kid}


def test_pkcs12_round_trip_keeps_the_chain(materials: list[KeyMaterial]) -> None:
    assert parse_secret(to_pkcs12_secret(materials[0]), PKCS12, name="x").certificates == materials[0].certificates


class SlowSource:
    """A key source whose first load waits until the test lets it finish (a cold Key Vault)."""

    description = "a slow source"

    def __init__(self, versions: list[KeyVersion]) -> None:
        self.versions = versions
        self.loading = threading.Event()
        self.release = threading.Event()
        self.loads = 0

    def load(self) -> list[KeyVersion]:
        self.loads += 1
        self.loading.set()
        self.release.wait(timeout=30)
        return list(self.versions)


def test_concurrent_first_callers_wait_for_the_load_in_flight(materials: list[KeyMaterial]) -> None:
    source = SlowSource([KeyVersion("v", materials[0], START)])
    ring = KeyRing(source, lambda: START)
    outcomes: list[object] = []

    def first_request() -> None:
        try:
            outcomes.append(ring.current().signer.kid)
        except KeyStoreUnavailable as exc:
            outcomes.append(exc)

    loader = threading.Thread(target=first_request)
    loader.start()
    assert source.loading.wait(timeout=30)
    others = [threading.Thread(target=first_request) for _ in range(4)]
    for thread in others:
        thread.start()
    for thread in others:  # without the wait they fail at once with 503; with it they are still waiting
        thread.join(timeout=0.1)
    source.release.set()
    for thread in [loader, *others]:
        thread.join(timeout=30)
    assert outcomes == [KeyVersion("v", materials[0], START).kid] * 5
    assert source.loads == 1


def test_callers_that_waited_for_a_failed_first_load_fail_with_its_reason(materials: list[KeyMaterial]) -> None:
    source = SlowSource([])
    source.release.set()
    ring = KeyRing(source, lambda: START)
    with pytest.raises(KeyStoreUnavailable, match="no enabled, unexpired key version"):
        ring.current()
    with pytest.raises(KeyStoreUnavailable, match="no enabled, unexpired key version"):
        ring.current()  # within cold_retry: no second load
    assert source.loads == 1
