import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../../helpers/hostProcess.js';
import '../../helpers/localAuth.js';

/**
 * `baton up` from the compiled tree as a child process, for the crash suite: it starts in about
 * half the time the TypeScript sources need through tsx, which matters when a test starts it
 * hundreds of times. The tree is rebuilt first when any source is newer than its output, so the
 * suite never tests old code.
 */
const bin = path.join(repoRoot, 'bin', 'baton.js');

/** Sources whose compiled file is missing or older than they are (none: dist/ is current). */
export function staleDistFiles(): string[] {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const relative = path.relative(repoRoot, full);
        const compiled = path.join(repoRoot, 'dist', relative.replace(/\.ts$/, '.js'));
        let outMs = 0;
        try {
          outMs = statSync(compiled).mtimeMs;
        } catch {
          // missing
        }
        if (outMs < statSync(full).mtimeMs) stale.push(relative);
      }
    }
  };
  for (const top of ['functions', 'shared']) walk(path.join(repoRoot, top));
  return stale;
}

/** Builds dist/ (as `npm run build` does) when it is stale; returns what was stale. */
export function ensureFreshDist(): string[] {
  const stale = staleDistFiles();
  if (stale.length === 0) return stale;
  const build = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
  const still = staleDistFiles();
  if (still.length > 0) throw new Error(`dist/ still stale after a build: ${still.join(', ')}`);
  return stale;
}

export interface ChaosHost {
  child: ChildProcess;
  url: string;
  /** Resolves with the signal (or exit code) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

export type StartResult =
  | { up: true; host: ChaosHost }
  | { up: false; code: number | null; signal: NodeJS.Signals | null; output: string };

/**
 * Starts the host on `stateDir`; `up: false` when it died before answering (a crash point that
 * fired during recovery), which the caller counts as a kill like any other.
 */
export async function startChaosHost(
  stateDir: string,
  env: Record<string, string>,
): Promise<StartResult> {
  const child = spawn(process.execPath, [bin, '--state-dir', stateDir, 'up', '--port', '0'], {
    cwd: repoRoot,
    env: { ...process.env, BATON_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const advert = path.join(stateDir, 'host', 'host.json');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const { code, signal } = await exited;
      return { up: false, code, signal, output };
    }
    try {
      const { url, pid } = JSON.parse(await readFile(advert, 'utf8')) as {
        url: string;
        pid: number;
      };
      if (pid === child.pid) {
        const response = await fetch(`${url}/api/health`);
        if (response.ok) return { up: true, host: { child, url, exited, output: () => output } };
      }
    } catch {
      // not up yet
    }
    await sleep(25);
  }
  child.kill('SIGKILL');
  await exited;
  throw new Error(`host did not start within 60 s:\n${output}`);
}

/** SIGKILL from outside; false when the host had already died (of its own crash point). */
export async function sigkill(host: ChaosHost): Promise<boolean> {
  if (host.child.exitCode !== null || host.child.signalCode !== null) return false;
  host.child.kill('SIGKILL');
  await host.exited;
  return true;
}

/** SIGTERM and wait: the clean stop at the end of a round (exit code 0 expected). */
export async function stopHost(host: ChaosHost): Promise<number | null> {
  if (host.child.exitCode !== null || host.child.signalCode !== null) return host.child.exitCode;
  host.child.kill('SIGTERM');
  return (await host.exited).code;
}

/** mulberry32: small, seeded, the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
