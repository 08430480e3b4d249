// Payer Auth: a Flex Consumption function app (Python) behind API Management.
// First phase of two. Deploy with `azd up` (azure.yaml: provision, deploy, then the postdeploy hook
// runs infra/phase2.bicep) or `az deployment sub create -f infra/main.bicep -p infra/env/<env>.bicepparam`
// followed by the steps of docs/deploy.md. Pre-flight: `az bicep build -f infra/main.bicep`.
// No secret is a parameter: the app reads its signing certificates with its managed identity and
// signs in to SQL with an access token; the connection settings hold none.
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

@description('The existing shared IC Key Vault holding the signing certificates (icappsettingsdevtest, icappsettings).')
param keyVaultName string

@description('The resource group of that Key Vault.')
param keyVaultResourceGroupName string

@description('The certificate that verifies biller and portal JWTs and signs biller JWTs (its backing secret).')
param icSecretName string = 'JwtSigningCertificate'

@description('The certificate that signs payer JWTs, in the same vault; its own by default (docs/deploy.md step 1).')
param payerSecretName string = 'PayerJwtSigningCertificate'

@minLength(6)
@description('Master DB connection setting, odbc:Driver={ODBC Driver 18 for SQL Server};Server=tcp:<server>.database.windows.net,1433;Database=<db>;Encrypt=yes (no credentials in it; no Authentication= with sqlAccessToken).')
param masterDb string

@minLength(2)
@description('JSON map of shard name to odbc: connection setting, as for masterDb.')
param shardDbs string

@description('Sign in to SQL with an access token from azure-identity (SQL_COPT_SS_ACCESS_TOKEN) rather than the driver\'s Authentication=ActiveDirectoryMsi.')
param sqlAccessToken bool = true

@description('Custom gateway host name, e.g. payer-auth.invoicecloud.com; empty: the azure-api.net host only.')
param customDomain string = ''

@description('The custom domain\'s certificate (a Key Vault certificate, application/x-pkcs12) in the IC vault.')
param customDomainCertificateName string = ''

param payerAudience string = 'https://api.invoicecloud.com'
param billerIssuer string = 'https://api.invoicecloud.com/payer'
param billerAudience string = 'https://api.invoicecloud.com/payer'
param portalIssuer string = 'https://www.invoicecloud.com'
param portalAudience string = 'https://www.invoicecloud.com'

@description('The session cookie\'s name (app setting and API Management named value alike).')
param cookieName string = '__Host-payer_session'

@description('Comma-separated tenant JWKS hosts allowed to resolve to private addresses (usually empty).')
param tenantJwksAllowedHosts string = ''

@allowed(['Developer', 'Basic', 'Standard', 'Premium', 'BasicV2', 'StandardV2'])
@description('API Management tier; not Consumption: rate-limit-by-key needs a dedicated tier.')
param apimSku string = 'Developer'

param apimPublisherEmail string
param apimPublisherName string = 'Invoice Cloud'

// rate-limit-by-key budgets per 60 s. Exchange, bootstrap and login are keyed per client IP, and
// a school or office NAT puts many payers behind one address: one page load is one bootstrap
// (or exchange), so size for the busiest NAT you expect, not for one browser.
@description('Token exchanges per client IP per minute.')
param rateLimitExchange int = 600
@description('Bootstraps per client IP per minute.')
param rateLimitBootstrap int = 600
@description('Seamless logins per client IP per minute.')
param rateLimitLogin int = 120
@description('Protected calls per payer session (sid) per minute.')
param rateLimitSession int = 300

param pythonVersion string = '3.11'
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 100

@description('Always-ready instances for the HTTP functions (Flex group `http`); 0 scales to zero.')
param alwaysReadyHttpInstances int = 0

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var apimName = '${abbrs.apiManagementService}${resourceToken}'
var gatewayUrl = 'https://${apimName}.azure-api.net'
var hasCustomDomain = !empty(customDomain)
// One public host: the issuer, jwks_uri and the discovery document all live under it.
var publicBaseUrl = hasCustomDomain ? 'https://${customDomain}' : gatewayUrl

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
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    publicBaseUrl: publicBaseUrl
    payerIssuer: publicBaseUrl
    payerAudience: payerAudience
    billerIssuer: billerIssuer
    billerAudience: billerAudience
    portalIssuer: portalIssuer
    portalAudience: portalAudience
    cookieName: cookieName
    keyVaultName: keyVaultName
    icSecretName: icSecretName
    payerSecretName: payerSecretName
    tenantSecretsVaultUri: 'https://${abbrs.keyVault}${resourceToken}${environment().suffixes.keyvaultDns}'
    masterDb: masterDb
    shardDbs: shardDbs
    sqlAccessToken: sqlAccessToken
    tenantJwksAllowedHosts: tenantJwksAllowedHosts
  }
}

// Least privilege in the shared IC vault: the app reads two named secrets, nothing else.
module keyVaultAccess 'modules/keyvault-access.bicep' = {
  name: 'keyvault-access'
  scope: resourceGroup(keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    secretNames: union([icSecretName], [payerSecretName])
    principalId: functionApp.outputs.principalId
  }
}

module tenantVault 'modules/tenant-vault.bicep' = {
  name: 'tenant-vault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.keyVault}${resourceToken}'
    principalId: functionApp.outputs.principalId
  }
}

module customDomainIdentity 'modules/custom-domain-identity.bicep' = if (hasCustomDomain) {
  name: 'custom-domain-identity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.managedIdentity}apim-${resourceToken}'
  }
}

// The identity holds its role on the certificate before API Management is created or updated.
module customDomainAccess 'modules/keyvault-access.bicep' = if (hasCustomDomain) {
  name: 'custom-domain-keyvault-access'
  scope: resourceGroup(keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    secretNames: [customDomainCertificateName]
    principalId: hasCustomDomain ? customDomainIdentity.outputs.principalId : ''
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
    payerIssuer: publicBaseUrl
    payerAudience: payerAudience
    cookieName: cookieName
    appInsightsName: monitoring.outputs.appInsightsName
    rateLimits: {
      exchange: rateLimitExchange
      bootstrap: rateLimitBootstrap
      login: rateLimitLogin
      session: rateLimitSession
    }
    customDomain: customDomain
    customDomainCertificateSecretUri: hasCustomDomain ? 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/secrets/${customDomainCertificateName}' : ''
    customDomainIdentityId: hasCustomDomain ? customDomainIdentity.outputs.id : ''
    customDomainIdentityClientId: hasCustomDomain ? customDomainIdentity.outputs.clientId : ''
  }
  dependsOn: [customDomainAccess]
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = apim.outputs.gatewayUrl
output PAYERAUTH_DEPLOY_APIM_NAME string = apim.outputs.name
output PAYERAUTH_DEPLOY_GATEWAY_URL string = apim.outputs.gatewayUrl
output PAYERAUTH_DEPLOY_PUBLIC_BASE_URL string = publicBaseUrl
output PAYERAUTH_DEPLOY_FUNCTION_HOST string = functionApp.outputs.hostName
output PAYERAUTH_DEPLOY_TENANT_VAULT_NAME string = tenantVault.outputs.name
