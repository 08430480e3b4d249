"""Connecting to SQL Server with the managed identity's access token (SQL_COPT_SS_ACCESS_TOKEN).

What runs here: the ACCESSTOKEN packing, the connection-string rewrite, and that pyodbc
receives the packed token in ``attrs_before`` and the rewritten string, through the real
pyodbc and unixODBC's SQLite driver (which ignores the attribute). What cannot run here:
Microsoft's ODBC Driver 18 accepting the token against Azure SQL.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError

from shared.errors import DatabaseUnavailable
from shared.settings import Settings
from shared.storage.database import (
    SQL_COPT_SS_ACCESS_TOKEN,
    TOKEN_EXCLUSIVE_KEYWORDS,
    Database,
    managed_identity_token,
    pack_access_token,
    without_keywords,
)
from shared.storage.schema import create_schema

TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL2RhdGFiYXNlLndpbmRvd3MubmV0LyJ9.c2ln"


def test_the_token_is_packed_as_learn_describes_each_byte_followed_by_a_zero_and_a_32_bit_size() -> None:
    packed = pack_access_token("ab.c")
    assert packed == b"\x08\x00\x00\x00a\x00b\x00.\x00c\x00"
    packed = pack_access_token(TOKEN)
    (size,) = struct.unpack("<I", packed[:4])
    assert size == 2 * len(TOKEN) == len(packed) - 4
    assert packed[4:] == TOKEN.encode("utf-16-le")  # the same thing for an ASCII token
    assert not packed.endswith(b"\x00\x00\x00")  # no terminator


def test_keywords_the_driver_refuses_next_to_a_token_are_removed_and_braced_values_survive() -> None:
    conn = (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:s.database.windows.net,1433;Database=m;"
        "authentication = ActiveDirectoryMsi;Encrypt=yes;App={a;b}}c}"
    )
    rewritten = without_keywords(conn, TOKEN_EXCLUSIVE_KEYWORDS)
    assert rewritten == (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:s.database.windows.net,1433;"
        "Database=m;Encrypt=yes;App={a;b}}c}"
    )
    assert "uid" not in without_keywords("Driver=x;UID=u;PWD={p;w};Trusted_Connection=yes", TOKEN_EXCLUSIVE_KEYWORDS)


@pytest.fixture
def recorded_connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The real pyodbc.connect, with its arguments recorded."""
    import pyodbc

    calls: list[tuple[str, dict[str, Any]]] = []
    real = pyodbc.connect

    def connect(connection_string: str, **kwargs: Any) -> Any:
        calls.append((connection_string, kwargs))
        return real(connection_string, **kwargs)

    monkeypatch.setattr(pyodbc, "connect", connect)
    return calls


@pytest.mark.odbc
def test_with_a_token_pyodbc_gets_it_before_connecting_and_no_authentication_keyword(
    tmp_path: Path, recorded_connects: list[tuple[str, dict[str, Any]]]
) -> None:
    create_schema(Database("Master", f"sqlite:{tmp_path / 'm.db'}"), "master")
    setting = f"odbc:Driver=SQLite3;Database={tmp_path / 'm.db'};Authentication=ActiveDirectoryMsi"
    db = Database("Master", setting, access_token=lambda: TOKEN)
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM AzureBillers")
        assert tuple(cursor.fetchone() or ()) == (0,)
    ((conn, kwargs),) = recorded_connects
    assert "authentication" not in conn.lower()
    assert kwargs["attrs_before"] == {SQL_COPT_SS_ACCESS_TOKEN: pack_access_token(TOKEN)}
    assert SQL_COPT_SS_ACCESS_TOKEN == 1256


@pytest.mark.odbc
def test_without_a_token_the_connection_string_is_passed_as_configured(
    tmp_path: Path, recorded_connects: list[tuple[str, dict[str, Any]]]
) -> None:
    create_schema(Database("Master", f"sqlite:{tmp_path / 'm.db'}"), "master")
    target = f"Driver=SQLite3;Database={tmp_path / 'm.db'}"
    with Database("Master", f"odbc:{target}").cursor():
        pass
    assert recorded_connects == [(target, {"timeout": 5})]


@pytest.mark.odbc
def test_an_identity_that_gets_no_token_is_a_503_naming_the_database_never_the_connection_string(
    tmp_path: Path,
) -> None:
    def refused() -> str:
        raise ClientAuthenticationError("no identity")

    db = Database("Master", f"odbc:Driver=SQLite3;Database={tmp_path / 'm.db'};PWD=hunter2", access_token=refused)
    with pytest.raises(DatabaseUnavailable) as caught, db.cursor():
        pass
    assert "Master" in caught.value.description and "managed identity" in caught.value.description
    assert "hunter2" not in caught.value.description


def test_the_token_is_asked_for_only_by_setting() -> None:
    assert Settings.from_env({}).sql_access_token is False
    assert Settings.from_env({"PAYERAUTH_SQL_ACCESS_TOKEN": "true"}).sql_access_token is True
    assert Database("m", "sqlite:/tmp/x.db", access_token=lambda: TOKEN).access_token is None


class FakeCredential:
    def __init__(self, client_id: str | None, made: list[str | None], scopes: list[str]) -> None:
        made.append(client_id)
        self.scopes = scopes

    def get_token(self, *scopes: str) -> Any:
        self.scopes.extend(scopes)
        return type("AccessToken", (), {"token": TOKEN, "expires_on": 0})()


def test_tokens_are_for_azure_sql_from_one_credential_of_the_configured_identity() -> None:
    made: list[str | None] = []
    scopes: list[str] = []
    provider = managed_identity_token("client-id", lambda cid: FakeCredential(cid, made, scopes))
    assert made == []  # nothing happens until the first connection
    assert provider() == TOKEN and provider() == TOKEN
    assert made == ["client-id"]
    assert scopes == ["https://database.windows.net/.default"] * 2
