"""DB-API connections: SQLite (embedded default) or ODBC (SQL Server in Azure).

A connection setting is ``sqlite:<path>`` or ``odbc:<ODBC connection string>``.
Queries are written once with ``?`` parameters; the only dialect difference is
how the Master DB is asked for a biller (a stored procedure on SQL Server), so
the dialect is read from the driver (``SQL_DBMS_NAME``), which also lets the
tests run the ODBC path against unixODBC's SQLite driver.

Every driver error becomes ``DatabaseUnavailable`` naming the database by its
label, never by its connection string (which may hold a password).

In Azure the app reaches SQL Server with its managed identity.  With
``PAYERAUTH_SQL_ACCESS_TOKEN=true`` it gets the Entra access token itself
(azure-identity) and hands it to the driver before connecting
(``SQL_COPT_SS_ACCESS_TOKEN``), so it does not depend on which ODBC Driver 18
build the platform ships and whether that build supports
``Authentication=ActiveDirectoryMsi``.  Learn: "Using Microsoft Entra ID with
the ODBC Driver", section "Authenticating with an access token".
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from shared import iocounts
from shared.errors import DatabaseUnavailable

Dialect = Literal["sqlite", "mssql"]
CONNECT_TIMEOUT_SECONDS = 5
TokenProvider = Callable[[], str]

SQL_COPT_SS_ACCESS_TOKEN = 1256  # msodbcsql.h: a pre-connect attribute holding an ACCESSTOKEN
SQL_SERVER_SCOPE = "https://database.windows.net/.default"
# Keywords the driver refuses next to an access token ("the connection string must not contain
# UID, PWD, Authentication, or Trusted_Connection keywords"; Learn, same page).
TOKEN_EXCLUSIVE_KEYWORDS = frozenset({"authentication", "uid", "pwd", "trusted_connection"})
# One ODBC attribute: key=value or key={value with ;}, '}}' escaping '}' (ODBC SQLDriverConnect syntax).
_ODBC_ATTRIBUTE = re.compile(r"\s*([^=;]+?)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*?)\s*(?:;|$)")


class Cursor(Protocol):
    rowcount: int

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def fetchone(self) -> Sequence[Any] | None: ...
    def fetchall(self) -> Sequence[Sequence[Any]]: ...


class Database:
    def __init__(self, label: str, setting: str, *, access_token: TokenProvider | None = None) -> None:
        self.label = label
        self.kind, _, self.target = setting.partition(":")
        self.access_token = access_token if self.kind == "odbc" else None
        self._dialect: Dialect | None = "sqlite" if self.kind == "sqlite" else None

    @property
    def dialect(self) -> Dialect:
        if self._dialect is None:
            with self.cursor():
                pass
        return self._dialect or "mssql"  # set by the first connection

    @contextlib.contextmanager
    def cursor(self, *, create: bool = False) -> Iterator[Cursor]:
        """A cursor in a transaction committed on success, rolled back on error."""
        iocounts.count(f"database:{self.label}")
        errors = _driver_errors(self.kind)
        try:
            connection = self._connect(create)
        except errors as exc:
            raise DatabaseUnavailable(
                f"the {self.label} database cannot be reached ({type(exc).__name__})", retry_after=5
            ) from exc
        try:
            cursor = connection.cursor()
            yield cursor
            connection.commit()
        except errors as exc:
            connection.rollback()
            raise DatabaseUnavailable(
                f"the {self.label} database failed a query ({type(exc).__name__})", retry_after=5
            ) from exc
        finally:
            connection.close()

    def _connect(self, create: bool) -> Any:
        if self.kind == "sqlite":
            path = Path(self.target)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            mode = "rwc" if create else "rw"
            return sqlite3.connect(
                f"file:{path.resolve()}?mode={mode}", uri=True, timeout=CONNECT_TIMEOUT_SECONDS, check_same_thread=False
            )
        import pyodbc  # lazily: it needs unixODBC, which only ODBC deployments install

        if self.access_token is None:
            connection = pyodbc.connect(self.target, timeout=CONNECT_TIMEOUT_SECONDS)
        else:
            token = pack_access_token(self._token(self.access_token))
            connection = pyodbc.connect(
                without_keywords(self.target, TOKEN_EXCLUSIVE_KEYWORDS),
                timeout=CONNECT_TIMEOUT_SECONDS,
                attrs_before={SQL_COPT_SS_ACCESS_TOKEN: token},
            )
        if self._dialect is None:
            name = str(connection.getinfo(pyodbc.SQL_DBMS_NAME)).lower()
            self._dialect = "sqlite" if "sqlite" in name else "mssql"
        return connection

    def _token(self, provider: TokenProvider) -> str:
        from azure.core.exceptions import AzureError

        try:
            return provider()
        except AzureError as exc:
            raise DatabaseUnavailable(
                f"no access token for the {self.label} database ({type(exc).__name__}): check the function "
                "app's managed identity (and PAYERAUTH_MANAGED_IDENTITY_CLIENT_ID for a user-assigned one)",
                retry_after=5,
            ) from exc

    def run_script(self, script: str) -> None:
        """Run a DDL script (statements separated by ``;`` at line ends)."""
        with self.cursor(create=True) as cursor:
            for statement in (s.strip() for s in script.split(";\n")):
                if statement:
                    cursor.execute(statement)


def _driver_errors(kind: str) -> tuple[type[Exception], ...]:
    if kind == "sqlite":
        return (sqlite3.Error,)
    try:
        import pyodbc
    except ImportError as exc:
        raise DatabaseUnavailable(
            f"pyodbc cannot load: install unixODBC and the SQL Server ODBC driver ({exc})"
        ) from exc
    return (pyodbc.Error,)


def pack_access_token(token: str) -> bytes:
    """The ``ACCESSTOKEN`` structure: ``DWORD dataSize; BYTE data[]``.

    Learn ("Using Microsoft Entra ID with the ODBC Driver"): the token as received in the
    OAuth JSON response, "expanded" so that each byte is followed by a zero byte, with no
    terminator; ``dataSize`` counts the expanded bytes.  The size is little-endian (x64).
    """
    raw = token.encode("ascii")  # a JWT: base64url and dots
    expanded = bytes(b for byte in raw for b in (byte, 0))
    return struct.pack("<I", len(expanded)) + expanded


def without_keywords(connection_string: str, names: frozenset[str]) -> str:
    """The ODBC connection string minus the named keywords (case-insensitive), braces kept."""
    kept = [
        f"{key}={value}"
        for key, value in _ODBC_ATTRIBUTE.findall(connection_string)
        if key and key.strip().lower() not in names
    ]
    return ";".join(kept)


def managed_identity_token(
    client_id: str | None, credential_factory: Callable[[str | None], Any] | None = None
) -> TokenProvider:
    """Access tokens for Azure SQL from the app's identity; azure-identity caches and refreshes them,
    so one credential serves every connection."""
    make = credential_factory or _azure_credential
    credential: Any = None
    lock = threading.Lock()

    def token() -> str:
        nonlocal credential
        with lock:
            if credential is None:
                credential = make(client_id)
        return str(credential.get_token(SQL_SERVER_SCOPE).token)

    return token


def _azure_credential(client_id: str | None) -> Any:
    if os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT"):
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id)
    from azure.identity import DefaultAzureCredential  # a developer's own login, off Azure

    return DefaultAzureCredential(managed_identity_client_id=client_id, exclude_interactive_browser_credential=True)
