// Flex Consumption function app (Python) with a system-assigned identity.
// Storage and Application Insights are reached with that identity: no keys in settings.
// Platform CORS stays empty: the code grants CORS per biller domain and per payer JWT origin
// (API Management answers the preflights the Flex host would swallow: infra/apim/api-policy.xml).
// Every function but api/health is AuthLevel.FUNCTION: only API Management, which holds a host
// key (infra/phase2.bicep), reaches them; a caller cannot skip validate-jwt, the rate limits or
// the cookie rule by calling *.azurewebsites.net directly.
param location string
param tags object
param name string
param planName string
param storageAccountName string
param deploymentContainerName string
param appInsightsName string
param pythonVersion string
param instanceMemoryMB int
param maximumInstanceCount int

param publicBaseUrl string
param payerIssuer string
param payerAudience string
param billerIssuer string
param billerAudience string
param portalIssuer string
param portalAudience string
param cookieName string
param keyVaultName string
param icSecretName string
param payerSecretName string
param tenantSecretsVaultUri string
@description('odbc: connection setting of the Master DB (no secret: the identity signs in).')
param masterDb string
@description('JSON map of shard name to odbc: connection setting.')
param shardDbs string
param sqlAccessToken bool
param tenantJwksAllowedHosts string
@description('Always-ready instances of the `http` scale group; 0: scale to zero.')
param alwaysReadyHttpInstances int

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // No ARR affinity cookie: it would be a second Set-Cookie next to our session cookie, and
    // instances keep no per-client state (Microsoft.Web/sites clientAffinityEnabled).
    clientAffinityEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      cors: {
        allowedOrigins: []
      }
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'PAYERAUTH_ENVIRONMENT', value: 'production' }
        { name: 'PAYERAUTH_PUBLIC_BASE_URL', value: publicBaseUrl }
        { name: 'PAYERAUTH_PAYER_ISSUER', value: payerIssuer }
        { name: 'PAYERAUTH_PAYER_AUDIENCE', value: payerAudience }
        { name: 'PAYERAUTH_PAYER_TOKEN_LIFETIME', value: '900' }
        { name: 'PAYERAUTH_PAYER_ALGORITHM', value: 'RS256' }
        { name: 'PAYERAUTH_BILLER_ISSUER', value: billerIssuer }
        { name: 'PAYERAUTH_BILLER_AUDIENCE', value: billerAudience }
        { name: 'PAYERAUTH_PORTAL_ISSUER', value: portalIssuer }
        { name: 'PAYERAUTH_PORTAL_AUDIENCE', value: portalAudience }
        { name: 'PAYERAUTH_LEEWAY', value: '60' }
        { name: 'PAYERAUTH_REVOCATION_BOUND', value: '60' }
        { name: 'PAYERAUTH_COOKIE_NAME', value: cookieName }
        { name: 'PAYERAUTH_LOCAL_DIR', value: '/tmp/payerauth' }
        { name: 'PAYERAUTH_KEY_SOURCE', value: 'keyvault' }
        { name: 'PAYERAUTH_KEYVAULT_URL', value: 'https://${keyVaultName}${environment().suffixes.keyvaultDns}' }
        { name: 'PAYERAUTH_IC_SECRET_NAME', value: icSecretName }
        // Payer JWTs are signed by a certificate of their own in Azure (anonymous tokens issued to
        // anyone who loads a biller page); the IC certificate keeps signing biller JWTs only.
        { name: 'PAYERAUTH_PAYER_SECRET_NAME', value: payerSecretName }
        { name: 'PAYERAUTH_TENANT_SECRETS_VAULT_URL', value: tenantSecretsVaultUri }
        { name: 'PAYERAUTH_MANAGED_IDENTITY_CLIENT_ID', value: '' }
        { name: 'PAYERAUTH_KEY_REFRESH_SECONDS', value: '300' }
        { name: 'PAYERAUTH_KEY_OVERLAP_SECONDS', value: '7200' }
        { name: 'PAYERAUTH_KEYVAULT_RETRIES', value: '3' }
        { name: 'PAYERAUTH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE', value: 'true' }
        // Plain settings, no Key Vault references: they hold no secret (the identity signs in with
        // an access token), and a reference created before its role exists keeps the literal
        // string (Learn: "Use Key Vault references as app settings", access and rotation).
        { name: 'PAYERAUTH_MASTER_DB', value: masterDb }
        { name: 'PAYERAUTH_SHARD_DBS', value: shardDbs }
        { name: 'PAYERAUTH_SQL_ACCESS_TOKEN', value: sqlAccessToken ? 'true' : 'false' }
        { name: 'PAYERAUTH_DIRECTORY_CACHE_SIZE', value: '10000' }
        { name: 'PAYERAUTH_TENANT_TOKEN_MAX_LIFETIME', value: '300' }
        { name: 'PAYERAUTH_TENANT_SESSION_LIFETIME', value: '1800' }
        { name: 'PAYERAUTH_TENANT_JWKS_TTL', value: '3600' }
        { name: 'PAYERAUTH_TENANT_JWKS_MIN_REFETCH', value: '60' }
        { name: 'PAYERAUTH_TENANT_JWKS_ALLOWED_HOSTS', value: tenantJwksAllowedHosts }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // On Flex all HTTP functions scale together as the group `http` (Learn: "Azure Functions
        // Flex Consumption plan hosting", per-function scaling and always ready instances).
        alwaysReady: alwaysReadyHttpInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, site.id, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, site.id, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = site.name
output hostName string = site.properties.defaultHostName
output url string = 'https://${site.properties.defaultHostName}'
output principalId string = site.identity.principalId
