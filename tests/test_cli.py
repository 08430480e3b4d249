"""The command-line tool, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from tools.demo_site import DEMO_BILLER_GUID

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "PAYERAUTH_LOCAL_DIR": str(tmp_path / ".local"),
        "PAYERAUTH_MASTER_DB": f"sqlite:{tmp_path / '.local' / 'master.db'}",
        "PAYERAUTH_SHARD_DBS": json.dumps({"shard01": f"sqlite:{tmp_path / '.local' / 'shard01.db'}"}),
    }

    def run(*args: str, ok: bool = True, **extra_env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "tools.cli", *args],
            cwd=ROOT,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode == 0) == ok, done.stderr
        return done

    return run


def test_init_prints_a_ready_biller_jwt_and_a_curl(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("init")
    token = done.stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == DEMO_BILLER_GUID and claims["domain"] == "127.0.0.1:8080"
    assert "curl" in done.stderr and "Origin: http://127.0.0.1:8080" in done.stderr
    assert cli("init").returncode == 0  # idempotent


def test_billers_and_tokens_are_added_minted_listed_and_revoked(cli) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    guid = cli("biller", "add", "--name", "Water Co", "--domain", "pay.water.example").stdout.strip()
    assert guid in cli("biller", "list").stdout
    token = cli("token", "mint", "--biller", guid, "--expires-in", "3600", "--claim", "extra=[1,2]").stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600 and claims["extra"] == [1, 2]
    assert claims["domain"] == "pay.water.example"
    rows = [json.loads(line) for line in cli("token", "list", "--biller", guid).stdout.splitlines()]
    assert [r["jti"] for r in rows] == [claims["jti"]] and rows[0]["active"]
    assert token not in cli("token", "list", "--biller", guid).stdout
    cli("token", "revoke", "--biller", guid, claims["jti"])
    assert not json.loads(cli("token", "list", "--biller", guid).stdout)["active"]


def test_errors_are_one_clear_line(cli) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    done = cli("token", "mint", "--biller", "00000000-0000-0000-0000-000000000000", ok=False)
    assert done.stderr.strip() == "error: no biller with GUID '00000000-0000-0000-0000-000000000000'"
    done = cli("biller", "add", "--name", "x", "--domain", "https://x.example", ok=False)
    assert "domain must be a host" in done.stderr


def test_tenants_are_registered_listed_and_removed(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import base64

    cli("init")
    secret = tmp_path / "secret.b64"
    secret.write_text(base64.b64encode(b"s" * 32).decode())
    cli(
        "tenant",
        "add",
        "--id",
        "ACME",
        "--audience",
        "MondiaPortal",
        "--return-url",
        "https://acme.example/home",
        "--frame-ancestor",
        "https://acme.example",
        "--hs256-secret-file",
        str(secret),
    )
    (row,) = [json.loads(line) for line in cli("tenant", "list").stdout.splitlines()]
    assert row["tenantId"] == "ACME" and row["algorithm"] == "HS256" and row["secretName"] == "tenant-ACME"
    assert base64.b64encode(b"s" * 32).decode() not in cli("tenant", "list").stdout
    short = tmp_path / "short.b64"
    short.write_text(base64.b64encode(b"s" * 16).decode())
    done = cli(
        "tenant",
        "add",
        "--id",
        "WEAK",
        "--audience",
        "a",
        "--return-url",
        "https://w.example/",
        "--frame-ancestor",
        "https://w.example",
        "--hs256-secret-file",
        str(short),
        ok=False,
    )
    assert "16 bytes; HS256 needs at least 32" in done.stderr
    cli("tenant", "remove", "ACME")
    assert cli("tenant", "list").stdout == ""


def test_init_twice_reuses_the_demo_biller_jwt_and_a_new_domain_revokes_it(cli) -> None:  # type: ignore[no-untyped-def]
    first = cli("init").stdout.strip()
    assert cli("init").stdout.strip() == first
    rows = [json.loads(line) for line in cli("token", "list", "--biller", DEMO_BILLER_GUID).stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["active"]
    moved = cli("init", "--domain", "127.0.0.1:8081").stdout.strip()
    assert moved != first
    rows = [json.loads(line) for line in cli("token", "list", "--biller", DEMO_BILLER_GUID).stdout.splitlines()]
    assert sorted((r["domain"], r["active"]) for r in rows) == [("127.0.0.1:8080", False), ("127.0.0.1:8081", True)]


def test_revoke_and_rotate_say_when_running_instances_see_them(cli) -> None:  # type: ignore[no-untyped-def]
    token = cli("init").stdout.strip()
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    done = cli("token", "revoke", "--biller", DEMO_BILLER_GUID, jti)
    assert "exchanges with it stop within 60 s" in done.stderr
    done = cli("keys", "rotate")
    assert "publish it in the JWKS within 300 s" in done.stderr and "sign with it 7200 s after that" in done.stderr


def test_a_dev_tenant_mints_a_login_token_the_login_route_accepts(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import function_app
    from shared.app import PayerAuth
    from tests.conftest import Env, make_settings

    cli("init")
    cli("tenant", "dev-add", "--id", "DEVCO")
    done = cli("tenant", "mint", "--id", "DEVCO", "--email", "pat@example.com")
    token = done.stdout.strip()
    assert f"/api/tenant/login?token={token}" in done.stderr
    settings = make_settings(tmp_path / ".local")
    service = PayerAuth.from_settings(settings)
    function_app.install(service)
    env = Env(service, None, settings, tmp_path)  # type: ignore[arg-type]
    answer = env.call(function_app.tenant_login, "GET", f"api/tenant/login?token={token}")
    assert answer.status == 303 and answer.header("Location") == "http://127.0.0.1:8080/"
    assert any(c.startswith("__Host-") for c in answer.cookies())


def test_dev_tenants_are_refused_outside_development() -> None:
    # Production settings cannot be built from local defaults at all; the commands refuse on their own too.
    from types import SimpleNamespace

    from tools.cli import cmd_tenant_dev_add, cmd_tenant_mint

    production = SimpleNamespace(settings=SimpleNamespace(development=False, environment="production"))
    for command in (cmd_tenant_dev_add, cmd_tenant_mint):
        with pytest.raises(SystemExit, match="development only"):
            command(production, SimpleNamespace(id="DEVCO"))  # type: ignore[arg-type]


def test_health_shows_the_detail_the_http_route_keeps_to_itself(cli) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    report = json.loads(cli("health").stdout)
    assert report["status"] == "ok" and report["databases"] == {"Master": "ok", "shard shard01": "ok"}
    assert report["keys"]["payer"]["signingKid"] and report["keys"]["payer"]["lastRefreshError"] is None
