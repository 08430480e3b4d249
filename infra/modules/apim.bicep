// API Management in front of the functions, first phase: the service, the API imported from
// openapi.yaml, named values, policy fragments, the logger and diagnostics. Everything that needs
// the deployed code (the function key, the backend that sends it, every policy, validate-jwt's
// discovery fetch) is the second phase: infra/phase2.bicep, run by the azd postdeploy hook.
// No <cors> policy anywhere: CORS depends on each biller's domain and stays with the functions;
// API Management only answers preflights (api-policy.xml), which never reach them on Flex.
param location string
param tags object
param name string
param sku string
param publisherEmail string
param publisherName string
param functionAppUrl string
param payerIssuer string
param payerAudience string
param cookieName string
param appInsightsName string
@description('rate-limit-by-key calls per 60 s, per family (exchange, bootstrap and login per client IP; session per sid).')
param rateLimits object

@description('Custom gateway host name; empty: only the azure-api.net host.')
param customDomain string
@description('Versionless Key Vault secret URI of the custom domain certificate (application/x-pkcs12).')
param customDomainCertificateSecretUri string
@description('Resource id of the user-assigned identity that reads that certificate; it holds its role before this runs.')
param customDomainIdentityId string
param customDomainIdentityClientId string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var hasCustomDomain = !empty(customDomain)

// Custom domain with a Key Vault certificate read by a user-assigned identity (Learn: "Configure a
// custom domain name for your Azure API Management instance"; hostnameConfigurations.keyVaultId is
// versionless so a renewed certificate is picked up, identityClientId names the identity).
resource apim 'Microsoft.ApiManagement/service@2024-05-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    capacity: 1
  }
  identity: hasCustomDomain ? {
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: {
      '${customDomainIdentityId}': {}
    }
  } : {
    type: 'SystemAssigned'
  }
  properties: {
    publisherEmail: publisherEmail
    publisherName: publisherName
    hostnameConfigurations: hasCustomDomain ? [
      {
        type: 'Proxy'
        hostName: customDomain
        certificateSource: 'KeyVault'
        keyVaultId: customDomainCertificateSecretUri
        identityClientId: customDomainIdentityClientId
        defaultSslBinding: true
        negotiateClientCertificate: false
      }
    ] : []
  }
}

// Read by validate-jwt in the second phase. The gateway's own host, never the custom domain, so
// saving the policy does not wait for DNS (the discovery document's jwks_uri still names the
// public host: docs/deploy.md orders DNS before the second phase when a custom domain is set).
resource openIdConfig 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = {
  parent: apim
  name: 'payer-openid-config'
  properties: {
    displayName: 'payer-openid-config'
    value: '${apim.properties.gatewayUrl}/.well-known/openid-configuration'
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

// The same value as the app's PAYERAUTH_COOKIE_NAME: one parameter feeds both.
resource cookie 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = {
  parent: apim
  name: 'payer-cookie-name'
  properties: {
    displayName: 'payer-cookie-name'
    value: cookieName
  }
}

resource limits 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = [for family in ['exchange', 'bootstrap', 'login', 'session']: {
  parent: apim
  name: 'rate-limit-${family}-calls'
  properties: {
    displayName: 'rate-limit-${family}-calls'
    value: string(rateLimits[family])
  }
}]

// Fragments are XML documents: format 'xml' (the content is decoded, so &quot; inside an expression
// becomes a quote). 'rawxml' would send the entities as they are and break the expressions.
// Learn / bicep-types-az: PolicyFragmentContractProperties.format is 'xml' | 'rawxml'.
var fragments = {
  'payer-session-cookie': loadTextContent('../apim/session-cookie-outbound.xml')
  'payer-refusal-oauth': loadTextContent('../apim/refusal-oauth.xml')
  'payer-refusal-problem': loadTextContent('../apim/refusal-problem.xml')
  'payer-refusal-login': loadTextContent('../apim/refusal-login.xml')
}

resource fragment 'Microsoft.ApiManagement/service/policyFragments@2024-05-01' = [for item in items(fragments): {
  parent: apim
  name: item.key
  properties: {
    format: 'xml'
    value: item.value
  }
  dependsOn: [cookie]
}]

// OpenAPI import (Learn: "API import restrictions and known issues"): each operationId becomes the
// operation's resource name, lower case with every run of non-alphanumerics as one dash
// (payer_token -> payer-token); translateRequiredQueryParameters 'query' keeps the required
// `token` query parameter of tenant_login a query parameter instead of a URL template segment.
// The same page lists the OpenAPI 3 component kinds APIM does not support (responses, parameters, ...):
// it imports infra/apim/openapi.json, openapi.yaml with those written out in place
// (scripts/apim_openapi.py; tests/test_infra.py checks the copy is current).
resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: 'payer-auth'
  properties: {
    displayName: 'Payer Auth'
    path: ''
    protocols: ['https']
    subscriptionRequired: false
    format: 'openapi+json'
    value: loadTextContent('../apim/openapi.json')
    serviceUrl: functionAppUrl
    translateRequiredQueryParameters: 'query'
  }
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

// Request telemetry without secrets: the seamless login's `token` query parameter, cookies, the
// Authorization header and the function key are masked wherever API Management logs them
// (bicep-types-az Microsoft.ApiManagement/service/diagnostics: HttpMessageDiagnostic.dataMasking;
// Learn: "Integrate Azure API Management with Azure Application Insights"). No header or body is
// logged at all (headers: [], body bytes 0); the masks cover the URL and any later change.
var masks = {
  queryParams: [
    { value: 'token', mode: 'Mask' }
    { value: 'code', mode: 'Mask' }
  ]
  headers: [
    { value: 'Cookie', mode: 'Mask' }
    { value: 'Set-Cookie', mode: 'Mask' }
    { value: 'Authorization', mode: 'Mask' }
    { value: 'x-functions-key', mode: 'Mask' }
  ]
}
var quietMessage = {
  headers: []
  body: { bytes: 0 }
  dataMasking: masks
}

resource diagnostics 'Microsoft.ApiManagement/service/diagnostics@2024-05-01' = {
  parent: apim
  name: 'applicationinsights'
  properties: {
    loggerId: logger.id
    alwaysLog: 'allErrors'
    httpCorrelationProtocol: 'W3C'
    verbosity: 'information'
    logClientIp: false
    sampling: {
      samplingType: 'fixed'
      percentage: 100
    }
    frontend: {
      request: quietMessage
      response: quietMessage
    }
    backend: {
      request: quietMessage
      response: quietMessage
    }
  }
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

output name string = apim.name
output gatewayUrl string = apim.properties.gatewayUrl
