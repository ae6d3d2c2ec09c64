// @ts-check
// A model run's iteration × step grid, pieced together from what the API returns for a run,
// because no route returns the iterations' own histories (each iteration is a sub-orchestration
// whose instance has no run record): the output's per-step summaries once the run completed,
// the error's "step S of iteration I failed" when it failed, and the job step ids its logs carry
// (`i<iteration>-<step>-c<command>`) while it runs. A cell only the logs know of is `ran`:
// its job started, and nothing the API returns says how it ended until the run's output does.
// Pure (no DOM), so node tests import it.

/**
 * @typedef {'completed' | 'skipped' | 'failed' | 'ran' | 'pending'} CellState
 * @typedef {{ durationSeconds: number, cpuAvg: number, cpuMax: number, rssMaxMb: number }} CellUsage
 * @typedef {{ state: CellState, summary?: string, usage?: CellUsage }} Cell
 * @typedef {{ iterations: number[], steps: string[], cell: (iteration: number, step: string) => Cell }} ModelGrid
 */

const summaryPattern = /^iteration (\d+) (\S+): (.*)$/;
const usagePattern = /([\d.]+) s, cpu avg ([\d.]+) % max ([\d.]+) %, rss max ([\d.]+) MB/;
const failurePattern = /step (\S+) of iteration (\d+) failed/;
const jobStepPattern = /^i(\d+)-(.+)-c\d+$/;

/**
 * @param {{ status: string, output?: any, error?: string, progress?: any, params?: any }} run
 * @param {string[]} logSteps  the distinct `step` fields of the run's log lines
 * @returns {ModelGrid}
 */
export function modelGrid(run, logSteps) {
  /** @type {Map<string, Cell>} */
  const cells = new Map();
  /** @type {Set<number>} */
  const iterations = new Set();
  /** @type {string[]} */
  const steps = [...(Array.isArray(run.params?.steps) ? run.params.steps : [])];
  /** @param {number} i @param {string} s @param {Cell} c */
  const put = (i, s, c) => {
    iterations.add(i);
    if (!steps.includes(s)) steps.push(s);
    cells.set(`${i}\n${s}`, c);
  };
  for (const text of Array.isArray(run.output?.summaries) ? run.output.summaries : []) {
    const m = summaryPattern.exec(String(text));
    if (!m) continue;
    const rest = m[3] ?? '';
    const usage = usagePattern.exec(rest);
    put(Number(m[1]), m[2] ?? '', {
      state: rest.startsWith('no command selected') ? 'skipped' : 'completed',
      summary: rest,
      ...(usage
        ? {
            usage: {
              durationSeconds: Number(usage[1]),
              cpuAvg: Number(usage[2]),
              cpuMax: Number(usage[3]),
              rssMaxMb: Number(usage[4]),
            },
          }
        : {}),
    });
  }
  const failed = failurePattern.exec(run.error ?? '');
  if (failed) put(Number(failed[2]), failed[1] ?? '', { state: 'failed', summary: run.error });
  // Logs last: a cell a summary or the error already settled keeps that state.
  for (const id of logSteps) {
    const m = jobStepPattern.exec(id);
    if (m && !cells.has(`${m[1]}\n${m[2]}`)) {
      put(Number(m[1]), m[2] ?? '', { state: 'ran' });
    }
  }
  const total = Number(run.output?.iterations ?? run.params?.iterations ?? 0);
  for (let i = 1; i <= total; i++) iterations.add(i);
  return {
    iterations: [...iterations].sort((a, b) => a - b),
    steps,
    cell: (i, s) => cells.get(`${i}\n${s}`) ?? { state: 'pending' },
  };
}
