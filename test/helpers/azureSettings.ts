/** A complete set of settings choosing every Azure adapter (values shaped like real ones). */
export const allAzureSettings: Readonly<Record<string, string>> = {
  BATON_STATE: 'cosmos',
  BATON_COSMOS_ENDPOINT: 'https://acct.documents.azure.com:443/',
  BATON_LAKE: 'adls',
  BATON_LAKE_ACCOUNT_URL: 'https://acct.dfs.core.windows.net',
  BATON_BUS: 'servicebus',
  BATON_SERVICEBUS_NAMESPACE: 'ns.servicebus.windows.net',
  BATON_COMPUTE: 'aci',
  BATON_ACI_SUBSCRIPTION_ID: '00000000-0000-4000-8000-000000000000',
  BATON_ACI_RESOURCE_GROUP: 'rg-jobs',
  BATON_ACI_LOCATION: 'westeurope',
};
