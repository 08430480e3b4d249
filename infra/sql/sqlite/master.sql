-- Master DB, embedded default (SQLite). Mirrors ../sqlserver/master.sql.
CREATE TABLE IF NOT EXISTS AzureBillers (
    BillerID    INTEGER PRIMARY KEY,
    BillerGuid  TEXT    NOT NULL UNIQUE,   -- lower-case canonical GUID
    DisplayName TEXT    NOT NULL,
    Domain      TEXT    NOT NULL,
    Status      TEXT    NOT NULL DEFAULT 'active' CHECK (Status IN ('active', 'suspended')),
    ShardName   TEXT    NOT NULL,
    CreatedAt   TEXT    NOT NULL
);
