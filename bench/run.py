"""Payer Auth benchmark: how close a token exchange stays to the cryptography it really does.

    make bench            (python -m bench.run [--quick] [--out FILE])

One run, one machine, medians and ratios:
 1. floors (cryptography, RSA-2048 PKCS#1 v1.5 SHA-256, payer-JWT-sized payload): one sign (what a warm
    exchange does: its biller JWT's claims are cached), and verify + sign (what a first sight of a token does)
 2. PyJWT alone: decode of a biller JWT + encode of a payer JWT (for comparison)
 3. our exchange core (no HTTP): warm (claims cached) and a cache miss (verified through PyJWT)
 4. the function handler (func.HttpRequest in, func.HttpResponse out), warm, body and cookie
 5. HTTP through the local host under concurrent load from a separate process
 6. the JWKS route, 200 and 304, in-process
 7. ES256 payer tokens against their own floors
 8. cold start, interleaved over fresh interpreters: import azure.functions, import function_app, and
    import + a first exchange
plus database, key-store and PyJWT-decode calls per warm exchange (must be zero).  Every timed call's
result is checked (a token issued, status 200); the run exits non-zero when any call or HTTP request
failed or answered wrongly.  A MISS against a target is printed, not fatal.  Results go to
bench/results/*.json.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import azure.functions as func
import cryptography
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import function_app  # noqa: E402
from shared.app import PayerAuth  # noqa: E402
from shared.billers.directory import Actor  # noqa: E402
from shared.billers.exchange import Exchange, ExchangeRequest, Issued  # noqa: E402
from shared.jose import verify as jose_verify  # noqa: E402
from shared.jose.keys import KeyRing  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.storage.database import Database  # noqa: E402
from shared.storage.schema import create_schema  # noqa: E402
from tools.demo_site import DEMO_BILLER_GUID  # noqa: E402
from tools.kestrel import stop  # noqa: E402
from tools.localhost import serve  # noqa: E402

ORIGIN = "http://127.0.0.1:8080"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
TARGETS = {
    "warm_over_sign": 1.30,
    "miss_over_verify_sign": 1.50,
    "handler_over_sign": 1.60,
    "import_overhead_ms": 150.0,
    "http_rps_per_core": 1000.0,
    "http_p99_ms": 20.0,
    "jwks_rps": 20_000.0,
}
AT_LEAST = {"http_rps_per_core", "jwks_rps"}
COLD_START_RUNS = 5  # fresh interpreters per measurement, at least


Check = Callable[[Any], str | None]  # None when the result is right, else what is wrong with it


@dataclass
class Timed:
    """A function to time, and the check every one of its results must pass (outside the timed region)."""

    fn: Callable[[], object]
    check: Check
    failures: list[str] = field(default_factory=list)

    def run_once(self) -> float:
        started = time.perf_counter_ns()
        try:
            result = self.fn()
        except Exception as exc:  # a failed call is recorded, and fails the run at the end
            elapsed = (time.perf_counter_ns() - started) / 1000
            self.failures.append(f"raised {type(exc).__name__}: {exc}")
            return elapsed
        elapsed = (time.perf_counter_ns() - started) / 1000
        wrong = self.check(result)
        if wrong:
            self.failures.append(wrong)
        return elapsed


def samples_us(timed: Timed, runs: int) -> list[float]:
    return [timed.run_once() for _ in range(runs)]


def stats(samples: list[float], failures: list[str]) -> dict[str, Any]:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    return {
        "median_us": median,
        "p99_us": ordered[int(len(ordered) * 0.99) - 1],
        "per_second": 1e6 / median,
        "runs": len(ordered),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
    }


def per_call_us(timed: Timed, runs: int) -> dict[str, Any]:
    samples_us(timed, min(50, runs))
    return stats(samples_us(timed, runs), timed.failures)


def interleaved(functions: dict[str, Timed], runs: int, rounds: int = 20) -> dict[str, Any]:
    """Time several functions in alternating slices, so drift in CPU speed hits them all alike."""
    for timed in functions.values():
        samples_us(timed, 50)
    pooled: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, timed in functions.items():
            pooled[name] += samples_us(timed, max(1, runs // rounds))
    return {name: stats(samples, functions[name].failures) for name, samples in pooled.items()}


# --- what a right result is ----------------------------------------------------------------------


def is_signature(result: object) -> str | None:
    return None if isinstance(result, bytes) and len(result) >= 64 else f"not a signature: {result!r:.80}"


def is_issued(result: object) -> str | None:
    if isinstance(result, Issued) and result.token.count(".") == 2:
        return None
    return f"no payer token issued: {result!r:.80}"


def is_claims(result: object) -> str | None:
    return None if isinstance(result, dict) and result.get("jti") else f"no claims decoded: {result!r:.80}"


def answered(status: int, needle: bytes | None = None, header: str | None = None) -> Check:
    def check(result: object) -> str | None:
        if not isinstance(result, func.HttpResponse) or result.status_code != status:
            code = getattr(result, "status_code", None)
            body = result.get_body()[:120] if isinstance(result, func.HttpResponse) else b""
            return f"answered {code} instead of {status}: {body!r}"
        if needle is not None and needle not in result.get_body():
            return f"the {status} answer lacks {needle!r}"
        if header is not None and header not in result.headers:
            return f"the {status} answer lacks the {header} header"
        return None

    return check


# --- the service under test ----------------------------------------------------------------------


def environment(folder: Path, **overrides: str) -> dict[str, str]:
    values = {
        "PAYERAUTH_LOCAL_DIR": str(folder),
        "PAYERAUTH_MASTER_DB": f"sqlite:{folder / 'master.db'}",
        "PAYERAUTH_SHARD_DBS": json.dumps({"shard01": f"sqlite:{folder / 'shard01.db'}"}),
    }
    values.update({f"PAYERAUTH_{k.upper()}": v for k, v in overrides.items()})
    return values


def build(folder: Path, **overrides: str) -> tuple[PayerAuth, str]:
    settings = Settings.from_env(environment(folder, **overrides))
    service = PayerAuth.from_settings(settings)
    create_schema(service.directory.master, "master")
    create_schema(next(iter(service.directory.shards.values())), "shard")
    if service.directory.biller(DEMO_BILLER_GUID) is None:
        service.directory.add_biller(DEMO_BILLER_GUID, "Demo Biller", "127.0.0.1:8080", "shard01")
    token = service.biller_tokens.mint(DEMO_BILLER_GUID, "127.0.0.1:8080", Actor(sub="bench")).token
    return service, token


def jose_library() -> str:
    """Which code does the JOSE work (signing and verifying JWS) in the service being measured."""
    named = getattr(jose_verify, "JOSE_LIBRARY", None)
    if named:
        return f"{named} (over cryptography {cryptography.__version__})"
    return f"shared/jose/jws.py, hand-written, over cryptography {cryptography.__version__}"


def token_request(token: str, delivery: str) -> func.HttpRequest:
    body = urlencode(
        {"grant_type": GRANT, "subject_token_type": JWT_TYPE, "subject_token": token, "token_delivery": delivery}
    ).encode()
    return func.HttpRequest(
        "POST",
        "http://localhost:7071/api/payer/token",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN},
    )


# --- floors -------------------------------------------------------------------------------------


def floor_rs256_sign(service: PayerAuth, payload_size: int) -> Timed:
    """A warm exchange's floor: its biller JWT's claims are cached, so the only cryptography is one sign."""
    key = rsa_key(service)
    message = b"x" * payload_size
    return Timed(lambda: key.sign(message, padding.PKCS1v15(), hashes.SHA256()), is_signature)


def rsa_key(service: PayerAuth) -> rsa.RSAPrivateKey:
    key = service.ic_keys.current().signer.material.private_key
    assert isinstance(key, rsa.RSAPrivateKey), "the IC key is RSA"
    return key


def floor_rs256(service: PayerAuth, payload_size: int) -> Timed:
    """A cache miss's floor: the biller JWT's verify plus the payer JWT's sign."""
    key = rsa_key(service)
    public = key.public_key()
    message = b"x" * payload_size
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def both() -> bytes:
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    return Timed(both, is_signature)


def floor_es256(service: PayerAuth, payload_size: int, *, verify: bool) -> Timed:
    """The ES256 path's floors: an ES256 sign, after the biller JWT's RS256 verify on a cache miss."""
    ic_key = rsa_key(service)
    ic_public = ic_key.public_key()
    payer_key = ec.generate_private_key(ec.SECP256R1())
    message = b"x" * payload_size
    signature = ic_key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def sign() -> bytes:
        if verify:
            ic_public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        return payer_key.sign(message, ec.ECDSA(hashes.SHA256()))

    return Timed(sign, is_signature)


def pyjwt_pair(service: PayerAuth, biller_token: str, payer_claims: dict[str, Any]) -> Timed:
    signer = service.ic_keys.current().signer

    def both() -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            biller_token,
            signer.public_key,
            algorithms=["RS256"],
            audience=service.settings.biller_audience,
            issuer=service.settings.biller_issuer,
        )
        jwt.encode(
            payer_claims, signer.material.private_key, algorithm="RS256", headers={"kid": signer.kid, "typ": "at+jwt"}
        )
        return claims

    return Timed(both, is_claims)


class IoCounter:
    """Counts database connections, key-store loads and PyJWT decodes while installed."""

    def __init__(self) -> None:
        self.database = 0
        self.key_store = 0
        self.pyjwt_decodes = 0
        self._cursor = Database.cursor
        self._refresh = KeyRing.refresh
        self._decode = jwt.PyJWS.decode_complete

    def __enter__(self) -> IoCounter:
        counter = self
        original_cursor, original_refresh, original_decode = self._cursor, self._refresh, self._decode

        def cursor(db: Database, **kwargs: Any) -> Any:
            counter.database += 1
            return original_cursor(db, **kwargs)

        def refresh(ring: KeyRing) -> bool:
            counter.key_store += 1
            return original_refresh(ring)

        def decode_complete(jws: jwt.PyJWS, *args: Any, **kwargs: Any) -> Any:
            counter.pyjwt_decodes += 1
            return original_decode(jws, *args, **kwargs)

        Database.cursor = cast(Any, cursor)  # type: ignore[method-assign]
        KeyRing.refresh = cast(Any, refresh)  # type: ignore[method-assign]
        jwt.PyJWS.decode_complete = cast(Any, decode_complete)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Database.cursor = self._cursor  # type: ignore[method-assign]
        KeyRing.refresh = self._refresh  # type: ignore[method-assign]
        jwt.PyJWS.decode_complete = self._decode  # type: ignore[method-assign]


def warm_io(token: str, count: int = 1000) -> dict[str, Any]:
    check = answered(200, header="Set-Cookie")
    failures = []
    with IoCounter() as io:
        for _ in range(count):
            wrong = check(function_app.payer_token(token_request(token, "cookie")))
            if wrong:
                failures.append(wrong)
    return {
        "database": io.database / count,
        "key_store": io.key_store / count,
        "pyjwt_decodes": io.pyjwt_decodes / count,
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
    }


def without_claims_cache(exchange: Exchange) -> Exchange:
    """The same exchange, verifying every biller JWT with PyJWT (a first sight of each token)."""
    uncached = copy.copy(exchange)
    uncached.verified = None
    return uncached


def http_load(service: PayerAuth, token: str, seconds: float, concurrency: int) -> dict[str, Any]:
    server = serve("127.0.0.1", 0, platform="flex")  # one Flex instance behind the edge: one request at a time
    function_app.install(service)
    port = server.server_address[1]
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            "--port",
            str(port),
            "--token",
            token,
            "--origin",
            ORIGIN,
            "--concurrency",
            str(concurrency),
            "--seconds",
            str(seconds),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    server_cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    stop(server)
    result: dict[str, Any] = json.loads(done.stdout)
    result["rps"] = result["requests"] / result["seconds"]
    result["server_cpu_seconds"] = server_cpu
    result["server_cores_used"] = server_cpu / wall
    result["rps_per_core"] = result["requests"] / server_cpu if server_cpu else None
    result["concurrency"] = concurrency
    result["platform"], result["instances"] = "flex", 1
    return result


FIRST_EXCHANGE = """import time; t = time.perf_counter(); import function_app, sys
from bench.run import token_request
r = function_app.payer_token(token_request(sys.argv[1], 'body'))
elapsed = time.perf_counter() - t
assert r.status_code == 200 and b'access_token' in r.get_body(), r.get_body()
print(elapsed)"""


def cold_start(folder: Path, runs: int) -> dict[str, Any]:
    """Fresh interpreters, the three measurements interleaved run by run so drift hits them alike."""
    env = {**os.environ, **environment(folder)}
    service, token = build(folder)
    del service
    codes = {
        "bare_import_ms": (
            "import time; t=time.perf_counter(); import azure.functions; print(time.perf_counter()-t)",
            (),
        ),
        "function_app_import_ms": (
            "import time; t=time.perf_counter(); import function_app; print(time.perf_counter()-t)",
            (),
        ),
        "first_exchange_ms": (FIRST_EXCHANGE, (token,)),
    }
    times: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, (code, args) in codes.items():
            done = subprocess.run(
                [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
            )
            times[name].append(float(done.stdout) * 1000)
    result: dict[str, Any] = {name: statistics.median(values) for name, values in times.items()}
    result["import_overhead_ms"] = result["function_app_import_ms"] - result["bare_import_ms"]
    result["runs"] = runs
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Payer Auth benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test of the benchmark)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    runs = 300 if args.quick else 3000
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "jose": jose_library(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        service, token = build(folder)
        function_app.install(service)
        exchange_request = ExchangeRequest(token, "body", ORIGIN, None)
        issued = service.exchange.run(exchange_request)
        payload_size = len(issued.token.rsplit(".", 1)[0])

        uncached = without_claims_cache(service.exchange)
        body, cookie = token_request(token, "body"), token_request(token, "cookie")
        results.update(
            interleaved(
                {
                    "1_floor_rs256_sign": floor_rs256_sign(service, payload_size),
                    "1_floor_rs256": floor_rs256(service, payload_size),
                    "2_pyjwt": pyjwt_pair(service, token, issued.claims),
                    "3_core": Timed(lambda: service.exchange.run(exchange_request), is_issued),
                    "3_core_uncached": Timed(lambda: uncached.run(exchange_request), is_issued),
                    "4_handler_body": Timed(lambda: function_app.payer_token(body), answered(200, b'"access_token"')),
                    "4_handler_cookie": Timed(
                        lambda: function_app.payer_token(cookie), answered(200, header="Set-Cookie")
                    ),
                },
                runs,
            )
        )
        results["io_per_warm_exchange"] = warm_io(token)

        results["5_http"] = http_load(service, token, 3.0 if args.quick else 10.0, concurrency=4)
        function_app.install(service)
        jwks = func.HttpRequest("GET", "http://localhost:7071/.well-known/jwks.json", body=b"")
        etag = function_app.jwks(jwks).headers["ETag"]
        jwks_304 = func.HttpRequest(
            "GET", "http://localhost:7071/.well-known/jwks.json", body=b"", headers={"If-None-Match": etag}
        )
        results["6_jwks_200"] = per_call_us(Timed(lambda: function_app.jwks(jwks), answered(200, b'"keys"')), runs * 3)
        results["6_jwks_304"] = per_call_us(Timed(lambda: function_app.jwks(jwks_304), answered(304)), runs * 3)

        es_folder = folder / "es256"
        es_folder.mkdir()
        es_service, es_token = build(es_folder, payer_algorithm="ES256")
        es_request = ExchangeRequest(es_token, "body", ORIGIN, None)
        es_uncached = without_claims_cache(es_service.exchange)
        results.update(
            interleaved(
                {
                    "7_es256_floor_sign": floor_es256(es_service, payload_size, verify=False),
                    "7_es256_floor": floor_es256(es_service, payload_size, verify=True),
                    "7_es256_core": Timed(lambda: es_service.exchange.run(es_request), is_issued),
                    "7_es256_core_uncached": Timed(lambda: es_uncached.run(es_request), is_issued),
                },
                runs,
            )
        )
        results["8_cold_start"] = cold_start(folder / "cold", COLD_START_RUNS if args.quick else 9)
    errors = report(results)
    out = args.out or ROOT / "bench" / "results" / f"{results['when'].replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {out}")
    if errors:
        print(f"FAILED: {len(errors)} error(s) in the run, see above", file=sys.stderr)
        sys.exit(1)


TIMED_ROWS = [
    ("1 floor: RS256 sign", "1_floor_rs256_sign"),
    ("1 floor: RS256 verify + sign", "1_floor_rs256"),
    ("2 PyJWT alone: decode + encode", "2_pyjwt"),
    ("3 exchange core, warm (claims cached)", "3_core"),
    ("3 exchange core, cache miss", "3_core_uncached"),
    ("4 handler, body", "4_handler_body"),
    ("4 handler, cookie", "4_handler_cookie"),
    ("6 JWKS 200", "6_jwks_200"),
    ("6 JWKS 304", "6_jwks_304"),
    ("7 ES256 floor: ES256 sign", "7_es256_floor_sign"),
    ("7 ES256 floor: RS256 verify + ES256 sign", "7_es256_floor"),
    ("7 exchange core, ES256 payer, warm", "7_es256_core"),
    ("7 exchange core, ES256 payer, miss", "7_es256_core_uncached"),
]


def report(r: dict[str, Any]) -> list[str]:
    """Print the table and the targets; return the errors (wrong results), which fail the run."""
    sign = r["1_floor_rs256_sign"]["median_us"]
    floor = r["1_floor_rs256"]["median_us"]
    checks = {
        "warm_over_sign": r["3_core"]["median_us"] / sign,
        "miss_over_verify_sign": r["3_core_uncached"]["median_us"] / floor,
        "handler_over_sign": max(r["4_handler_body"]["median_us"], r["4_handler_cookie"]["median_us"]) / sign,
        "import_overhead_ms": r["8_cold_start"]["import_overhead_ms"],
        "http_rps_per_core": r["5_http"]["rps_per_core"] or 0.0,
        "http_p99_ms": r["5_http"]["p99_ms"] or float("inf"),
        "jwks_rps": r["6_jwks_200"]["per_second"],
    }
    es_sign, es_floor = r["7_es256_floor_sign"]["median_us"], r["7_es256_floor"]["median_us"]
    r["ratios"] = {
        "es256_warm_over_its_sign": r["7_es256_core"]["median_us"] / es_sign,
        "es256_miss_over_its_floor": r["7_es256_core_uncached"]["median_us"] / es_floor,
    }
    r["checks"] = checks
    print(f"Payer Auth benchmark, {r['machine']['cores']} cores, Python {r['machine']['python']}")
    print(f"JOSE (sign and verify JWS): {r['jose']}")
    for name, key in TIMED_ROWS:
        row = r[key]
        print(
            f"  {name:42s} median {row['median_us']:8.1f} µs  p99 {row['p99_us']:8.1f} µs  "
            f"{row['per_second']:9.0f}/s  x sign {row['median_us'] / sign:5.2f}  x verify+sign "
            f"{row['median_us'] / floor:5.2f}"
        )
    h = r["5_http"]
    print(
        f"  5 HTTP ({h.get('platform', '?')}, {h.get('instances', '?')} instance), {h['concurrency']} connections: "
        f"{h['rps']:.0f} req/s, p50 {h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms, non-2xx {h['non_2xx']}, "
        f"failed {h['failed']}, wrong body {h['wrong_body']}, "
        f"server {h['server_cores_used']:.2f} cores -> {h['rps_per_core']:.0f} req/s per core"
    )
    c = r["8_cold_start"]
    print(
        f"  8 cold start (median of {c['runs']} interleaved runs): import azure.functions "
        f"{c['bare_import_ms']:.0f} ms, function_app {c['function_app_import_ms']:.0f} ms "
        f"(+{c['import_overhead_ms']:.0f} ms), import + first exchange {c['first_exchange_ms']:.0f} ms"
    )
    print(
        f"  ES256: warm {r['ratios']['es256_warm_over_its_sign']:.2f} x its sign, "
        f"miss {r['ratios']['es256_miss_over_its_floor']:.2f} x its verify + sign"
    )
    io = r["io_per_warm_exchange"]
    print(
        f"  per warm exchange: database {io['database']}, key store {io['key_store']}, "
        f"PyJWT decodes {io['pyjwt_decodes']}"
    )
    print("Targets:")
    for name, value in checks.items():
        target = TARGETS[name]
        ok = value >= target if name in AT_LEAST else value <= target
        relation = ">=" if name in AT_LEAST else "<="
        print(f"  {'PASS' if ok else 'MISS'} {name} = {value:.2f} (target {relation} {target})")
    zero = io["database"] == 0 and io["key_store"] == 0 and io["pyjwt_decodes"] == 0
    print(f"  {'PASS' if zero else 'MISS'} zero I/O and no PyJWT decode on the warm path")
    errors = [
        f"{key}: {r[key]['failures']} wrong result(s), first: {r[key]['first_failure']}"
        for _, key in TIMED_ROWS
        if r[key]["failures"]
    ]
    if io["failures"]:
        errors.append(f"warm I/O count: {io['failures']} wrong answer(s), first: {io['first_failure']}")
    if h["non_2xx"] or h["failed"] or h["wrong_body"]:
        errors.append(f"HTTP load: {h['non_2xx']} non-2xx, {h['failed']} failed, {h['wrong_body']} without a token")
    print("Errors:" if errors else "Errors: none (every timed call and request answered right)")
    for error in errors:
        print(f"  ERROR {error}")
    return errors


if __name__ == "__main__":
    main()
