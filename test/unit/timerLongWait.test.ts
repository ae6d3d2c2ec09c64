import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { installFunctionsCore } from '../../shared/runtime/functionRegistry.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { startTimerTriggers } from '../../shared/runtime/timerTriggers.js';
import { systemClock } from '../../shared/ports/clock.js';

/**
 * A schedule whose next occurrence is more than 2^31-1 ms away (a yearly timer) must wait, not
 * fire at once: Node clamps such a setTimeout to 1 ms.
 */
installFunctionsCore();
const { app } = await import('@azure/functions');
let fired = 0;
app.timer('yearlyForTest', {
  schedule: '0 0 0 1 1 *',
  handler: () => {
    fired += 1;
  },
});

describe('timer triggers with a far next occurrence', () => {
  it('does not fire a yearly schedule early', async () => {
    const now = new Date();
    // Skip the few seconds around New Year, when the occurrence really is near.
    if (now.getUTCMonth() === 11 && now.getUTCDate() === 31) return;
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const stop = startTimerTriggers({
      logger: createLogger({ level: 'silent' }),
      clock: systemClock,
      env: {},
      inputs: () => ({}),
    });
    await new Promise((r) => setTimeout(r, 300));
    stop();
    process.off('warning', onWarning);
    assert.equal(fired, 0);
    assert.ok(!warnings.includes('TimeoutOverflowWarning'), warnings.join(','));
  });
});
