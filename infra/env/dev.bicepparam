// Dev and test: the IC signing certificate lives in icappsettingsdevtest.
using '../main.bicep'

param environmentName = 'payerauth-dev'
param location = 'eastus2'
param keyVaultName = 'icappsettingsdevtest'
param keyVaultResourceGroupName = readEnvironmentVariable('PAYERAUTH_KEYVAULT_RESOURCE_GROUP', 'rg-icappsettings-devtest')
param icSecretName = 'JwtSigningCertificate'
param payerIssuer = 'https://api-dev.invoicecloud.com/payer'
param apimPublisherEmail = readEnvironmentVariable('PAYERAUTH_APIM_PUBLISHER_EMAIL', 'platform@invoicecloud.com')
param apimSku = 'Developer'
