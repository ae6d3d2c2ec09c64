import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { asUser } from './localAuth.js';

/** Starts `baton up` as a child process on a free port and waits until it answers. */
export const repoRoot = path.resolve(import.meta.dirname, '..', '..');
export const cliEntry = path.join(repoRoot, 'shared', 'cli', 'main.ts');

export interface HostProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], {
      cwd: repoRoot,
      env: { ...process.env, BATON_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function startHostProcess(
  stateDir: string,
  env: Record<string, string> = {},
): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', cliEntry, '--state-dir', stateDir, 'up', '--port', '0'],
    {
      cwd: repoRoot,
      env: { ...process.env, BATON_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const advert = path.join(stateDir, 'host', 'host.json');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`host exited with ${child.exitCode}:\n${output}`);
    try {
      const { url, pid } = JSON.parse(await readFile(advert, 'utf8')) as {
        url: string;
        pid: number;
      };
      if (pid === child.pid) {
        const response = await fetch(`${url}/api/health`);
        if (response.ok) return { child, url, output: () => output };
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`host did not start:\n${output}`);
}

export async function killHard(host: HostProcess): Promise<void> {
  if (host.child.exitCode !== null) return;
  const exited = new Promise((resolve) => host.child.once('exit', resolve));
  host.child.kill('SIGKILL');
  await exited;
}

export async function stopGracefully(host: HostProcess): Promise<number | null> {
  if (host.child.exitCode !== null) return host.child.exitCode;
  const exited = new Promise<number | null>((resolve) =>
    host.child.once('exit', (code) => resolve(code)),
  );
  host.child.kill('SIGTERM');
  return exited;
}

export async function api<T>(
  url: string,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method,
    headers: asUser('tester'),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

/** Starts a run over the HTTP API and polls until it is no longer pending or running. */
export async function runToEnd<T extends { status: string }>(
  baseUrl: string,
  body: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<T> {
  const started = await api<T & { runId: string }>(`${baseUrl}/api/runs`, 'POST', body);
  if (started.status !== 202)
    throw new Error(`start failed: ${started.status} ${JSON.stringify(started.body)}`);
  const runId = started.body.runId;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const view = (await api<T>(`${baseUrl}/api/runs/${runId}`)).body;
    if (!['pending', 'running'].includes(view.status)) return view;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${runId} did not finish within ${timeoutMs} ms`);
}
