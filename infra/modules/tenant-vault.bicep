// A vault of this service's own for HS256 tenants' shared secrets. Their names come from the
// Tenants table at run time, so the app cannot be granted them one by one: it holds Key Vault
// Secrets User on this whole vault, which holds nothing else (the IC vault stays per-secret).
// RBAC authorization (Learn: "Provide access to Key Vault keys, certificates, and secrets with
// Azure role-based access control").
param location string
param tags object
param name string
param principalId string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    publicNetworkAccess: 'Enabled'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
