import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  mayReplaceHpcState,
  type HpcRecordedState,
} from '../../shared/domain/beamline/hpcJobProgress.js';

/**
 * HPC job records move forward only: the rule `recordJob` applies to every submit, status check
 * and cancel, however many deliveries of them run side by side or arrive late.
 */
const waiting: HpcRecordedState[] = ['queued', 'not_started'];
const endings: HpcRecordedState[] = ['succeeded', 'failed', 'canceled', 'timed_out'];
const all: HpcRecordedState[] = [...waiting, 'running', ...endings];

describe('mayReplaceHpcState', () => {
  it('lets a waiting job move to any state', () => {
    for (const recorded of waiting) {
      for (const seen of all) assert.equal(mayReplaceHpcState(recorded, seen), true, seen);
    }
  });

  it('lets a running job end or stay running, never go back to waiting', () => {
    for (const seen of ['running', ...endings] as const) {
      assert.equal(mayReplaceHpcState('running', seen), true, seen);
    }
    for (const seen of waiting) assert.equal(mayReplaceHpcState('running', seen), false, seen);
  });

  it('keeps an ended job as it ended, whatever a late delivery saw', () => {
    for (const recorded of endings) {
      for (const seen of all) {
        assert.equal(mayReplaceHpcState(recorded, seen), false, `${recorded} ← ${seen}`);
      }
    }
  });
});
