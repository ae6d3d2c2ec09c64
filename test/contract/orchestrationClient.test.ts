import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { EngineClient } from '../../shared/runtime/durable/engineClient.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { InvocationContext } from '../../shared/runtime/functionsApi.js';
import { runOrchestrationClientContract } from './orchestrationClient.contract.js';

async function startHost(): Promise<{ host: LocalHost; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-client-'));
  const host = await LocalHost.start({
    stateDir: dir,
    port: 0,
    triggers: false,
    logger: createLogger({ level: 'silent' }),
  });
  return { host, dir };
}

runOrchestrationClientContract('engine (in process)', async () => {
  const { host, dir } = await startHost();
  return {
    client: new EngineClient(host.engine),
    cleanup: async () => {
      await host.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

runOrchestrationClientContract(
  'durable-functions DurableClient via the local webhooks',
  async () => {
    const { host, dir } = await startHost();
    // Exactly what the host gives a function with a durableClient input binding.
    const context = new InvocationContext({
      options: {
        trigger: { type: 'httpTrigger', name: 'req' },
        extraInputs: [{ type: 'durableClient', name: 'starter' }],
      },
    });
    const rpcBaseUrl = host.webhookUrl;
    context.extraInputs.set('starter', {
      taskHubName: 'baton',
      creationUrls: {},
      managementUrls: {},
      baseUrl: rpcBaseUrl,
      rpcBaseUrl,
    });
    return {
      client: DurableFunctionsClient.fromContext(context),
      cleanup: async () => {
        await host.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
);
