"""Fetching a tenant's JWKS without letting the URL reach where it should not.

* https only; plain http only for a loopback host in development;
* the host is resolved once, every address is checked (no private, loopback,
  link-local, multicast or reserved address unless the host is allow-listed),
  and the connection goes to the checked address, so a DNS answer cannot
  change between the check and the connect;
* a link-local address (169.254.0.0/16, fe80::/10) or an instance metadata
  address is refused even for an allow-listed host: no DNS answer may point a
  fetch at the platform's credentials;
* one deadline for the whole fetch (connect, TLS, redirects, body), so a URL
  that drips a byte at a time cannot hold a login; a size cap, redirects only
  to the same host (at most two), JSON with RSA keys of at least 2048 bits only.

``TenantJwks`` caches one tenant's key set with a TTL and fetches at most once
per interval, whether the last fetch worked or not (an unknown ``kid`` or a
failing URL cannot make logins hammer it); it keeps the last good set when the
URL fails, and a login that finds a fetch in flight with nothing cached is
answered 503 at once instead of queueing behind it.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import TemporarilyUnavailable
from shared.hosts import LOOPBACK_HOSTS, METADATA_ADDRESSES
from shared.jose import jws
from shared.reasons import Reason

log = logging.getLogger("payerauth.jwks")

MAX_JWKS_BYTES = 64 * 1024
TIMEOUT_SECONDS = 3.0
MAX_REDIRECTS = 2


Resolver = Callable[[str, int], list[str]]


class JwksFetchError(TemporarilyUnavailable):
    default_reason: str | None = Reason.TENANT_JWKS_UNAVAILABLE
    public_description = "the tenant's published keys (JWKS) cannot be fetched"


def resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True)
class FetchPolicy:
    allow_http_loopback: bool
    allowed_hosts: frozenset[str]  # hosts that may resolve to private addresses (e.g. in a VNet)
    timeout: float = TIMEOUT_SECONDS  # for the whole fetch, redirects included
    max_bytes: int = MAX_JWKS_BYTES
    resolver: Resolver = resolve


def fetch_jwks(url: str, policy: FetchPolicy) -> dict[str | None, rsa.RSAPublicKey]:
    """GET the JWKS at ``url`` under ``policy``: its RSA signing keys by ``kid`` (None when absent)."""
    deadline = time.monotonic() + policy.timeout
    for _ in range(MAX_REDIRECTS + 1):
        status, location, body = _get(url, policy, deadline)
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


def _get(url: str, policy: FetchPolicy, deadline: float) -> tuple[int, str | None, bytes]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host in LOOPBACK_HOSTS
    tls = parts.scheme == "https"
    if not tls and not (parts.scheme == "http" and loopback and policy.allow_http_loopback):
        raise JwksFetchError("the JWKS URL must use https")
    port = parts.port or (443 if tls else 80)
    address = _checked_address(host, port, policy, loopback)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise JwksFetchError(f"the JWKS URL took longer than {policy.timeout:g} s")
    connection = _PinnedConnection(host, port, address, remaining, tls=tls)
    # One deadline for everything below: a socket timeout bounds each operation only, so a watchdog
    # shuts the socket when the time is up, whatever it is waiting for.
    watchdog = threading.Timer(remaining, connection.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "GET",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            headers={"Accept": "application/json", "User-Agent": "payer-auth-jwks"},
        )
        response = connection.getresponse()
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > policy.max_bytes:
            raise JwksFetchError(f"the JWKS is larger than {policy.max_bytes} bytes")
        body = response.read(policy.max_bytes + 1)
        if connection.aborted:
            raise OSError("deadline")
        if len(body) > policy.max_bytes:
            raise JwksFetchError(f"the JWKS is larger than {policy.max_bytes} bytes")
        return response.status, response.getheader("Location"), body
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if connection.aborted:
            raise JwksFetchError(f"the JWKS URL took longer than {policy.timeout:g} s") from exc
        raise JwksFetchError(f"the JWKS URL cannot be fetched ({type(exc).__name__})") from exc
    finally:
        watchdog.cancel()
        connection.close()


def _never_reachable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any(a.is_link_local or a in METADATA_ADDRESSES for a in (ip, mapped) if a is not None)


def _checked_address(host: str, port: int, policy: FetchPolicy, loopback: bool) -> str:
    try:
        addresses = policy.resolver(host, port)
    except OSError as exc:
        raise JwksFetchError(f"the JWKS host {host!r} does not resolve") from exc
    if not addresses:
        raise JwksFetchError(f"the JWKS host {host!r} does not resolve")
    allowed = host in policy.allowed_hosts or (loopback and policy.allow_http_loopback)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if _never_reachable(ip):
            raise JwksFetchError(
                f"the JWKS host {host!r} resolves to a link-local or metadata address, "
                "which is never fetched, allow-listed or not"
            )
        if not allowed and (not ip.is_global or ip.is_multicast):  # multicast counts as global in Python 3.11
            raise JwksFetchError(
                f"the JWKS host {host!r} resolves to a non-public address; allow-list it in "
                "PAYERAUTH_TENANT_JWKS_ALLOWED_HOSTS if that is intended"
            )
    return addresses[0]


class _PinnedConnection(http.client.HTTPSConnection):
    """Connects to an address checked beforehand, while TLS still verifies the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, *, tls: bool) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.tls = tls
        self.address = address
        self.aborted = False
        self._raw: socket.socket | None = None

    def connect(self) -> None:
        self._raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._raw
        if self.aborted:
            raise OSError("deadline")
        if self.tls:
            self.sock = self._context.wrap_socket(self._raw, server_hostname=self.host)  # type: ignore[attr-defined]

    def abort(self) -> None:
        """Called by the watchdog: whatever the fetch is blocked on returns at once."""
        self.aborted = True
        target = self.sock or self._raw  # once TLS wraps it, the raw socket object is detached
        if target is not None:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_RDWR)


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


FETCH_WAIT = 0.5  # seconds a login waits for the fetch it started (TenantJwks._refresh says why)


class TenantJwks:
    """One tenant's JWKS: cached for ``ttl``; fetched at most once per ``min_interval``, failed or not."""

    def __init__(
        self,
        url: str,
        policy: FetchPolicy,
        *,
        ttl: float,
        min_interval: float,
        monotonic: Callable[[], float],
        fetch: Callable[[str, FetchPolicy], Any] = fetch_jwks,
        wait: float = FETCH_WAIT,
    ) -> None:
        self.url = url
        self.wait = wait
        self.policy = policy
        self.ttl = ttl
        self.min_interval = min_interval
        self.monotonic = monotonic
        self.fetch = fetch
        self.fetches = 0
        self._keys: dict[str | None, rsa.RSAPublicKey] | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._last_error: JwksFetchError | None = None
        self._lock = threading.Lock()

    def keys_for(self, kid: str | None) -> list[rsa.RSAPublicKey]:
        now = self.monotonic()
        stale = self._keys is None or now - self._fetched_at >= self.ttl
        unknown_kid = kid is not None and kid not in (self._keys or {})
        if stale or unknown_kid:
            self._refresh(now)  # perhaps the tenant rotated; either way at most once per interval
        keys = self._keys
        if keys is None and self._lock.locked():
            raise JwksFetchError("the tenant's JWKS is being fetched; retry shortly", retry_after=2)
        if keys is None:
            raise self._last_error or JwksFetchError("the tenant's JWKS has not been fetched yet")
        if kid is None:
            return list(keys.values())[:3]
        return [keys[kid]] if kid in keys else []

    def _refresh(self, now: float) -> None:
        """Start a fetch and wait for it at most ``wait`` seconds.

        The fetch runs on a thread of its own: on Flex Consumption a Python instance serves one request at a
        time, so a login waiting out a stalling JWKS URL's whole deadline would hold every other request sent
        to that instance. Past ``wait``, the login goes on with the cached set, or answers 503 at once.
        """
        if not self._lock.acquire(blocking=False):
            return  # a fetch is in flight: serve the cached set meanwhile, or say so at once (never queue)
        if now - self._attempted_at < self.min_interval:
            self._lock.release()  # checked under the lock, so two logins never both fetch in one interval
            return
        self._attempted_at = now
        self.fetches += 1
        fetcher = threading.Thread(target=self._fetch, args=(now,), daemon=True, name="tenant-jwks")
        fetcher.start()
        fetcher.join(self.wait)

    def _fetch(self, now: float) -> None:
        try:
            self._keys = self.fetch(self.url, self.policy)
            self._fetched_at = now
            self._last_error = None
        except JwksFetchError as exc:
            log.warning("tenant JWKS fetch failed (%s): %s", exc.reason, exc.description)
            self._last_error = exc
        except Exception:  # a bug: logins get a 503 with a reason, not a thread that died without one
            log.exception("tenant JWKS fetch failed unexpectedly")
            self._last_error = JwksFetchError("the tenant's JWKS cannot be read")
        finally:
            self._lock.release()
