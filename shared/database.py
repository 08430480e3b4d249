"""DB-API connections: SQLite (embedded default) or ODBC (SQL Server in Azure).

A connection setting is ``sqlite:<path>`` or ``odbc:<ODBC connection string>``.
Queries are written once with ``?`` parameters; the only dialect difference is
how the Master DB is asked for a biller (a stored procedure on SQL Server), so
the dialect is read from the driver (``SQL_DBMS_NAME``), which also lets the
tests run the ODBC path against unixODBC's SQLite driver.

Every driver error becomes ``DatabaseUnavailable`` naming the database by its
label, never by its connection string (which may hold a password).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from .errors import DatabaseUnavailable

Dialect = Literal["sqlite", "mssql"]
CONNECT_TIMEOUT_SECONDS = 5


class Cursor(Protocol):
    rowcount: int

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def fetchone(self) -> Sequence[Any] | None: ...
    def fetchall(self) -> Sequence[Sequence[Any]]: ...


class Database:
    def __init__(self, label: str, setting: str) -> None:
        self.label = label
        self.kind, _, self.target = setting.partition(":")
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
        errors = _driver_errors(self.kind)
        try:
            connection = self._connect(create)
        except errors as exc:
            raise DatabaseUnavailable(f"the {self.label} database cannot be reached "
                                      f"({type(exc).__name__})", retry_after=5) from exc
        try:
            cursor = connection.cursor()
            yield cursor
            connection.commit()
        except errors as exc:
            connection.rollback()
            raise DatabaseUnavailable(f"the {self.label} database failed a query "
                                      f"({type(exc).__name__})", retry_after=5) from exc
        finally:
            connection.close()

    def _connect(self, create: bool) -> Any:
        if self.kind == "sqlite":
            path = Path(self.target)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            mode = "rwc" if create else "rw"
            return sqlite3.connect(f"file:{path.resolve()}?mode={mode}", uri=True,
                                   timeout=CONNECT_TIMEOUT_SECONDS, check_same_thread=False)
        import pyodbc  # lazily: it needs unixODBC, which only ODBC deployments install

        connection = pyodbc.connect(self.target, timeout=CONNECT_TIMEOUT_SECONDS)
        if self._dialect is None:
            name = str(connection.getinfo(pyodbc.SQL_DBMS_NAME)).lower()
            self._dialect = "sqlite" if "sqlite" in name else "mssql"
        return connection

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
        raise DatabaseUnavailable("pyodbc cannot load: install unixODBC and the SQL Server ODBC driver "
                                  f"({exc})") from exc
    return (pyodbc.Error,)
