import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataLakeServiceClient, StorageSharedKeyCredential } from '@azure/storage-file-datalake';
import { AdlsLake } from '../../shared/adapters/azure/adlsLake.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import { isBatonError } from '../../shared/domain/errors.js';
import type { Lake } from '../../shared/ports/lake.js';
import { recordTallies } from '../campaign/tally.js';
import { startDfsServer, type DfsServer } from '../servers/dfsServer.js';
import { fuzzSeed } from './hostile.js';

/**
 * Create-only outputs (issue 10). Two halves:
 * - Through the Lake port on both adapters (the folder lake; ADLS Gen2 over the wire through
 *   the real SDK, where createOnly is `If-None-Match: *`): rounds of concurrent create-only
 *   writes and uploads of one path; exactly one wins, every other gets `conflict`, and the
 *   content is the winner's. (The same cases are in test/contract/lake.contract.ts.)
 * - Every lake write in shared/ (write and uploadFile outside the adapters): it passes
 *   `createOnly`, or it is on the reviewed list below of writes that replace something that is
 *   not an output, each with why.
 */
const rounds = 15;
const writers = 8;
const repoRoot = path.resolve(import.meta.dirname, '..', '..');

/** Reviewed writes without createOnly: `file:` + the call's text, and why it may replace. */
const reviewedOverwrites: Record<string, string> = {
  'shared/app/databankSync.ts:uploadFile(zip.localPath, target)':
    "a component zip: the sync's rules replace the lake's copy of a component (not an output)",
  'shared/app/databankSync.ts:uploadFile(source, target, known)':
    "a step the sync plan marks `replace` (configs, the state file and orchestrator log, which mirror the run); the lake's older config is kept first (preserveRemote)",
  'shared/app/databankSync.ts:uploadFile(source, target)':
    "a config that changed on both sides: the lake's copy is kept in .cloud_sync_conflict/ first",
};
describe('create-only outputs', { timeout: 60_000 }, () => {
  let dfs: DfsServer;
  let service: DataLakeServiceClient;
  let scratch: string;
  let filesystems = 0;

  before(async () => {
    dfs = await startDfsServer();
    service = new DataLakeServiceClient(
      dfs.accountUrl,
      new StorageSharedKeyCredential(dfs.account, Buffer.from('dummy-key').toString('base64')),
      { retryOptions: { maxTries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 50 } },
    );
    scratch = await mkdtemp(path.join(os.tmpdir(), 'baton-create-only-'));
  });
  after(async () => {
    await dfs.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('lets exactly one of concurrent create-only writers win on both adapters', async () => {
    const adapters: Array<[string, () => Promise<Lake>]> = [
      [
        'FolderLake',
        async () => new FolderLake({ root: await mkdtemp(path.join(scratch, 'lake-')) }),
      ],
      [
        'AdlsLake',
        async () => {
          const fileSystem = service.getFileSystemClient(`createonly${++filesystems}`);
          await fileSystem.create();
          return new AdlsLake({ fileSystem });
        },
      ],
    ];
    let races = 0;
    let badRaces = 0;
    const problems: string[] = [];
    for (const [name, make] of adapters) {
      const lake = await make();
      for (let round = 0; round < rounds; round++) {
        const target = `outputs/run-${fuzzSeed % 1000}/round-${round}/result.bin`;
        const bodies = Array.from({ length: writers }, (_, i) =>
          `${name} ${round} writer ${i} `.repeat(50 + i * 13),
        );
        const attempts = await Promise.allSettled(
          bodies.map(async (body, i) => {
            if ((round + i) % 2 === 0) return lake.write(target, body, { createOnly: true });
            const file = path.join(scratch, `${name}-${round}-${i}.txt`);
            await writeFile(file, body);
            return lake.uploadFile(file, target, { createOnly: true });
          }),
        );
        races++;
        const winners = attempts.flatMap((a, i) => (a.status === 'fulfilled' ? [i] : []));
        const losersOk = attempts.every(
          (a) => a.status === 'fulfilled' || isBatonError(a.reason, 'conflict'),
        );
        const content = (await lake.read(target)).toString();
        const ok = winners.length === 1 && losersOk && content === bodies[winners[0] ?? -1];
        if (!ok) {
          badRaces++;
          problems.push(`${name} round ${round}: ${winners.length} winners, losers ok ${losersOk}`);
        }
        // A later create-only write of the same path never replaces it.
        await assert.rejects(lake.write(target, 'late', { createOnly: true }), (e) =>
          isBatonError(e, 'conflict'),
        );
        assert.equal((await lake.read(target)).toString(), content);
      }
    }
    recordTallies('create-only outputs', [
      { measure: 'adapters raced (folder, ADLS)', count: adapters.length, required: '>= 2' },
      { measure: 'concurrent create-only races', count: races },
      { measure: 'races without exactly one winner', count: badRaces, required: '= 0' },
    ]);
    assert.deepEqual(problems, []);
  });

  it('finds every lake write in shared/ create-only or reviewed', async () => {
    const sites: Array<{ key: string; createOnly: boolean }> = [];
    for (const file of await sourceFiles(path.join(repoRoot, 'shared'))) {
      const relative = path.relative(repoRoot, file).split(path.sep).join('/');
      // The adapters implement the port; the call sites that decide are the app's.
      if (
        relative.startsWith('shared/adapters/') &&
        !relative.endsWith('Staging.ts') &&
        !relative.endsWith('LogStore.ts')
      )
        continue;
      const text = await readFile(file, 'utf8');
      for (const match of text.matchAll(
        /\b(?:lake|this\.lake|deps\.lake|options\.lake)\.(write|uploadFile)\(/g,
      )) {
        const call = balancedCall(text, (match.index ?? 0) + match[0].length - 1);
        const args = call.replace(/\s+/g, ' ').trim();
        sites.push({
          key: `${relative}:${match[1]}${args}`,
          createOnly: /createOnly:\s*true/.test(args),
        });
      }
    }
    const overwriting = sites.filter((s) => !s.createOnly);
    const reviewed = overwriting.filter((s) => s.key in reviewedOverwrites);
    const unreviewed = overwriting.filter((s) => !(s.key in reviewedOverwrites));
    const stale = Object.keys(reviewedOverwrites).filter(
      (key) => !sites.some((s) => s.key === key),
    );
    recordTallies('create-only outputs', [
      { measure: 'lake write sites in shared/', count: sites.length, required: '>= 8' },
      { measure: 'sites writing create-only', count: sites.length - overwriting.length },
      { measure: 'sites replacing a non-output (reviewed)', count: reviewed.length },
      { measure: 'output overwrites, unreviewed', count: unreviewed.length, required: '= 0' },
    ]);
    assert.deepEqual(
      unreviewed.map((s) => s.key),
      [],
      'a lake write without createOnly',
    );
    assert.deepEqual(stale, [], 'a reviewed write no longer exists: update the list');
  });
});

/** The text of a call's parenthesised arguments starting at `open` (the `(`). */
function balancedCall(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return text.slice(open, i + 1);
  }
  return text.slice(open);
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(full)));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}
