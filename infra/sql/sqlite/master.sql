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

-- Seamless-login tenants (partners that sign JWTs for their users).
CREATE TABLE IF NOT EXISTS Tenants (
    TenantId       TEXT PRIMARY KEY,          -- the tenant JWT's iss
    Audience       TEXT NOT NULL,             -- the aud its JWTs must carry
    Algorithm      TEXT NOT NULL CHECK (Algorithm IN ('RS256', 'HS256')),
    PublicKeyPem   TEXT,                      -- RS256 with a PEM key, or
    JwksUrl        TEXT,                      -- RS256 with a JWKS URL, or
    SecretName     TEXT,                      -- HS256: the name of a secret (never its value)
    ReturnUrl      TEXT NOT NULL,             -- where a login lands (exact, registered)
    FrameAncestors TEXT NOT NULL,             -- space-separated origins allowed to frame the login
    CreatedAt      TEXT NOT NULL,
    CHECK ((PublicKeyPem IS NOT NULL) + (JwksUrl IS NOT NULL) + (SecretName IS NOT NULL) = 1)
);

-- Tenant JWTs already used (jti, or the token's hash), kept until they expire.
CREATE TABLE IF NOT EXISTS TenantTokenReplay (
    TokenKey  TEXT PRIMARY KEY,
    TenantId  TEXT NOT NULL,
    ExpiresAt INTEGER NOT NULL                -- epoch seconds
);
CREATE INDEX IF NOT EXISTS IX_TenantTokenReplay_ExpiresAt ON TenantTokenReplay (ExpiresAt);
