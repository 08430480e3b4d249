"""Wire-level fakes of the App Service managed identity endpoint and the Key Vault secrets REST API.

Both serve HTTPS on loopback with a certificate from a test CA (trustme), so the
real ``ManagedIdentityCredential`` and ``SecretClient`` talk to them exactly as
they talk to Azure: the 401 challenge, the token request with
``X-IDENTITY-HEADER``, the versions listing with ``nextLink`` paging.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


class HttpsFake:
    """A threaded HTTPS server on 127.0.0.1 that counts requests and can be taken down."""

    def __init__(self, ca: trustme.CA) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if fake.is_down:  # a connection kept alive from before: drop it unanswered
                    self.close_connection = True
                    return
                fake.requests += 1
                status, headers, body = fake.answer(self.command, self.path, dict(self.headers.items()))
                payload = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.requests = 0
        self.is_down = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        # a short poll: shutdown() waits for the loop to notice, up to a poll interval, in every test's teardown
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def down(self) -> None:
        self.is_down = True
        self.server.shutdown()
        self.server.server_close()


class FakeIdentityEndpoint(HttpsFake):
    """``IDENTITY_ENDPOINT`` of App Service / Functions (api-version 2019-08-01)."""

    def __init__(self, ca: trustme.CA, now: Callable[[], dt.datetime]) -> None:
        self.header_secret = secrets.token_hex(8)
        self.token = "fake-access-token-" + secrets.token_hex(8)
        self.refuse = False
        self.now = now
        self.resources: list[str] = []
        super().__init__(ca)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/msi/token"

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        query = parse_qs(urlsplit(path).query)
        if self.refuse or headers.get("X-IDENTITY-HEADER") != self.header_secret:
            return 400, {}, {"statusCode": 400, "message": "Unable to load the proper Managed Identity."}
        resource = query["resource"][0]
        self.resources.append(resource)
        expires = int(self.now().timestamp()) + 86_400
        return (
            200,
            {},
            {
                "access_token": self.token,
                "expires_on": str(expires),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": "00000000-0000-0000-0000-000000000001",
            },
        )


@dataclass
class SecretVersion:
    version: str
    value: str
    content_type: str
    created: dt.datetime
    enabled: bool = True
    expires: dt.datetime | None = None


@dataclass
class FakeSecret:
    versions: list[SecretVersion] = field(default_factory=list)


class FakeKeyVault(HttpsFake):
    """The secrets part of the Key Vault REST API, behind the bearer challenge."""

    page_size = 1  # small, so the client must follow nextLink

    def __init__(self, ca: trustme.CA, access_token: str) -> None:
        self.access_token = access_token
        self.secrets: dict[str, FakeSecret] = {}
        super().__init__(ca)

    def add_version(self, name: str, value: str, content_type: str, created: dt.datetime) -> SecretVersion:
        version = SecretVersion(secrets.token_hex(16), value, content_type, created)
        self.secrets.setdefault(name, FakeSecret()).versions.append(version)
        return version

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if headers.get("Authorization") != f"Bearer {self.access_token}":
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="https://vault.azure.net"'
            )
            return (
                401,
                {"WWW-Authenticate": challenge},
                {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer"}},
            )
        parts = urlsplit(path)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 2 or segments[0] != "secrets" or segments[1] not in self.secrets:
            return 404, {}, {"error": {"code": "SecretNotFound", "message": "A secret with (name/id) was not found"}}
        secret = self.secrets[segments[1]]
        if len(segments) == 3 and segments[2] == "versions":
            skip = int(parse_qs(parts.query).get("$skiptoken", ["0"])[0])
            page = secret.versions[skip : skip + self.page_size]
            rest = skip + self.page_size < len(secret.versions)
            next_link = (
                f"{self.url}/secrets/{segments[1]}/versions?api-version=7.6&$skiptoken={skip + self.page_size}"
                if rest
                else None
            )
            return 200, {}, {"value": [self._properties(segments[1], v) for v in page], "nextLink": next_link}
        version = self._find(secret, segments[2] if len(segments) == 3 else None)
        if version is None:
            return 404, {}, {"error": {"code": "SecretNotFound", "message": "version not found"}}
        if not version.enabled:
            return (
                403,
                {},
                {
                    "error": {
                        "code": "Forbidden",
                        "message": "Operation get is not allowed on a disabled secret.",
                        "innererror": {"code": "SecretDisabled"},
                    }
                },
            )
        return 200, {}, {**self._properties(segments[1], version), "value": version.value}

    def _find(self, secret: FakeSecret, version: str | None) -> SecretVersion | None:
        if version is None:
            enabled = [v for v in secret.versions if v.enabled]
            return max(enabled, key=lambda v: v.created) if enabled else None
        return next((v for v in secret.versions if v.version == version), None)

    def _properties(self, name: str, v: SecretVersion) -> dict[str, Any]:
        created = int(v.created.timestamp())
        attributes: dict[str, Any] = {
            "enabled": v.enabled,
            "created": created,
            "updated": created,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        }
        if v.expires:
            attributes["exp"] = int(v.expires.timestamp())
        return {
            "id": f"{self.url}/secrets/{name}/{v.version}",
            "contentType": v.content_type,
            "managed": True,
            "kid": f"{self.url}/keys/{name}/{v.version}",
            "attributes": attributes,
            "tags": {},
        }
