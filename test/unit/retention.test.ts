import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { FolderLake } from '../../shared/adapters/local/folderLake.js';
import {
  listRetention,
  pruneDue,
  scheduleRetention,
  type RetentionDeps,
} from '../../shared/app/retention.js';
import { isBatonError } from '../../shared/domain/errors.js';
import { dueAtFor, isDue, retentionIdFor } from '../../shared/domain/retention.js';

/** A clock the test moves by hand. */
function manualClock(start: string): { now(): Date; advanceDays(days: number): void } {
  let t = Date.parse(start);
  return { now: () => new Date(t), advanceDays: (days) => (t += days * 24 * 3600 * 1000) };
}

describe('retention (domain)', () => {
  it('is due only when scheduled and its date has come', () => {
    const now = new Date('2024-05-10T00:00:00Z');
    assert.equal(isDue({ state: 'scheduled', dueAt: '2024-05-10T00:00:00.000Z' }, now), true);
    assert.equal(isDue({ state: 'scheduled', dueAt: '2024-05-10T00:00:00.001Z' }, now), false);
    assert.equal(isDue({ state: 'pruned', dueAt: '2024-05-01T00:00:00.000Z' }, now), false);
    assert.equal(dueAtFor(now, 1.5), '2024-05-11T12:00:00.000Z');
    assert.equal(retentionIdFor('lake', 'a/b'), retentionIdFor('lake', 'a/b'));
    assert.notEqual(retentionIdFor('lake', 'a/b'), retentionIdFor('lake', 'a/c'));
  });
});

describe('retention ledger and pruner', () => {
  let root: string;
  let deps: RetentionDeps;
  let clock: ReturnType<typeof manualClock>;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'baton-retention-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    const dir = await mkdtemp(path.join(root, 'case-'));
    clock = manualClock('2024-05-01T00:00:00Z');
    deps = {
      state: new FileStateStore({ root: path.join(dir, 'state') }),
      lake: new FolderLake({ root: path.join(dir, 'lake') }),
      clock,
    };
    await mkdir(path.join(dir, 'lake', 'raw', 'scan-1'), { recursive: true });
    await writeFile(path.join(dir, 'lake', 'raw', 'scan-1', 'frame.h5'), 'data');
    await writeFile(path.join(dir, 'lake', 'raw', 'keep.h5'), 'data');
  });

  it('deletes a path only once it is due, and records what it did', async () => {
    await scheduleRetention(
      deps,
      { path: 'raw/scan-1', afterDays: 7, reason: 'raw data kept a week' },
      'alice',
    );
    assert.equal((await pruneDue(deps)).due, 0);
    clock.advanceDays(7);
    const dry = await pruneDue(deps, { dryRun: true });
    assert.deepEqual(
      dry.entries.map((e) => [e.path, e.outcome]),
      [['raw/scan-1', 'would-prune']],
    );
    assert.ok(await deps.lake.stat('raw/scan-1/frame.h5'), 'a dry run deletes nothing');
    const report = await pruneDue(deps);
    assert.equal(report.pruned, 1);
    assert.equal(await deps.lake.stat('raw/scan-1/frame.h5'), undefined);
    assert.ok(await deps.lake.stat('raw/keep.h5'), 'what was not scheduled stays');
    const [entry] = await listRetention(deps, { state: 'pruned' });
    assert.equal(entry?.requestedBy, 'alice');
    assert.equal(entry?.prunedAt, '2024-05-08T00:00:00.000Z');
    assert.equal((await pruneDue(deps)).due, 0, 'pruned once');
  });

  it('moves the date when the same path is scheduled again, rather than adding a second deletion', async () => {
    await scheduleRetention(deps, { path: 'raw/scan-1', afterDays: 1 }, 'alice');
    await scheduleRetention(deps, { path: 'raw//scan-1/', afterDays: 30 }, 'alice');
    const entries = await listRetention(deps, {});
    assert.equal(entries.length, 1);
    clock.advanceDays(2);
    assert.equal((await pruneDue(deps)).due, 0);
  });

  it('records a path that was already gone', async () => {
    await scheduleRetention(deps, { path: 'raw/never-there', afterDays: 0 }, 'alice');
    const report = await pruneDue(deps);
    assert.equal(report.gone, 1);
  });

  it('refuses paths outside the lake or the lake itself, naming the field', async () => {
    for (const bad of ['../etc', '/etc/passwd', 'a/../../b', '', '.', 'raw\\x']) {
      await assert.rejects(
        scheduleRetention(deps, { path: bad, afterDays: 1 }, 'alice'),
        (e: unknown) => isBatonError(e, 'validation') && e.field !== undefined,
      );
    }
    await assert.rejects(
      scheduleRetention(deps, { path: 'raw', afterDays: -1 }, 'alice'),
      (e: unknown) => isBatonError(e, 'validation') && e.field === 'body.afterDays',
    );
  });

  it('lists what is due (the preview the portal shows)', async () => {
    await scheduleRetention(deps, { path: 'raw/scan-1', afterDays: 1 }, 'alice');
    await scheduleRetention(deps, { path: 'raw/keep.h5', afterDays: 10 }, 'alice');
    clock.advanceDays(2);
    assert.deepEqual(
      (await listRetention(deps, { due: 'true' })).map((e) => e.path),
      ['raw/scan-1'],
    );
    assert.deepEqual(
      (await listRetention(deps, { due: 'false' })).map((e) => e.path),
      ['raw/keep.h5'],
    );
  });
});
