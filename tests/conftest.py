"""Fixtures: a service on temporary SQLite databases and an injected clock, driven
through the real function handlers and the platform's response encoding."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.functions as func
import pytest
import trustme

import function_app
from shared.app import PayerAuth
from shared.billers.directory import Actor
from shared.keystores.local import LocalKeySource
from shared.settings import Settings
from shared.storage.schema import create_schema
from shared.web import edge
from tools.demo_site import DEMO_BILLER_GUID
from tools.functions_host import encode_response

if TYPE_CHECKING:
    from tests.tenant_keys import JwksServer

START = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)
DEMO_DOMAIN = "127.0.0.1:8080"
DEMO_ORIGIN = "http://127.0.0.1:8080"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


@dataclass
class Clock:
    """Wall clock and monotonic clock that move together, only when told."""

    current: dt.datetime = START
    mono: float = 1000.0

    def now(self) -> dt.datetime:
        return self.current

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.current += dt.timedelta(seconds=seconds)
        self.mono += seconds


@dataclass
class Answer:
    """What the browser gets for a function's response: as the host writes it, through the edge."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Env:
    service: PayerAuth
    clock: Clock
    settings: Settings
    tmp: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def mint(
        self,
        domain: str = DEMO_DOMAIN,
        *,
        guid: str = DEMO_BILLER_GUID,
        expires_in: int | None = None,
        extra: dict[str, Any] | None = None,
        record: bool = True,
    ) -> str:
        minted = self.service.biller_tokens.mint(
            guid, domain, Actor(sub="test"), expires_in=expires_in, extra=extra, record=record
        )
        return minted.token

    def call(
        self,
        function: Any,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        route: Mapping[str, str] | None = None,
    ) -> Answer:
        request = func.HttpRequest(
            method=method,
            url=f"http://localhost:7071/{path}",
            headers=dict(headers or {}),
            params=dict(parse_qsl(urlsplit(path).query)),
            route_params=dict(route or {}),
            body=body,
        )
        status, out_headers, out_body = encode_response(function(request))
        return Answer(status, edge.response_headers(out_headers, self.settings.cookie_name), out_body)

    def exchange(
        self,
        token: str | None = None,
        *,
        origin: str | None = DEMO_ORIGIN,
        delivery: str | None = None,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        as_json: bool = False,
    ) -> Answer:
        data = (
            dict(fields)
            if fields is not None
            else {"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": token or self.mint()}
        )
        if delivery:
            data["token_delivery"] = delivery
        sent = {"Content-Type": "application/json" if as_json else "application/x-www-form-urlencoded"}
        if origin is not None:
            sent["Origin"] = origin
        sent.update(headers or {})
        body = json.dumps(data).encode() if as_json else urlencode(data).encode()
        return self.call(function_app.payer_token, "POST", "api/payer/token", body=body, headers=sent)


@pytest.fixture(scope="session")
def key_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated development key for the whole run (RSA generation is slow)."""
    folder = tmp_path_factory.mktemp("keys")
    LocalKeySource(folder, lambda: START - dt.timedelta(days=1)).add_version()
    return folder


def make_settings(tmp: Path, **overrides: str) -> Settings:
    values = {
        "PAYERAUTH_LOCAL_DIR": str(tmp),
        "PAYERAUTH_MASTER_DB": f"sqlite:{tmp / 'master.db'}",
        "PAYERAUTH_SHARD_DBS": json.dumps({"shard01": f"sqlite:{tmp / 'shard01.db'}"}),
    }
    values.update({f"PAYERAUTH_{k.upper()}": v for k, v in overrides.items()})
    return Settings.from_env(values)


def build_env(tmp: Path, key_folder: Path, **overrides: str) -> Env:
    shutil.copytree(key_folder, tmp / "keys", dirs_exist_ok=True)
    clock = Clock()
    settings = make_settings(tmp, **overrides)
    service = PayerAuth.from_settings(settings, now=clock.now, monotonic=clock.monotonic)
    create_schema(service.directory.master, "master")
    for shard in service.directory.shards.values():
        create_schema(shard, "shard")
    service.directory.add_biller(DEMO_BILLER_GUID, "Demo Biller", DEMO_DOMAIN, "shard01")
    function_app.install(service)
    return Env(service, clock, settings, tmp)


@pytest.fixture
def env(tmp_path: Path, key_folder: Path) -> Iterator[Env]:
    yield build_env(tmp_path, key_folder)


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def tenant_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """A test CA that this process's TLS clients trust (``SSL_CERT_FILE``), as a tenant's public CA would be."""
    ca = trustme.CA()
    bundle = tmp_path / "tenant-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return ca


@pytest.fixture
def jwks_server(tenant_ca: trustme.CA) -> Iterator[JwksServer]:
    from tests.tenant_keys import JwksServer  # its keys are generated on import: only for the tests that use them

    server = JwksServer(tenant_ca)
    yield server
    if not server.is_down:
        server.down()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so fixtures can act on failure (screenshots)."""
    outcome = yield
    setattr(item, f"report_{call.when}", outcome.get_result())  # type: ignore[attr-defined]
