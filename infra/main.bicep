// Payer Auth: a Flex Consumption function app (Python) behind API Management.
// Deploy with `azd up` (azure.yaml) or `az deployment sub create -f infra/main.bicep -p infra/env/<env>.bicepparam`.
// No secret is a parameter: the app reads the IC signing certificate and the SQL connection settings
// from the existing Key Vault with its system-assigned managed identity.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment; names and tags every resource (e.g. payerauth-dev).')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
param location string

@description('Resource group to create; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('The existing Key Vault holding the IC signing certificate (icappsettingsdevtest, icappsettings).')
param keyVaultName string

@description('The resource group of that Key Vault.')
param keyVaultResourceGroupName string

@description('The certificate backing secret that verifies biller and portal JWTs (and signs biller JWTs).')
param icSecretName string = 'JwtSigningCertificate'

@description('The secret that signs payer JWTs; empty: the IC secret.')
param payerSecretName string = ''

@description('Key Vault secret holding the Master DB setting, e.g. odbc:Driver={ODBC Driver 18 for SQL Server};Server=tcp:...;Database=master;Authentication=ActiveDirectoryMsi;Encrypt=yes')
param masterDbSecretName string = 'PayerAuth-MasterDb'

@description('Key Vault secret holding the JSON map of shard name to odbc: connection setting.')
param shardDbsSecretName string = 'PayerAuth-ShardDbs'

@description('The payer JWT iss (also the discovery issuer); empty: the API Management gateway URL.')
param payerIssuer string = ''

param payerAudience string = 'https://api.invoicecloud.com'
param billerIssuer string = 'https://api.invoicecloud.com/payer'
param billerAudience string = 'https://api.invoicecloud.com/payer'
param portalIssuer string = 'https://www.invoicecloud.com'
param portalAudience string = 'https://www.invoicecloud.com'

@description('Comma-separated tenant JWKS hosts allowed to resolve to private addresses (usually empty).')
param tenantJwksAllowedHosts string = ''

@allowed(['Developer', 'Basic', 'Standard', 'Premium', 'BasicV2', 'StandardV2'])
@description('API Management tier; not Consumption: rate-limit-by-key needs a dedicated tier.')
param apimSku string = 'Developer'

param apimPublisherEmail string
param apimPublisherName string = 'Invoice Cloud'

param pythonVersion string = '3.11'
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 100

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var apimName = '${abbrs.apiManagementService}${resourceToken}'
var gatewayUrl = 'https://${apimName}.azure-api.net'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourceGroup}${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.logAnalyticsWorkspace}${resourceToken}'
    appInsightsName: '${abbrs.appInsights}${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.storageAccount}${resourceToken}'
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.functionApp}${resourceToken}'
    planName: '${abbrs.servicePlan}${resourceToken}'
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    publicBaseUrl: gatewayUrl
    payerIssuer: !empty(payerIssuer) ? payerIssuer : gatewayUrl
    payerAudience: payerAudience
    billerIssuer: billerIssuer
    billerAudience: billerAudience
    portalIssuer: portalIssuer
    portalAudience: portalAudience
    keyVaultName: keyVaultName
    icSecretName: icSecretName
    payerSecretName: !empty(payerSecretName) ? payerSecretName : icSecretName
    masterDbSecretName: masterDbSecretName
    shardDbsSecretName: shardDbsSecretName
    tenantJwksAllowedHosts: tenantJwksAllowedHosts
  }
}

module keyVaultAccess 'modules/keyvault-access.bicep' = {
  name: 'keyvault-access'
  scope: resourceGroup(keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    principalId: functionApp.outputs.principalId
  }
}

module apim 'modules/apim.bicep' = {
  name: 'apim'
  scope: rg
  params: {
    location: location
    tags: tags
    name: apimName
    sku: apimSku
    publisherEmail: apimPublisherEmail
    publisherName: apimPublisherName
    functionAppUrl: functionApp.outputs.url
    payerIssuer: !empty(payerIssuer) ? payerIssuer : gatewayUrl
    payerAudience: payerAudience
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.url
output PAYERAUTH_GATEWAY_URL string = apim.outputs.gatewayUrl
output PAYERAUTH_OPENID_CONFIGURATION string = '${apim.outputs.gatewayUrl}/.well-known/openid-configuration'
