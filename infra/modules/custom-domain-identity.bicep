// The user-assigned identity API Management uses to read its custom domain certificate. It is
// created, and granted Key Vault Secrets User on that certificate's secret (module
// keyvault-access.bicep), before API Management exists, so the first deployment that names the
// custom domain finds the role in place (a system-assigned identity only exists after the service
// it belongs to, too late for hostnameConfigurations). Learn: "Configure a custom domain name for
// your Azure API Management instance" (the identity needs get on the certificate's secret).
param location string
param tags object
param name string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
