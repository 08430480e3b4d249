"""The biller directory, once on sqlite3 and once on the real pyodbc through unixODBC's SQLite driver."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from shared.billers.directory import Actor, BillerDirectory, token_hash
from shared.errors import DatabaseUnavailable
from shared.storage.database import Database
from shared.storage.schema import create_schema
from tests.conftest import Clock, build_env

ODBC_DRIVER = "SQLite3"  # from Debian's libsqliteodbc, registered in /etc/odbcinst.ini


def connection(kind: str, path: Path) -> str:
    return f"sqlite:{path}" if kind == "sqlite3" else f"odbc:Driver={ODBC_DRIVER};Database={path}"


@pytest.fixture(params=["sqlite3", pytest.param("pyodbc", marks=pytest.mark.odbc)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def directory(kind: str, tmp_path: Path) -> tuple[BillerDirectory, Clock]:
    clock = Clock()
    master = Database("Master", connection(kind, tmp_path / "master.db"))
    shard = Database("shard s1", connection(kind, tmp_path / "s1.db"))
    # The ODBC driver cannot create a database file; the schema script creates it through sqlite3 first.
    create_schema(Database("Master", f"sqlite:{tmp_path / 'master.db'}"), "master")
    create_schema(Database("shard s1", f"sqlite:{tmp_path / 's1.db'}"), "shard")
    return BillerDirectory(
        master, {"s1": shard}, ttl=60, max_entries=100, monotonic=clock.monotonic, now=clock.now
    ), clock


def test_the_dialect_is_read_from_the_driver(kind: str, tmp_path: Path) -> None:
    create_schema(Database("m", f"sqlite:{tmp_path / 'm.db'}"), "master")
    assert Database("m", connection(kind, tmp_path / "m.db")).dialect == "sqlite"


def test_a_biller_resolves_to_its_id_and_shard(directory: tuple[BillerDirectory, Clock]) -> None:
    d, _ = directory
    guid = str(uuid.uuid4())
    added = d.add_biller(guid, "Water Co", "water.example", "s1")
    found = d.biller(guid)
    assert found == added and found.shard == "s1" and found.biller_id >= 1 and found.active
    assert d.biller(str(uuid.uuid4())) is None


def test_token_rows_hold_a_hash_never_the_token(directory: tuple[BillerDirectory, Clock], tmp_path: Path) -> None:
    d, _ = directory
    biller = d.add_biller(str(uuid.uuid4()), "Water Co", "water.example", "s1")
    jti = str(uuid.uuid4())
    record = d.record_token(biller, jti, "header.payload.signature", "water.example", Actor("u1", "o1"))
    assert record.token_hash == token_hash("header.payload.signature")
    assert record.holds("header.payload.signature") and not record.holds("header.payload.signaturf")
    assert record.active and record.created_by == Actor("u1", "o1")
    assert b"header.payload.signature" not in (tmp_path / "s1.db").read_bytes()
    assert "tokenHash" not in json.dumps(record.public())


def test_revoke_marks_inactive_with_who_and_when(directory: tuple[BillerDirectory, Clock]) -> None:
    d, _ = directory
    biller = d.add_biller(str(uuid.uuid4()), "Water Co", "water.example", "s1")
    jti = str(uuid.uuid4())
    d.record_token(biller, jti, "t", "water.example", Actor("u1"))
    revoked = d.revoke(biller, jti, Actor("u2", "o2"))
    assert not revoked.active and revoked.revoked_by == Actor("u2", "o2") and revoked.revoked_at
    assert [r.jti for r in d.list_tokens(biller)] == [jti]
    assert not d.token(biller, jti).active  # type: ignore[union-attr]


def test_reads_are_cached_for_the_revocation_bound(directory: tuple[BillerDirectory, Clock]) -> None:
    d, clock = directory
    biller = d.add_biller(str(uuid.uuid4()), "Water Co", "water.example", "s1")
    jti = str(uuid.uuid4())
    d.record_token(biller, jti, "t", "water.example", Actor())
    assert d.token(biller, jti).active  # type: ignore[union-attr]
    with d.shards["s1"].cursor() as cursor:
        cursor.execute("UPDATE BillerJwt SET Active = 0")
    clock.advance(59)
    assert d.token(biller, jti).active  # type: ignore[union-attr]
    clock.advance(2)
    assert not d.token(biller, jti).active  # type: ignore[union-attr]


def test_an_unreachable_database_is_database_unavailable_without_its_connection_string(
    kind: str, tmp_path: Path
) -> None:
    d = BillerDirectory(
        Database("Master", connection(kind, tmp_path / "missing" / "m.db")),
        {},
        ttl=60,
        max_entries=10,
        monotonic=lambda: 0.0,
        now=Clock().now,
    )
    with pytest.raises(DatabaseUnavailable) as caught:
        d.biller(str(uuid.uuid4()))
    assert "Master" in caught.value.description and "missing" not in caught.value.description


@pytest.mark.odbc
def test_the_whole_exchange_runs_on_pyodbc(tmp_path: Path, key_folder: Path) -> None:
    (tmp_path / "master.db").touch()
    (tmp_path / "shard01.db").touch()
    env = build_env(
        tmp_path,
        key_folder,
        master_db=f"odbc:Driver={ODBC_DRIVER};Database={tmp_path / 'master.db'}",
        shard_dbs=json.dumps({"shard01": f"odbc:Driver={ODBC_DRIVER};Database={tmp_path / 'shard01.db'}"}),
    )
    assert env.exchange().status == 200
