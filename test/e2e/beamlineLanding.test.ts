import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { catalogueCollection } from '../../shared/adapters/local/stateStoreCatalogue.js';
import { jobDepsOf } from '../../shared/app/jobDeps.js';
import { hpcJobsCollection, type HpcJobRecord } from '../../shared/app/beamlineHpc.js';
import type { BeamlinePruneReport } from '../../shared/app/beamlinePrune.js';
import { dispatchLandedFile, type LandedFile } from '../../shared/app/landing.js';
import { transfersOfRun } from '../../shared/app/transferRecords.js';
import type { ReconstructionResult } from '../../shared/orchestrations/beamlineReconstructTypes.js';
import type { TestTransfersResult } from '../../shared/orchestrations/beamlineTestTransfers.js';
import type { BeamlineDispatchOutput } from '../../shared/orchestrations/beamlineTypes.js';
import type { CatalogueDataset } from '../../shared/ports/catalogue.js';
import { EngineClient } from '../../shared/runtime/durable/engineClient.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { api, runCli } from '../helpers/hostProcess.js';
import { copyBeamlineExample } from '../helpers/beamlineSources.js';

/**
 * The beamline example end to end on a local host, the way a beamline uses it: a detector file
 * dropped into the landing folder (the lake's `landing/bl832`, the config's spot832) starts the
 * dispatcher, which moves it spot832 → data832 → nersc832, catalogues it, records retention,
 * and reconstructs it at "NERSC" (the example's scripts, run here); with the clock advanced
 * past the retention days the verified pruner deletes the spot832 copy and the scratch outputs,
 * whose surviving copies are at data832. Also: the test-transfers flow over `POST /api/flows`
 * and the CLI, a reconstruction that stops at a failed step, a canceled reconstruction whose
 * site job is canceled, and the transfer metrics.
 */
interface RunView<T = unknown> {
  runId: string;
  pipeline: string;
  status: string;
  error?: string;
  output: T | null;
  progress: unknown;
}

const day = 24 * 3600 * 1000;

describe('beamline example: drop a file into the landing folder', () => {
  let sources: string;
  let stateDir: string;
  let host: LocalHost;
  // The host's clock: real time plus an offset the retention test moves forward.
  let clockOffsetMs = 0;
  const clock = { now: (): Date => new Date(Date.now() + clockOffsetMs) };
  const landing = (relative: string): string =>
    path.join(stateDir, 'lake', 'landing', 'bl832', ...relative.split('/'));
  const at = (endpoint: string, relative: string): string =>
    path.join(sources, 'endpoints', endpoint, ...relative.split('/'));
  const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const found = await probe();
      if (found !== undefined) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }
  const runView = async <T>(runId: string): Promise<RunView<T>> =>
    (await api<RunView<T>>(`${host.url}/api/runs/${runId}`)).body;
  const ended = <T>(runId: string, ms = 60_000): Promise<RunView<T>> =>
    waitFor(
      `${runId} to end`,
      async () => {
        const view = await runView<T>(runId);
        return ['pending', 'running'].includes(view.status) ? undefined : view;
      },
      ms,
    );
  async function startFlow(flow: string, body: Record<string, unknown>): Promise<string> {
    const started = await api<{ runId: string }>(`${host.url}/api/flows/${flow}`, 'POST', body);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    return started.body.runId;
  }
  /** The example's config with a site's reconstruct command replaced (written beside it). */
  async function configWithReconstruct(name: string, argv: string[]): Promise<string> {
    const text = await readFile(path.join(sources, 'beamline.yaml'), 'utf8');
    const replaced = text.replaceAll(
      "reconstruct: [node, '{config_dir}/scripts/reconstruct.mjs', '{input}', '{output}']",
      `reconstruct: ${JSON.stringify(argv)}`,
    );
    assert.notEqual(replaced, text);
    await writeFile(path.join(sources, name), replaced);
    return name;
  }

  before(async () => {
    sources = await mkdtemp(path.join(os.tmpdir(), 'baton-landing-src-'));
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-landing-'));
    await copyBeamlineExample(sources);
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      clock,
      landingIntervalMs: 100,
      env: { BATON_MODEL_SOURCES_ROOT: sources, BATON_BEAMLINE_CONFIGS: 'beamline.yaml' },
    });
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    await rm(sources, { recursive: true, force: true });
  });

  it(
    'flows through to a catalogued, reconstructed and (days later) pruned dataset',
    { timeout: 120_000 },
    async () => {
      const content = Buffer.from('832 projections of a stand-in sample\n'.repeat(64));
      const landedAt = Date.now();
      await mkdir(path.dirname(landing('2026/scan_9001.h5')), { recursive: true });
      await writeFile(landing('2026/scan_9001.h5'), content);

      // The landing trigger starts the dispatcher.
      const runId = await waitFor('the landing to start a run', async () => {
        const runs = (await api<RunView[]>(`${host.url}/api/runs?pipeline=beamline`)).body;
        return runs[0]?.runId;
      });
      const view = await ended<BeamlineDispatchOutput>(runId, 90_000);
      assert.equal(view.status, 'completed', view.error);
      const output = view.output;
      assert.ok(output);
      assert.deepEqual(output.file, { endpoint: 'spot832', path: '2026/scan_9001.h5' });
      assert.deepEqual(
        output.newFile?.hops.map((h) => [h.from, h.to, h.state]),
        [
          ['spot832', 'data832', 'succeeded'],
          ['data832', 'nersc832', 'succeeded'],
        ],
      );
      for (const endpoint of ['data832', 'nersc832']) {
        assert.equal(sha256(await readFile(at(endpoint, '2026/scan_9001.h5'))), sha256(content));
      }

      // Catalogued, with the file's own checksum.
      const datasets = (
        await host.services.state.query<CatalogueDataset>(catalogueCollection, {})
      ).map((d) => d.body);
      assert.ok(datasets.some((d) => d.metadata.sha256 === sha256(content)));

      // Reconstructed at NERSC: TIFF slices and a Zarr pyramid, copied back to data832.
      const [recon] = output.reconstructions;
      assert.equal(recon?.status, 'completed', JSON.stringify(recon?.failure));
      const tiffs = ['slice_0000.tif', 'slice_0001.tif', 'slice_0002.tif', 'slice_0003.tif'];
      for (const tiff of tiffs) {
        assert.ok(existsSync(at('data832', `2026/rec_scan_9001/${tiff}`)), `${tiff} at data832`);
      }
      assert.ok(existsSync(at('data832', '2026/rec_scan_9001.zarr/.zattrs')));

      // `baton status` shows every transfer and the reconstruction's steps with timings.
      const status = await runCli(['--endpoint', host.url, 'status', runId]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /spot832\s+data832\s+succeeded\s+1\s/);
      assert.match(status.stdout, /nersc reconstruction: completed/);
      assert.match(status.stdout, /multi_resolution\s+succeeded\s+\d+ ms/);

      // A redelivered landing finds its run instead of starting a second one.
      const ledger: LandedFile = {
        path: 'landing/bl832/2026/scan_9001.h5',
        size: content.length,
        md5: createHash('md5').update(content).digest('hex'),
        landedAt: new Date(landedAt).toISOString(),
      };
      const runsBefore = (await api<RunView[]>(`${host.url}/api/runs?pipeline=beamline`)).body;
      const landedDoc = (
        await host.services.state.query<LandedFile>('landed-files', {
          where: { path: ledger.path },
        })
      )[0];
      assert.ok(landedDoc, 'the landing is in the ledger');
      const again = await dispatchLandedFile(
        {
          runs: {
            client: new EngineClient(host.engine),
            state: host.services.state,
            logs: host.services.logs,
            clock: host.services.clock,
            jobs: jobDepsOf(host.services),
          },
          sourcesRoot: sources,
          configs: ['beamline.yaml'],
        },
        landedDoc.body,
      );
      assert.deepEqual(again, { runId, config: 'beamline.yaml', started: false });
      const runsAfter = (await api<RunView[]>(`${host.url}/api/runs?pipeline=beamline`)).body;
      assert.equal(runsAfter.length, runsBefore.length);

      // Every transfer is recorded, and shows in the metrics.
      const transfers = await transfersOfRun(host.services.state, runId);
      assert.deepEqual(transfers.map((t) => `${t.flow} ${t.from}>${t.to} ${t.state}`).sort(), [
        'nersc nersc832_scratch>data832 succeeded',
        'nersc nersc832_scratch>data832 succeeded',
        'new_file data832>nersc832 succeeded',
        'new_file spot832>data832 succeeded',
      ]);
      const metrics = await fetch(`${host.url}/api/metrics`);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.match(
        text,
        /baton_transfers_total\{beamline="bl832",flow="new_file",from="spot832",(result="succeeded",)?to="data832"(,result="succeeded")?\} 1/,
      );

      // 15 days later (the host's clock moved on): spot832 (7 days) and nersc832 scratch (14
      // days) are due; each has a same-checksum copy elsewhere, so they are deleted; data832
      // (180 days) is not due. Pruned over HTTP as a signed-in user, as an operator would.
      const pruneNow = async (dryRun: boolean): Promise<BeamlinePruneReport> => {
        const reply = await api<BeamlinePruneReport>(`${host.url}/api/beamline/prune`, 'POST', {
          config: 'beamline.yaml',
          dryRun,
        });
        assert.equal(reply.status, 200, JSON.stringify(reply.body));
        return reply.body;
      };
      assert.equal((await pruneNow(true)).due, 0, 'nothing is due on the day it landed');
      clockOffsetMs = 15 * day;
      const dry = await pruneNow(true);
      assert.ok(dry.due >= 1 + tiffs.length);
      assert.equal(dry.deleted, 0);
      assert.ok(existsSync(landing('2026/scan_9001.h5')), 'a dry run deletes nothing');
      const report = await pruneNow(false);
      clockOffsetMs = 0;
      assert.equal(report.refused, 0, JSON.stringify(report.entries.filter((e) => e.refusal)));
      assert.ok(report.deleted >= 1 + tiffs.length, JSON.stringify(report));
      assert.equal(existsSync(landing('2026/scan_9001.h5')), false, 'spot832 copy pruned');
      assert.equal(existsSync(at('nersc832_scratch', '2026/rec_scan_9001/slice_0000.tif')), false);
      assert.ok(existsSync(at('data832', '2026/scan_9001.h5')), 'data832 keeps the raw file');
      assert.ok(existsSync(at('data832', '2026/rec_scan_9001/slice_0000.tif')));
      assert.ok(existsSync(at('nersc832', '2026/scan_9001.h5')), 'the home is never pruned');
      // The ledger and the audit say the same over the read-only API.
      const retention = await api<{
        entries: Array<{ endpoint: string; path: string; state: string }>;
      }>(`${host.url}/api/beamline/retention?config=beamline.yaml&state=pruned`);
      assert.equal(retention.status, 200, JSON.stringify(retention.body));
      assert.ok(
        retention.body.entries.some(
          (e) => e.endpoint === 'spot832' && e.path === '2026/scan_9001.h5',
        ),
      );
      assert.ok(retention.body.entries.every((e) => e.state === 'pruned'));
      const audit = await api<{
        records: Array<{
          action: string;
          endpoint: string;
          who: string;
          survivor?: { endpoint: string };
        }>;
      }>(`${host.url}/api/beamline/prune/audit?config=beamline.yaml`);
      assert.equal(audit.status, 200, JSON.stringify(audit.body));
      const deleted = audit.body.records.filter((r) => r.action === 'deleted');
      assert.equal(deleted.length, report.deleted);
      assert.ok(deleted.every((r) => r.who === 'tester' && r.survivor !== undefined));
      assert.ok(
        !audit.body.records.some((r) => r.action === 'would-delete'),
        'a dry run writes no audit',
      );
      const bad = await api<{ error: { field?: string } }>(
        `${host.url}/api/beamline/retention?config=beamline.yaml&state=lost`,
      );
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.field, 'query.state');

      // The raw data's home is named first among survivors; scratch outputs survive at data832.
      const survivorOf = (endpoint: string): string | undefined =>
        report.entries.find((e) => e.endpoint === endpoint)?.survivor?.endpoint;
      assert.equal(survivorOf('spot832'), 'nersc832');
      assert.equal(survivorOf('nersc832_scratch'), 'data832');
    },
  );

  it('test-transfers moves a probe spot → data → NERSC, checks each hop and cleans up', async () => {
    const runId = await startFlow('test-transfers', { config: 'beamline.yaml' });
    const view = await ended<TestTransfersResult>(runId);
    assert.equal(view.status, 'completed', view.error);
    const result = view.output;
    assert.ok(result);
    assert.equal(result.passed, true);
    assert.deepEqual(
      result.hops.map((h) => [h.from, h.to, h.state, h.passed, h.check?.checksumMatches]),
      [
        ['spot832', 'data832', 'succeeded', true, true],
        ['data832', 'nersc832', 'succeeded', true, true],
      ],
    );
    assert.deepEqual([...result.cleanedUp].sort(), ['data832', 'nersc832', 'spot832']);
    assert.equal(existsSync(landing(result.probe)), false);
    for (const endpoint of ['data832', 'nersc832']) {
      assert.equal(existsSync(at(endpoint, result.probe)), false, `probe gone from ${endpoint}`);
    }
  });

  it('reports a failed hop of test-transfers and still cleans up', async () => {
    const nersc = at('nersc832', '');
    await rm(nersc, { recursive: true, force: true });
    await writeFile(nersc.replace(/\/$/, ''), 'not a folder');
    try {
      const runId = await startFlow('test-transfers', { config: 'beamline.yaml' });
      const view = await ended<TestTransfersResult>(runId);
      assert.equal(view.status, 'failed');
      assert.match(view.error ?? '', /test transfers failed at data832 → nersc832: failed/);
      const progress = view.progress as TestTransfersResult;
      assert.deepEqual(
        progress.hops.map((h) => h.passed),
        [true, false],
      );
      assert.deepEqual([...progress.cleanedUp].sort(), ['data832', 'spot832']);
    } finally {
      await rm(nersc.replace(/\/$/, ''), { force: true });
      await mkdir(nersc, { recursive: true });
    }
  });

  it('baton flow test-transfers --wait prints every hop and exits 0', async () => {
    const result = await runCli([
      '--endpoint',
      host.url,
      'flow',
      'test-transfers',
      '--config',
      path.join(sources, 'beamline.yaml'),
      '--wait',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /spot832\s+data832\s+succeeded/);
    assert.match(result.stdout, /data832\s+nersc832\s+succeeded/);
  });

  it('stops a reconstruction at a failed step, with its reason, and runs nothing after it', async () => {
    await writeFile(at('nersc832', 'scan_9002.h5'), 'raw for a failing reconstruction');
    const config = await configWithReconstruct('failing.yaml', [
      'node',
      '-e',
      'process.stderr.write("no GPU\\n"); process.exit(3)',
    ]);
    const runId = await startFlow('reconstruct', {
      config,
      site: 'nersc',
      path: 'endpoints/nersc832/scan_9002.h5',
    });
    const view = await ended<ReconstructionResult>(runId);
    assert.equal(view.status, 'failed');
    assert.match(
      view.error ?? '',
      /nersc reconstruction failed at reconstruct: failed: .*exit code 3/,
    );
    const progress = view.progress as { steps: ReconstructionResult['steps'] };
    assert.deepEqual(
      progress.steps.map((s) => [s.name, s.state]),
      [
        ['plan', 'succeeded'],
        ['reconstruct', 'failed'],
      ],
    );
    assert.equal(existsSync(at('nersc832_scratch', 'rec_scan_9002.zarr')), false);
    assert.equal(existsSync(at('data832', 'rec_scan_9002')), false);
  });

  it('canceling a reconstruction cancels its job at the site', async () => {
    await writeFile(at('nersc832', 'scan_9003.h5'), 'raw for a canceled reconstruction');
    const config = await configWithReconstruct('slow.yaml', [
      'node',
      '-e',
      'setTimeout(() => {}, 120000)',
    ]);
    const runId = await startFlow('reconstruct', {
      config,
      site: 'nersc',
      path: 'endpoints/nersc832/scan_9003.h5',
    });
    const job = await waitFor('the reconstruction job to run', async () => {
      const docs = await host.services.state.query<HpcJobRecord>(hpcJobsCollection, { pk: runId });
      return docs.find((d) => d.body.state === 'running')?.body;
    });
    const canceled = await api(`${host.url}/api/runs/${runId}/cancel`, 'POST', {});
    assert.equal(canceled.status, 202, JSON.stringify(canceled.body));
    const doc = await host.services.state.read<HpcJobRecord>(hpcJobsCollection, runId, job.jobId);
    assert.equal(doc?.body.state, 'canceled');
    const status = await host.services.compute.status(job.jobId);
    assert.equal(status.state, 'canceled', 'the process at the "site" was stopped');
    assert.equal((await runView(runId)).status, 'canceled');
  });

  it('refuses an unknown flow, a bad site, and OLCF as not implemented', async () => {
    const unknown = await api<{ error: { message: string } }>(
      `${host.url}/api/flows/reprocess`,
      'POST',
      { config: 'beamline.yaml' },
    );
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error.message, /unknown flow "reprocess" \(known: new-file/);
    const site = await api<{ error: { message: string; field?: string } }>(
      `${host.url}/api/flows/reconstruct`,
      'POST',
      { config: 'beamline.yaml', site: 'summit', path: 'endpoints/nersc832/x.h5' },
    );
    assert.equal(site.status, 400);
    assert.match(site.body.error.message, /params\.site/);
    const olcf = await startFlow('reconstruct', {
      config: 'beamline.yaml',
      site: 'olcf',
      path: 'endpoints/nersc832/x.h5',
    });
    const view = await ended(olcf);
    assert.equal(view.status, 'failed');
    assert.match(view.error ?? '', /HPC site "olcf": not implemented/);
  });

  it('reconstructs at ALCF: the raw file copied from data832 to alcf832 first', async () => {
    await writeFile(at('data832', 'scan_9004.h5'), 'raw for ALCF\n'.repeat(50));
    const runId = await startFlow('reconstruct', {
      config: 'beamline.yaml',
      site: 'alcf',
      path: 'endpoints/data832/scan_9004.h5',
    });
    const view = await ended<ReconstructionResult>(runId, 90_000);
    assert.equal(view.status, 'completed', view.error);
    assert.deepEqual(
      view.output?.steps.map((step) => step.name),
      [
        'plan',
        'transfer data832 → alcf832',
        'reconstruct',
        'multi_resolution',
        'transfer alcf832_scratch → data832 (rec_scan_9004)',
        'transfer alcf832_scratch → data832 (rec_scan_9004.zarr)',
        'retention',
      ],
    );
    assert.ok(existsSync(at('alcf832', 'scan_9004.h5')), 'staged at the site');
    assert.ok(existsSync(at('data832', 'rec_scan_9004/slice_0000.tif')));
    // The staged raw copy at alcf832 is pruned after 7 days, like its scratch outputs.
    const entries = view.output?.retention?.entries ?? [];
    assert.ok(entries.some((e) => e.endpoint === 'alcf832' && e.path === 'scan_9004.h5'));
  });

  it('never sends an export-controlled file to an off-site HPC site', async () => {
    await mkdir(at('data832', 'restricted'), { recursive: true });
    await writeFile(at('data832', 'restricted/scan_9005.h5'), 'controlled');
    for (const body of [
      { site: 'alcf', path: 'endpoints/data832/restricted/scan_9005.h5' },
      { site: 'nersc', path: 'endpoints/data832/scan_9004.h5', exportControlled: true },
    ]) {
      const runId = await startFlow('reconstruct', { config: 'beamline.yaml', ...body });
      const view = await ended(runId);
      assert.equal(view.status, 'failed');
      assert.match(view.error ?? '', /export-controlled .* is off-site/);
    }
    assert.equal(existsSync(at('alcf832', 'restricted/scan_9005.h5')), false);
  });

  it('starts one run per landed file, even for identical files landing together; never for probes', async () => {
    const runsOf = async (): Promise<RunView[]> =>
      (await api<RunView[]>(`${host.url}/api/runs?pipeline=beamline&limit=500`)).body;
    const before = (await runsOf()).length;
    const same = 'a dark frame, byte for byte the same\n';
    await mkdir(landing('darks'), { recursive: true });
    await writeFile(landing('darks/dark_a.h5'), same);
    await writeFile(landing('darks/dark_b.h5'), same);
    const started = await waitFor('two runs for the two dark frames', async () => {
      const runs = await runsOf();
      return runs.length >= before + 2 ? runs : undefined;
    });
    const darks = started.filter((r) => JSON.stringify(r).includes('landing/bl832/darks/dark_'));
    assert.equal(darks.length, 2);
    for (const run of darks) assert.equal((await ended(run.runId)).status, 'completed');
    // The test-transfers probes landed in the same folder and started nothing.
    assert.ok(!(await runsOf()).some((r) => JSON.stringify(r).includes('baton-probe')));
  });
});
