"""A load generator, run as its own process: keep-alive connections posting exchanges.

    python -m bench.load --host 127.0.0.1 --port 7071 --token JWT --origin http://127.0.0.1:8080
    python -m bench.load --port 7071 --tokens-file billers.json   # [{"token", "origin"}, ...], picked uniformly
Prints one JSON object: requests, non-2xx answers, failed requests (connection errors), 2xx answers without a
token, seconds, p50/p99 latency in ms.  The benchmark fails its run when any of those counts is not zero.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    failed: int = 0
    wrong_body: int = 0


def exchange_body(token: str) -> bytes:
    return urlencode(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "subject_token": token,
        }
    ).encode()


def worker(args: argparse.Namespace, requests: list[tuple[bytes, str]], stop_at: float, tally: Tally) -> None:
    pick = random.Random(id(tally)).choice
    connection = http.client.HTTPConnection(args.host, args.port, timeout=10)
    while time.perf_counter() < stop_at:
        body, origin = pick(requests)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin}
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/payer/token", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection(args.host, args.port, timeout=10)
            tally.failed += 1
            continue
        tally.latencies.append(time.perf_counter() - started)
        if not 200 <= response.status < 300:
            tally.non_2xx += 1
        elif b'"access_token"' not in answer:
            tally.wrong_body += 1
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", help="one biller JWT (with --origin)")
    parser.add_argument("--origin")
    parser.add_argument("--tokens-file", help="JSON list of {token, origin}: each request picks one at random")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.tokens_file:
        with open(args.tokens_file) as listing:
            requests = [(exchange_body(t["token"]), t["origin"]) for t in json.load(listing)]
    elif args.token and args.origin:
        requests = [(exchange_body(args.token), args.origin)]
    else:
        parser.error("give --token and --origin, or --tokens-file")
    tallies = [Tally() for _ in range(args.concurrency)]
    started = time.perf_counter()
    stop_at = started + args.seconds
    threads = [threading.Thread(target=worker, args=(args, requests, stop_at, tally)) for tally in tallies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latency for tally in tallies for latency in tally.latencies)
    print(
        json.dumps(
            {
                "requests": len(ordered) + sum(t.failed for t in tallies),
                "non_2xx": sum(t.non_2xx for t in tallies),
                "failed": sum(t.failed for t in tallies),
                "wrong_body": sum(t.wrong_body for t in tallies),
                "seconds": elapsed,
                "p50_ms": statistics.median(ordered) * 1000 if ordered else None,
                "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else None,
            }
        )
    )


if __name__ == "__main__":
    main()
