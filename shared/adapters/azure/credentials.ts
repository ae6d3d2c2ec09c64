import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';

/**
 * Azure access goes through `DefaultAzureCredential`: the Function app's managed identity in
 * Azure (`AZURE_CLIENT_ID` selects a user-assigned one), the developer's `az login` locally.
 * Connection strings are accepted only where a setting names one explicitly, as a fallback.
 * Tokens and keys are never logged: adapters only log what they compose themselves.
 */
let shared: TokenCredential | undefined;

export function azureCredential(): TokenCredential {
  shared ??= new DefaultAzureCredential(
    process.env.AZURE_CLIENT_ID ? { managedIdentityClientId: process.env.AZURE_CLIENT_ID } : {},
  );
  return shared;
}
