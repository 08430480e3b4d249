"""Capacity on paper: what the whole customer base costs in instances, queries and Key Vault calls.

    make capacity                        # the three worked sizes, from the latest bench/results/*.json
    python -m bench.capacity --page-loads 500 --billers 10000 [--results FILE] [--json]
    python -m bench.capacity --simulate [--instances 3] [--billers 300] [--seconds 40]

The model is docs/capacity.md's, in code. Unit costs come from the newest `make bench` result when there
is one (the server CPU per HTTP request), else from the figures in bench/README.md. Each documented limit
is named with its source in LIMITS; every line of the verdict table is PASS (within 70 % of the limit),
or MISS.

--simulate checks the model: it runs the local host with N instance processes sharing the embedded
databases, loads it from bench/load.py with exchanges spread evenly over B billers' JWTs, reads the
database cursors and key-store loads each instance reports as it exits, and prints them beside what the
model predicts for the same inputs (PASS within 20 %).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
HEADROOM = 0.7  # plan to use at most 70 % of any documented limit

# Documented limits, each with the page that states it.
LIMITS = {
    # https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan (scale-out instances, max 1000;
    # "Concurrency": Python HTTP per-instance concurrency 1 at every instance size)
    "flex_max_instances": 1000,
    "flex_python_http_concurrency": 1,
    # https://learn.microsoft.com/azure/key-vault/general/service-limits (secrets: transactions per 10 s per
    # vault per region)
    "keyvault_transactions_per_10s": 4000,
    # https://learn.microsoft.com/azure/azure-sql/database/resource-limits-vcore-single-databases (GP_Gen5_2)
    "sql_gp_gen5_2_workers": 200,
    "sql_gp_gen5_2_sessions": 30_000,
    # https://azure.microsoft.com/pricing/details/api-management/ and
    # https://learn.microsoft.com/azure/api-management/upgrade-and-scale: an estimated maximum throughput per
    # unit, for rough planning (Developer 500, Basic 1,000, Standard 2,500, Premium 4,000 requests/s)
    "apim_standard_rps_per_unit": 2500,
}

# bench/README.md, latest run: 1,097 exchanges/s per server CPU-second through the local host.
DEFAULT_SERVER_MS_PER_REQUEST = 1000 / 1097


@dataclass(frozen=True)
class Inputs:
    page_loads_per_s: float
    billers: int
    jwts_per_biller: float = 1.5  # active biller JWTs (a domain, or a staging and a live one)
    shards: int = 4
    profile_calls_per_page_load: float = 1.0  # after bootstrap, the component's protected reads
    tenant_logins_per_s: float = 0.0
    revocation_bound_s: int = 60  # PAYERAUTH_REVOCATION_BOUND: how long a row stays cached
    key_refresh_s: int = 300  # PAYERAUTH_KEY_REFRESH_SECONDS
    key_rings: int = 2  # IC certificate (verify, mint) and the payer certificate, separate in Azure
    key_versions: int = 2  # enabled versions per certificate during a rotation overlap
    payer_token_lifetime_s: int = 900
    server_ms_per_request: float = DEFAULT_SERVER_MS_PER_REQUEST
    host_overhead_ms: float = 2.0  # assumption: the Functions host's gRPC hop and HTTP stack on Flex
    utilisation: float = 0.6  # plan instances to run at most this busy
    max_instances: int = 200  # infra/env/prod.bicepparam maximumInstanceCount
    apim_units: int = 1
    cache_entries: int = 10_000  # PAYERAUTH_DIRECTORY_CACHE_SIZE, per cache, per instance
    scale_out_burst: int = 50  # instances that may start within one 10 s window (cold starts read every key)


def requests_per_s(i: Inputs) -> float:
    return i.page_loads_per_s * (1 + i.profile_calls_per_page_load) + i.tenant_logins_per_s


def instances_needed(i: Inputs) -> int:
    concurrency = LIMITS["flex_python_http_concurrency"]
    per_instance = i.utilisation * concurrency / ((i.server_ms_per_request + i.host_overhead_ms) / 1000)
    return max(1, math.ceil(requests_per_s(i) / per_instance))


def cache_misses_per_s(keys: float, lookups_per_s: float, ttl: float, capacity: int) -> float:
    """Loads per second of a TTL cache (entries live `ttl` from their load) under uniform Poisson lookups.

    Each key is looked up at rate l = lookups/keys; after its entry expires the next lookup misses, so a key
    misses l / (1 + l*ttl) times a second (a renewal process). When the live entries would not fit in the
    cache, evictions make a lookup hit only with the chance that its key is among the `capacity` kept.
    """
    if keys <= 0 or lookups_per_s <= 0:
        return 0.0
    rate = lookups_per_s / keys
    misses = keys * rate / (1 + rate * ttl)
    if live_entries(keys, lookups_per_s, ttl) > capacity:
        misses = max(misses, lookups_per_s * (1 - capacity / keys))
    return misses


def live_entries(keys: float, lookups_per_s: float, ttl: float) -> float:
    rate = lookups_per_s / keys if keys else 0.0
    return keys * rate * ttl / (1 + rate * ttl)


def model(i: Inputs) -> dict[str, float]:
    n = instances_needed(i)
    exchanges_per_instance = i.page_loads_per_s / n
    tokens = i.billers * i.jwts_per_biller
    biller_misses = cache_misses_per_s(i.billers, exchanges_per_instance, i.revocation_bound_s, i.cache_entries)
    token_misses = cache_misses_per_s(tokens, exchanges_per_instance, i.revocation_bound_s, i.cache_entries)
    refreshes_per_10s = n * i.key_rings * 10 / i.key_refresh_s
    cold_start_reads = i.scale_out_burst * i.key_rings * (1 + i.key_versions)  # list versions + get each
    return {
        "requests_per_s": requests_per_s(i),
        "instances": n,
        "master_queries_per_s": n * biller_misses + i.tenant_logins_per_s * 2,
        "shard_queries_per_s": n * token_misses / i.shards,
        "cache_live_entries": live_entries(tokens, exchanges_per_instance, i.revocation_bound_s),
        "sql_concurrent_workers": n * LIMITS["flex_python_http_concurrency"],  # one query at a time each
        "sql_sessions": n * (1 + i.shards),
        "keyvault_calls_per_hour": n * i.key_rings * 3600 / i.key_refresh_s,
        "keyvault_peak_per_10s": refreshes_per_10s + cold_start_reads,
        "apim_jwks_fetches_per_hour": i.apim_units * 2,  # discovery + JWKS, hourly per gateway unit
        "apim_rps": requests_per_s(i),
    }


def verdicts(i: Inputs, m: dict[str, float]) -> list[tuple[str, float, float]]:
    """(what, used, limit) for each documented limit."""
    return [
        ("Flex instances vs plan maximum (1000)", m["instances"], LIMITS["flex_max_instances"]),
        ("Flex instances vs configured maximumInstanceCount", m["instances"], i.max_instances),
        ("directory cache: live token rows per instance fit", m["cache_live_entries"], i.cache_entries),
        ("Key Vault transactions per 10 s (peak)", m["keyvault_peak_per_10s"], LIMITS["keyvault_transactions_per_10s"]),
        ("SQL workers (GP_Gen5_2, Master)", m["sql_concurrent_workers"], LIMITS["sql_gp_gen5_2_workers"]),
        ("SQL sessions (GP_Gen5_2)", m["sql_sessions"], LIMITS["sql_gp_gen5_2_sessions"]),
        ("APIM requests/s (Standard units)", m["apim_rps"], LIMITS["apim_standard_rps_per_unit"] * i.apim_units),
    ]


SIZES = {
    "pilot": Inputs(page_loads_per_s=5, billers=100, shards=1, max_instances=100),
    "customer base": Inputs(page_loads_per_s=500, billers=10_000, apim_units=1),
    "10x": Inputs(page_loads_per_s=5000, billers=100_000, shards=8, apim_units=6, max_instances=1000),
}


def server_ms_from_results(path: Path | None) -> float | None:
    candidates = [path] if path else sorted((ROOT / "bench" / "results").glob("[0-9]*.json"))[-1:]
    for candidate in candidates:
        if candidate and candidate.exists():
            http = json.loads(candidate.read_text()).get("5_http", {})
            per_core = http.get("rps_per_core")
            if per_core:
                return 1000 / float(per_core)
    return None


def report(name: str, i: Inputs) -> bool:
    m = model(i)
    print(
        f"\n## {name}: {i.page_loads_per_s:g} page loads/s, {i.billers:,} billers, "
        f"{i.billers * i.jwts_per_biller:,.0f} biller JWTs, {i.shards} shard(s)"
    )
    print(
        f"  requests/s {m['requests_per_s']:,.0f}; instances {m['instances']:,}; "
        f"Master {m['master_queries_per_s']:,.1f} q/s; each shard {m['shard_queries_per_s']:,.1f} q/s; "
        f"Key Vault {m['keyvault_calls_per_hour']:,.0f} calls/h; APIM metadata fetches "
        f"{m['apim_jwks_fetches_per_hour']:,.0f}/h"
    )
    ok = True
    for what, used, limit in verdicts(i, m):
        passed = used <= HEADROOM * limit
        ok &= passed
        print(f"  {'PASS' if passed else 'MISS'}  {what:<52} {used:>10,.0f} of {limit:>8,.0f} ({used / limit:6.1%})")
    return ok


# --- the simulation ------------------------------------------------------------------------------------------

SIM_BOUND = 10  # a short revocation bound, so a short run spans several cache lifetimes
SIM_REFRESH = 10


def simulate(instances: int, billers: int, seconds: float, connections: int) -> bool:
    import os
    import re
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    from bench.ports import free_port, wait_for_port

    with tempfile.TemporaryDirectory(prefix="payer-auth-capacity-") as tmp:
        folder = Path(tmp)
        shards = {"s1": f"sqlite:{folder / 's1.db'}", "s2": f"sqlite:{folder / 's2.db'}"}
        env = {
            **os.environ,
            "PAYERAUTH_LOCAL_DIR": str(folder),
            "PAYERAUTH_MASTER_DB": f"sqlite:{folder / 'm.db'}",
            "PAYERAUTH_SHARD_DBS": json.dumps(shards),
            "PAYERAUTH_REVOCATION_BOUND": str(SIM_BOUND),
            "PAYERAUTH_KEY_REFRESH_SECONDS": str(SIM_REFRESH),
        }
        tokens = folder / "tokens.json"
        tokens.write_text(json.dumps(populate(env, billers)))
        port = free_port()
        log = (folder / "host.log").open("w+")
        host = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.localhost",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--demo-port",
                "0",
                "--instances",
                str(instances),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port)
            started = time.monotonic()
            load = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.load",
                    "--port",
                    str(port),
                    "--tokens-file",
                    str(tokens),
                    "--concurrency",
                    str(connections),
                    "--seconds",
                    str(seconds),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed = time.monotonic() - started
        finally:
            host.send_signal(signal.SIGTERM)
            host.wait(timeout=30)
        log.seek(0)
        counts = [json.loads(m) for m in re.findall(r"io counts (\{.*\})", log.read())]
    result = json.loads(load.stdout)
    ok_requests = result["requests"] - result["non_2xx"] - result["failed"]
    return compare(instances, billers, ok_requests / result["seconds"], elapsed, counts, result)


def populate(env: dict[str, str], billers: int) -> list[dict[str, str]]:
    """Billers spread over two shards, one recorded biller JWT each."""
    from shared.app import PayerAuth
    from shared.billers.directory import Actor
    from shared.settings import Settings
    from shared.storage.schema import create_schema

    service = PayerAuth.from_settings(Settings.from_env(env))
    create_schema(service.directory.master, "master")
    for shard in service.directory.shards.values():
        create_schema(shard, "shard")
    minted = []
    for i in range(billers):
        domain = f"127.0.0.1:{10_000 + i}"
        guid = service.directory.add_biller(str(uuid4()), f"Biller {i}", domain, "s1" if i % 2 else "s2").guid
        minted.append(
            {
                "token": service.biller_tokens.mint(guid, domain, Actor(sub="capacity")).token,
                "origin": f"http://{domain}",
            }
        )
    return minted


def compare(
    instances: int, billers: int, rate: float, elapsed: float, counts: list[dict[str, int]], load: dict[str, Any]
) -> bool:
    per_instance = rate / instances
    master = instances * cache_misses_per_s(billers, per_instance, SIM_BOUND, 10_000) * elapsed
    shards = instances * cache_misses_per_s(billers, per_instance, SIM_BOUND, 10_000) * elapsed
    key_loads = instances * (1 + math.floor(elapsed / SIM_REFRESH))  # the first load, then one per interval
    seen = {
        "master": sum(c.get("database:Master", 0) for c in counts),
        "shards": sum(v for c in counts for k, v in c.items() if k.startswith("database:shard")),
        "key store loads": sum(c.get("key store loads", 0) for c in counts),
    }
    print(
        f"simulation: {instances} instance processes, {billers} billers, {rate:.0f} exchanges/s for {elapsed:.0f} s "
        f"(non-2xx {load['non_2xx']}, failed {load['failed']}); revocation bound {SIM_BOUND} s, key refresh "
        f"{SIM_REFRESH} s; {len(counts)} instances reported"
    )
    ok = len(counts) == instances and load["non_2xx"] == 0 and load["failed"] == 0
    for what, predicted in (("master", master), ("shards", shards), ("key store loads", key_loads)):
        within = abs(seen[what] - predicted) <= 0.2 * predicted
        ok &= within
        print(
            f"  {'PASS' if within else 'MISS'}  {what:<18} model {predicted:>8.0f}   measured {seen[what]:>8}   "
            f"({seen[what] / predicted - 1:+.0%})"
        )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page-loads", type=float, help="peak page loads per second (else the three sizes)")
    parser.add_argument("--billers", type=int, default=None, help="default 10,000 (300 with --simulate)")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--revocation-bound", type=int, default=60)
    parser.add_argument("--key-refresh", type=int, default=300)
    parser.add_argument("--apim-units", type=int, default=1)
    parser.add_argument("--max-instances", type=int, default=200)
    parser.add_argument("--results", type=Path, help="a bench/results/*.json to take the unit cost from")
    parser.add_argument("--json", action="store_true", help="print the model's numbers as JSON")
    parser.add_argument("--simulate", action="store_true", help="check the model against local instances")
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=45.0, help="load duration (not a multiple of 10 s)")
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    if args.simulate:
        raise SystemExit(0 if simulate(args.instances, args.billers or 300, args.seconds, args.connections) else 1)
    measured = server_ms_from_results(args.results)
    print(
        f"unit cost: {measured or DEFAULT_SERVER_MS_PER_REQUEST:.2f} ms server CPU per request "
        f"({'measured' if measured else 'bench/README.md'}) + host overhead (assumed)"
    )
    if args.page_loads is not None:
        sizes = {
            "custom": Inputs(
                page_loads_per_s=args.page_loads,
                billers=args.billers or 10_000,
                shards=args.shards,
                revocation_bound_s=args.revocation_bound,
                key_refresh_s=args.key_refresh,
                apim_units=args.apim_units,
                max_instances=args.max_instances,
            )
        }
    else:
        sizes = SIZES
    sizes = {name: replace(i, server_ms_per_request=measured) if measured else i for name, i in sizes.items()}
    if args.json:
        print(json.dumps({name: {"inputs": asdict(i), "model": model(i)} for name, i in sizes.items()}, indent=2))
        return
    results = [report(name, i) for name, i in sizes.items()]
    print(f"\n{sum(results)} of {len(results)} sizes within {HEADROOM:.0%} of every documented limit")


if __name__ == "__main__":
    main()
