import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { catalogueCollection } from '../../shared/adapters/local/stateStoreCatalogue.js';
import {
  beamlineRetentionCollection,
  type BeamlineRetentionEntry,
} from '../../shared/app/beamline.js';
import type {
  BeamlineDispatchOutput,
  CatalogueResult,
  HopResult,
  NewFileResult,
} from '../../shared/orchestrations/beamlineTypes.js';
import type { CatalogueDataset } from '../../shared/ports/catalogue.js';
import type { DispatchPlan } from '../../shared/domain/beamline/dispatch.js';
import { getRegisteredFunction } from '../../shared/runtime/functionRegistry.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { repoRoot, runCli, runToEnd } from '../helpers/hostProcess.js';
import { copyBeamlineExample } from '../helpers/beamlineSources.js';

/**
 * The beamline new-file flow (seed 001) on an in-process local host, over HTTP: the example
 * config in a temp folder (its sources root), a detector file in spot832 that flows to data832
 * and nersc832 with verified checksums, is catalogued and gets retention entries; an
 * export-controlled file that never leaves the site; and failed transfers that stop the chain
 * with their reason and catalogue nothing.
 */
interface RunView {
  runId: string;
  status: string;
  error?: string;
  output: BeamlineDispatchOutput | null;
  progress: unknown;
}

const exampleConfig = path.join(repoRoot, 'examples', 'beamline', 'beamline.yaml');

describe('beamline new-file flow on a local host', () => {
  let sources: string;
  let stateDir: string;
  let host: LocalHost;
  // spot832 is the landing folder of the lake (a `lake` endpoint); the others are folders.
  const endpointFile = (endpoint: string, relative: string): string =>
    endpoint === 'spot832'
      ? path.join(stateDir, 'lake', 'landing', 'bl832', ...relative.split('/'))
      : path.join(sources, 'endpoints', endpoint, ...relative.split('/'));
  const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

  async function detectorFile(relative: string, content: string): Promise<void> {
    const file = endpointFile('spot832', relative);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  const run = (params: Record<string, unknown>): Promise<RunView> =>
    runToEnd<RunView>(
      host.url,
      { pipeline: 'beamline', params: { config: 'beamline.yaml', ...params } },
      30_000,
    );
  const catalogued = async (): Promise<CatalogueDataset[]> =>
    (await host.services.state.query<CatalogueDataset>(catalogueCollection, {})).map((d) => d.body);
  async function scheduledInput(runId: string, activity: string): Promise<unknown> {
    const root = path.join(stateDir, 'durable');
    for (const instance of await readdir(root)) {
      const text = await readFile(path.join(root, instance, 'history.jsonl'), 'utf8').catch(
        () => '',
      );
      for (const line of text.split('\n').filter(Boolean)) {
        const episode = JSON.parse(line) as { events: Array<{ Name?: string; Input?: string }> };
        for (const e of episode.events) {
          if (e.Name !== activity || e.Input === undefined) continue;
          const input = JSON.parse(e.Input) as { runId?: string };
          if (input.runId === runId) return input;
        }
      }
    }
    throw new Error(`no ${activity} scheduled for ${runId}`);
  }

  before(async () => {
    sources = await mkdtemp(path.join(os.tmpdir(), 'baton-beamline-src-'));
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-beamline-'));
    await copyBeamlineExample(sources);
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_MODEL_SOURCES_ROOT: sources },
    });
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    await rm(sources, { recursive: true, force: true });
  });

  it('moves a new file spot832 → data832 → nersc832, catalogues it, records retention and reconstructs it at NERSC', async () => {
    const content = 'HDF5 stand-in: 832 projections\n'.repeat(200);
    await detectorFile('2026/scan_0001.h5', content);
    const view = await run({ path: 'landing/bl832/2026/scan_0001.h5' });
    assert.equal(view.status, 'completed', view.error);
    const output = view.output;
    assert.ok(output?.newFile);
    const newFile: NewFileResult = output.newFile;
    assert.equal(newFile.status, 'completed');
    assert.deepEqual(
      newFile.hops.map((h: HopResult) => [h.from, h.to, h.state, h.files, h.bytes]),
      [
        ['spot832', 'data832', 'succeeded', 1, content.length],
        ['data832', 'nersc832', 'succeeded', 1, content.length],
      ],
    );
    for (const hop of newFile.hops) {
      assert.equal(hop.checksumVerified, true);
      assert.ok(hop.durationMs >= 0 && hop.rate >= 0);
      assert.equal(hop.transferId, `${view.runId}-hop-${newFile.hops.indexOf(hop)}`);
    }
    for (const endpoint of ['data832', 'nersc832']) {
      const copy = await readFile(endpointFile(endpoint, '2026/scan_0001.h5'), 'utf8');
      assert.equal(sha256(copy), sha256(content), `checksum at ${endpoint}`);
    }

    assert.equal(newFile.catalogue?.ok, true);
    const [dataset] = (await catalogued()).filter(
      (d) => d.datasetId === newFile.catalogue?.datasetId,
    );
    assert.ok(dataset, 'catalogue record');
    assert.equal(dataset.name, 'scan_0001.h5');
    assert.equal(dataset.metadata.sha256, sha256(content));
    assert.equal(dataset.metadata.sizeBytes, content.length);
    assert.equal(dataset.metadata.extension, 'h5');
    assert.equal(typeof dataset.metadata.mtime, 'string');
    assert.deepEqual(dataset.files, [
      { path: '2026/scan_0001.h5', size: content.length, checksum: `sha256:${sha256(content)}` },
    ]);

    // spot832 (7 days) and data832 (180); nersc832 is the raw data's home, never pruned.
    assert.deepEqual(
      newFile.retention?.entries.map((e) => [e.endpoint, e.afterDays]),
      [
        ['spot832', 7],
        ['data832', 180],
      ],
    );
    const entries = (
      await host.services.state.query<BeamlineRetentionEntry>(beamlineRetentionCollection, {})
    ).map((d) => d.body);
    const mine = entries.filter((e) => e.runId === view.runId && e.endpoint !== 'nersc832_scratch');
    assert.equal(mine.length, 2);
    for (const entry of mine) {
      assert.equal(entry.checksum, `sha256:${sha256(content)}`);
      assert.equal(entry.path, '2026/scan_0001.h5');
    }

    // The NERSC flow (decision.nersc; its scripts run here, `hpc.nersc.local`): the raw file at
    // nersc832 reconstructed into TIFF slices and a Zarr pyramid at scratch, both copied back.
    const [recon] = output.reconstructions;
    assert.equal(output.reconstructions.length, 1);
    assert.ok(recon);
    assert.equal(recon.site, 'nersc');
    assert.equal(recon.status, 'completed', JSON.stringify(recon.failure));
    assert.deepEqual(
      recon.steps.map((step) => [step.name, step.state]),
      [
        ['plan', 'succeeded'],
        ['reconstruct', 'succeeded'],
        ['multi_resolution', 'succeeded'],
        ['transfer nersc832_scratch → data832 (2026/rec_scan_0001)', 'succeeded'],
        ['transfer nersc832_scratch → data832 (2026/rec_scan_0001.zarr)', 'succeeded'],
        ['retention', 'succeeded'],
      ],
    );
    for (const step of recon.steps) assert.ok(step.durationMs >= 0);
    assert.deepEqual(
      recon.jobs.map((j) => [j.task, j.state]),
      [
        ['reconstruct', 'succeeded'],
        ['multi_resolution', 'succeeded'],
      ],
    );
    const slice = await readFile(endpointFile('data832', '2026/rec_scan_0001/slice_0000.tif'));
    assert.equal(slice.subarray(0, 4).toString('latin1'), 'II*\0', 'a TIFF at data832');
    const scratchSlice = await readFile(
      endpointFile('nersc832_scratch', '2026/rec_scan_0001/slice_0000.tif'),
    );
    assert.ok(scratchSlice.equals(slice), 'the copy back is the scratch output');
    const zarray = JSON.parse(
      await readFile(endpointFile('data832', '2026/rec_scan_0001.zarr/0/.zarray'), 'utf8'),
    ) as { shape: number[] };
    assert.equal(zarray.shape.length, 3);
    const report = JSON.parse(
      await readFile(endpointFile('data832', '2026/rec_scan_0001/reconstruction.json'), 'utf8'),
    ) as { sha256: string };
    assert.equal(report.sha256, sha256(content), 'reconstructed from this raw file');
    // Scratch outputs are pruned after 14 days, file by file, each with its checksum.
    const scratchEntries = recon.retention?.entries ?? [];
    assert.ok(scratchEntries.length >= 4, 'TIFFs, the report and the Zarr files');
    assert.ok(scratchEntries.every((e) => e.endpoint === 'nersc832_scratch' && e.afterDays === 14));
  });

  it('a retried ingest reports the record its own run made as created; another run of an identical file does not', async () => {
    const content = 'HDF5 stand-in: retried ingest\n'.repeat(50);
    await detectorFile('2026/scan_retry.h5', content);
    const view = await run({ path: 'landing/bl832/2026/scan_retry.h5' });
    assert.equal(view.status, 'completed', view.error);
    assert.equal(view.output?.newFile?.catalogue?.created, true);
    // The activity's input as the orchestrator scheduled it, read back from the run's history.
    const input = await scheduledInput(view.runId, 'ingestBeamlineFile');
    const ingest = getRegisteredFunction('ingestBeamlineFile');
    assert.ok(ingest, 'ingestBeamlineFile is registered');
    const before = (await catalogued()).filter((d) => d.metadata.sha256 === sha256(content));
    assert.equal(before.length, 1);

    // The host killed after the record was written and before the result was recorded: the
    // retry finds the record and must answer what the uninterrupted run answered.
    const retried = (await ingest.handler(input, {})) as CatalogueResult;
    assert.equal(retried.created, true);
    assert.equal(retried.datasetId, view.output?.newFile?.catalogue?.datasetId);

    const otherRun = (await ingest.handler(
      { ...(input as Record<string, unknown>), runId: 'beamline-other-run' },
      {},
    )) as CatalogueResult;
    assert.equal(otherRun.created, false, 'an identical file an earlier run catalogued');
    assert.deepEqual(
      (await catalogued()).filter((d) => d.metadata.sha256 === sha256(content)),
      before,
      'the record is left as the first ingest wrote it',
    );
  });

  it('never sends an export-controlled file to NERSC', async () => {
    await detectorFile('scan_0002.h5', 'controlled');
    const view = await run({ path: 'landing/bl832/scan_0002.h5', exportControlled: true });
    assert.equal(view.status, 'completed', view.error);
    const newFile = view.output?.newFile;
    assert.deepEqual(
      newFile?.hops.map((h) => [h.from, h.to, h.state]),
      [['spot832', 'data832', 'succeeded']],
    );
    assert.equal(existsSync(endpointFile('nersc832', 'scan_0002.h5')), false);
    assert.ok(
      view.output?.skipped.some(
        (s) => s.step === 'send_to_nersc' && /export-controlled/.test(s.reason),
      ),
    );
    // export_control.retention: only spot832 is pruned.
    assert.deepEqual(
      newFile?.retention?.entries.map((e) => e.endpoint),
      ['spot832'],
    );
    assert.equal(newFile?.catalogue?.ok, true);
  });

  it('stops the chain at a missing source file, with the reason, and catalogues nothing', async () => {
    const before = (await catalogued()).length;
    const view = await run({ path: 'landing/bl832/missing_0003.h5' });
    assert.equal(view.status, 'failed');
    assert.match(
      view.error ?? '',
      /transfer spot832 → data832: failed: source missing_0003\.h5 does not exist/,
    );
    const progress = view.progress as { newFile?: NewFileResult };
    assert.deepEqual(
      progress.newFile?.hops.map((h) => h.state),
      ['failed'],
    );
    assert.equal(progress.newFile?.catalogue, null);
    assert.equal((await catalogued()).length, before);
  });

  it('stops after a failed second hop (nersc832 unusable): no catalogue entry, no retention', async () => {
    const nersc = path.join(sources, 'endpoints', 'nersc832');
    await rm(nersc, { recursive: true, force: true });
    await writeFile(nersc, 'not a folder');
    try {
      await detectorFile('scan_0004.h5', 'second hop fails');
      const before = (await catalogued()).length;
      const view = await run({ path: 'landing/bl832/scan_0004.h5' });
      assert.equal(view.status, 'failed');
      assert.match(view.error ?? '', /transfer data832 → nersc832: failed/);
      const progress = view.progress as { newFile?: NewFileResult };
      assert.deepEqual(
        progress.newFile?.hops.map((h) => h.state),
        ['succeeded', 'failed'],
      );
      assert.equal(progress.newFile?.retention, null);
      assert.equal((await catalogued()).length, before);
    } finally {
      await rm(nersc, { force: true });
      await mkdir(nersc);
    }
  });

  it('refuses a config outside the sources root and a path outside the endpoints', async () => {
    const outside = await run({ config: exampleConfig, path: 'landing/bl832/x.h5' });
    assert.equal(outside.status, 'failed');
    assert.match(outside.error ?? '', /config: .* is outside/);
    const elsewhere = await run({ path: 'somewhere/else.h5' });
    assert.equal(elsewhere.status, 'failed');
    assert.match(elsewhere.error ?? '', /path: is not inside any endpoint's root/);
  });

  it('baton flow new-file --dry-run prints the plan from a local file path and starts nothing', async () => {
    const sample = 'landing/bl832/20261128_832_sample.h5';
    const args = ['flow', 'new-file', sample, '--config', 'examples/beamline/beamline.yaml'];
    const plain = await runCli(['--json', ...args, '--dry-run']);
    assert.equal(plain.code, 0, plain.stderr);
    const plan = JSON.parse(plain.stdout) as DispatchPlan;
    assert.deepEqual(plan.file, { endpoint: 'spot832', path: '20261128_832_sample.h5' });
    assert.deepEqual(
      plan.newFile?.hops.map((h) => h.to),
      ['data832', 'nersc832'],
    );
    const controlled = await runCli([
      '--json',
      ...args,
      '--dry-run',
      '--export-controlled',
      '--no-nersc',
    ]);
    assert.equal(controlled.code, 0, controlled.stderr);
    const limited = JSON.parse(controlled.stdout) as DispatchPlan;
    assert.equal(limited.exportControl.controlled, true);
    assert.deepEqual(
      limited.newFile?.hops.map((h) => h.to),
      ['data832'],
    );
    const broken = await runCli([...args.slice(0, 3), '--config', 'no/such.yaml', '--dry-run']);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /--config: no\/such\.yaml cannot be read/);
  });
});
