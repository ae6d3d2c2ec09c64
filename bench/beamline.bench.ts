/**
 * Beamline files landing at once through the new-file flow on the local host: the example
 * config (`examples/beamline/beamline.yaml`, with `decision.nersc: false` so nothing is
 * reconstructed) in a temp sources root, N detector files of a few KiB (`--quick`: 50, else
 * 1,000) written as fast as possible into the landing folder of spot832, each one picked up by
 * the landing trigger, which starts a `beamline` run: spot832 → data832 → nersc832 transfers,
 * catalogue ingest and retention entries. Reports files per second from the first write to the
 * last catalogue record, and the latency from a file's write to its catalogue record (p50, p95)
 * and to its run's completion (p95). `--json` prints the row as JSON. Exit code 1 only when a
 * run fails, a file is not catalogued, or the runs do not all end in time (20 min; `--quick`:
 * 3 min).
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { catalogueCollection } from '../shared/adapters/local/stateStoreCatalogue.js';
import { findPipeline } from '../shared/app/pipelines.js';
import type { RunView } from '../shared/domain/runView.js';
import type { CatalogueDataset } from '../shared/ports/catalogue.js';
import type { InstanceStatus } from '../shared/ports/orchestrationClient.js';
import { LocalHost } from '../shared/runtime/localHost.js';
import { createLogger } from '../shared/runtime/logger.js';
import { benchArgs, percentile, printJson, printTable } from './benchSupport.js';

const { quick, json, showProgress } = benchArgs('beamline.bench.ts');
const files = quick ? 50 : 1000;
const fileBytes = 4096;
const timeoutMs = (quick ? 3 : 20) * 60_000;
const writers = 32;

const example = path.join(import.meta.dirname, '..', 'examples', 'beamline');
const endpointNames = ['data832', 'nersc832', 'alcf832', 'nersc832_scratch', 'alcf832_scratch'];
const terminal = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);
const orchestrator = findPipeline('beamline').orchestrator;

const sources = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-beamline-src-'));
const stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-beamline-'));
let host: LocalHost | undefined;
let failed = false;
try {
  // The example config, but only the new-file flow: no reconstruction at NERSC.
  const yaml = await readFile(path.join(example, 'beamline.yaml'), 'utf8');
  const decision = /^(decision:\n(?:[ \t]+.*\n)*?[ \t]+nersc:[ \t]*)true\b/m;
  if (!decision.test(yaml)) throw new Error('beamline.yaml: no `decision.nersc: true` to turn off');
  await writeFile(path.join(sources, 'beamline.yaml'), yaml.replace(decision, '$1false'));
  await cp(path.join(example, 'scripts'), path.join(sources, 'scripts'), { recursive: true });
  for (const name of endpointNames) {
    await mkdir(path.join(sources, 'endpoints', name), { recursive: true });
  }
  host = await LocalHost.start({
    stateDir,
    port: 0,
    logger: createLogger({ level: 'silent' }),
    env: { BATON_MODEL_SOURCES_ROOT: sources, BATON_BEAMLINE_CONFIGS: 'beamline.yaml' },
    landingIntervalMs: 250,
  });
  const running = host;
  const landing = path.join(stateDir, 'lake', 'landing', 'bl832');
  await mkdir(landing, { recursive: true });

  // N distinct files (distinct checksums: distinct run ids and catalogue records), at once.
  const names = Array.from({ length: files }, (_, i) => `scan_${String(i).padStart(5, '0')}.h5`);
  const writtenAt = new Map<string, number>();
  const firstWrite = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(writers, files) }, async () => {
      for (let i = next++; i < files; i = next++) {
        const name = names[i] ?? '';
        await writeFile(path.join(landing, name), detectorFile(i));
        writtenAt.set(name, Date.now());
      }
    }),
  );
  const writeMs = Date.now() - firstWrite;

  // Until every file's run has ended (the engine's own view: no HTTP load on the host).
  const deadline = Date.now() + timeoutMs;
  let runs: InstanceStatus[] = [];
  let shownAt = 0;
  for (;;) {
    runs = running.engine.list().filter((s) => s.name === orchestrator);
    const ended = runs.filter((s) => terminal.has(s.runtimeStatus)).length;
    if (showProgress && Date.now() - shownAt >= 3000) {
      const elapsed = ((Date.now() - firstWrite) / 1000).toFixed(0);
      process.stderr.write(
        `\r  beamline bench: ${runs.length}/${files} runs started, ${ended} ended (${elapsed} s)   `,
      );
      shownAt = Date.now();
    }
    if (ended >= files || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (showProgress) process.stderr.write('\n');

  const completed = runs.filter((s) => s.runtimeStatus === 'Completed');
  const notCompleted = runs.filter(
    (s) => terminal.has(s.runtimeStatus) && s.runtimeStatus !== 'Completed',
  );
  if (completed.length < files) {
    failed = true;
    const why = Date.now() >= deadline ? `timed out after ${timeoutMs / 1000} s: ` : '';
    console.error(
      `${why}${completed.length} of ${files} beamline runs completed, ${notCompleted.length} failed or canceled, ${runs.length - completed.length - notCompleted.length} still running (${runs.length} started)`,
    );
    const first = notCompleted[0];
    if (first !== undefined) {
      const response = await fetch(`${running.url}/api/runs/${first.instanceId}`, {
        headers: { 'x-baton-user': 'bench' },
      });
      const view = response.ok ? ((await response.json()) as RunView) : undefined;
      console.error(`  ${first.instanceId}: ${view?.error ?? first.runtimeStatus}`);
    }
  }

  // Each file's catalogue record (by its path at data832) and its run (by the landed path).
  const records = (await running.services.state.query<CatalogueDataset>(catalogueCollection)).map(
    (d) => d.body,
  );
  const cataloguedAt = new Map<string, number>();
  for (const record of records) {
    const name = record.metadata.path;
    if (typeof name === 'string') cataloguedAt.set(name, Date.parse(record.creationTime));
  }
  const completedAt = new Map<string, number>();
  for (const run of completed) {
    const input = run.input as { params?: { path?: string } } | undefined;
    const name = path.posix.basename(input?.params?.path ?? '');
    completedAt.set(name, Date.parse(run.lastUpdatedTime));
  }
  const toCatalogue: number[] = [];
  const toCompleted: number[] = [];
  let lastCatalogued = firstWrite;
  for (const name of names) {
    const written = writtenAt.get(name) ?? firstWrite;
    const catalogued = cataloguedAt.get(name);
    if (catalogued !== undefined) {
      toCatalogue.push(catalogued - written);
      lastCatalogued = Math.max(lastCatalogued, catalogued);
    }
    const done = completedAt.get(name);
    if (done !== undefined) toCompleted.push(done - written);
  }
  if (toCatalogue.length !== files) {
    failed = true;
    console.error(`${toCatalogue.length} of ${files} files catalogued`);
  }
  const totalMs = lastCatalogued - firstWrite;
  const row = {
    files,
    completed: completed.length,
    writeMs,
    totalSeconds: Number((totalMs / 1000).toFixed(1)),
    filesPerSecond: Number(((toCatalogue.length * 1000) / Math.max(totalMs, 1)).toFixed(2)),
    p50CatalogueS: seconds(percentile(toCatalogue, 0.5)),
    p95CatalogueS: seconds(percentile(toCatalogue, 0.95)),
    p95CompletedS: seconds(percentile(toCompleted, 0.95)),
  };
  if (json) printJson(row);
  else
    printTable(
      'beamline new-file flow: files landing at once through the local host (latency from write)',
      row,
    );
} finally {
  await host?.stop();
  await rm(stateDir, { recursive: true, force: true });
  await rm(sources, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

/** A few KiB standing in for a detector file, distinct per index. */
function detectorFile(index: number): Buffer {
  const seed = createHash('sha256').update(`scan ${index}`).digest('hex');
  return Buffer.from(`HDF5 stand-in ${index} ${seed}\n`.repeat(64).slice(0, fileBytes));
}

function seconds(ms: number): number {
  return Number((ms / 1000).toFixed(2));
}
