"""The soak's load, run as its own process: a day's mix of requests at a steady rate.

    python -m bench.soak_load --port P --config soak.json --rate 40 --seconds 300 --out records.jsonl

With --rate 0 it runs closed-loop (as fast as the connections go), which is how the soak calibrates.
Each request becomes one JSON line: wall time, kind, status, latency in ms, and what the analysis needs
(the biller's index, the issued payer token's kid, the tenant token's jti). Prints a one-line summary.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
FORM = "application/x-www-form-urlencoded"

# What a day looks like, by weight: most page loads bootstrap or exchange, then read their data.
MIX = {
    "exchange_body": 22,
    "exchange_cookie": 8,
    "bootstrap": 15,
    "profile": 25,
    "jwks": 8,
    "discovery": 3,
    "tenant_login": 5,
    "tenant_replay": 2,
    "hostile_signature": 6,
    "hostile_origin": 6,
}


@dataclass
class Shared:
    """What the workers share: issued payer tokens to reuse, and the records."""

    config: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    payer_tokens: list[tuple[str, str]] = field(default_factory=list)  # (token, origin)
    jwks_etag: str | None = None
    used_tenant_tokens: list[tuple[str, str]] = field(default_factory=list)  # (token, jti)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.records.append(record)


def token_kid(token: str) -> str | None:
    head = token.split(".", maxsplit=1)[0]
    try:
        return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))).get("kid"))
    except (ValueError, UnicodeDecodeError):
        return None


def tenant_token(tenant: dict[str, Any], email: str) -> tuple[str, str]:
    import jwt  # PyJWT: the driver plays the partner signing its users' logins

    now = int(time.time())
    jti = uuid.uuid4().hex
    claims = {"iss": tenant["iss"], "aud": tenant["aud"], "iat": now, "exp": now + 120, "jti": jti, "email": email}
    return jwt.encode(claims, tenant["key_pem"], algorithm="RS256"), jti


class Worker:
    def __init__(self, args: argparse.Namespace, shared: Shared, seed: int) -> None:
        self.args = args
        self.shared = shared
        self.random = random.Random(seed)
        self.connection = self._connect()
        self.kinds = list(MIX)
        self.weights = list(MIX.values())

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.args.port, timeout=30)

    def send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
            payload = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = self._connect()
            return 0, {}, b""

    def one(self) -> None:
        kind = self.random.choices(self.kinds, self.weights)[0]
        stall = self.shared.config.get("stall_window")
        if kind.startswith("tenant") and stall and stall[0] <= time.time() <= stall[1]:
            kind = "tenant_login_stalled"
        started = time.perf_counter()
        record: dict[str, Any] = {"t": time.time(), "kind": kind}
        status, headers, body = getattr(self, kind)(record)
        record.update(status=status, ms=(time.perf_counter() - started) * 1000, retry_after=headers.get("retry-after"))
        if status >= 500:
            record["body"] = body[:200].decode("utf-8", "replace")
        self.shared.remember(record)

    # --- the requests of the mix ------------------------------------------------------------------------------

    def _exchange(
        self, record: dict[str, Any], path: str, delivery: str, *, origin: str | None = None, tamper: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        index = self.random.randrange(len(self.shared.config["billers"]))
        biller = self.shared.config["billers"][index]
        token = (
            biller["token"][:-4] + ("AAAA" if biller["token"][-4:] != "AAAA" else "BBBB") if tamper else biller["token"]
        )
        fields = {
            "grant_type": GRANT,
            "subject_token_type": JWT_TYPE,
            "subject_token": token,
            "token_delivery": delivery,
        }
        sent_origin = origin or biller["origin"]
        record.update(biller=index, origin_ok=sent_origin == biller["origin"])
        status, headers, body = self.send(
            "POST", path, urlencode(fields).encode(), {"Content-Type": FORM, "Origin": sent_origin}
        )
        if status == 200 and delivery == "body":
            access = json.loads(body)["access_token"]
            record["kid"] = token_kid(access)
            with self.shared.lock:
                self.shared.payer_tokens.append((access, sent_origin))
                del self.shared.payer_tokens[:-50]
        return status, headers, body

    def exchange_body(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return self._exchange(record, "/api/payer/token", "body")

    def exchange_cookie(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return self._exchange(record, "/api/payer/token", "cookie")

    def bootstrap(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return self._exchange(record, "/api/payer/bootstrap", "cookie")

    def hostile_signature(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return self._exchange(record, "/api/payer/token", "body", tamper=True)

    def hostile_origin(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return self._exchange(record, "/api/payer/token", "body", origin="https://attacker.example")

    def profile(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self.shared.lock:
            issued = self.random.choice(self.shared.payer_tokens) if self.shared.payer_tokens else None
        if issued is None:
            return self.exchange_body(record)
        token, origin = issued
        record["kid"] = token_kid(token)
        return self.send("GET", "/api/payer/profile", headers={"Authorization": f"Bearer {token}", "Origin": origin})

    def jwks(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        headers = {"If-None-Match": self.shared.jwks_etag} if self.shared.jwks_etag else {}
        status, answer, body = self.send("GET", "/.well-known/jwks.json", headers=headers)
        if status == 200:
            self.shared.jwks_etag = answer.get("etag")
        return status, answer, body

    def discovery(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return self.send("GET", "/.well-known/openid-configuration")

    def tenant_login(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        token, jti = tenant_token(self.shared.config["tenant"], f"payer{self.random.randrange(10_000)}@example.com")
        record["jti"] = jti
        answer = self.send("POST", "/api/tenant/login", urlencode({"token": token}).encode(), {"Content-Type": FORM})
        with self.shared.lock:  # only now may another worker replay it: its first use has been answered
            self.shared.used_tenant_tokens.append((token, jti))
            del self.shared.used_tenant_tokens[:-20]
        return answer

    def tenant_replay(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self.shared.lock:
            used = self.random.choice(self.shared.used_tenant_tokens) if self.shared.used_tenant_tokens else None
        if used is None:
            return self.tenant_login(record)
        record["jti"] = used[1]
        return self.send("POST", "/api/tenant/login", urlencode({"token": used[0]}).encode(), {"Content-Type": FORM})

    def tenant_login_stalled(self, record: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        token, record["jti"] = tenant_token(self.shared.config["stall_tenant"], "stalled@example.com")
        return self.send("POST", "/api/tenant/login", urlencode({"token": token}).encode(), {"Content-Type": FORM})


def run(args: argparse.Namespace, shared: Shared) -> None:
    stop_at = time.time() + args.seconds
    per_worker = args.rate / args.connections if args.rate else 0.0

    def loop(seed: int) -> None:
        worker = Worker(args, shared, seed)
        next_at = time.time()
        while time.time() < stop_at:
            if per_worker:
                next_at += 1 / per_worker
                delay = next_at - time.time()
                if delay > 0:
                    time.sleep(delay)
            worker.one()

    threads = [threading.Thread(target=loop, args=(seed,)) for seed in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main(argv: list[str] | None = None, *, on_done: Callable[[Shared], None] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s in all; 0: closed loop")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    with open(args.config) as config:
        shared = Shared(json.load(config))
    started = time.time()
    run(args, shared)
    with open(args.out, "w") as out:
        for record in shared.records:
            out.write(json.dumps(record) + "\n")
    print(
        json.dumps(
            {
                "requests": len(shared.records),
                "seconds": time.time() - started,
                "per_second": len(shared.records) / (time.time() - started),
            }
        )
    )
    if on_done:
        on_done(shared)


if __name__ == "__main__":
    main()
