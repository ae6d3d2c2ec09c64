// The launch path of a task job under hostile names: 10,000+ generated values (quotes, `$()`,
// backticks, `;`, `&&`, newlines, very long, unicode, `../`) as the staged %DATA/%IN/%OUT paths
// that launchTaskJob hands to taskJobSpec. The spec's argv must be byte-identical to that of a
// harmless job (the script is the template's alone) and the values must reach the job only as
// BATON_DATA/BATON_IN/BATON_OUT, exactly. Executing such values is covered by
// execTemplate.fuzz.test.ts (500 real /bin/sh runs with a canary) and e2e/tasks.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { taskJobSpec } from '../../shared/app/taskJobs.js';
import { isBatonError } from '../../shared/domain/errors.js';

const seed = 20261128;
const runs = 3400; // x3 values each: 10,200 values

const hostile = fc.oneof(
  fc.constantFrom(
    '$(touch pwned)',
    '`touch pwned`',
    '; touch pwned',
    '&& touch pwned',
    '\ntouch pwned\n',
    '"; touch pwned; "',
    "'; touch pwned; '",
    '../../../etc/passwd',
    '%DATA %IN %OUT',
    '${IFS}',
    '-rf /',
  ),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({
    unit: fc.constantFrom(
      '$',
      '(',
      ')',
      '`',
      ';',
      '&',
      '|',
      '"',
      "'",
      '\\',
      '\n',
      ' ',
      '*',
      '/',
      '.',
      '%',
    ),
    maxLength: 64,
  }),
  fc.string({ unit: 'grapheme', minLength: 1000, maxLength: 3000 }),
);

const task = {
  exec: '. /setup.sh && python3 /job.py -d %DATA -c "%IN" -o %OUT/result && python3 /after.py',
  timeoutSeconds: 60,
  image: 'python:3.12',
};
const reference = taskJobSpec(
  task,
  { computeJobId: 't-abc-0-a1' },
  {
    values: { data: '/w/data/d.csv', in: '/w/jobs/x/in/c.json', out: '/w/jobs/x/out' },
    cwd: 'work/jobs/x',
  },
);

describe('task job specs under hostile staged paths (fuzz)', () => {
  it(`keeps argv fixed and values in env only: ${runs * 3} values, seed ${seed}`, () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(hostile, hostile, hostile, (a, b, c) => {
        const values = { data: `/w/data/${a}`, in: `/w/jobs/x/in/${b}`, out: `/w/jobs/x/${c}` };
        let spec;
        try {
          spec = taskJobSpec(task, { computeJobId: 't-abc-0-a1' }, { values, cwd: 'work/jobs/x' });
        } catch (error) {
          // Only NUL, lone surrogates or oversized values may be refused, as validation.
          assert.ok(isBatonError(error, 'validation'), String(error));
          rejected++;
          return;
        }
        accepted++;
        assert.deepEqual(spec.argv, reference.argv);
        assert.deepEqual(spec.env, {
          BATON_DATA: values.data,
          BATON_IN: values.in,
          BATON_OUT: values.out,
        });
        assert.equal(spec.jobId, reference.jobId);
        assert.equal(spec.cwd, reference.cwd);
      }),
      { seed, numRuns: runs },
    );
    assert.ok(accepted > runs * 0.8, `most generated values are accepted (${accepted})`);
    console.log(`task job spec fuzz: ${accepted} accepted, ${rejected} refused as validation`);
  });
});
