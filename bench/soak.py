"""Soak with faults: the local host under a day's mix of requests while keys rotate, databases blink,
tokens are revoked, the key store fails and a tenant's JWKS URL stalls.

    make soak                      # 5 minutes
    make soak ARGS=--quick         # 60 s, faults of 8 s
    python -m bench.soak [--duration S] [--rate R] [--instances N] [--connections C]

It starts the local host in a subprocess on embedded defaults (SQLite), with its keys in a Key Vault fake
(tests/azure_fakes.py, HTTPS on loopback, reached through the real azure-identity and azure-keyvault-secrets
clients) so the key store can be made to fail. It first hits the cold host with concurrent first requests,
then calibrates the mix (bench/soak_load.py) and drives it at 80 % of that from a separate process, while
this process injects each fault on a schedule. Every line of the verdict table is PASS or MISS; the
figures go to bench/results/soak-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.ports import free_port, wait_for_port
from shared.jose.certificates import PKCS12, KeyMaterial, generate_self_signed, to_pkcs12_secret
from tests.azure_fakes import FakeIdentityEndpoint, FakeKeyVault

ROOT = Path(__file__).resolve().parent.parent
SECRET = "JwtSigningCertificate"
BILLERS = 6
REVOCATION_BOUND = 15
KEY_REFRESH = 10
KEY_OVERLAP = 20
PORTAL = "https://www.invoicecloud.com"


class FailingKeyVault(FakeKeyVault):
    """The Key Vault fake, with a switch that makes every call a 503 (the service unavailable)."""

    failing = False

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if self.failing:
            return 503, {"Retry-After": "5"}, {"error": {"code": "ServiceUnavailable", "message": "soak fault"}}
        return super().answer(method, path, headers)


class StallingServer:
    """Accepts connections and never answers: a tenant's JWKS URL that hangs."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)


@dataclass
class Soak:
    folder: Path
    vault: FailingKeyVault
    ic_key: KeyMaterial
    env: dict[str, str]
    port: int
    config: dict[str, Any]
    fault_seconds: float = 15.0
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, name: str, **details: Any) -> None:
        self.events.append({"t": time.time(), "event": name, **details})
        print(f"  {time.strftime('%H:%M:%S')} {name} {details if details else ''}", flush=True)


def setup(folder: Path) -> Soak:
    ca = trustme.CA()
    bundle = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    identity = FakeIdentityEndpoint(ca, lambda: dt.datetime.now(dt.UTC))
    vault = FailingKeyVault(ca, identity.token)
    vault.page_size = 25
    now = dt.datetime.now(dt.UTC)
    ic_key = generate_self_signed("IC signing (soak)", now - dt.timedelta(days=1))
    vault.add_version(SECRET, to_pkcs12_secret(ic_key), PKCS12, now - dt.timedelta(days=1))
    env = {
        **os.environ,
        "PAYERAUTH_LOCAL_DIR": str(folder),
        "PAYERAUTH_MASTER_DB": f"sqlite:{folder / 'master.db'}",
        "PAYERAUTH_SHARD_DBS": json.dumps(
            {"shard01": f"sqlite:{folder / 'shard01.db'}", "shard02": f"sqlite:{folder / 'shard02.db'}"}
        ),
        "PAYERAUTH_KEYVAULT_URL": vault.url,
        "PAYERAUTH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
        "PAYERAUTH_KEYVAULT_RETRIES": "0",
        "PAYERAUTH_KEY_REFRESH_SECONDS": str(KEY_REFRESH),
        "PAYERAUTH_KEY_OVERLAP_SECONDS": str(KEY_OVERLAP),
        "PAYERAUTH_REVOCATION_BOUND": str(REVOCATION_BOUND),
        "PAYERAUTH_TENANT_JWKS_ALLOWED_HOSTS": "127.0.0.1",
        "REQUESTS_CA_BUNDLE": str(bundle),
        "IDENTITY_ENDPOINT": identity.endpoint,
        "IDENTITY_HEADER": identity.header_secret,
    }
    port = free_port()
    soak = Soak(folder, vault, ic_key, env, port, {})
    soak.config = populate(soak)
    return soak


def populate(soak: Soak) -> dict[str, Any]:
    """Schema, billers with their JWTs, a tenant with a PEM key and one whose JWKS URL stalls."""
    code = f"""
import json, sys
from shared.billers.directory import Actor
from shared.app import PayerAuth
from shared.settings import Settings
from shared.tenants.registry import Tenant
from shared.storage.schema import create_schema
service = PayerAuth.from_settings(Settings.from_env())
create_schema(service.directory.master, "master")
for shard in service.directory.shards.values():
    create_schema(shard, "shard")
spec = json.load(sys.stdin)
billers = []
for i in range({BILLERS}):
    domain = f"127.0.0.1:{{9100 + i}}"
    guid = service.directory.add_biller(spec["guids"][i], f"Soak Biller {{i}}", domain,
                                        "shard01" if i % 2 == 0 else "shard02").guid
    token = service.biller_tokens.mint(guid, domain, Actor(sub="soak")).token
    billers.append({{"guid": guid, "token": token, "origin": "http://" + domain}})
for t in spec["tenants"]:
    service.tenants.add(Tenant(t["iss"], t["aud"], "RS256", "http://127.0.0.1:9100/", ("http://127.0.0.1:9100",),
                               t.get("public_pem"), t.get("jwks_url")), development=True)
print(json.dumps(billers))
"""
    tenant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = tenant_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        tenant_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    stall = StallingServer()
    tenants = [
        {"iss": "SOAKCO", "aud": "payer-auth-soak", "public_pem": public_pem},
        {"iss": "STALLCO", "aud": "payer-auth-soak", "jwks_url": f"http://127.0.0.1:{stall.port}/jwks"},
    ]
    spec = {"guids": [str(uuid.uuid4()) for _ in range(BILLERS)], "tenants": tenants}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=soak.env,
        check=True,
        timeout=120,
    )
    billers = json.loads(done.stdout)
    return {
        "billers": billers,
        "tenant": {"iss": "SOAKCO", "aud": "payer-auth-soak", "key_pem": private_pem},
        "stall_tenant": {"iss": "STALLCO", "aud": "payer-auth-soak", "key_pem": private_pem},
        "stall_port": stall.port,
    }


@contextlib.contextmanager
def host(soak: Soak, instances: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "tools.localhost", "--port", str(soak.port), "--demo-port", "0"]
    if instances > 1:
        command += ["--instances", str(instances)]
    log = (soak.folder / "host.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=soak.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def http(
    soak: Soak, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{soak.port}{path}", data=body or None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def cold_burst(soak: Soak, connections: int = 8) -> Counter[int]:
    """Concurrent first requests against a host that has loaded nothing yet."""
    from urllib.parse import urlencode

    statuses: Counter[int] = Counter()
    biller = soak.config["billers"][0]
    body = urlencode(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "subject_token": biller["token"],
        }
    ).encode()

    def first() -> None:
        status, _, _ = http(
            soak,
            "POST",
            "/api/payer/token",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": biller["origin"]},
        )
        statuses[status] += 1

    threads = [threading.Thread(target=first) for _ in range(connections * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def drive(soak: Soak, rate: float, seconds: float, connections: int, out: Path) -> subprocess.Popen[str]:
    config = soak.folder / "load.json"
    config.write_text(json.dumps(soak.config))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.soak_load",
            "--port",
            str(soak.port),
            "--config",
            str(config),
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=soak.env,
        stdout=subprocess.PIPE,
        text=True,
    )


def portal_jwt(soak: Soak, guid: str) -> str:
    import jwt

    now = int(time.time())
    claims = {
        "iss": PORTAL,
        "aud": PORTAL,
        "sub": "soak-admin@example.com",
        "jti": str(uuid.uuid4()),
        "urn:invoicecloud:billerguid": guid,
        "urn:invoicecloud:usertype": "Biller",
        "iat": now,
        "exp": now + 600,
    }
    key = soak.ic_key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(claims, key, algorithm="RS256")


# --- faults -------------------------------------------------------------------------------------------------


def rotate_keys(soak: Soak) -> None:
    now = dt.datetime.now(dt.UTC)
    material = generate_self_signed("IC signing (soak, rotated)", now)
    version = soak.vault.add_version(SECRET, to_pkcs12_secret(material), PKCS12, now)
    soak.event("key rotation", version=version.version)
    threading.Thread(target=watch_jwks, args=(soak,), daemon=True).start()


def watch_jwks(soak: Soak) -> None:
    """Note when the JWKS first publishes a key it did not have before the rotation."""
    _, _, body = http(soak, "GET", "/.well-known/jwks.json")
    before = {k["kid"] for k in json.loads(body)["keys"]} if body else set()
    deadline = time.time() + KEY_REFRESH * 4
    while time.time() < deadline:
        status, _, body = http(soak, "GET", "/.well-known/jwks.json")
        new = {k["kid"] for k in json.loads(body)["keys"]} - before if status == 200 else set()
        if new:
            soak.event("new key published", kids=sorted(new))
            return
        time.sleep(0.5)


def mint_tokens(soak: Soak) -> None:
    """Mint biller JWTs through the admin API, as the Biller Portal does (the end checks they are listed)."""
    for index in (3, 4):
        biller = soak.config["billers"][index]
        body = json.dumps({"domain": biller["origin"].removeprefix("http://")}).encode()
        status, _, answer = http(
            soak,
            "POST",
            f"/api/billers/{biller['guid']}/tokens",
            body,
            {"Authorization": f"Bearer {portal_jwt(soak, biller['guid'])}", "Content-Type": "application/json"},
        )
        jti = json.loads(answer).get("jti") if status == 201 else None
        soak.event("minted", biller=index, status=status, jti=jti)


def revoke_token(soak: Soak, index: int) -> None:
    """Revoke one biller's JWT through the admin API while the load keeps using it.

    The instance that takes the DELETE (or any other write) drops its cached rows at once; another
    instance serves its cached row until it expires, so revocations are spread out: each is seen to reach
    every instance within the revocation bound without another write clearing the caches early.
    """
    biller = soak.config["billers"][index]
    jti = biller_jti(biller["token"])
    status, _, _ = http(
        soak,
        "DELETE",
        f"/api/billers/{biller['guid']}/tokens/{jti}",
        headers={"Authorization": f"Bearer {portal_jwt(soak, biller['guid'])}"},
    )
    soak.event("revoked", biller=index, status=status)


def biller_jti(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def master_down(soak: Soak) -> None:
    master = soak.folder / "master.db"
    master.rename(master.with_suffix(".away"))
    soak.event("master db down")
    time.sleep(soak.fault_seconds)
    master.with_suffix(".away").rename(master)
    soak.event("master db back")


def key_store_down(soak: Soak) -> None:
    soak.vault.failing = True
    soak.event("key store failing")
    health = []
    for _ in range(int(soak.fault_seconds)):
        time.sleep(1)
        status, _, _ = http(soak, "GET", "/api/health")
        health.append(status)
    soak.vault.failing = False
    soak.event("key store back", health=dict(Counter(health)))


def stall_jwks(soak: Soak, window: list[float]) -> None:
    soak.event("tenant JWKS stalls", until=window[1])
    time.sleep(max(0.0, window[1] - time.time()))
    soak.event("tenant JWKS stall over")


# --- resources --------------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids += process_tree(int(child))
    return pids


def resources(pid: int) -> dict[str, float]:
    rss = fds = threads = 0
    for one in process_tree(pid):
        with contextlib.suppress(OSError):
            status = dict(line.split(":", 1) for line in Path(f"/proc/{one}/status").read_text().splitlines())
            rss += int(status["VmRSS"].split()[0])
            threads += int(status["Threads"])
            fds += len(list(Path(f"/proc/{one}/fd").iterdir()))
    return {"rss_mb": rss / 1024, "fds": fds, "threads": threads}


# --- analysis ---------------------------------------------------------------------------------------------


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def undocumented_5xx(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["status"] >= 500 and not (r["status"] == 503 and r.get("retry_after"))]


def analyse(soak: Soak, records: list[dict[str, Any]], marks: dict[str, float]) -> list[tuple[str, bool, str]]:
    events = soak.events
    lines: list[tuple[str, bool, str]] = []
    lines.append(
        (
            "no 5xx but a documented 503 (with Retry-After)",
            not undocumented_5xx(records),
            f"{len(undocumented_5xx(records))} of {len(records)}",
        )
    )
    lines.append(
        (
            "no connection failures",
            not [r for r in records if r["status"] == 0],
            f"{sum(1 for r in records if r['status'] == 0)}",
        )
    )
    hostile_granted = [r for r in records if r["kind"].startswith("hostile") and r["status"] == 200]
    lines.append(("hostile requests all refused", not hostile_granted, f"{len(hostile_granted)} granted"))

    published = next((e["t"] for e in events if e["event"] == "new key published"), None)
    new_kids = next((set(e["kids"]) for e in events if e["event"] == "new key published"), set())
    first_signed = min((r["t"] for r in records if r.get("kid") in new_kids and r["kind"] != "profile"), default=None)
    lines.append(
        (
            "rotation: new key published before it signs",
            published is not None and (first_signed is None or first_signed > published),
            f"published {fmt(published, marks)}, first signed {fmt(first_signed, marks)}",
        )
    )
    rotated_at = next(e["t"] for e in events if e["event"] == "key rotation")
    profile_401 = [r for r in records if r["kind"] == "profile" and r["status"] == 401 and r["t"] > rotated_at]
    lines.append(("rotation: no payer token refused at the profile route", not profile_401, f"{len(profile_401)}"))

    worst = 0.0
    for e in (e for e in events if e["event"] == "revoked"):
        after = [
            r["t"] - e["t"]
            for r in records
            if r.get("biller") == e["biller"] and r["status"] == 200 and r.get("origin_ok") and r["t"] > e["t"]
        ]
        worst = max([worst, *after])
    lines.append(
        (
            f"revocation: refused within the bound ({REVOCATION_BOUND} s)",
            worst <= REVOCATION_BOUND + 1,
            f"worst {worst:.1f} s",
        )
    )

    down = window(events, "master db down", "master db back")
    during = [r for r in records if down[0] <= r["t"] <= down[1] and r["kind"] in EXCHANGES]
    later = [
        r
        for r in records
        if r["t"] > down[1] + REVOCATION_BOUND
        and r["kind"] in EXCHANGES
        and r.get("origin_ok")
        and r["biller"] not in (1, 2)
        and r["kind"] != "hostile_signature"
    ]
    lines.append(
        (
            "master db down: cached exchanges keep working, the rest 503 + Retry-After",
            any(r["status"] == 200 for r in during) and not undocumented_5xx(during),
            dict_text(Counter(r["status"] for r in during)),
        )
    )
    lines.append(
        (
            "master db back: errors return to zero without a restart",
            bool(later) and all(r["status"] == 200 for r in later[-50:]),
            dict_text(Counter(r["status"] for r in later)),
        )
    )

    failing = window(events, "key store failing", "key store back")
    during = [
        r
        for r in records
        if failing[0] <= r["t"] <= failing[1]
        and r["kind"] in ("exchange_body", "bootstrap")
        and r.get("origin_ok")
        and r["biller"] not in (1, 2)
    ]
    health = next(e.get("health", {}) for e in events if e["event"] == "key store back")
    log = (soak.folder / "host.log").read_text(errors="replace")
    lines.append(
        (
            "key store failing: exchanges keep working on the last good keys",
            bool(during) and all(r["status"] == 200 for r in during),
            dict_text(Counter(r["status"] for r in during)),
        )
    )
    lines.append(
        ("key store failing: health stays ok", set(health) == {"200"} or set(health) == {200}, dict_text(health))
    )
    refresh_failures = len(re.findall(r"key refresh from .* failed", log))
    lines.append(
        (
            "key store failing: the log records the failed refreshes",
            refresh_failures > 0,
            f"{refresh_failures} failed refreshes logged",
        )
    )

    stall = window(events, "tenant JWKS stalls", "tenant JWKS stall over")
    base = [r["ms"] for r in records if marks["measured"] <= r["t"] < stall[0] - 5 and r["kind"] in EXCHANGES]
    stalled = [r["ms"] for r in records if stall[0] <= r["t"] <= stall[1] and r["kind"] in EXCHANGES]
    lines.append(
        (
            "JWKS stall: exchange p99 within 2 x the baseline p99",
            bool(stalled) and p(stalled, 0.99) <= 2 * max(p(base, 0.99), 1.0),
            f"{p(stalled, 0.99):.1f} ms vs baseline {p(base, 0.99):.1f} ms",
        )
    )

    accepted = Counter(r["jti"] for r in records if r["kind"].startswith("tenant") and r["status"] == 303)
    lines.append(
        (
            "every one-time tenant token accepted at most once",
            all(n == 1 for n in accepted.values()),
            f"{len(accepted)} accepted, {sum(1 for n in accepted.values() if n > 1)} twice",
        )
    )
    return lines


EXCHANGES = ("exchange_body", "exchange_cookie", "bootstrap")


def window(events: list[dict[str, Any]], start: str, end: str) -> tuple[float, float]:
    return (next(e["t"] for e in events if e["event"] == start), next(e["t"] for e in events if e["event"] == end))


def fmt(moment: float | None, marks: dict[str, float]) -> str:
    return "never" if moment is None else f"+{moment - marks['measured']:.1f} s"


def dict_text(counts: Any) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(dict(counts).items(), key=str)) or "none"


def minted_listed(soak: Soak) -> tuple[bool, str]:
    """Every biller JWT minted through the admin API during the run is listed with its audit fields."""
    minted = [e for e in soak.events if e["event"] == "minted"]
    found = 0
    for e in minted:
        biller = soak.config["billers"][e["biller"]]
        status, _, body = http(
            soak,
            "GET",
            f"/api/billers/{biller['guid']}/tokens",
            headers={"Authorization": f"Bearer {portal_jwt(soak, biller['guid'])}"},
        )
        rows = json.loads(body)["tokens"] if status == 200 else []
        found += any(
            r["jti"] == e["jti"]
            and r.get("createdBy", {}).get("sub") == "soak-admin@example.com"
            and r.get("createdAt")
            for r in rows
        )
    return found == len(minted) and bool(minted), f"{found} of {len(minted)} listed with createdBy/createdAt"


def phase_table(records: list[dict[str, Any]], events: list[dict[str, Any]], marks: dict[str, float]) -> None:
    later = sorted((e["t"], e["event"]) for e in events if e["t"] >= marks["measured"])
    cuts = [("warm", marks["measured"]), *[(name, t) for t, name in later], ("end", float("inf"))]
    print(f"\n{'phase':<28}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    for (name, start), (_, end) in itertools.pairwise(cuts):
        chunk = [r for r in records if start <= r["t"] < end]
        if chunk:
            latencies = [r["ms"] for r in chunk]
            print(
                f"{name:<28}{len(chunk):>9}{statistics.median(latencies):>9.1f}{p(latencies, 0.99):>9.1f}  "
                f"{dict_text(Counter(r['status'] for r in chunk))}"
            )
    by_route = Counter((r["kind"], r["status"]) for r in records)
    print("\nby request kind and status: " + "; ".join(f"{k} {s}: {n}" for (k, s), n in sorted(by_route.items())))


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="payer-auth-soak-") as tmp:
        soak = setup(Path(tmp))
        soak.fault_seconds = args.fault_seconds
        with host(soak, args.instances) as process:
            wait_for_port(soak.port)
            burst = cold_burst(soak)
            soak.event("cold start burst", statuses=dict(burst))
            calibration = soak.folder / "calibration.jsonl"
            calibrating = drive(soak, 0, args.calibrate, args.connections, calibration)
            out, _ = calibrating.communicate(timeout=args.calibrate + 60)
            measured = json.loads(out.splitlines()[-1])["per_second"]
            rate = args.rate or round(measured * 0.8, 1)
            soak.event("calibrated", closed_loop_per_second=round(measured, 1), rate=rate)
            warm = resources(process.pid)
            marks = {"measured": time.time()}
            plan = schedule(soak, args.duration, marks["measured"])
            soak.config["stall_window"] = plan.pop("stall_window")
            records_file = soak.folder / "records.jsonl"
            load = drive(soak, rate, args.duration, args.connections, records_file)
            for at, action in plan["faults"]:
                time.sleep(max(0.0, at - time.time()))
                action()
            load.communicate(timeout=args.duration + 120)
            end = resources(process.pid)
            records = [json.loads(line) for line in records_file.read_text().splitlines()]
            lines = [
                ("cold start: concurrent first requests all answered, none 503", set(burst) == {200}, dict_text(burst)),
                *analyse(soak, records, marks),
                ("nothing lost: admin-API biller JWTs listed", *minted_listed(soak)),
            ]
            growth = (end["rss_mb"] - warm["rss_mb"]) / warm["rss_mb"] if warm["rss_mb"] else 0.0
            lines.append(
                (
                    "memory growth over the run under 10 %",
                    growth < 0.10,
                    f"{warm['rss_mb']:.0f} -> {end['rss_mb']:.0f} MB ({growth:+.1%}); fds {warm['fds']:.0f} -> "
                    f"{end['fds']:.0f}; threads {warm['threads']:.0f} -> {end['threads']:.0f}",
                )
            )
        phase_table(records, soak.events, marks)
        print(
            f"\nsoak: {len(records)} requests in {args.duration:.0f} s at {rate} req/s, "
            f"{args.instances} instance(s), {args.connections} connections"
        )
        for what, ok, detail in lines:
            print(f"  {'PASS' if ok else 'MISS'}  {what:<72} {detail}")
        save(args, soak, lines, records, warm, end)
        return 0 if all(ok for _, ok, _ in lines) else 1


def schedule(soak: Soak, duration: float, start: float) -> dict[str, Any]:
    """Faults at fixed fractions of the run, each with room to recover before the next."""
    at = {
        name: start + duration * fraction
        for name, fraction in {
            "rotate": 0.08,
            "mint": 0.14,
            "revoke": 0.18,
            "master": 0.36,
            "revoke again": 0.55,
            "keystore": 0.62,
            "stall": 0.80,
        }.items()
    }
    stall_window = [at["stall"], at["stall"] + soak.fault_seconds]
    faults: list[tuple[float, Callable[[], None]]] = [
        (at["rotate"], lambda: rotate_keys(soak)),
        (at["mint"], lambda: mint_tokens(soak)),
        (at["revoke"], lambda: revoke_token(soak, 1)),
        (at["master"], lambda: master_down(soak)),
        (at["revoke again"], lambda: revoke_token(soak, 2)),
        (at["keystore"], lambda: key_store_down(soak)),
        (at["stall"], lambda: stall_jwks(soak, stall_window)),
    ]
    return {"faults": faults, "stall_window": stall_window}


def save(
    args: argparse.Namespace,
    soak: Soak,
    lines: list[tuple[str, bool, str]],
    records: list[dict[str, Any]],
    warm: dict[str, float],
    end: dict[str, float],
) -> None:
    out = ROOT / "bench" / "results" / f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "events": soak.events,
                "verdicts": lines,
                "warm": warm,
                "end": end,
                "requests": len(records),
            },
            indent=2,
            default=str,
        )
    )
    out.with_suffix(".records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    print(f"\nresults written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--quick", action="store_true", help="60 s of load")
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s (default: 80 %% of calibrated)")
    parser.add_argument(
        "--instances",
        type=int,
        default=2,
        help="local host instances, each its own process serving one request at a time (default 2)",
    )
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--calibrate", type=float, default=5.0, help="seconds of closed-loop calibration")
    parser.add_argument("--fault-seconds", type=float, default=15.0, help="how long each fault lasts")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.fault_seconds = 60.0, 8.0
    sys.exit(run(args))


if __name__ == "__main__":
    main()
