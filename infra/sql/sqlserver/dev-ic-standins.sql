-- DEVELOPMENT ONLY. Stand-ins for Invoice Cloud's own Master DB objects (dbo.AzureBillers and
-- dbo.selAzureBillers), for a development SQL Server that does not have them. Never run this on
-- IC's Master DB: CREATE OR ALTER would replace IC's procedure. Run it before master.sql.
-- The procedure's contract is what Payer Auth relies on: one row per biller GUID, columns by
-- position BillerID, BillerGuid, ShardName, DisplayName, Domain, Status.
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
