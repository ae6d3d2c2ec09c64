import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { nextOccurrence } from '../../shared/runtime/timerTriggers.js';

const at = (iso: string): Date => new Date(iso);
const iso = (d: Date): string => d.toISOString();
// Millisecond dates in a range cron-parser handles comfortably.
const dates = fc.date({
  min: at('2000-01-01T00:00:00Z'),
  max: at('2090-12-31T23:59:59Z'),
  noInvalidDate: true,
});

/** The first multiple of `stepMs` since the epoch strictly after `after` (UTC has no leap seconds). */
const nextMultiple = (after: Date, stepMs: number): number =>
  (Math.floor(after.getTime() / stepMs) + 1) * stepMs;

describe('nextOccurrence: six-field NCRONTAB, seconds first, UTC', () => {
  it('every five minutes at second 0', () => {
    assert.equal(
      iso(nextOccurrence('0 */5 * * * *', at('2024-05-01T10:02:30Z'))),
      '2024-05-01T10:05:00.000Z',
    );
  });

  it('is strictly after the given time', () => {
    assert.equal(
      iso(nextOccurrence('0 */5 * * * *', at('2024-05-01T10:05:00.000Z'))),
      '2024-05-01T10:10:00.000Z',
    );
    assert.equal(
      iso(nextOccurrence('* * * * * *', at('2024-05-01T10:05:00.000Z'))),
      '2024-05-01T10:05:01.000Z',
    );
  });

  it('every second -> the next whole second', () => {
    assert.equal(
      iso(nextOccurrence('* * * * * *', at('2024-05-01T10:02:30.400Z'))),
      '2024-05-01T10:02:31.000Z',
    );
  });

  it('the first field is seconds, the second minutes', () => {
    assert.equal(
      iso(nextOccurrence('30 * * * * *', at('2024-05-01T10:02:31Z'))),
      '2024-05-01T10:03:30.000Z',
    );
    assert.equal(
      iso(nextOccurrence('0 30 * * * *', at('2024-05-01T10:02:31Z'))),
      '2024-05-01T10:30:00.000Z',
    );
  });

  it('hours are UTC and roll over to the next day', () => {
    assert.equal(
      iso(nextOccurrence('0 0 9 * * *', at('2024-05-01T08:59:59Z'))),
      '2024-05-01T09:00:00.000Z',
    );
    assert.equal(
      iso(nextOccurrence('0 0 9 * * *', at('2024-05-01T09:00:00Z'))),
      '2024-05-02T09:00:00.000Z',
    );
  });

  it('does not depend on the process time zone', () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'America/New_York';
      assert.equal(
        iso(nextOccurrence('0 0 9 * * *', at('2024-05-01T08:00:00Z'))),
        '2024-05-01T09:00:00.000Z',
      );
      process.env.TZ = 'Asia/Kolkata';
      assert.equal(
        iso(nextOccurrence('0 0 0 1 * *', at('2024-05-15T00:00:00Z'))),
        '2024-06-01T00:00:00.000Z',
      );
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('day of week, month and day of month fields', () => {
    // 2024-01-01 is a Monday.
    assert.equal(
      iso(nextOccurrence('0 0 12 * * 1', at('2024-01-02T00:00:00Z'))),
      '2024-01-08T12:00:00.000Z',
    );
    assert.equal(
      iso(nextOccurrence('0 0 0 29 2 *', at('2024-03-01T00:00:00Z'))),
      '2028-02-29T00:00:00.000Z',
    );
  });

  it('tolerates surrounding and repeated whitespace', () => {
    assert.equal(
      iso(nextOccurrence('  0  */5 * * * *  ', at('2024-05-01T10:02:30Z'))),
      '2024-05-01T10:05:00.000Z',
    );
  });

  it('rejects the five-field (minute-first) form with a message naming 6 fields', () => {
    assert.throws(() => nextOccurrence('*/5 * * * *', at('2024-05-01T10:00:00Z')), /6 fields/);
  });

  it('rejects other field counts and empty schedules', () => {
    for (const s of ['', '   ', '* * * *', '0 0 0 * * * 2024']) {
      assert.throws(
        () => nextOccurrence(s, at('2024-05-01T10:00:00Z')),
        /6 fields/,
        JSON.stringify(s),
      );
    }
  });

  it('rejects out-of-range values', () => {
    assert.throws(() => nextOccurrence('0 61 * * * *', at('2024-05-01T10:00:00Z')));
    assert.throws(() => nextOccurrence('0 0 25 * * *', at('2024-05-01T10:00:00Z')));
  });

  it('property: "* * * * * *" fires at the next whole second', () => {
    fc.assert(
      fc.property(dates, (after) => {
        assert.equal(nextOccurrence('* * * * * *', after).getTime(), nextMultiple(after, 1000));
      }),
      { numRuns: 200 },
    );
  });

  it('property: "0 */5 * * * *" fires at the next 5-minute mark and "*/15 * * * * *" at the next quarter minute', () => {
    fc.assert(
      fc.property(dates, (after) => {
        assert.equal(
          nextOccurrence('0 */5 * * * *', after).getTime(),
          nextMultiple(after, 300_000),
        );
        assert.equal(
          nextOccurrence('*/15 * * * * *', after).getTime(),
          nextMultiple(after, 15_000),
        );
      }),
      { numRuns: 200 },
    );
  });
});
