-- A biller shard, embedded default (SQLite). Mirrors ../sqlserver/shard.sql.
CREATE TABLE IF NOT EXISTS BillerJwt (
    Jti          TEXT    PRIMARY KEY,      -- lower-case canonical GUID
    BillerID     INTEGER NOT NULL,
    TokenHash    BLOB    NOT NULL,         -- SHA-256 of the token value
    Domain       TEXT    NOT NULL,
    Active       INTEGER NOT NULL DEFAULT 1,
    CreatedAt    TEXT    NOT NULL,
    CreatedBySub TEXT,
    CreatedByObo TEXT,
    RevokedAt    TEXT,
    RevokedBySub TEXT,
    RevokedByObo TEXT
);
CREATE INDEX IF NOT EXISTS IX_BillerJwt_BillerID ON BillerJwt (BillerID);
