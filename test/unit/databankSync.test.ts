import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifyLakePath,
  conflictCopyOriginal,
  conflictCopyPath,
  parseUploadOutputsOnly,
  pathsToHash,
  planSyncDownload,
  planSyncUpload,
  sameContent,
  syncStamp,
  type DownloadPlanInput,
  type SyncFile,
  type SyncStep,
  type UploadPlanInput,
} from '../../shared/domain/databankSync.js';
import { expectBatonError } from './batonErrorAssert.js';

/** The sync planner, one rule per case (rules in shared/domain/databankSync.ts). */

const stamp = syncStamp(new Date('2025-01-15T10:30:00.123Z'));
const components = ['activitysim', 'quetzal'];
const file = (path: string, md5?: string, size = 10): SyncFile => ({ path, size, md5 });

function upload(input: Partial<UploadPlanInput>) {
  return planSyncUpload({
    local: [],
    componentZips: [],
    remote: [],
    componentNames: components,
    outputsOnly: false,
    stamp,
    ...input,
  });
}

function download(input: Partial<DownloadPlanInput>) {
  return planSyncDownload({
    local: [],
    localEmpty: false,
    remote: [],
    componentNames: components,
    stamp,
    ...input,
  });
}

/** A step by the databank path it is about, shown compactly. */
function stepFor(steps: SyncStep[], path: string): string {
  const step = steps.find((s) =>
    s.op === 'skip' ? s.path === path : s.op === 'upload' ? s.from === path : s.from === path,
  );
  if (step === undefined) return 'none';
  if (step.op === 'skip') return `skip ${step.reason}`;
  if (step.op === 'upload') {
    const kept = step.preserveRemoteAt === undefined ? '' : ` keep ${step.preserveRemoteAt}`;
    return `upload ${step.mode} ${step.to}${kept}`;
  }
  return `download ${step.to}${step.unzipInto === undefined ? '' : ` unzip ${step.unzipInto}`}`;
}

describe('sync plan: helpers', () => {
  it('stamps are UTC, sortable, and without ":"', () => {
    assert.equal(stamp, '20250115T103000.123Z');
    assert.equal(
      conflictCopyPath('outputs/a.csv', stamp),
      '.cloud_sync_conflict/outputs/a.csv.20250115T103000.123Z',
    );
  });

  it('a conflict copy names the path it was kept for', () => {
    assert.equal(conflictCopyOriginal(conflictCopyPath('outputs/a.csv', stamp)), 'outputs/a.csv');
    assert.equal(conflictCopyOriginal('.cloud_sync_conflict/outputs/a.csv'), undefined);
    assert.equal(conflictCopyOriginal(`outputs/a.csv.${stamp}`), undefined);
  });

  it('UPLOAD_OUTPUTS_ONLY accepts true/1/yes and false/0/no in any case; anything else names it', () => {
    for (const yes of ['true', 'True', '1', 'yes', 'YES', ' yes ']) {
      assert.equal(parseUploadOutputsOnly(yes), true, yes);
    }
    for (const no of [undefined, '', 'false', 'FALSE', '0', 'no']) {
      assert.equal(parseUploadOutputsOnly(no), false, String(no));
    }
    const error = expectBatonError(() => parseUploadOutputsOnly('sometimes'));
    assert.equal(error.field, 'UPLOAD_OUTPUTS_ONLY');
  });

  it('content is the same only when both MD5s are known and equal', () => {
    assert.equal(sameContent(file('a', 'x'), file('a', 'x')), true);
    assert.equal(sameContent(file('a', 'x'), file('a', 'y')), false);
    assert.equal(sameContent(file('a', 'x', 1), file('a', 'x', 2)), false);
    assert.equal(sameContent(file('a'), file('a')), false, 'unknown MD5s never prove equality');
    assert.equal(sameContent(file('a', 'x'), file('a')), false);
  });

  it('a top-level <step>.zip of a component is that component in the lake', () => {
    assert.equal(classifyLakePath('activitysim.zip', components), 'component');
    assert.equal(classifyLakePath('other.zip', components), 'config');
    assert.equal(classifyLakePath('outputs/activitysim.zip', components), 'output');
    assert.equal(classifyLakePath('activitysim/run.py', components), 'component');
  });

  it('hashes only paths on both sides and same-size conflict copies of the other side', () => {
    const copy = conflictCopyPath('outputs/b.csv', stamp);
    const need = pathsToHash(
      [file('outputs/a.csv'), file('outputs/b.csv', undefined, 5), file('outputs/new.csv')],
      [file('outputs/a.csv'), file(copy, undefined, 5), file('outputs/lake-only.csv')],
    );
    assert.deepEqual([...need.local].sort(), ['outputs/a.csv', 'outputs/b.csv']);
    assert.deepEqual([...need.remote].sort(), [copy, 'outputs/a.csv']);
    const otherSize = pathsToHash(
      [file('outputs/b.csv', undefined, 6)],
      [file(copy, undefined, 5)],
    );
    assert.equal(otherSize.local.size + otherSize.remote.size, 0);
  });
});

describe('sync plan: upload', () => {
  it('config files: new ones are created, unchanged ones skipped', () => {
    const plan = upload({
      local: [file('orca_model_config.yaml', 'c1'), file('orca_model_state.json', 's1')],
      remote: [file('orca_model_config.yaml', 'c1')],
    });
    assert.equal(stepFor(plan.steps, 'orca_model_config.yaml'), 'skip unchanged');
    assert.equal(
      stepFor(plan.steps, 'orca_model_state.json'),
      'upload createOnly orca_model_state.json',
    );
    assert.deepEqual(plan.conflicts, []);
  });

  it('a config that differs in the lake is kept in the conflict folder, then replaced', () => {
    const plan = upload({
      local: [file('orca_model_state.json', 'ours')],
      remote: [file('orca_model_state.json', 'theirs')],
    });
    const kept = `.cloud_sync_conflict/orca_model_state.json.${stamp}`;
    assert.equal(
      stepFor(plan.steps, 'orca_model_state.json'),
      `upload replace orca_model_state.json keep ${kept}`,
    );
    assert.deepEqual(
      plan.conflicts.map((c) => [c.path, c.side, c.keptAt]),
      [['orca_model_state.json', 'lake', kept]],
    );
  });

  it("the run's own records (state file, orchestrator log) are replaced without a conflict copy", () => {
    const plan = upload({
      local: [file('orca_model_state.json', 'ours'), file('orca_orchestrator.log', 'ours')],
      remote: [file('orca_model_state.json', 'theirs'), file('orca_orchestrator.log', 'theirs')],
      runRecords: ['orca_model_state.json', 'orca_orchestrator.log'],
    });
    assert.equal(
      stepFor(plan.steps, 'orca_model_state.json'),
      'upload replace orca_model_state.json',
    );
    assert.equal(
      stepFor(plan.steps, 'orca_orchestrator.log'),
      'upload replace orca_orchestrator.log',
    );
    assert.deepEqual(plan.conflicts, []);
  });

  it('same name, different content (same size): compared by hash, not by name', () => {
    const plan = upload({
      local: [file('outputs/a.csv', 'ours', 3)],
      remote: [file('outputs/a.csv', 'theirs', 3)],
    });
    assert.match(stepFor(plan.steps, 'outputs/a.csv'), /^upload createOnly \.cloud_sync_conflict/);
  });

  it('a lake file whose MD5 is unknown counts as different (an extra copy, never a loss)', () => {
    const plan = upload({
      local: [file('orca_model_state.json', 'ours')],
      remote: [file('orca_model_state.json')],
    });
    assert.match(stepFor(plan.steps, 'orca_model_state.json'), /^upload replace .* keep /);
  });

  for (const [kind, path] of [
    ['output', 'outputs/trips.csv'],
    ['performance', 'performance/1_activitysim.csv'],
    ['error dump', 'error_dumps/20250115_1_quetzal/log.txt'],
  ] as const) {
    it(`${kind} files are create-only: new ones go up, unchanged ones are skipped`, () => {
      const fresh = upload({ local: [file(path, 'a')] });
      assert.equal(stepFor(fresh.steps, path), `upload createOnly ${path}`);
      const same = upload({ local: [file(path, 'a')], remote: [file(path, 'a')] });
      assert.equal(stepFor(same.steps, path), 'skip unchanged');
    });

    it(`${kind} files are never overwritten: a different one goes to the lake's conflict folder`, () => {
      const plan = upload({ local: [file(path, 'ours')], remote: [file(path, 'theirs')] });
      const copy = conflictCopyPath(path, stamp);
      assert.equal(stepFor(plan.steps, path), `upload createOnly ${copy}`);
      assert.ok(
        !plan.steps.some((s) => s.op === 'upload' && s.to === path),
        'nothing is written to the lake path',
      );
      assert.deepEqual(
        plan.conflicts.map((c) => [c.path, c.side, c.keptAt]),
        [[path, 'lake', copy]],
      );
    });
  }

  it('an output whose content the lake already keeps as a conflict copy is not copied again', () => {
    const earlier = conflictCopyPath('outputs/a.csv', '20240101T000000.000Z');
    const plan = upload({
      local: [file('outputs/a.csv', 'ours')],
      remote: [file('outputs/a.csv', 'theirs'), file(earlier, 'ours')],
    });
    assert.equal(stepFor(plan.steps, 'outputs/a.csv'), 'skip alreadyKept');
    assert.deepEqual(plan.conflicts, []);
  });

  it('component folders go up as <step>.zip, replaced only when the zip MD5 differs', () => {
    const plan = upload({
      local: [file('activitysim/run.py', 'r'), file('quetzal/model.py', 'q')],
      componentZips: [file('activitysim', 'zip-a'), file('quetzal', 'zip-q2')],
      remote: [file('activitysim.zip', 'zip-a'), file('quetzal.zip', 'zip-q1')],
    });
    const zipSteps = plan.steps.map((s) => (s.op === 'skip' ? `skip ${s.path} ${s.reason}` : ''));
    assert.ok(zipSteps.includes('skip activitysim.zip unchanged'));
    assert.equal(stepFor(plan.steps, 'quetzal'), 'upload replace quetzal.zip');
    assert.equal(stepFor(plan.steps, 'activitysim/run.py'), 'none', 'carried by the zip');
    assert.deepEqual(plan.conflicts, []);
  });

  it('inputs, other folders, hidden files and local conflict copies are not uploaded', () => {
    const plan = upload({
      local: [
        file('inputs/landuse/taz.csv'),
        file('scratch/notes.txt'),
        file('.env'),
        file('outputs/.partial'),
        file(conflictCopyPath('outputs/a.csv', stamp)),
      ],
    });
    assert.equal(stepFor(plan.steps, 'inputs/landuse/taz.csv'), 'skip input');
    assert.equal(stepFor(plan.steps, 'scratch/notes.txt'), 'skip notSynced');
    assert.equal(stepFor(plan.steps, '.env'), 'skip hidden');
    assert.equal(stepFor(plan.steps, 'outputs/.partial'), 'skip hidden');
    assert.equal(
      stepFor(plan.steps, conflictCopyPath('outputs/a.csv', stamp)),
      'skip conflictCopy',
    );
    assert.ok(plan.steps.every((s) => s.op === 'skip'));
  });

  it('a top-level file named like a component zip is not uploaded over it', () => {
    const plan = upload({ local: [file('activitysim.zip', 'x')] });
    assert.equal(stepFor(plan.steps, 'activitysim.zip'), 'skip reservedName');
  });

  it('UPLOAD_OUTPUTS_ONLY: only outputs and config files go up', () => {
    const plan = upload({
      outputsOnly: true,
      local: [
        file('orca_model_state.json', 's'),
        file('outputs/a.csv', 'a'),
        file('performance/1_quetzal.csv', 'p'),
        file('error_dumps/x/log.txt', 'e'),
        file('quetzal/model.py', 'q'),
      ],
      componentZips: [file('quetzal', 'zip')],
    });
    assert.equal(
      stepFor(plan.steps, 'orca_model_state.json'),
      'upload createOnly orca_model_state.json',
    );
    assert.equal(stepFor(plan.steps, 'outputs/a.csv'), 'upload createOnly outputs/a.csv');
    assert.equal(stepFor(plan.steps, 'performance/1_quetzal.csv'), 'skip outputsOnly');
    assert.equal(stepFor(plan.steps, 'error_dumps/x/log.txt'), 'skip outputsOnly');
    assert.ok(
      plan.steps.some(
        (s) => s.op === 'skip' && s.path === 'quetzal.zip' && s.reason === 'outputsOnly',
      ),
    );
  });

  it('is deterministic: steps sorted by path whatever the input order', () => {
    const local = [file('outputs/b.csv'), file('orca_model_state.json'), file('outputs/a.csv')];
    const a = upload({ local });
    const b = upload({ local: [...local].reverse() });
    assert.deepEqual(a, b);
    assert.deepEqual(
      a.steps.map((s) => (s.op === 'upload' ? s.from : '')),
      ['orca_model_state.json', 'outputs/a.csv', 'outputs/b.csv'],
    );
  });
});

describe('sync plan: download', () => {
  const lake = [
    file('orca_model_config.yaml', 'c'),
    file('orca_model_state.json', 's'),
    file('orca_orchestrator.log', 'l'),
    file('outputs/a.csv', 'a'),
    file('performance/1_quetzal.csv', 'p'),
    file('error_dumps/x/log.txt', 'e'),
    file('activitysim.zip', 'z'),
    file('unknown.zip', 'u'),
    file('quetzal/loose.py', 'q'),
    file('inputs/taz.csv', 'i'),
    file('scratch/notes.txt', 'n'),
    file(conflictCopyPath('outputs/a.csv', stamp), 'old'),
  ];

  it('into an empty databank: everything, with component zips unpacked into their folders', () => {
    const plan = download({ localEmpty: true, remote: lake });
    for (const path of [
      'orca_model_config.yaml',
      'orca_model_state.json',
      'orca_orchestrator.log',
      'outputs/a.csv',
      'performance/1_quetzal.csv',
      'error_dumps/x/log.txt',
      'unknown.zip',
    ]) {
      assert.equal(stepFor(plan.steps, path), `download ${path}`, path);
    }
    assert.equal(
      stepFor(plan.steps, 'activitysim.zip'),
      'download activitysim.zip unzip activitysim',
    );
    assert.equal(stepFor(plan.steps, 'quetzal/loose.py'), 'skip componentFile');
    assert.equal(stepFor(plan.steps, 'inputs/taz.csv'), 'skip input');
    assert.equal(stepFor(plan.steps, 'scratch/notes.txt'), 'skip notSynced');
    assert.equal(
      stepFor(plan.steps, conflictCopyPath('outputs/a.csv', stamp)),
      'skip conflictCopy',
    );
  });

  it('into an existing databank: only output files not present locally', () => {
    const plan = download({
      local: [file('orca_model_config.yaml', 'mine')],
      remote: lake,
    });
    const downloads = plan.steps.filter((s) => s.op === 'download');
    assert.deepEqual(
      downloads.map((s) => s.from),
      ['outputs/a.csv'],
    );
    assert.equal(stepFor(plan.steps, 'orca_model_config.yaml'), 'skip existingDatabank');
    assert.equal(stepFor(plan.steps, 'activitysim.zip'), 'skip existingDatabank');
    assert.equal(stepFor(plan.steps, 'error_dumps/x/log.txt'), 'skip existingDatabank');
  });

  it('an output present locally with the same content is skipped', () => {
    const plan = download({ local: [file('outputs/a.csv', 'a')], remote: lake });
    assert.equal(stepFor(plan.steps, 'outputs/a.csv'), 'skip unchanged');
  });

  it('an output that differs locally comes down to the local conflict folder, ours untouched', () => {
    const plan = download({
      local: [file('outputs/a.csv', 'mine')],
      remote: [file('outputs/a.csv', 'a')],
    });
    const copy = conflictCopyPath('outputs/a.csv', stamp);
    assert.equal(stepFor(plan.steps, 'outputs/a.csv'), `download ${copy}`);
    assert.deepEqual(
      plan.conflicts.map((c) => [c.path, c.side, c.keptAt]),
      [['outputs/a.csv', 'local', copy]],
    );
  });

  it('a lake output already kept locally as a conflict copy is not downloaded again', () => {
    const plan = download({
      local: [
        file('outputs/a.csv', 'mine'),
        file(conflictCopyPath('outputs/a.csv', '20240101T000000Z'), 'a'),
      ],
      remote: [file('outputs/a.csv', 'a')],
    });
    assert.equal(stepFor(plan.steps, 'outputs/a.csv'), 'skip alreadyKept');
  });
});
