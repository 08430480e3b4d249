// Key Vault Secrets User for the function app, on each named secret of the shared IC vault (not on
// the vault): the IC certificate and the payer signing certificate, read as their backing secrets.
// Learn: "Provide access to Key Vault keys, certificates, and secrets with Azure role-based access
// control" (role assignments at the scope of an individual secret; Key Vault Secrets User
// 4633458b-17de-408a-b874-0445c86b69e6). Each secret must exist first: docs/deploy.md step 1.
// Deployed into the vault's resource group; stable role-assignment names make re-runs safe.
param keyVaultName string
param secretNames array
param principalId string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for name in secretNames: {
  parent: vault
  name: name
}]

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in secretNames: {
  name: guid(secrets[i].id, principalId, keyVaultSecretsUser)
  scope: secrets[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]
