"""The tenant JWKS fetcher and its cache (``shared/tenants/jwks.py``): the address policy with a stubbed
resolver, a real HTTPS server on loopback for what a well-behaved URL serves, and raw sockets for what a
misbehaving one does (drips, lies about its length, stalls, answers garbage)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.tenants.jwks import FETCH_WAIT, MAX_REDIRECTS, FetchPolicy, JwksFetchError, TenantJwks, fetch_jwks
from tests.tenant_keys import KEY_1, KEY_2, JwksServer, jwk

LOOPBACK_ALLOWED = {"allowed_hosts": frozenset({"127.0.0.1"})}


def policy(**changes: Any) -> FetchPolicy:
    return FetchPolicy(**{"allow_http_loopback": False, "allowed_hosts": frozenset(), **changes})


def test_the_fetcher_refuses_private_addresses_unless_allow_listed(jwks_server: JwksServer) -> None:
    with pytest.raises(JwksFetchError, match="non-public address"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", policy())
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k1"}


def test_the_fetcher_refuses_redirects_to_other_hosts_and_oversized_bodies(jwks_server: JwksServer) -> None:
    allowed = policy(allowed_hosts=frozenset({"127.0.0.1", "localhost"}))
    jwks_server.override = (302, {"Location": f"https://localhost:{jwks_server.port}/jwks.json"}, None)
    with pytest.raises(JwksFetchError, match="redirects to another host"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", allowed)
    jwks_server.override = (200, {}, {"keys": [jwk(KEY_1, "k1")], "padding": "x" * 70_000})
    with pytest.raises(JwksFetchError, match="larger than"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", allowed)


def test_the_fetcher_refuses_plain_http_except_loopback_in_development() -> None:
    with pytest.raises(JwksFetchError, match="https"):
        fetch_jwks("http://partner.example/jwks.json", policy(allow_http_loopback=True))
    with pytest.raises(JwksFetchError, match="https"):
        fetch_jwks("http://127.0.0.1:9/jwks.json", policy())


@pytest.mark.parametrize("bits", [1024, 2047])  # 2047: one bit short
def test_keys_under_2048_bits_are_not_taken_from_a_jwks(jwks_server: JwksServer, bits: int) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwks_server.keys = [jwk(weak, "weak")]
    with pytest.raises(JwksFetchError, match="at least 2048"):
        fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))


def tenant_jwks(fetch: Callable[[str, FetchPolicy], Any], **changes: Any) -> TenantJwks:
    """A tenant's JWKS cache over ``fetch``: TTL 1 h, refetch interval 60 s, a clock standing still."""
    settings: dict[str, Any] = {"ttl": 3600, "min_interval": 60, "monotonic": lambda: 1000.0, **changes}
    return TenantJwks("https://partner.example/jwks.json", policy(), fetch=fetch, **settings)


def stalled_jwks(wait: float) -> tuple[TenantJwks, threading.Event, threading.Event]:
    """A tenant JWKS whose fetch starts and then hangs until released."""
    started, release = threading.Event(), threading.Event()

    def slow_fetch(url: str, policy: FetchPolicy) -> dict[str | None, Any]:
        started.set()
        release.wait(30)
        return {"k1": KEY_1.public_key()}

    jwks = tenant_jwks(slow_fetch, wait=wait)
    return jwks, started, release


def test_a_login_finding_a_fetch_in_flight_with_nothing_cached_is_503_at_once() -> None:
    jwks, started, release = stalled_jwks(wait=30)
    first = threading.Thread(target=jwks.keys_for, args=("k1",))
    first.start()
    assert started.wait(30)
    with pytest.raises(JwksFetchError, match="being fetched") as caught:
        jwks.keys_for("k1")  # does not wait for the fetch in flight
    assert caught.value.retry_after == 2  # seconds: about what a healthy fetch takes
    release.set()
    first.join(30)
    assert jwks.keys_for("k1") == [KEY_1.public_key()] and jwks.fetches == 1


def test_the_login_that_starts_a_stalling_fetch_stops_waiting_for_it() -> None:
    # On Flex one request at a time runs per instance: a login must not hold it for the fetch's deadline.
    jwks, started, release = stalled_jwks(wait=0.05)
    with pytest.raises(JwksFetchError, match="being fetched") as caught:
        jwks.keys_for("k1")  # returns while the fetch it started still hangs
    assert started.is_set() and not release.is_set() and caught.value.retry_after > 0
    release.set()
    fetcher = next(t for t in threading.enumerate() if t.name == "tenant-jwks")
    fetcher.join(30)  # the fetch finishes on its own thread; the next login uses what it brought
    assert jwks.keys_for("k1") == [KEY_1.public_key()] and jwks.fetches == 1


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.10.1",
        "fe80::1",
        "fe80::1%eth0",  # a link-local address with a zone is still link-local
        "fe80::abcd%2",
        "::ffff:169.254.169.254",
        "168.63.129.16",
    ],
)
def test_an_allow_listed_host_never_reaches_link_local_or_metadata_addresses(address: str) -> None:
    allowed = policy(allowed_hosts=frozenset({"jwks.partner.internal"}), resolver=lambda host, port: [address])
    with pytest.raises(JwksFetchError, match="link-local or metadata"):
        fetch_jwks("https://jwks.partner.internal/jwks.json", allowed)


class Resolved:
    """A stubbed resolver and connector: what the name resolves to, and where the fetcher connected."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
        self.addresses = addresses
        self.connected: list[tuple[str, int]] = []
        monkeypatch.setattr("shared.tenants.jwks.socket.getaddrinfo", self.getaddrinfo)
        monkeypatch.setattr("shared.tenants.jwks.socket.create_connection", self.create_connection)

    def getaddrinfo(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        import socket

        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in self.addresses
        ]

    def create_connection(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        self.connected.append(address)
        raise ConnectionRefusedError("stubbed: nothing listens")


PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "169.254.169.254",
        "::ffff:127.0.0.1",
        "fc00::1",
        "fd12:3456::1",
        "0.0.0.0",
        "127.0.0.1",
        "::1",
        "192.168.1.10",
        "172.16.0.1",
        "100.64.0.1",
        "fe80::1",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
    ],
)
def test_the_fetcher_refuses_every_non_public_address(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    resolved = Resolved(monkeypatch, address)
    with pytest.raises(JwksFetchError, match=r"non-public address|link-local or metadata"):
        fetch_jwks("https://partner.example/jwks.json", policy())
    assert resolved.connected == []


@pytest.mark.parametrize("private", ["10.0.0.7", "169.254.169.254", "::ffff:127.0.0.1", "fc00::1", "0.0.0.0"])
def test_the_fetcher_checks_every_resolved_address_not_just_the_first(
    monkeypatch: pytest.MonkeyPatch, private: str
) -> None:
    resolved = Resolved(monkeypatch, PUBLIC, private)
    with pytest.raises(JwksFetchError, match=r"non-public address|link-local or metadata"):
        fetch_jwks("https://partner.example/jwks.json", policy())
    assert resolved.connected == []


def test_the_fetcher_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = Resolved(monkeypatch, PUBLIC, "2606:2800:220:1:248:1893:25c8:1946")
    with pytest.raises(JwksFetchError, match="cannot be fetched"):
        fetch_jwks("https://partner.example:8443/jwks.json", policy())
    assert resolved.connected == [(PUBLIC, 8443)]


def test_an_allow_listed_host_may_resolve_to_a_private_address(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = Resolved(monkeypatch, "10.0.0.7")
    with pytest.raises(JwksFetchError, match="cannot be fetched"):
        fetch_jwks(
            "https://jwks.internal.example/jwks.json", policy(allowed_hosts=frozenset({"jwks.internal.example"}))
        )
    assert resolved.connected == [("10.0.0.7", 443)]


def redirect_chain(server: JwksServer, hops: int) -> None:
    """``/hop/N`` redirects (on the same host) to ``/hop/N-1``; ``/hop/0`` is the JWKS."""

    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        left = int(path.rsplit("/", 1)[1])
        return (302, {"Location": f"/hop/{left - 1}"}, None) if left else (200, {}, {"keys": [jwk(KEY_1, "k1")]})

    server.answer = answer  # type: ignore[method-assign]


@pytest.mark.parametrize(("hops", "followed"), [(0, True), (2, True), (3, False), (50, False)])
def test_the_fetcher_follows_at_most_two_redirects(jwks_server: JwksServer, hops: int, followed: bool) -> None:
    redirect_chain(jwks_server, hops)
    url = f"{jwks_server.url}/hop/{hops}"
    allowed = policy(**LOOPBACK_ALLOWED)
    if followed:
        assert set(fetch_jwks(url, allowed)) == {"k1"}
    else:
        with pytest.raises(JwksFetchError, match="redirects too often"):
            fetch_jwks(url, allowed)
        assert jwks_server.requests == 3  # the first request and two redirects, then it gives up


def padded_jwks(size: int) -> dict[str, Any]:
    """A JWKS whose JSON body is exactly ``size`` bytes (as the fake serializes it)."""
    body: dict[str, Any] = {"keys": [jwk(KEY_1, "k1")], "padding": ""}
    body["padding"] = "x" * (size - len(json.dumps(body).encode()))
    assert len(json.dumps(body).encode()) == size
    return body


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
def test_a_jwks_body_may_be_exactly_the_cap_and_not_a_byte_more(
    jwks_server: JwksServer, extra: int, accepted: bool
) -> None:
    capped = policy(max_bytes=4096, **LOOPBACK_ALLOWED)
    jwks_server.override = (200, {}, padded_jwks(4096 + extra))
    if accepted:
        assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", capped)) == {"k1"}
    else:
        with pytest.raises(JwksFetchError, match="larger than"):
            fetch_jwks(f"{jwks_server.url}/jwks.json", capped)


def test_keys_of_2048_bits_and_more_are_taken(jwks_server: JwksServer) -> None:
    strong = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    jwks_server.keys = [jwk(KEY_1, "k2048"), jwk(strong, "k3072")]
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k2048", "k3072"}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed_on_the_same_host(jwks_server: JwksServer, status: int) -> None:
    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return (
            (status, {"Location": "/jwks.json"}, None) if path == "/moved" else (200, {}, {"keys": [jwk(KEY_1, "k1")]})
        )

    jwks_server.answer = answer  # type: ignore[method-assign]
    assert set(fetch_jwks(f"{jwks_server.url}/moved", policy(**LOOPBACK_ALLOWED))) == {"k1"}


@pytest.mark.parametrize("status", [201, 203, 300, 304, 404, 500])
def test_only_a_200_is_a_jwks_even_when_its_body_would_be_one(jwks_server: JwksServer, status: int) -> None:
    jwks_server.override = (status, {"Location": "/elsewhere"}, {"keys": [jwk(KEY_1, "k1")]})
    with pytest.raises(JwksFetchError):
        fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))


def test_only_rsa_signing_keys_for_rs256_are_taken(jwks_server: JwksServer) -> None:
    jwks_server.keys = [
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"},  # sorts before RSA
        {**jwk(KEY_2, "not-rsa"), "kty": "EC"},  # RSA numbers under another kty are still not an RSA key
        {**jwk(KEY_2, "rsa-pss"), "kty": "RSA-PSS"},  # whichever way it sorts
        {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},  # sorts after RSA
        {**jwk(KEY_2, "enc"), "use": "enc"},  # sorts before sig
        {**jwk(KEY_2, "tls"), "use": "tls"},  # sorts after sig
        {**jwk(KEY_2, "ps"), "alg": "PS256"},  # sorts before RS256
        {**jwk(KEY_2, "rs512"), "alg": "RS512"},  # sorts after RS256
        jwk(KEY_1, "k1"),
    ]
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k1"}


def test_a_plain_http_loopback_url_without_a_port_goes_to_port_80(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = Resolved(monkeypatch, "127.0.0.1")
    with pytest.raises(JwksFetchError):
        fetch_jwks("http://localhost/jwks.json", policy(allow_http_loopback=True))
    assert resolved.connected == [("127.0.0.1", 80)]


class Clocked:
    """A TenantJwks over a counting fetch and a clock the test moves."""

    def __init__(self, *, ttl: float = 3600, min_interval: float = 60) -> None:
        self.now = 1000.0
        self.fetches = 0
        self.block: threading.Event | None = None
        self.jwks = tenant_jwks(self.fetch, ttl=ttl, min_interval=min_interval, monotonic=lambda: self.now, wait=30)

    def fetch(self, url: str, fetch_policy: FetchPolicy) -> dict[str | None, Any]:
        self.fetches += 1
        if self.block is not None:
            self.block.wait(30)
        return {"k1": KEY_1.public_key(), None: KEY_2.public_key()}


@pytest.mark.parametrize("kid", ["k1", None])
def test_a_fresh_set_is_not_fetched_again_for_a_known_kid_or_none(kid: str | None) -> None:
    cache = Clocked()
    assert cache.jwks.keys_for(kid) and cache.fetches == 1
    cache.now += 600  # past the refetch interval, within the TTL
    assert cache.jwks.keys_for(kid) and cache.fetches == 1


@pytest.mark.parametrize(("age", "fetches"), [(3599, 1), (3600, 2), (5000, 2)])
def test_a_set_is_fetched_again_once_its_ttl_is_over(age: float, fetches: int) -> None:
    cache = Clocked(ttl=3600)
    cache.jwks.keys_for("k1")
    cache.now += age
    cache.jwks.keys_for("k1")
    assert cache.fetches == fetches


def test_a_stale_set_is_served_while_its_refetch_is_in_flight() -> None:
    cache = Clocked(ttl=3600)
    cache.jwks.keys_for("k1")
    cache.now += 3600
    cache.block = threading.Event()
    cache.jwks.wait = 0.01  # the login that starts the refetch goes on with the stale set
    assert cache.jwks.keys_for("k1") == [KEY_1.public_key()]
    assert cache.jwks.keys_for("k1") == [KEY_1.public_key()]  # another login, the refetch still in flight
    cache.block.set()
    assert cache.fetches == 2


def test_only_https_or_loopback_http_in_development_is_fetched() -> None:
    for url in (
        "ftp://127.0.0.1/jwks.json",  # schemes that sort before https
        "file://localhost/jwks.json",
        "gopher://localhost/jwks.json",
        "wss://127.0.0.1:9/jwks.json",  # and after
        "sftp://localhost:9/jwks.json",
    ):
        with pytest.raises(JwksFetchError, match="https"):
            fetch_jwks(url, policy(allow_http_loopback=True))


def test_a_jwk_whose_numbers_do_not_parse_is_skipped_not_fatal(jwks_server: JwksServer) -> None:
    jwks_server.keys = [
        {"kty": "RSA", "kid": "bad-n", "n": "not base64url!", "e": "AQAB"},
        {"kty": "RSA", "kid": "no-e", "n": jwk(KEY_2, "x")["n"]},
        jwk(KEY_1, "k1"),
    ]
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k1"}


def test_unknown_kids_refetch_once_per_interval() -> None:
    cache = Clocked(min_interval=60)
    cache.jwks.keys_for("k1")
    cache.now += 59.5
    assert cache.jwks.keys_for("k9") == [] and cache.jwks.keys_for("k8") == []
    assert cache.fetches == 1
    cache.now += 0.5
    assert cache.jwks.keys_for("k9") == [] and cache.fetches == 2


def test_a_second_fetch_attempt_never_queues_behind_the_one_in_flight() -> None:
    jwks, started, release = stalled_jwks(wait=0.01)
    jwks.min_interval = 0  # every login may try to fetch: the one in flight must not make them wait
    with pytest.raises(JwksFetchError, match="being fetched"):
        jwks.keys_for("k1")
    assert started.wait(30)
    outcome: list[str] = []

    def try_again() -> None:
        try:
            jwks.keys_for("k1")
            outcome.append("keys")
        except JwksFetchError as exc:
            outcome.append(f"503 {exc.retry_after}")

    second = threading.Thread(target=try_again)
    second.start()
    second.join(5)  # with the fetch still hanging, a queued login would not have answered
    answered = not second.is_alive()
    release.set()
    second.join(30)
    assert answered and outcome == ["503 2"]


def test_a_redirect_to_another_host_is_refused_whichever_way_the_names_sort(jwks_server: JwksServer) -> None:
    both = policy(allowed_hosts=frozenset({"127.0.0.1", "localhost"}))
    jwks_server.override = (302, {"Location": f"https://127.0.0.1:{jwks_server.port}/jwks.json"}, None)
    with pytest.raises(JwksFetchError, match="redirects to another host"):
        fetch_jwks(f"https://localhost:{jwks_server.port}/jwks.json", both)


def test_a_200_with_a_location_header_is_the_jwks_not_a_redirect(jwks_server: JwksServer) -> None:
    jwks_server.override = (200, {"Location": "/elsewhere"}, {"keys": [jwk(KEY_1, "k1")]})
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(**LOOPBACK_ALLOWED))) == {"k1"}


def test_a_token_without_kid_is_tried_against_three_keys_at_most() -> None:
    keys = {f"k{i}": rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key() for i in range(4)}
    jwks = tenant_jwks(lambda url, fetch_policy: dict(keys))
    assert jwks.keys_for(None) == list(keys.values())[:3]


# --- a misbehaving URL, byte by byte -------------------------------------------------------------------------

Script = Callable[[Callable[[bytes], None], threading.Event], bool]  # True: it said all it had to say


@dataclass
class RawServer:
    """One connection on loopback answered by a script, over plain HTTP or TLS from the tenant CA."""

    url: str
    connections: int = 0
    finished: bool = False  # the script said all it had to say: nobody hung up on it


@contextlib.contextmanager
def raw_server(script: Script, *, tls: trustme.CA | None = None) -> Iterator[RawServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # closing a listener does not wake an accept() blocked on it: poll
    scheme = "https" if tls else "http"
    server = RawServer(f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/jwks.json")
    stop = threading.Event()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls:
        tls.issue_cert("127.0.0.1").configure_cert(context)

    def serve() -> None:
        while True:
            try:
                accepted, _ = listener.accept()
                break
            except TimeoutError:
                continue
            except OSError:  # closed: the test is over
                return
        server.connections += 1
        with contextlib.suppress(OSError), context.wrap_socket(accepted, server_side=True) if tls else accepted as c:
            c.recv(65536)
            server.finished = script(c.sendall, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        listener.close()
        thread.join(10)


def response(body: bytes, *, length: int | None = None) -> bytes:
    """A 200's status line and headers; ``length=None`` sends no Content-Length (the body ends at close)."""
    framing = f"Content-Length: {length}" if length is not None else "Connection: close"
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode() + body


JWKS_BODY = json.dumps({"keys": [jwk(KEY_1, "k1")]}).encode()


def drip(send: Callable[[bytes], None], stop: threading.Event) -> bool:
    """Headers at once, then a valid JWKS ten bytes every 50 ms (over two seconds in all)."""
    send(response(b"", length=len(JWKS_BODY)))
    for start in range(0, len(JWKS_BODY), 10):
        if stop.wait(0.05):
            return False
        send(JWKS_BODY[start : start + 10])
    return True


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_one_deadline_bounds_the_whole_fetch_even_when_the_body_drips(tenant_ca: trustme.CA, scheme: str) -> None:
    # Each read gets a byte in time, so no socket timeout fires: only the watchdog can end it. It hangs up on
    # the server, TLS or not, instead of reading on until the body is complete.
    tls = tenant_ca if scheme == "https" else None
    with raw_server(drip, tls=tls) as server, pytest.raises(JwksFetchError, match=r"took longer than 0\.5 s"):
        fetch_jwks(server.url, policy(allow_http_loopback=True, timeout=0.5))
    assert server.connections == 1 and not server.finished


def test_an_announced_length_over_the_cap_is_refused_before_any_body_is_read() -> None:
    def announce_and_stall(send: Callable[[bytes], None], stop: threading.Event) -> bool:
        send(response(b"", length=10_000_000))
        return stop.wait(30)

    with raw_server(announce_and_stall) as server, pytest.raises(JwksFetchError, match="larger than 4096 bytes"):
        fetch_jwks(server.url, policy(allow_http_loopback=True, max_bytes=4096, timeout=1))


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
def test_a_body_without_content_length_is_capped_as_it_is_read(extra: int, accepted: bool) -> None:
    body = json.dumps(padded_jwks(4096 + extra)).encode()

    def close_delimited(send: Callable[[bytes], None], stop: threading.Event) -> bool:
        send(response(body))
        return True

    capped = policy(allow_http_loopback=True, max_bytes=4096)
    with raw_server(close_delimited) as server:
        if accepted:
            assert set(fetch_jwks(server.url, capped)) == {"k1"}
        else:
            with pytest.raises(JwksFetchError, match="larger than 4096 bytes"):
                fetch_jwks(server.url, capped)


@pytest.mark.parametrize("body", [b"not json", b"{}", b"[]", b'"keys"', b'{"keys": 1'], ids=repr)
def test_a_body_that_is_no_json_object_with_keys_is_refused_by_name(body: bytes) -> None:
    def answer(send: Callable[[bytes], None], stop: threading.Event) -> bool:
        send(response(body, length=len(body)))
        return True

    with raw_server(answer) as server, pytest.raises(JwksFetchError, match="not a JSON object with a 'keys' array"):
        fetch_jwks(server.url, policy(allow_http_loopback=True))


def test_a_short_deadline_is_enough_for_a_prompt_url(jwks_server: JwksServer) -> None:
    assert set(fetch_jwks(f"{jwks_server.url}/jwks.json", policy(timeout=0.5, **LOOPBACK_ALLOWED))) == {"k1"}


def test_a_deadline_spent_resolving_the_name_never_connects(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("shared.tenants.jwks.time.monotonic", lambda: clock[0])

    def slow_resolver(host: str, port: int) -> list[str]:
        clock[0] += 1  # the name took a second to resolve
        return ["127.0.0.1"]

    with raw_server(drip) as server, pytest.raises(JwksFetchError, match=r"took longer than 0\.5 s"):
        fetch_jwks(server.url, policy(allow_http_loopback=True, timeout=0.5, resolver=slow_resolver))
    assert server.connections == 0


def test_the_readme_states_the_limits_every_tenant_url_gets() -> None:
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    defaults = policy()
    assert f"{defaults.timeout:g} s deadline for the whole fetch, {defaults.max_bytes / 1024:g} KiB cap" in readme
    assert f"redirects only within the same host and at most {MAX_REDIRECTS}," in readme
    assert f"waits for it at most {FETCH_WAIT:g} s" in readme
    assert tenant_jwks(lambda url, fetch_policy: {}).wait == FETCH_WAIT


def test_the_fetch_policy_every_tenant_shares_cannot_be_changed() -> None:
    shared = policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        shared.allow_http_loopback = True  # type: ignore[misc]


def test_a_login_is_told_why_the_last_fetch_failed() -> None:
    def failing(url: str, fetch_policy: FetchPolicy) -> dict[str | None, Any]:
        raise JwksFetchError("the JWKS URL answered HTTP 500")

    with pytest.raises(JwksFetchError) as caught:
        tenant_jwks(failing).keys_for("k1")
    assert caught.value.description == "the JWKS URL answered HTTP 500"
    assert caught.value.reason == "tenant_jwks_unavailable"


def test_a_fetch_that_breaks_unexpectedly_is_a_503_with_a_reason_and_a_logged_traceback(
    captured_logs: pytest.LogCaptureFixture,
) -> None:
    def broken(url: str, fetch_policy: FetchPolicy) -> dict[str | None, Any]:
        raise RuntimeError("a bug")

    with pytest.raises(JwksFetchError) as caught:
        tenant_jwks(broken).keys_for("k1")
    assert caught.value.reason == "tenant_jwks_unavailable" and caught.value.description.endswith("cannot be read")
    (record,) = [r for r in captured_logs.records if r.name == "payerauth.jwks"]
    assert record.exc_info and "RuntimeError: a bug" in captured_logs.text


def test_a_name_that_does_not_resolve_is_refused_by_name() -> None:
    def unresolvable(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(JwksFetchError, match=r"'partner\.example' does not resolve"):
        fetch_jwks("https://partner.example/jwks.json", policy(resolver=unresolvable))


def test_an_informational_status_is_not_a_jwks() -> None:
    def early_hints(send: Callable[[bytes], None], stop: threading.Event) -> bool:
        send(b"HTTP/1.1 103 Early Hints\r\nLink: </jwks.json>\r\n\r\n" + response(JWKS_BODY, length=len(JWKS_BODY)))
        return True

    with raw_server(early_hints) as server, pytest.raises(JwksFetchError, match="answered HTTP 103"):
        fetch_jwks(server.url, policy(allow_http_loopback=True))
