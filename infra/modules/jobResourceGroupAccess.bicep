// Lets the app's identity create, read and delete container groups in the job resource group.
targetScope = 'resourceGroup'

param principalId string

var contributor = 'b24988ac-6180-42a0-ab88-20f7382dd24c'

resource access 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, contributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
