import { describeValue } from '../domain/describe.js';
import cliProgress from 'cli-progress';
import { BatonError } from '../domain/errors.js';
import type { ApiClient, RunViewDto } from './apiClient.js';
import { stepCounts } from './output.js';

/**
 * Polls a run until it finishes, showing a progress bar on an interactive terminal and a line
 * per change in `--verbose` otherwise. Polling backs off from 200 ms to 2 s while nothing moves.
 */
export async function waitForRun(
  api: ApiClient,
  runId: string,
  options: {
    timeoutMs: number;
    interactive: boolean;
    verbose: boolean;
    write: (line: string) => void;
  },
): Promise<RunViewDto> {
  const deadline = Date.now() + options.timeoutMs;
  const bar = options.interactive
    ? new cliProgress.SingleBar(
        {
          format: ' {bar} {value}/{total} steps | {status} {phase}',
          hideCursor: true,
          clearOnComplete: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(1, 0, { status: 'pending', phase: '' });
  let delay = 200;
  let lastKey = '';
  try {
    for (;;) {
      const run = await api.getRun(runId);
      const counts = stepCounts(run);
      const phase = phaseOf(run.progress);
      const key = `${run.status}:${counts.done}:${counts.total}:${phase}`;
      if (key !== lastKey) {
        delay = 200;
        bar?.setTotal(Math.max(1, counts.total));
        bar?.update(counts.done, { status: run.status, phase });
        if (!bar && options.verbose)
          options.write(`${run.status} ${counts.done}/${counts.total} steps ${phase}`.trimEnd());
        lastKey = key;
      } else {
        delay = Math.min(2000, delay * 1.5);
      }
      if (run.status === 'completed' || run.status === 'failed' || run.status === 'canceled')
        return run;
      if (Date.now() > deadline) {
        throw new BatonError(
          'unavailable',
          `run ${runId} still ${run.status} after ${Math.round(options.timeoutMs / 1000)} s (it goes on; see: baton status ${runId})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  } finally {
    bar?.stop();
  }
}

function phaseOf(progress: unknown): string {
  if (progress && typeof progress === 'object' && 'phase' in progress)
    return describeValue(progress.phase);
  return typeof progress === 'string' ? progress : '';
}
