import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalProcessBackend } from '../../shared/adapters/local/processCompute.js';
import { LocalHpcSite } from '../../shared/adapters/local/localHpcSite.js';
import { runHpcContract } from './hpc.contract.js';

/** Stands in for the example's scripts: writes an output file, fails, or runs until killed. */
const script = `
import { mkdirSync, writeFileSync } from 'node:fs';
const [task, input, output] = process.argv.slice(2);
if (input.includes('fail')) { console.error(task + ': cannot read ' + input); process.exit(3); }
if (input.includes('slow')) { setTimeout(() => {}, 60000); }
else { mkdirSync(output, { recursive: true }); writeFileSync(output + '/' + task + '.out', input); }
`;

runHpcContract('LocalHpcSite (LocalProcessBackend)', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-hpc-'));
  const jobs = path.join(root, 'jobs');
  await mkdir(jobs);
  const scriptFile = path.join(root, 'site.mjs');
  await writeFile(scriptFile, script);
  const backend = new LocalProcessBackend({
    root: jobs,
    workRoot: root,
    killGraceMs: 200,
    pollIntervalMs: 20,
  });
  return {
    controller: new LocalHpcSite({
      backend,
      reconstruct: [process.execPath, scriptFile, 'reconstruct', '{input}', '{output}'],
      multiResolution: [process.execPath, scriptFile, 'multires', '{input}', '{output}'],
    }),
    inputs: { ok: `${root}/raw/scan.h5`, fail: `${root}/raw/fail.h5`, slow: `${root}/raw/slow.h5` },
    output: `${root}/out`,
    pathsAsArgv: true,
    started: async () => (await readdir(jobs)).length,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
