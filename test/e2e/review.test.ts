import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../helpers/hostProcess.js';

/**
 * Regression test from the review that needs more than one process: two hosts racing for a
 * stale state-folder lock.
 */
const lockModule = path.join(repoRoot, 'shared', 'runtime', 'stateDirLock.js');

/** A process that takes the state-folder lock when told to ("go") and holds it for a while. */
function lockTaker(stateDir: string): {
  child: ChildProcess;
  ready: Promise<void>;
  result: Promise<string>;
} {
  const script = `
    import { acquireStateDirLock } from ${JSON.stringify(lockModule)};
    process.stdin.once('data', async () => {
      try { await acquireStateDirLock(${JSON.stringify(stateDir)}); process.stdout.write('LOCKED\\n'); }
      catch (e) { process.stdout.write('REFUSED ' + e.message + '\\n'); }
      setTimeout(() => process.exit(0), 300);
    });
    process.stdout.write('READY\\n');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    }),
  );
  const result = new Promise<string>((resolve) => child.on('close', () => resolve(out)));
  return { child, ready, result };
}

describe('review: state-folder lock', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it(
    'lets only one of two hosts started together take over a stale lock',
    {
      timeout: 120_000,
    },
    async () => {
      const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
      const trials = 8;
      let bothLocked = 0;
      for (let i = 0; i < trials; i++) {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-lock-'));
        dirs.push(dir);
        // Left behind by a host that was killed: the pid of a process that has exited.
        await writeFile(path.join(dir, 'host.lock'), String(deadPid));
        const a = lockTaker(dir);
        const b = lockTaker(dir);
        await Promise.all([a.ready, b.ready]);
        a.child.stdin?.write('go\n');
        b.child.stdin?.write('go\n');
        const [ra, rb] = await Promise.all([a.result, b.result]);
        if (ra.includes('LOCKED') && rb.includes('LOCKED')) bothLocked++;
      }
      assert.equal(bothLocked, 0, `both processes held the lock in ${bothLocked}/${trials} trials`);
    },
  );
});
