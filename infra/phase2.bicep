// Second phase, after the code is deployed: run by the azd postdeploy hook (azure.yaml ->
// infra/hooks/postdeploy.sh) and by step 6 of docs/deploy.md on the `az` path.
//
// Why a second phase: validate-jwt with <openid-config> fetches the discovery document when the
// policy is saved, and before the code is deployed nothing serves it, so the PUT fails (known
// APIOps failure mode, Azure/apiops issue 857). The function key is read here too, when the host
// runs: the functions are AuthLevel.FUNCTION, and API Management sends a host key as
// x-functions-key from a secret named value (Learn: "Import an Azure Function App as an API in
// Azure API Management", section Authorization: the key lives in a named value and is sent in a
// header; BackendCredentialsContract.header in bicep-types-az).
//
// Order inside this deployment: key -> backend -> API policy (routes to the backend) -> operation
// policies; the protected one last, when discovery already answers through the gateway.
//
// Policies are XML documents: format 'xml' (bicep-types-az PolicyContractProperties.format:
// 'xml' | 'xml-link' | 'rawxml' | 'rawxml-link'; 'rawxml' would keep &quot; and break expressions).
targetScope = 'resourceGroup'

@description('The API Management service created by infra/main.bicep (output PAYERAUTH_DEPLOY_APIM_NAME).')
param apimName string

@description('The function app created by infra/main.bicep (output AZURE_FUNCTION_APP_NAME).')
param functionAppName string

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' existing = {
  parent: apim
  name: 'payer-auth'
}

// The host's default key (host keys pass AuthLevel.FUNCTION). Rotating it: docs/deploy.md.
resource functionsKey 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = {
  parent: apim
  name: 'functions-key'
  properties: {
    displayName: 'functions-key'
    secret: true
    value: listKeys('${site.id}/host/default', '2024-04-01').functionKeys.default
  }
}

resource backend 'Microsoft.ApiManagement/service/backends@2024-05-01' = {
  parent: apim
  name: 'payer-auth-functions'
  properties: {
    protocol: 'http'
    url: 'https://${site.properties.defaultHostName}'
    credentials: {
      header: {
        'x-functions-key': ['{{functions-key}}']
      }
    }
  }
  dependsOn: [functionsKey]
}

resource apiPolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = {
  parent: api
  name: 'policy'
  properties: {
    format: 'xml'
    value: loadTextContent('apim/api-policy.xml')
  }
  dependsOn: [backend]
}

// Operation resource names as API Management derives them from openapi.yaml's operationId
// (Learn: "API import restrictions and known issues": lower case, each run of non-alphanumeric
// characters replaced by one dash, dashes trimmed). tests/test_infra.py applies the same rule.
var operationPolicies = [
  { operation: 'payer-token', file: 'exchange' }
  { operation: 'payer-bootstrap', file: 'bootstrap' }
  { operation: 'tenant-login', file: 'login' }
  { operation: 'tenant-login-form', file: 'login' }
]

var policyFiles = {
  exchange: loadTextContent('apim/exchange-operation.xml')
  bootstrap: loadTextContent('apim/bootstrap-operation.xml')
  login: loadTextContent('apim/login-operation.xml')
}

resource operations 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' existing = [for item in operationPolicies: {
  parent: api
  name: item.operation
}]

resource limitedPolicies 'Microsoft.ApiManagement/service/apis/operations/policies@2024-05-01' = [for (item, i) in operationPolicies: {
  parent: operations[i]
  name: 'policy'
  properties: {
    format: 'xml'
    value: policyFiles[item.file]
  }
  dependsOn: [apiPolicy]
}]

resource profileOperation 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' existing = {
  parent: api
  name: 'payer-profile'
}

resource profilePolicy 'Microsoft.ApiManagement/service/apis/operations/policies@2024-05-01' = {
  parent: profileOperation
  name: 'policy'
  properties: {
    format: 'xml'
    value: loadTextContent('apim/protected-operation.xml')
  }
  dependsOn: [apiPolicy]
}
