"""Keys from Key Vault through the real azure-identity and azure-keyvault-secrets clients,
against wire-level fakes over HTTPS on loopback."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import trustme

import function_app
from shared.jose.certificates import PEM, PKCS12, KeyMaterial, generate_self_signed, to_pem_secret, to_pkcs12_secret
from shared.jose.keys import KeyRefresher, KeyVersion
from tests.azure_fakes import FakeIdentityEndpoint, FakeKeyVault
from tests.conftest import START, Env, build_env
from tools.kestrel import stop
from tools.localhost import serve

SECRET = "JwtSigningCertificate"


@pytest.fixture(scope="module")
def materials() -> list[KeyMaterial]:
    return [generate_self_signed(f"IC signing {i}", START - dt.timedelta(days=30)) for i in range(3)]


@dataclass
class Azure:
    identity: FakeIdentityEndpoint
    vault: FakeKeyVault

    def requests(self) -> int:
        return self.identity.requests + self.vault.requests


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def azure(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Azure]:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    identity = FakeIdentityEndpoint(ca, lambda: dt.datetime.now(dt.UTC))
    vault = FakeKeyVault(ca, identity.token)
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity.endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", identity.header_secret)
    yield Azure(identity, vault)
    for fake in (identity, vault):
        with contextlib.suppress(OSError):  # already down
            fake.down()


def keyvault_env(tmp_path: Path, key_folder: Path, vault_url: str, **overrides: str) -> Env:
    return build_env(
        tmp_path,
        key_folder,
        keyvault_url=vault_url,
        keyvault_verify_challenge_resource="false",
        keyvault_retries="0",
        **overrides,
    )


def payer_kid(env: Env) -> str:
    token = env.exchange().json()["access_token"]
    return str(jwt.get_unverified_header(token)["kid"])


def test_a_pkcs12_certificate_signs_and_the_identity_asked_for_key_vault(
    azure: Azure, materials: list[KeyMaterial], tmp_path: Path, key_folder: Path
) -> None:
    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[0]), PKCS12, START - dt.timedelta(days=1))
    env = keyvault_env(tmp_path, key_folder, azure.vault.url)
    assert env.settings.key_source == "keyvault"
    assert payer_kid(env) == KeyVersion("x", materials[0], START).kid
    assert azure.identity.resources == ["https://vault.azure.net"]


def test_a_pem_certificate_loads_too(
    azure: Azure, materials: list[KeyMaterial], tmp_path: Path, key_folder: Path
) -> None:
    azure.vault.add_version(SECRET, to_pem_secret(materials[1]), PEM, START - dt.timedelta(days=1))
    env = keyvault_env(tmp_path, key_folder, azure.vault.url)
    assert payer_kid(env) == KeyVersion("x", materials[1], START).kid


def test_rotation_publishes_first_signs_after_the_overlap_and_retires_cleanly(
    azure: Azure, materials: list[KeyMaterial], tmp_path: Path, key_folder: Path
) -> None:
    old = azure.vault.add_version(SECRET, to_pkcs12_secret(materials[0]), PKCS12, START - dt.timedelta(days=1))
    env = keyvault_env(tmp_path, key_folder, azure.vault.url)
    old_kid, new_kid = (KeyVersion("x", m, START).kid for m in materials[:2])
    old_biller_jwt = env.mint()
    old_payer_jwt = env.exchange(old_biller_jwt).json()["access_token"]

    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[1]), PKCS12, env.clock.now())
    assert env.service.payer_keys.refresh()
    assert payer_kid(env) == old_kid  # published, not yet signing
    assert {k["kid"] for k in jwks(env)} == {old_kid, new_kid}

    env.clock.advance(env.settings.key_overlap + 1)
    env.service.payer_keys.refresh()
    assert payer_kid(env) == new_kid  # now it signs
    assert env.exchange(old_biller_jwt).status == 200  # old biller JWTs still verify
    assert verify_with_jwks(env, old_payer_jwt)  # and so do old payer JWTs

    old.enabled = False
    env.service.payer_keys.refresh()
    assert old_kid not in env.service.payer_keys.current().trusted
    assert old_kid in {k["kid"] for k in jwks(env)}  # until its last token expired
    env.clock.advance(env.settings.payer_token_lifetime + env.settings.leeway + 1)
    env.service.payer_keys.refresh()
    assert {k["kid"] for k in jwks(env)} == {new_kid}


def jwks(env: Env) -> list[dict[str, object]]:
    return list(env.call(function_app.jwks, "GET", ".well-known/jwks.json").json()["keys"])


def verify_with_jwks(env: Env, token: str) -> bool:
    key = jwt.PyJWKSet.from_dict({"keys": jwks(env)})[jwt.get_unverified_header(token)["kid"]]
    jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=env.settings.payer_audience,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    return True


def test_key_vault_down_after_start_keeps_serving_with_the_last_good_keys(
    azure: Azure,
    materials: list[KeyMaterial],
    tmp_path: Path,
    key_folder: Path,
    captured_logs: pytest.LogCaptureFixture,
) -> None:
    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[0]), PKCS12, START - dt.timedelta(days=1))
    env = keyvault_env(tmp_path, key_folder, azure.vault.url)
    assert env.exchange().status == 200
    azure.vault.down()
    assert env.service.payer_keys.refresh() is False
    assert env.exchange().status == 200
    health = env.call(function_app.health, "GET", "api/health")
    assert (health.status, health.json()) == (200, {"status": "ok"})  # it can still serve: nothing more to say
    assert "cannot be reached" in env.service.health_detail()["keys"]["payer"]["lastRefreshError"]  # the CLI's view
    (event,) = [
        r
        for r in captured_logs.records
        if getattr(r, "event", None) == "dependency_state" and getattr(r, "state", None) == "failed"
    ]
    fields = vars(event)
    assert "cannot be reached" in fields["error"] and fields["previous_state"] == "ok" and fields["serving"] == "yes"


def test_key_vault_down_at_start_is_503_naming_only_the_key_store(
    azure: Azure, tmp_path: Path, key_folder: Path, captured_logs: pytest.LogCaptureFixture
) -> None:
    url = azure.vault.url
    azure.vault.down()
    env = keyvault_env(tmp_path, key_folder, url)
    answer = env.exchange("any.biller.jwt")
    assert answer.status == 503 and answer.header("Retry-After")
    body = answer.json()
    assert body["error"] == "temporarily_unavailable"
    assert body["error_description"] == "the key store is unavailable"
    assert SECRET in captured_logs.text and url in captured_logs.text  # the operator reads the specifics there
    health = env.call(function_app.health, "GET", "api/health")
    assert (health.status, health.json()) == (503, {"status": "degraded"})


def test_the_identity_endpoint_refusing_is_logged_not_told(
    azure: Azure,
    materials: list[KeyMaterial],
    tmp_path: Path,
    key_folder: Path,
    captured_logs: pytest.LogCaptureFixture,
) -> None:
    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[0]), PKCS12, START - dt.timedelta(days=1))
    azure.identity.refuse = True
    env = keyvault_env(tmp_path, key_folder, azure.vault.url)
    answer = env.exchange("any.biller.jwt")
    assert answer.status == 503
    assert answer.json()["error_description"] == "the key store is unavailable"
    assert "managed identity could not get a token" in captured_logs.text


def test_a_missing_secret_is_named_in_the_log_not_to_the_caller(
    azure: Azure, tmp_path: Path, key_folder: Path, captured_logs: pytest.LogCaptureFixture
) -> None:
    env = keyvault_env(tmp_path, key_folder, azure.vault.url, ic_secret_name="NoSuchSecret")
    description = env.exchange("a.b.c").json()["error_description"]
    assert description == "the key store is unavailable"
    assert "'NoSuchSecret'" in captured_logs.text and "does not exist" in captured_logs.text


def test_separate_secrets_verify_biller_jwts_and_sign_payer_jwts(
    azure: Azure, materials: list[KeyMaterial], tmp_path: Path, key_folder: Path
) -> None:
    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[0]), PKCS12, START - dt.timedelta(days=1))
    azure.vault.add_version("PayerSigning", to_pem_secret(materials[2]), PEM, START - dt.timedelta(days=1))
    env = keyvault_env(tmp_path, key_folder, azure.vault.url, payer_secret_name="PayerSigning")
    assert payer_kid(env) == KeyVersion("x", materials[2], START).kid
    assert {k["kid"] for k in jwks(env)} == {KeyVersion("x", materials[2], START).kid}


def test_a_thousand_warm_exchanges_make_no_call_to_key_vault_or_the_identity_endpoint(
    azure: Azure, materials: list[KeyMaterial], tmp_path: Path, key_folder: Path
) -> None:
    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[0]), PKCS12, START - dt.timedelta(days=1))
    env = keyvault_env(tmp_path, key_folder, azure.vault.url)
    token = env.mint()
    assert env.exchange(token).status == 200
    before = azure.requests()
    assert before > 0
    assert all(env.exchange(token).status == 200 for _ in range(1000))
    assert azure.requests() == before


def test_the_background_refresher_picks_up_a_new_version(
    azure: Azure, materials: list[KeyMaterial], tmp_path: Path, key_folder: Path
) -> None:
    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[0]), PKCS12, START - dt.timedelta(days=1))
    env = keyvault_env(tmp_path, key_folder, azure.vault.url)
    ring = env.service.payer_keys
    ring.current()
    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[1]), PKCS12, START)
    refresher = KeyRefresher([ring], interval=0.05)
    refresher.start()
    deadline = time.monotonic() + 10
    while len(ring.current().published) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    refresher.stop()
    assert len(ring.current().published) == 2


def test_pyjwkclient_at_the_served_jwks_uri_verifies_a_fresh_payer_jwt(tmp_path: Path, key_folder: Path) -> None:
    server = serve("127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        env = build_env(tmp_path, key_folder, public_base_url=base, payer_issuer=base)
        discovery = json.loads(
            env.call(function_app.openid_configuration, "GET", ".well-known/openid-configuration").body
        )
        token = env.exchange().json()["access_token"]
        client = jwt.PyJWKClient(discovery["jwks_uri"])
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=discovery["id_token_signing_alg_values_supported"],
            audience=env.settings.payer_audience,
            issuer=discovery["issuer"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        assert claims["urn:invoicecloud:usertype"] == "payer"
    finally:
        stop(server)


def test_an_hs256_tenant_secret_is_read_from_key_vault_by_name(
    azure: Azure, materials: list[KeyMaterial], tmp_path: Path, key_folder: Path
) -> None:
    import base64
    import secrets

    from shared.tenants.registry import Tenant

    azure.vault.add_version(SECRET, to_pkcs12_secret(materials[0]), PKCS12, START - dt.timedelta(days=1))
    shared_secret = secrets.token_bytes(32)
    azure.vault.add_version("tenant-acme", base64.b64encode(shared_secret).decode(), "", START)
    env = keyvault_env(tmp_path, key_folder, azure.vault.url)
    env.service.tenants.add(
        Tenant(
            "ACME", "portal", "HS256", "https://acme.example/", ("https://acme.example",), secret_name="tenant-acme"
        ),
        development=True,
    )
    now = int(START.timestamp())
    token = jwt.encode(
        {"iss": "ACME", "aud": "portal", "exp": now + 60, "userId": "u1"}, shared_secret, algorithm="HS256"
    )
    answer = env.call(function_app.tenant_login, "GET", f"api/tenant/login?token={token}")
    assert answer.status == 303 and answer.header("Location") == "https://acme.example/"
