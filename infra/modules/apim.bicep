// API Management in front of the functions: the API imported from openapi.yaml, policies from infra/apim/.
// No <cors> policy anywhere: CORS depends on each biller's domain and stays with the functions.
param location string
param tags object
param name string
param sku string
param publisherEmail string
param publisherName string
param functionAppUrl string
param payerIssuer string
param payerAudience string
param appInsightsName string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource apim 'Microsoft.ApiManagement/service@2024-05-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    capacity: 1
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publisherEmail: publisherEmail
    publisherName: publisherName
  }
}

resource openIdConfig 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = {
  parent: apim
  name: 'payer-openid-config'
  properties: {
    displayName: 'payer-openid-config'
    value: '${functionAppUrl}/.well-known/openid-configuration'
  }
}

resource issuer 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = {
  parent: apim
  name: 'payer-issuer'
  properties: {
    displayName: 'payer-issuer'
    value: payerIssuer
  }
}

resource audience 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = {
  parent: apim
  name: 'payer-audience'
  properties: {
    displayName: 'payer-audience'
    value: payerAudience
  }
}

resource backend 'Microsoft.ApiManagement/service/backends@2024-05-01' = {
  parent: apim
  name: 'payer-auth-functions'
  properties: {
    protocol: 'http'
    url: functionAppUrl
  }
}

resource cookieFragment 'Microsoft.ApiManagement/service/policyFragments@2024-05-01' = {
  parent: apim
  name: 'payer-session-cookie'
  properties: {
    format: 'rawxml'
    value: loadTextContent('../apim/session-cookie-outbound.xml')
  }
}

resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: 'payer-auth'
  properties: {
    displayName: 'Payer Auth'
    path: ''
    protocols: ['https']
    subscriptionRequired: false
    format: 'openapi'
    value: loadTextContent('../../openapi.yaml')
    serviceUrl: functionAppUrl
  }
}

resource apiPolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = {
  parent: api
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: loadTextContent('../apim/api-policy.xml')
  }
  dependsOn: [backend, cookieFragment]
}

resource exchangeOperations 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' existing = [for op in ['payer_token', 'payer_bootstrap', 'tenant_login', 'tenant_login_form']: {
  parent: api
  name: op
}]

resource exchangePolicies 'Microsoft.ApiManagement/service/apis/operations/policies@2024-05-01' = [for (op, i) in ['payer_token', 'payer_bootstrap', 'tenant_login', 'tenant_login_form']: {
  parent: exchangeOperations[i]
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: loadTextContent('../apim/exchange-operation.xml')
  }
}]

resource profileOperation 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' existing = {
  parent: api
  name: 'payer_profile'
}

resource profilePolicy 'Microsoft.ApiManagement/service/apis/operations/policies@2024-05-01' = {
  parent: profileOperation
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: loadTextContent('../apim/protected-operation.xml')
  }
  dependsOn: [openIdConfig, issuer, audience]
}

resource logger 'Microsoft.ApiManagement/service/loggers@2024-05-01' = {
  parent: apim
  name: 'appinsights'
  properties: {
    loggerType: 'applicationInsights'
    resourceId: appInsights.id
    credentials: {
      connectionString: appInsights.properties.ConnectionString
      identityClientId: 'SystemAssigned'  // local auth is off on the App Insights resource
    }
  }
  dependsOn: [metricsPublisher]
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, apim.id, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: apim.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output gatewayUrl string = apim.properties.gatewayUrl
