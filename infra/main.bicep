// Baton on Azure: everything the function app needs, wired with one user-assigned managed
// identity and data-plane role assignments (no keys or connection strings in app settings).
//
// Deploy (README, "Deploying to Azure"):
//   az deployment group create -g <rg> -f infra/main.bicep -p namePrefix=<prefix>
//   npm run build && func azure functionapp publish <functionAppName output>
targetScope = 'resourceGroup'

@description('Short prefix for resource names (lower-case letters and digits).')
@minLength(3)
@maxLength(11)
param namePrefix string

param location string = resourceGroup().location

@description('Resource group where job container groups are created (the identity gets Contributor there).')
param jobResourceGroupName string = resourceGroup().name

@description('Deliveries of a queue message before Service Bus dead-letters it; the app reads the same value.')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int = 5

@description('Durable Functions task hub name.')
param taskHubName string = 'baton'

@description('NCRONTAB schedules of the timer functions.')
param heartbeatSchedule string = '0 */5 * * * *'
param jobWatchSchedule string = '*/15 * * * * *'
param pruneSchedule string = '0 0 * * * *'
@description('NCRONTAB of the verified beamline pruner (daily by default).')
param beamlinePruneSchedule string = '0 0 2 * * *'
@description('Beamline configs the beamline pruner prunes: comma-separated paths inside BATON_MODEL_SOURCES_ROOT; empty = none.')
param beamlineConfigs string = ''

@description('NCRONTAB of the periodic task scheduler tick.')
param schedulerSchedule string = '0 */5 * * * *'

@description('Slots per compute backend (BATON_BACKEND_SLOTS syntax), e.g. aci=20,cpu=40,memoryGb=160.')
param backendSlots string = 'aci=20'

@description('NCRONTAB of the slot sampler (slot use per backend kept for 24 h, for the portal).')
param slotSampleSchedule string = '*/30 * * * * *'

@description('How an Entra principal name becomes a Baton user name: principal (as given) or local-part (before the @, for userDomains only).')
@allowed(['principal', 'local-part'])
param userNameFrom string = 'principal'
@description('Comma-separated domains whose principals\' local parts are user names (userNameFrom local-part).')
param userDomains string = ''
@description('Explicit principal=name entries, ;-separated (e.g. alice@x.org=alice); they win over userNameFrom.')
param userNames string = ''

param tags object = {}
@description('Client (application) id of the Entra ID app registration that signs users in to the portal and API (App Service Authentication)')
param entraClientId string
@description('Entra ID tenant the users sign in from')
param entraTenantId string = subscription().tenantId

var suffix = uniqueString(resourceGroup().id, namePrefix)
var names = {
  identity: '${namePrefix}-id-${suffix}'
  hostStorage: toLower(take('${namePrefix}host${suffix}', 24))
  lakeStorage: toLower(take('${namePrefix}lake${suffix}', 24))
  cosmos: toLower('${namePrefix}-cosmos-${suffix}')
  serviceBus: '${namePrefix}-sb-${suffix}'
  keyVault: take('${namePrefix}kv${suffix}', 24)
  logs: '${namePrefix}-logs-${suffix}'
  insights: '${namePrefix}-appi-${suffix}'
  plan: '${namePrefix}-plan-${suffix}'
  functionApp: '${namePrefix}-func-${suffix}'
}
var cosmosDatabaseName = 'baton'
// One container per StateStore collection; every document's partition key is its `pk` field
// (runs and jobs: the run id, so a run's documents share a partition; system docs: their id).
// Every collection of shared/app/stateCollections.ts (test/unit/infraSettings.test.ts compares).
var cosmosContainers = [
  'runs'
  'jobs'
  'system'
  'landed-files'
  'datasets'
  'tasks'
  'taskJobs'
  'scheduler'
  'retention'
  'modelStates'
  'modelRunLocks'
  'trackerExperiments'
  'trackerRuns'
  'trackerRunIndex'
  'trackerMetrics'
  'catalogue'
  'beamlineRetention'
  'beamlinePruneAudit'
  'beamlineTransfers'
  'hpcJobs'
  'modelOutputs'
  'slotHistory'
]
var lakeFileSystems = ['lake', 'landing']
var queues = ['launch-job', 'job-events', 'schedule-tasks']

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// ---- identity ------------------------------------------------------------------------------
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
  tags: tags
}

// ---- host storage: Functions runtime, deployment package, Durable task hub -------------------
resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: names.hostStorage
  location: location
  tags: tags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobs
  name: 'deploymentpackage'
}

// ---- the lake: ADLS Gen2 (hierarchical namespace) with the lake and landing filesystems -------
resource lakeStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: names.lakeStorage
  location: location
  tags: tags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    isHnsEnabled: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource lakeBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: lakeStorage
  name: 'default'
}

resource fileSystems 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for fs in lakeFileSystems: {
    parent: lakeBlobs
    name: fs
  }
]

// ---- state: Cosmos DB (serverless), one container per collection, partition key /pk ---------
resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: names.cosmos
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    disableLocalAuth: true
    capabilities: [{ name: 'EnableServerless' }]
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [{ locationName: location, failoverPriority: 0, isZoneRedundant: false }]
  }
}

resource cosmosDatabase 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: cosmos
  name: cosmosDatabaseName
  properties: { resource: { id: cosmosDatabaseName } }
}

resource cosmosCollections 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [
  for name in cosmosContainers: {
    parent: cosmosDatabase
    name: name
    properties: {
      resource: {
        id: name
        partitionKey: { paths: ['/pk'], kind: 'Hash' }
      }
    }
  }
]

// Built-in "Cosmos DB Built-in Data Contributor" (data plane, not ARM RBAC).
resource cosmosDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, identity.id, 'data-contributor')
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    principalId: identity.properties.principalId
    scope: cosmos.id
  }
}

// ---- messaging: Service Bus (Standard: duplicate detection) --------------------------------
resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: names.serviceBus
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource serviceBusQueues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [
  for name in queues: {
    parent: serviceBus
    name: name
    properties: {
      maxDeliveryCount: maxDeliveryCount
      lockDuration: 'PT1M'
      deadLetteringOnMessageExpiration: true
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT10M'
      defaultMessageTimeToLive: 'P14D'
    }
  }
]

// ---- secrets for HPC centres (NERSC SFAPI, Globus) ------------------------------------------
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: names.keyVault
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
  }
}

// ---- monitoring ----------------------------------------------------------------------------
resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.logs
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.insights
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// ---- the function app: Flex Consumption, Node 20 -------------------------------------------
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: names.plan
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

var identitySettings = [
  { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
  // The Functions host itself (and the Durable task hub) on the host storage account.
  { name: 'AzureWebJobsStorage__accountName', value: hostStorage.name }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
  // Service Bus triggers (binding connection "ServiceBusConnection").
  { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${serviceBus.name}.servicebus.windows.net' }
  { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
  { name: 'ServiceBusConnection__clientId', value: identity.properties.clientId }
  // Blob trigger on the landing filesystem (binding connection "LakeConnection").
  { name: 'LakeConnection__blobServiceUri', value: lakeStorage.properties.primaryEndpoints.blob }
  { name: 'LakeConnection__queueServiceUri', value: lakeStorage.properties.primaryEndpoints.queue }
  { name: 'LakeConnection__credential', value: 'managedidentity' }
  { name: 'LakeConnection__clientId', value: identity.properties.clientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
]

// Every BATON_* setting the app reads (shared/app/config.ts); a test checks this list.
var batonSettings = [
  { name: 'BATON_TASK_HUB', value: taskHubName }
  // Callers are who App Service Authentication says (x-ms-client-principal*), see authSettings.
  { name: 'BATON_AUTH', value: 'appservice' }
  { name: 'BATON_STATE', value: 'cosmos' }
  { name: 'BATON_LAKE', value: 'adls' }
  { name: 'BATON_BUS', value: 'servicebus' }
  { name: 'BATON_COMPUTE', value: 'aci' }
  // Trials are tracked in Cosmos DB; point BATON_TRACKER=mlflow at a tracking server to browse them there.
  { name: 'BATON_TRACKER', value: 'state' }
  { name: 'BATON_MLFLOW_URL', value: '' }
  { name: 'BATON_MLFLOW_TOKEN_ENV', value: '' }
  { name: 'BATON_NERSC_TOKEN_ENV', value: '' }
  { name: 'BATON_ALCF_TOKEN_ENV', value: '' }
  { name: 'BATON_STATE_DIR', value: '/tmp/baton' }
  { name: 'BATON_BUS_MAX_DELIVERY_COUNT', value: string(maxDeliveryCount) }
  { name: 'BATON_HEARTBEAT_SCHEDULE', value: heartbeatSchedule }
  { name: 'BATON_JOB_WATCH_SCHEDULE', value: jobWatchSchedule }
  { name: 'BATON_PRUNE_SCHEDULE', value: pruneSchedule }
  { name: 'BATON_BEAMLINE_PRUNE_SCHEDULE', value: beamlinePruneSchedule }
  { name: 'BATON_BEAMLINE_CONFIGS', value: beamlineConfigs }
  { name: 'BATON_LANDING_PATH', value: 'landing' }
  { name: 'BATON_JOB_EVENTS_QUEUE', value: 'job-events' }
  { name: 'BATON_LAUNCH_JOB_QUEUE', value: 'launch-job' }
  { name: 'BATON_SCHEDULER_QUEUE', value: 'schedule-tasks' }
  { name: 'BATON_SCHEDULER_SCHEDULE', value: schedulerSchedule }
  { name: 'BATON_BACKEND_SLOTS', value: backendSlots }
  { name: 'BATON_TASK_TEST_JOBS', value: '10' }
  { name: 'BATON_TASK_RETRY_BACKOFF_SECONDS', value: '30' }
  { name: 'BATON_DATABANK_ROOT', value: '' }
  { name: 'BATON_MODEL_SOURCES_ROOT', value: '' }
  { name: 'BATON_ACTIVITY_CONCURRENCY', value: '32' }
  // The local host's OTLP export; in Azure, traces go to Application Insights instead.
  { name: 'BATON_OTLP_ENDPOINT', value: '' }
  { name: 'BATON_COSMOS_ENDPOINT', value: cosmos.properties.documentEndpoint }
  { name: 'BATON_COSMOS_DATABASE', value: cosmosDatabaseName }
  { name: 'BATON_LAKE_ACCOUNT_URL', value: lakeStorage.properties.primaryEndpoints.dfs }
  { name: 'BATON_LAKE_FILESYSTEM', value: 'lake' }
  { name: 'BATON_SERVICEBUS_NAMESPACE', value: '${serviceBus.name}.servicebus.windows.net' }
  { name: 'BATON_ACI_SUBSCRIPTION_ID', value: subscription().subscriptionId }
  { name: 'BATON_ACI_RESOURCE_GROUP', value: jobResourceGroupName }
  { name: 'BATON_ACI_LOCATION', value: location }
  { name: 'BATON_SLOT_SAMPLE_SCHEDULE', value: slotSampleSchedule }
  // Entra names such as alice@x.org do not fit user.<name>.: see shared/app/identity.ts.
  { name: 'BATON_USER_NAME_FROM', value: userNameFrom }
  { name: 'BATON_USER_DOMAINS', value: userDomains }
  { name: 'BATON_USER_NAMES', value: userNames }
]

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: names.functionApp
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: concat(identitySettings, batonSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: { name: 'node', version: '20' }
    }
  }
}

// ---- role assignments of the app's identity ------------------------------------------------
var hostStorageRoles = [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]

resource hostStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in hostStorageRoles: {
    scope: hostStorage
    name: guid(hostStorage.id, identity.id, role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Blob data for the lake; queue data because the blob trigger keeps its receipts in queues.
var lakeStorageRoles = [roles.storageBlobDataContributor, roles.storageQueueDataContributor]

resource lakeStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in lakeStorageRoles: {
    scope: lakeStorage
    name: guid(lakeStorage.id, identity.id, role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

var serviceBusRoles = [roles.serviceBusDataSender, roles.serviceBusDataReceiver]

resource serviceBusAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in serviceBusRoles: {
    scope: serviceBus
    name: guid(serviceBus.id, identity.id, role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource keyVaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: keyVault
  name: guid(keyVault.id, identity.id, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource insightsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Container groups for jobs: Contributor on the job resource group (there is no narrower
// built-in role for Microsoft.ContainerInstance).
module jobGroupAccess 'modules/jobResourceGroupAccess.bicep' = {
  name: 'jobResourceGroupAccess'
  scope: resourceGroup(jobResourceGroupName)
  params: {
    principalId: identity.properties.principalId
  }
}

// App Service Authentication (Entra ID) in front of the portal and the API: a browser is sent
// to sign in, a script presents an Entra access token for this app (az account
// get-access-token --resource api://<entraClientId>); either way the platform passes the
// principal as x-ms-client-principal*, which callerOf trusts because BATON_AUTH=appservice.
// The Durable extension's webhooks keep their own system-key check; health stays open.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: ['/runtime/webhooks/durabletask', '/api/health']
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: entraClientId
          openIdIssuer: 'https://login.microsoftonline.com/${entraTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: ['api://${entraClientId}', entraClientId]
        }
      }
    }
    login: { tokenStore: { enabled: true } }
  }
}

output functionAppName string = functionApp.name
output functionAppUrl string = 'https://${functionApp.properties.defaultHostName}'
output identityClientId string = identity.properties.clientId
output lakeAccountUrl string = lakeStorage.properties.primaryEndpoints.dfs
output cosmosEndpoint string = cosmos.properties.documentEndpoint
output serviceBusNamespace string = '${serviceBus.name}.servicebus.windows.net'
output keyVaultUrl string = keyVault.properties.vaultUri
