"""Creating the databases' schema: the SQLite scripts under ``infra/sql/sqlite/``.

SQL Server's scripts (``infra/sql/sqlserver/``) are run by an operator, never by the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from shared.storage.database import Database

SQL = Path(__file__).resolve().parents[2] / "infra" / "sql"


def create_schema(database: Database, kind: Literal["master", "shard"]) -> bool:
    """Create ``kind``'s tables if missing; False when the database is SQL Server (an operator's job)."""
    if database.dialect == "mssql":
        return False
    database.run_script((SQL / "sqlite" / f"{kind}.sql").read_text())
    return True
