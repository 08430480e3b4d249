// Production: the signing certificates live in icappsettings. Values that differ per operator
// come from PAYERAUTH_DEPLOY_* environment variables, the same ones azd reads
// (infra/main.parameters.json), so `az` and `azd` deploy the same environment.
using '../main.bicep'

param environmentName = 'payerauth-prod'
param location = 'eastus2'
param keyVaultName = 'icappsettings'
param keyVaultResourceGroupName = readEnvironmentVariable('PAYERAUTH_DEPLOY_KEYVAULT_RESOURCE_GROUP', 'rg-icappsettings')
param icSecretName = 'JwtSigningCertificate'
param payerSecretName = 'PayerJwtSigningCertificate'
param masterDb = readEnvironmentVariable('PAYERAUTH_DEPLOY_MASTER_DB')
param shardDbs = readEnvironmentVariable('PAYERAUTH_DEPLOY_SHARD_DBS')
param customDomain = readEnvironmentVariable('PAYERAUTH_DEPLOY_CUSTOM_DOMAIN', '')
param customDomainCertificateName = readEnvironmentVariable('PAYERAUTH_DEPLOY_CUSTOM_DOMAIN_CERTIFICATE', '')
param apimPublisherEmail = readEnvironmentVariable('PAYERAUTH_DEPLOY_APIM_PUBLISHER_EMAIL', 'platform@invoicecloud.com')
param apimSku = 'Standard'
param maximumInstanceCount = 200
// Two warm instances for the HTTP group: no cold start on the first payer of the morning.
param alwaysReadyHttpInstances = 2
