-- Master DB (Azure SQL / SQL Server). Idempotent: safe to run again.
IF OBJECT_ID(N'dbo.AzureBillers', N'U') IS NULL
CREATE TABLE dbo.AzureBillers (
    BillerID    INT IDENTITY(1, 1)  NOT NULL CONSTRAINT PK_AzureBillers PRIMARY KEY,
    BillerGuid  UNIQUEIDENTIFIER    NOT NULL CONSTRAINT UQ_AzureBillers_BillerGuid UNIQUE,
    DisplayName NVARCHAR(200)       NOT NULL,
    Domain      NVARCHAR(260)       NOT NULL,
    Status      VARCHAR(16)         NOT NULL CONSTRAINT DF_AzureBillers_Status DEFAULT 'active'
                CONSTRAINT CK_AzureBillers_Status CHECK (Status IN ('active', 'suspended')),
    ShardName   VARCHAR(64)         NOT NULL,
    CreatedAt   DATETIME2(0)        NOT NULL CONSTRAINT DF_AzureBillers_CreatedAt DEFAULT SYSUTCDATETIME()
);
GO

-- Resolves a biller GUID to its BillerID and shard. Payer Auth calls it as
-- EXEC dbo.selAzureBillers @BillerGuid = ?  and reads the columns by position:
-- BillerID, BillerGuid, ShardName, DisplayName, Domain, Status.
CREATE OR ALTER PROCEDURE dbo.selAzureBillers
    @BillerGuid UNIQUEIDENTIFIER
AS
BEGIN
    SET NOCOUNT ON;
    SELECT BillerID, LOWER(CONVERT(CHAR(36), BillerGuid)) AS BillerGuid, ShardName,
           DisplayName, Domain, Status
    FROM dbo.AzureBillers
    WHERE BillerGuid = @BillerGuid;
END
GO

-- Least privilege for the function app's identity (replace the name):
--   CREATE USER [func-payerauth-prod] FROM EXTERNAL PROVIDER;
--   GRANT EXECUTE ON dbo.selAzureBillers TO [func-payerauth-prod];
--   GRANT SELECT, INSERT ON dbo.AzureBillers TO [func-payerauth-prod];  -- CLI / admin only

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
--   GRANT SELECT ON dbo.Tenants TO [func-payerauth-prod];
--   GRANT SELECT, INSERT, DELETE ON dbo.TenantTokenReplay TO [func-payerauth-prod];
