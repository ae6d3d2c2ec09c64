import { ContainerInstanceManagementClient } from '@azure/arm-containerinstance';
import type { TokenCredential } from '@azure/identity';
import { bearerTokenAuthenticationPolicyName } from '@azure/core-rest-pipeline';

/** The subscription every test client uses; the fake accepts any. */
export const fakeSubscriptionId = '00000000-0000-0000-0000-000000000000';

const dummyCredential: TokenCredential = {
  getToken: async () => ({ token: 'dummy', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

/**
 * The real ARM client, aimed at the local fake over plain http (azure-on-the-wire.md §4):
 * `endpoint` + `allowInsecureConnection`, and no bearer policy (it refuses http). SDK retry
 * delays are shortened so fault tests stay fast; `maxRetries: 0` hands every failure to the
 * adapter's own retry.
 */
export function createFakeAciClient(
  url: string,
  options: { maxRetries?: number } = {},
): ContainerInstanceManagementClient {
  const client = new ContainerInstanceManagementClient(dummyCredential, fakeSubscriptionId, {
    endpoint: url,
    allowInsecureConnection: true,
    retryOptions: {
      maxRetries: options.maxRetries ?? 3,
      retryDelayInMs: 10,
      maxRetryDelayInMs: 50,
    },
  });
  client.pipeline.removePolicy({ name: bearerTokenAuthenticationPolicyName });
  return client;
}
