using 'main.bicep'

param namePrefix = 'baton'
param maxDeliveryCount = 5
// The Entra ID app registration for App Service Authentication (its Application (client) ID).
param entraClientId = '00000000-0000-0000-0000-000000000000'
