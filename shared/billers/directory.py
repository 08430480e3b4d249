"""The biller directory: Master DB (biller GUID -> BillerID, shard) and the shards' biller JWT rows.

Reads on the exchange path go through a cache whose entries live for the
revocation bound, so a warm exchange does no I/O and a revoked token stops
working within that bound.  Writes (CLI, admin API) go straight to the
database and drop the cached row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import DatabaseUnavailable, NotFound
from shared.storage.cache import TtlCache
from shared.storage.database import Database

MASTER_QUERY = {
    "sqlite": "SELECT BillerID, BillerGuid, ShardName, DisplayName, Domain, Status "
    "FROM AzureBillers WHERE BillerGuid = ?",
    "mssql": "EXEC dbo.selAzureBillers @BillerGuid = ?",
}
TOKEN_COLUMNS = ", ".join(
    (  # the shard's BillerJwt columns, in TokenRecord order
        "Jti",
        "BillerID",
        "TokenHash",
        "Domain",
        "Active",
        "CreatedAt",
        "CreatedBySub",
        "CreatedByObo",
        "RevokedAt",
        "RevokedBySub",
        "RevokedByObo",
    )
)


@dataclass(frozen=True)
class Biller:
    biller_id: int
    guid: str
    shard: str
    display_name: str
    domain: str
    status: str

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Actor:
    """Who did something, for the audit columns (portal JWT ``sub`` and ``obo``)."""

    sub: str | None = None
    obo: str | None = None


@dataclass(frozen=True)
class TokenRecord:
    jti: str
    biller_id: int
    token_hash: bytes
    domain: str
    active: bool
    created_at: str
    created_by: Actor
    revoked_at: str | None
    revoked_by: Actor

    def holds(self, token: str) -> bool:
        return hmac.compare_digest(self.token_hash, token_hash(token))

    def public(self) -> dict[str, Any]:
        """The row as the admin API and CLI show it: never the hash."""
        return {
            "jti": self.jti,
            "domain": self.domain,
            "active": self.active,
            "createdAt": self.created_at,
            "createdBy": _actor_dict(self.created_by),
            "revokedAt": self.revoked_at,
            "revokedBy": _actor_dict(self.revoked_by),
        }


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class BillerDirectory:
    def __init__(
        self,
        master: Database,
        shards: Mapping[str, Database],
        *,
        ttl: float,
        max_entries: int,
        monotonic: Callable[[], float],
        now: Callable[[], dt.datetime],
    ) -> None:
        self.master = master
        self.shards = shards
        self.now = now
        self._billers: TtlCache[Biller | None] = TtlCache(ttl, max_entries, monotonic)
        self._tokens: TtlCache[TokenRecord | None] = TtlCache(ttl, max_entries, monotonic)

    # --- reads (cached) --------------------------------------------------------

    def biller(self, guid: str) -> Biller | None:
        return self._billers.get_or_load(guid, lambda: self._load_biller(guid))

    def token(self, biller: Biller, jti: str) -> TokenRecord | None:
        return self._tokens.get_or_load((biller.shard, jti), lambda: self._load_token(biller, jti))

    def _load_biller(self, guid: str) -> Biller | None:
        with self.master.cursor() as cursor:
            cursor.execute(MASTER_QUERY[self.master.dialect], (guid,))
            row = cursor.fetchone()
        return _biller(row) if row else None

    def _load_token(self, biller: Biller, jti: str) -> TokenRecord | None:
        with self.shard(biller).cursor() as cursor:
            cursor.execute(
                f"SELECT {TOKEN_COLUMNS} FROM BillerJwt WHERE BillerID = ? AND Jti = ?",  # noqa: S608
                (biller.biller_id, jti),
            )
            row = cursor.fetchone()
        return _token(row) if row else None

    def shard(self, biller: Biller) -> Database:
        database = self.shards.get(biller.shard)
        if database is None:
            raise DatabaseUnavailable(
                f"biller shard {biller.shard!r} has no connection setting: add it to PAYERAUTH_SHARD_DBS"
            )
        return database

    # --- writes and listings (uncached) ------------------------------------------

    def add_biller(self, guid: str, display_name: str, domain: str, shard: str) -> Biller:
        if shard not in self.shards:
            raise NotFound(f"shard {shard!r} is not configured; known: {', '.join(sorted(self.shards))}")
        with self.master.cursor() as cursor:
            cursor.execute(
                "INSERT INTO AzureBillers (BillerGuid, DisplayName, Domain, Status, ShardName, CreatedAt)"
                " VALUES (?, ?, ?, 'active', ?, ?)",
                (guid, display_name, domain, shard, _timestamp(self.now())),
            )
        self._billers.clear()
        biller = self._load_biller(guid)
        if biller is None:
            raise DatabaseUnavailable("the biller just added cannot be read back")
        return biller

    def list_billers(self) -> list[Biller]:
        with self.master.cursor() as cursor:
            cursor.execute(
                "SELECT BillerID, BillerGuid, ShardName, DisplayName, Domain, Status "
                "FROM AzureBillers ORDER BY BillerID"
            )
            return [_biller(row) for row in cursor.fetchall()]

    def record_token(self, biller: Biller, jti: str, token: str, domain: str, by: Actor) -> TokenRecord:
        with self.shard(biller).cursor() as cursor:
            cursor.execute(
                "INSERT INTO BillerJwt (Jti, BillerID, TokenHash, Domain, Active, CreatedAt, "
                "CreatedBySub, CreatedByObo) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                (jti, biller.biller_id, token_hash(token), domain, _timestamp(self.now()), by.sub, by.obo),
            )
        return self._fresh_token(biller, jti)

    def revoke(self, biller: Biller, jti: str, by: Actor) -> TokenRecord:
        with self.shard(biller).cursor() as cursor:
            cursor.execute(
                "UPDATE BillerJwt SET Active = 0, RevokedAt = ?, RevokedBySub = ?, RevokedByObo = ? "
                "WHERE BillerID = ? AND Jti = ? AND Active = 1",
                (_timestamp(self.now()), by.sub, by.obo, biller.biller_id, jti),
            )
        return self._fresh_token(biller, jti)

    def list_tokens(self, biller: Biller) -> list[TokenRecord]:
        with self.shard(biller).cursor() as cursor:
            cursor.execute(
                f"SELECT {TOKEN_COLUMNS} FROM BillerJwt WHERE BillerID = ? ORDER BY CreatedAt, Jti",  # noqa: S608
                (biller.biller_id,),
            )
            return [_token(row) for row in cursor.fetchall()]

    def _fresh_token(self, biller: Biller, jti: str) -> TokenRecord:
        record = self._load_token(biller, jti)
        if record is None:
            raise NotFound(f"biller {biller.guid} has no token with jti {jti}")
        self._tokens.clear()  # this instance sees the change now; others within the bound
        return record


def _biller(row: Sequence[Any]) -> Biller:
    biller_id, guid, shard, display_name, domain, status = row
    return Biller(int(biller_id), str(guid).lower(), str(shard), str(display_name), str(domain), str(status))


def _token(row: Sequence[Any]) -> TokenRecord:
    jti, biller_id, digest, domain, active, created, c_sub, c_obo, revoked, r_sub, r_obo = row
    return TokenRecord(
        str(jti).lower(),
        int(biller_id),
        bytes(digest),
        str(domain),
        bool(active),
        _text_time(created),
        Actor(c_sub, c_obo),
        _text_time(revoked) if revoked else None,
        Actor(r_sub, r_obo),
    )


def _timestamp(moment: dt.datetime) -> str:
    # A form both SQLite text and SQL Server DATETIME2 accept; always UTC.
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _text_time(value: object) -> str:
    if isinstance(value, dt.datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value).replace(" ", "T") + "Z"


def _actor_dict(actor: Actor) -> dict[str, str] | None:
    if actor.sub is None and actor.obo is None:
        return None
    return {k: v for k, v in (("sub", actor.sub), ("obo", actor.obo)) if v is not None}
