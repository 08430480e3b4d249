// Production: the IC signing certificate lives in icappsettings.
using '../main.bicep'

param environmentName = 'payerauth-prod'
param location = 'eastus2'
param keyVaultName = 'icappsettings'
param keyVaultResourceGroupName = readEnvironmentVariable('PAYERAUTH_KEYVAULT_RESOURCE_GROUP', 'rg-icappsettings')
param icSecretName = 'JwtSigningCertificate'
param payerIssuer = 'https://api.invoicecloud.com/payer'
param apimPublisherEmail = readEnvironmentVariable('PAYERAUTH_APIM_PUBLISHER_EMAIL', 'platform@invoicecloud.com')
param apimSku = 'Standard'
param maximumInstanceCount = 200
