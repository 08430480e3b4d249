-- Master DB (Azure SQL / SQL Server): the objects Payer Auth owns. Idempotent: creates what is
-- missing, never alters or drops. The Master DB itself, dbo.AzureBillers and dbo.selAzureBillers
-- are Invoice Cloud's assets and are not touched here (for a development server without them:
-- dev-ic-standins.sql). Payer Auth calls
--   EXEC dbo.selAzureBillers @BillerGuid = ?
-- and reads the columns by position: BillerID, BillerGuid, ShardName, DisplayName, Domain, Status.

-- Seamless-login tenants (partners that sign JWTs for their users).
IF OBJECT_ID(N'dbo.Tenants', N'U') IS NULL
CREATE TABLE dbo.Tenants (
    TenantId       NVARCHAR(256)  NOT NULL CONSTRAINT PK_Tenants PRIMARY KEY,  -- the tenant JWT's iss
    Audience       NVARCHAR(256)  NOT NULL,
    Algorithm      VARCHAR(8)     NOT NULL CONSTRAINT CK_Tenants_Algorithm CHECK (Algorithm IN ('RS256', 'HS256')),
    PublicKeyPem   NVARCHAR(4000) NULL,
    JwksUrl        NVARCHAR(2048) NULL,
    SecretName     NVARCHAR(127)  NULL,   -- HS256: a Key Vault secret name, never the value
    ReturnUrl      NVARCHAR(2048) NOT NULL,
    FrameAncestors NVARCHAR(2048) NOT NULL,
    CreatedAt      DATETIME2(0)   NOT NULL CONSTRAINT DF_Tenants_CreatedAt DEFAULT SYSUTCDATETIME(),
    CONSTRAINT CK_Tenants_OneKeySource CHECK (
        (CASE WHEN PublicKeyPem IS NULL THEN 0 ELSE 1 END) + (CASE WHEN JwksUrl IS NULL THEN 0 ELSE 1 END)
        + (CASE WHEN SecretName IS NULL THEN 0 ELSE 1 END) = 1)
);
GO

IF OBJECT_ID(N'dbo.TenantTokenReplay', N'U') IS NULL
CREATE TABLE dbo.TenantTokenReplay (
    TokenKey  VARCHAR(128)  NOT NULL CONSTRAINT PK_TenantTokenReplay PRIMARY KEY,
    TenantId  NVARCHAR(256) NOT NULL,
    ExpiresAt BIGINT        NOT NULL   -- epoch seconds
);
GO

IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_TenantTokenReplay_ExpiresAt')
    CREATE INDEX IX_TenantTokenReplay_ExpiresAt ON dbo.TenantTokenReplay (ExpiresAt);
GO

-- Least privilege for the function app's identity (use the real app name, output
-- AZURE_FUNCTION_APP_NAME; docs/deploy.md step 7):
--   CREATE USER [func-xxxxxxxxxxxxx] FROM EXTERNAL PROVIDER;
--   GRANT EXECUTE ON dbo.selAzureBillers TO [func-xxxxxxxxxxxxx];
--   GRANT SELECT ON dbo.Tenants TO [func-xxxxxxxxxxxxx];
--   GRANT SELECT, INSERT, DELETE ON dbo.TenantTokenReplay TO [func-xxxxxxxxxxxxx];
