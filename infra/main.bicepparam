using 'main.bicep'

param namePrefix = 'baton'
param maxDeliveryCount = 5
