// Flex Consumption function app (Python) with a system-assigned identity.
// Storage and Application Insights are reached with that identity: no keys in settings.
// Platform CORS stays empty: the code grants CORS per biller domain and per payer JWT origin.
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
param keyVaultName string
param icSecretName string
param payerSecretName string
param masterDbSecretName string
param shardDbsSecretName string
param tenantJwksAllowedHosts string

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
        { name: 'PAYERAUTH_COOKIE_NAME', value: '__Host-payer_session' }
        { name: 'PAYERAUTH_LOCAL_DIR', value: '/tmp/payerauth' }
        { name: 'PAYERAUTH_KEY_SOURCE', value: 'keyvault' }
        { name: 'PAYERAUTH_KEYVAULT_URL', value: 'https://${keyVaultName}${environment().suffixes.keyvaultDns}' }
        { name: 'PAYERAUTH_IC_SECRET_NAME', value: icSecretName }
        { name: 'PAYERAUTH_PAYER_SECRET_NAME', value: payerSecretName }
        { name: 'PAYERAUTH_MANAGED_IDENTITY_CLIENT_ID', value: '' }
        { name: 'PAYERAUTH_KEY_REFRESH_SECONDS', value: '300' }
        { name: 'PAYERAUTH_KEY_OVERLAP_SECONDS', value: '7200' }
        { name: 'PAYERAUTH_KEYVAULT_RETRIES', value: '3' }
        { name: 'PAYERAUTH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE', value: 'true' }
        // Key Vault references: resolved by the platform with the app's identity. If the vault is
        // network-restricted (references do not work on Flex then), see docs/deploy.md.
        { name: 'PAYERAUTH_MASTER_DB', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${masterDbSecretName})' }
        { name: 'PAYERAUTH_SHARD_DBS', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${shardDbsSecretName})' }
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
output url string = 'https://${site.properties.defaultHostName}'
output principalId string = site.identity.principalId
