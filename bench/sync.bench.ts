/**
 * Databank sync through the folder lake against `cp -r` of the same tree, in the same run:
 * upload and download of many small output files (10,000 of 1 KiB; `--quick`: 1,000) and of
 * one big one (1 GiB; `--quick`: 64 MiB). Ratio = cp seconds / sync seconds (1.0 = as fast as
 * cp; below 1 = slower). `--json` prints the rows as JSON. Timings are reported, never
 * asserted; the exit code is 1 only when a sync moved the wrong files.
 *
 * Not like for like, on purpose: sync lists both sides and hashes what it compares, writes each
 * file to a temp name and renames it into place (a reader never sees a half file), and makes
 * everything durable with one concurrent flush (fsync of each file and folder) before it
 * reports done; cp does none of that.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { FolderLake } from '../shared/adapters/local/folderLake.js';
import { syncDatabank, type TransferSummary } from '../shared/app/databankSync.js';
import { systemClock } from '../shared/ports/clock.js';
import { benchArgs, printJson, printTable } from './benchSupport.js';

const { quick, json, showProgress } = benchArgs('sync.bench.ts');
const smallFiles = quick ? 1_000 : 10_000;
const smallBytes = 1024;
const bigBytes = (quick ? 64 : 1024) * 1024 * 1024;

const config = [
  'model_steps: [step]',
  'iterations: {total: 1}',
  'sub_components:',
  '  step:',
  '    commands: [{command: "true"}]',
  '',
].join('\n');

interface Row {
  case: string;
  files: number;
  mib: number;
  syncSeconds: number;
  cpSeconds: number;
  ratio: number;
}

const root = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-sync-'));
const rows: Row[] = [];
let wrong = false;
try {
  const lake = new FolderLake({ root: path.join(root, 'lake') });
  const deps = { lake, clock: systemClock };

  const small = path.join(root, 'here', 'small');
  await mkdir(path.join(small, 'outputs'), { recursive: true });
  await writeFile(path.join(small, 'orca_model_config.yaml'), config);
  for (let i = 0; i < smallFiles; i++) {
    const name = `part-${String(i).padStart(5, '0')}.csv`;
    await writeFile(path.join(small, 'outputs', name), `${i},`.padEnd(smallBytes, 'x'));
  }
  const big = path.join(root, 'here', 'big');
  await mkdir(path.join(big, 'outputs'), { recursive: true });
  await writeFile(path.join(big, 'orca_model_config.yaml'), config);
  await writeBigFile(path.join(big, 'outputs', 'big.bin'), bigBytes);

  for (const [label, name, files, bytes] of [
    [`${smallFiles} x 1 KiB`, 'small', smallFiles + 1, smallFiles * smallBytes],
    [`1 x ${bigBytes / 1024 / 1024} MiB`, 'big', 2, bigBytes],
  ] as const) {
    const source = path.join(root, 'here', name);
    progress(`${label}: upload`);
    const upSeconds = await timed(async () => {
      const summary = (await syncDatabank(deps, {
        action: 'upload',
        databank: name,
        databankDir: source,
        outputsOnly: false,
      })) as TransferSummary;
      wrong ||= check(`upload ${label}`, summary.uploaded, files);
    });
    const cpUp = await timed(() => cp(source, path.join(root, 'cp-up', name)));
    rows.push(row(`upload ${label}`, files, bytes, upSeconds, cpUp));

    progress(`${label}: download`);
    const target = path.join(root, 'there', name);
    const downSeconds = await timed(async () => {
      const summary = (await syncDatabank(deps, {
        action: 'download',
        databank: name,
        databankDir: target,
      })) as TransferSummary;
      wrong ||= check(`download ${label}`, summary.downloaded, files);
    });
    const cpDown = await timed(() =>
      cp(path.join(root, 'lake', 'orca_model_runs', name), path.join(root, 'cp-down', name)),
    );
    rows.push(row(`download ${label}`, files, bytes, downSeconds, cpDown));
    await rm(path.join(root, 'cp-up'), { recursive: true, force: true });
    await rm(path.join(root, 'cp-down'), { recursive: true, force: true });
  }
  if (showProgress) process.stderr.write('\n');
  if (json) printJson(rows);
  else printTable('databank sync through the folder lake vs cp -r (ratio = cp s / sync s)', rows);
} finally {
  await rm(root, { recursive: true, force: true });
}
process.exit(wrong ? 1 : 0);

async function writeBigFile(file: string, size: number): Promise<void> {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131 + 7) % 251;
  const out = createWriteStream(file);
  for (let written = 0; written < size; written += chunk.length) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** `cp -r`, as an argv (no shell). */
async function cp(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  const child = spawn('cp', ['-r', from, to], { stdio: 'inherit' });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`cp -r ${from} ${to} exited with ${String(code)}`);
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

function check(what: string, actual: number, expected: number): boolean {
  if (actual === expected) return false;
  console.error(`${what}: moved ${actual} file(s), expected ${expected}`);
  return true;
}

function row(
  name: string,
  files: number,
  bytes: number,
  syncSeconds: number,
  cpSeconds: number,
): Row {
  return {
    case: name,
    files,
    mib: Number((bytes / 1024 / 1024).toFixed(1)),
    syncSeconds: Number(syncSeconds.toFixed(2)),
    cpSeconds: Number(cpSeconds.toFixed(2)),
    ratio: Number((cpSeconds / syncSeconds).toFixed(2)),
  };
}

function progress(text: string): void {
  if (showProgress) process.stderr.write(`\r  sync bench: ${text}   `);
}
