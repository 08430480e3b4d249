"""A load generator, run as its own process: keep-alive connections posting exchanges.

    python -m bench.load --host 127.0.0.1 --port 7071 --token JWT --origin http://127.0.0.1:8080
Prints one JSON object: requests, errors, seconds, p50/p99 latency in ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from urllib.parse import urlencode


def worker(args: argparse.Namespace, body: bytes, stop_at: float, latencies: list[float], errors: list[int]) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": args.origin}
    connection = http.client.HTTPConnection(args.host, args.port, timeout=10)
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/payer/token", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection(args.host, args.port, timeout=10)
            ok = False
        latencies.append(time.perf_counter() - started)
        if not ok:
            errors.append(1)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    body = urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                      "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                      "subject_token": args.token}).encode()
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    stop_at = started + args.seconds
    threads = [threading.Thread(target=worker, args=(args, body, stop_at, latencies, errors))
               for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    print(json.dumps({
        "requests": len(latencies), "errors": len(errors), "seconds": elapsed,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else None,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else None,
    }))


if __name__ == "__main__":
    main()
