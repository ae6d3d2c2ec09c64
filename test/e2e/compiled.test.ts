import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../helpers/hostProcess.js';

/**
 * The installed `baton` command runs the compiled tree (dist/), not the TypeScript sources:
 * build it as `npm ci` does and run the bin, so path mistakes that only exist in dist/ show.
 */
describe('compiled CLI (bin/baton.js over dist/)', () => {
  let stateDir: string;
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-dist-'));
    const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(build.status, 0, build.stdout + build.stderr);
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  const bin = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [path.join(repoRoot, 'bin', 'baton.js'), '--state-dir', stateDir, ...args],
      {
        cwd: os.tmpdir(),
        encoding: 'utf8',
        env: { ...process.env, BATON_LOG_LEVEL: 'warn' },
      },
    );

  it('prints its version', () => {
    const result = bin('--version');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^\d+\.\d+\.\d+\s*$/);
  });

  it('runs the demo from another working directory', () => {
    const result = bin('demo', '--count', '3');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /status\s+completed/);
  });
});
