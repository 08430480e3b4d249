// Dev and test: the signing certificates live in icappsettingsdevtest. Values that differ per
// operator come from PAYERAUTH_DEPLOY_* environment variables, the same ones azd reads
// (infra/main.parameters.json), so `az` and `azd` deploy the same environment.
using '../main.bicep'

param environmentName = 'payerauth-dev'
param location = 'eastus2'
param keyVaultName = 'icappsettingsdevtest'
param keyVaultResourceGroupName = readEnvironmentVariable('PAYERAUTH_DEPLOY_KEYVAULT_RESOURCE_GROUP', 'rg-icappsettings-devtest')
param icSecretName = 'JwtSigningCertificate'
param payerSecretName = 'PayerJwtSigningCertificate'
param masterDb = readEnvironmentVariable('PAYERAUTH_DEPLOY_MASTER_DB')
param shardDbs = readEnvironmentVariable('PAYERAUTH_DEPLOY_SHARD_DBS')
param customDomain = readEnvironmentVariable('PAYERAUTH_DEPLOY_CUSTOM_DOMAIN', '')
param customDomainCertificateName = readEnvironmentVariable('PAYERAUTH_DEPLOY_CUSTOM_DOMAIN_CERTIFICATE', '')
param apimPublisherEmail = readEnvironmentVariable('PAYERAUTH_DEPLOY_APIM_PUBLISHER_EMAIL', 'platform@invoicecloud.com')
param apimSku = 'Developer'
param maximumInstanceCount = 100
param alwaysReadyHttpInstances = 0
