import { AciBackend } from '../../shared/adapters/azure/aciCompute.js';
import { createFakeAciClient } from '../servers/arm/fakeAciClient.js';
import { nodeArgvFor } from './computeTestCommands.js';
import { startArmContainerServer } from '../servers/armContainerServer.js';
import { runComputeContract } from './compute.contract.js';

/**
 * The ComputeBackend contract against AciBackend driving the real ARM SDK client, pointed at
 * the local ACI simulator (test/servers/armContainerServer.ts), which runs each container's
 * command as a local process.
 */
runComputeContract('Azure Container Instances (ARM fake)', async () => {
  const server = await startArmContainerServer({ stopGraceMs: 500 });
  const backend = new AciBackend({
    client: createFakeAciClient(server.url),
    resourceGroup: 'baton-test',
    location: 'westeurope',
    defaultImage: 'node:20-alpine',
    pollIntervalMs: 25,
  });
  return {
    backend,
    samplesMetrics: false,
    commandFor: (command) => ({ argv: nodeArgvFor(command), image: 'node:20-alpine' }),
    cleanup: () => server.close(),
  };
});
