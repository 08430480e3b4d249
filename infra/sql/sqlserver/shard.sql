-- A biller shard (Azure SQL / SQL Server). Run on every shard. Idempotent.
IF OBJECT_ID(N'dbo.BillerJwt', N'U') IS NULL
CREATE TABLE dbo.BillerJwt (
    Jti          UNIQUEIDENTIFIER NOT NULL CONSTRAINT PK_BillerJwt PRIMARY KEY,
    BillerID     INT              NOT NULL,
    TokenHash    BINARY(32)       NOT NULL,   -- SHA-256 of the token value; the value is never stored
    Domain       NVARCHAR(260)    NOT NULL,
    Active       BIT              NOT NULL CONSTRAINT DF_BillerJwt_Active DEFAULT 1,
    CreatedAt    DATETIME2(0)     NOT NULL,
    CreatedBySub NVARCHAR(64)     NULL,       -- portal JWT sub (audit)
    CreatedByObo NVARCHAR(64)     NULL,       -- portal JWT obo (audit)
    RevokedAt    DATETIME2(0)     NULL,
    RevokedBySub NVARCHAR(64)     NULL,
    RevokedByObo NVARCHAR(64)     NULL
);
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_BillerJwt_BillerID')
    CREATE INDEX IX_BillerJwt_BillerID ON dbo.BillerJwt (BillerID) INCLUDE (Active, TokenHash);
GO

-- Least privilege for the function app's identity (the real app name: output AZURE_FUNCTION_APP_NAME):
--   CREATE USER [func-xxxxxxxxxxxxx] FROM EXTERNAL PROVIDER;
--   GRANT SELECT, INSERT, UPDATE ON dbo.BillerJwt TO [func-xxxxxxxxxxxxx];
