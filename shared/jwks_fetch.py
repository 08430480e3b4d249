"""Fetching a tenant's JWKS without letting the URL reach where it should not.

* https only; plain http only for a loopback host in development;
* the host is resolved once, every address is checked (no private, loopback,
  link-local, multicast or reserved address unless the host is allow-listed),
  and the connection goes to the checked address, so a DNS answer cannot
  change between the check and the connect;
* timeouts on connect and read, a size cap, redirects only to the same host
  (at most two), JSON with RSA keys of at least 2048 bits only.

``TenantJwks`` caches one tenant's key set with a TTL, refetches on an unknown
``kid`` at most once per interval, and keeps the last good set when the URL
fails.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from . import jws
from .errors import PayerAuthError, TemporarilyUnavailable
from .settings import LOOPBACK_HOSTS

log = logging.getLogger("payerauth." + __name__.rsplit(".", 1)[-1])

MAX_JWKS_BYTES = 64 * 1024
TIMEOUT_SECONDS = 3.0
MAX_REDIRECTS = 2


class JwksFetchError(TemporarilyUnavailable):
    default_reason = "tenant_jwks_unavailable"


@dataclass(frozen=True)
class FetchPolicy:
    allow_http_loopback: bool
    allowed_hosts: frozenset[str]  # hosts that may resolve to private addresses (e.g. in a VNet)
    timeout: float = TIMEOUT_SECONDS
    max_bytes: int = MAX_JWKS_BYTES


def fetch_jwks(url: str, policy: FetchPolicy) -> dict[str | None, rsa.RSAPublicKey]:
    """GET the JWKS at ``url`` under ``policy``: its RSA signing keys by ``kid`` (None when absent)."""
    for _ in range(MAX_REDIRECTS + 1):
        status, location, body = _get(url, policy)
        if status in (301, 302, 303, 307, 308) and location:
            target = urljoin(url, location)
            if urlsplit(target).hostname != urlsplit(url).hostname:
                raise JwksFetchError(f"the JWKS URL redirects to another host ({urlsplit(target).hostname})")
            url = target
            continue
        if status != 200:
            raise JwksFetchError(f"the JWKS URL answered HTTP {status}")
        return _parse_keys(body)
    raise JwksFetchError("the JWKS URL redirects too often")


def _get(url: str, policy: FetchPolicy) -> tuple[int, str | None, bytes]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host in LOOPBACK_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback and policy.allow_http_loopback):
        raise JwksFetchError("the JWKS URL must use https")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _checked_address(host, port, policy, loopback)
    connection = _PinnedConnection(parts.scheme, host, port, address, policy.timeout)
    try:
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                           headers={"Accept": "application/json", "User-Agent": "payer-auth-jwks"})
        response = connection.getresponse()
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > policy.max_bytes:
            raise JwksFetchError(f"the JWKS is larger than {policy.max_bytes} bytes")
        body = response.read(policy.max_bytes + 1)
        if len(body) > policy.max_bytes:
            raise JwksFetchError(f"the JWKS is larger than {policy.max_bytes} bytes")
        return response.status, response.getheader("Location"), body
    except (OSError, http.client.HTTPException) as exc:
        raise JwksFetchError(f"the JWKS URL cannot be fetched ({type(exc).__name__})") from exc
    finally:
        connection.close()


def _checked_address(host: str, port: int, policy: FetchPolicy, loopback: bool) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise JwksFetchError(f"the JWKS host {host!r} does not resolve") from exc
    addresses = [str(info[4][0]) for info in infos]
    allowed = host in policy.allowed_hosts or (loopback and policy.allow_http_loopback)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not allowed and (not ip.is_global or ip.is_multicast):  # multicast counts as global in Python 3.11
            raise JwksFetchError(f"the JWKS host {host!r} resolves to a non-public address; allow-list it in "
                                 "PAYERAUTH_TENANT_JWKS_ALLOWED_HOSTS if that is intended")
    return addresses[0]


class _PinnedConnection(http.client.HTTPSConnection):
    """Connects to an address checked beforehand, while TLS still verifies the host name."""

    def __init__(self, scheme: str, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.scheme = scheme
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        if self.scheme == "https":
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _parse_keys(body: bytes) -> dict[str | None, rsa.RSAPublicKey]:
    try:
        document = json.loads(body)
        entries = document["keys"]
    except (ValueError, KeyError, TypeError):
        raise JwksFetchError("the JWKS is not a JSON object with a 'keys' array") from None
    keys: dict[str | None, rsa.RSAPublicKey] = {}
    for entry in entries if isinstance(entries, list) else []:
        key = _rsa_key(entry)
        if key is not None:
            keys[entry.get("kid") if isinstance(entry.get("kid"), str) else None] = key
    if not keys:
        raise JwksFetchError("the JWKS holds no RSA signing key of at least 2048 bits")
    return keys


def _rsa_key(entry: Any) -> rsa.RSAPublicKey | None:
    if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
        return None
    if entry.get("alg", "RS256") != "RS256":
        return None
    try:
        n = int.from_bytes(jws.b64url_decode(entry["n"]), "big")
        e = int.from_bytes(jws.b64url_decode(entry["e"]), "big")
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, TypeError, ValueError):
        return None
    return key if key.key_size >= 2048 else None


class TenantJwks:
    """One tenant's JWKS: cached for ``ttl``; an unknown kid refetches at most every ``min_interval``."""

    def __init__(self, url: str, policy: FetchPolicy, *, ttl: float, min_interval: float,
                 monotonic: Callable[[], float], fetch: Callable[[str, FetchPolicy], Any] = fetch_jwks) -> None:
        self.url = url
        self.policy = policy
        self.ttl = ttl
        self.min_interval = min_interval
        self.monotonic = monotonic
        self.fetch = fetch
        self.fetches = 0
        self._keys: dict[str | None, rsa.RSAPublicKey] | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._unknown_kid_at = float("-inf")
        self._lock = threading.Lock()

    def keys_for(self, kid: str | None) -> list[rsa.RSAPublicKey]:
        now = self.monotonic()
        stale = self._keys is None or now - self._fetched_at >= self.ttl
        if stale and (self._keys is None or now - self._attempted_at >= self.min_interval):
            self._refresh(now)  # a failing URL is retried at most once per interval
        keys = self._keys or {}
        if kid is not None and kid not in keys and now - self._unknown_kid_at >= self.min_interval:
            self._unknown_kid_at = now
            self._refresh(now)  # perhaps the tenant rotated
            keys = self._keys or {}
        if kid is None:
            return list(keys.values())[:3]
        return [keys[kid]] if kid in keys else []

    def _refresh(self, now: float) -> None:
        with self._lock:
            self._attempted_at = now
            self.fetches += 1
            try:
                self._keys = self.fetch(self.url, self.policy)
                self._fetched_at = now
            except PayerAuthError as exc:
                log.warning("tenant JWKS fetch failed (%s): %s", exc.reason, exc.description)
                if self._keys is None:
                    raise
