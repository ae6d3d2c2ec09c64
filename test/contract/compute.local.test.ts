import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalProcessBackend } from '../../shared/adapters/local/processCompute.js';
import { runComputeContract } from './compute.contract.js';
import { nodeArgvFor } from './computeTestCommands.js';

runComputeContract('local processes', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-compute-contract-'));
  return {
    backend: new LocalProcessBackend({ root, killGraceMs: 500, pollIntervalMs: 25 }),
    // The supervisor samples from /proc: Linux only (elsewhere it writes metrics.unavailable).
    samplesMetrics: existsSync('/proc/self/stat'),
    commandFor: (command) => ({
      argv: nodeArgvFor(command, process.execPath),
    }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
