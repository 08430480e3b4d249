"""The composition root: builds the adapters named by the settings and wires the use cases.

Nothing here runs at import time; ``PayerAuth.from_settings`` is called once
per process (``function_app`` does it lazily on the first request) and the
result is shared by every request: it holds only thread-safe caches.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .biller_tokens import BillerTokens
from .billers import BillerDirectory
from .database import Database
from .errors import ConfigurationError, PayerAuthError
from .exchange import Exchange
from .keys import KeyRing, KeySource
from .local_keys import LocalKeySource
from .settings import Settings


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class PayerAuth:
    settings: Settings
    ic_keys: KeyRing
    payer_keys: KeyRing
    directory: BillerDirectory
    now: Callable[[], dt.datetime] = utc_now
    exchange: Exchange = field(init=False)
    biller_tokens: BillerTokens = field(init=False)

    def __post_init__(self) -> None:
        self.exchange = Exchange(self.settings, self.ic_keys, self.payer_keys, self.directory, self.now)
        self.biller_tokens = BillerTokens(self.settings, self.ic_keys, self.directory, self.now)

    @classmethod
    def from_settings(cls, settings: Settings, *, now: Callable[[], dt.datetime] = utc_now,
                      monotonic: Callable[[], float] = time.monotonic,
                      key_source: KeySource | None = None) -> PayerAuth:
        source = key_source or default_key_source(settings, now)
        retention = dt.timedelta(seconds=settings.payer_token_lifetime + settings.leeway)
        keys = KeyRing(source, now, retention=retention)
        master = Database("Master", settings.master_db)
        shards = {name: Database(f"shard {name}", conn) for name, conn in settings.shard_dbs.items()}
        directory = BillerDirectory(master, shards, ttl=settings.revocation_bound,
                                    max_entries=settings.directory_cache_size, monotonic=monotonic, now=now)
        return cls(settings, keys, keys, directory, now)

    def health(self) -> dict[str, Any]:
        keys: dict[str, Any]
        try:
            keyset = self.payer_keys.current()
            keys = {"status": "ok", "signingKid": keyset.signer.kid, "published": len(keyset.published),
                    "lastRefreshError": self.payer_keys.last_error}
        except PayerAuthError as exc:
            keys = {"status": "unavailable", "detail": exc.description}
        databases = {db.label: _probe(db) for db in (self.directory.master, *self.directory.shards.values())}
        healthy = keys["status"] == "ok" and all(v == "ok" for v in databases.values())
        return {"status": "ok" if healthy else "degraded", "keys": keys, "databases": databases}


def default_key_source(settings: Settings, now: Callable[[], dt.datetime]) -> KeySource:
    if settings.key_source == "local":
        return LocalKeySource(settings.local_dir / "keys", now)
    raise ConfigurationError("PAYERAUTH_KEY_SOURCE=keyvault is not available in this build")


def _probe(database: Database) -> str:
    try:
        with database.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except PayerAuthError:
        return "unreachable"
