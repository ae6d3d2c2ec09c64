// @ts-check
// A model run's iteration × step grid, from what the API returns for a run and for its
// children (`GET /api/runs/{runId}/children`: each iteration's sub-orchestration and the run's
// jobs, whose step ids are `i<iteration>-<step>-c<command>`). A cell's state, strongest first:
// - completed / skipped: a step summary says so (the run's output once it ended, or the
//   finished iteration's own output while later iterations still run);
// - failed: the run's error names the step and iteration;
// - running / queued: one of its jobs is running / waiting for a launch;
// - failed: its last job failed and the iteration failed;
// - completed: its jobs succeeded and the next step of its iteration has started;
// - ran: its jobs ended and the step is being finished (archives, state file);
// - pending: nothing has happened to it yet.
// Pure (no DOM), so node tests import it.

/**
 * @typedef {'completed' | 'skipped' | 'failed' | 'running' | 'queued' | 'ran' | 'pending'} CellState
 * @typedef {{ durationSeconds: number, cpuAvg: number, cpuMax: number, rssMaxMb: number }} CellUsage
 * @typedef {{ state: CellState, summary?: string, usage?: CellUsage }} Cell
 * @typedef {{ iterations: number[], steps: string[], cell: (iteration: number, step: string) => Cell }} ModelGrid
 * @typedef {{ instanceId: string, runtimeStatus: string, output?: any }} ChildStatus
 * @typedef {{ jobId: string, stepId: string, attempt: number, state: string, queuedAt?: string }} RunJob
 * @typedef {{ children?: ChildStatus[], jobs?: RunJob[] }} RunChildren
 */

const summaryPattern = /^iteration (\d+) (\S+): (.*)$/;
const usagePattern = /([\d.]+) s, cpu avg ([\d.]+) % max ([\d.]+) %, rss max ([\d.]+) MB/;
const failurePattern = /step (\S+) of iteration (\d+) failed/;
const jobStepPattern = /^i(\d+)-(.+)-c(\d+)$/;
const iterationInstancePattern = /-iter-(\d+)$/;

/**
 * @param {{ status: string, output?: any, error?: string, progress?: any, params?: any }} run
 * @param {RunChildren} [live]  the run's children and jobs, when the route answered
 * @returns {ModelGrid}
 */
export function modelGrid(run, live = {}) {
  /** @type {Map<string, Cell>} */
  const cells = new Map();
  /** @type {Set<number>} */
  const iterations = new Set();
  /** @type {string[]} */
  const steps = [...(Array.isArray(run.params?.steps) ? run.params.steps : [])];
  /** @param {number} i @param {string} s */
  const note = (i, s) => {
    iterations.add(i);
    if (!steps.includes(s)) steps.push(s);
  };
  /** @param {number} i @param {string} s @param {Cell} c */
  const put = (i, s, c) => {
    note(i, s);
    cells.set(`${i}\n${s}`, c);
  };
  const children = Array.isArray(live.children) ? live.children : [];
  const summaries = [
    ...(Array.isArray(run.output?.summaries) ? run.output.summaries : []),
    ...children.flatMap((c) => (Array.isArray(c.output?.summaries) ? c.output.summaries : [])),
  ];
  for (const text of summaries) {
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

  /** @type {Map<number, string>} */
  const iterationStatus = new Map();
  for (const child of children) {
    const m = iterationInstancePattern.exec(child.instanceId);
    if (m) {
      iterationStatus.set(Number(m[1]), child.runtimeStatus);
      iterations.add(Number(m[1]));
    }
  }
  // The jobs of each cell not settled above, oldest first.
  /** @type {Map<string, RunJob[]>} */
  const jobsOf = new Map();
  for (const job of Array.isArray(live.jobs) ? live.jobs : []) {
    const m = jobStepPattern.exec(job.stepId);
    if (!m) continue;
    const key = `${m[1]}\n${m[2]}`;
    note(Number(m[1]), m[2] ?? '');
    if (cells.has(key)) continue;
    jobsOf.set(key, [...(jobsOf.get(key) ?? []), job]);
  }
  // Steps of an iteration run one after the other, and a step's first job is queued only once
  // the step before it was finished: a cell whose jobs succeeded and that a later cell of its
  // iteration followed is completed (its summary comes with the iteration's output).
  /** @type {Map<number, string[]>} */
  const startedOrder = new Map();
  for (const job of Array.isArray(live.jobs) ? live.jobs : []) {
    const m = jobStepPattern.exec(job.stepId);
    if (!m) continue;
    const order = startedOrder.get(Number(m[1])) ?? [];
    if (!order.includes(m[2] ?? '')) order.push(m[2] ?? '');
    startedOrder.set(Number(m[1]), order);
  }
  for (const [key, jobs] of jobsOf) {
    const [i = '0', s = ''] = key.split('\n');
    const last = jobs[jobs.length - 1];
    const order = startedOrder.get(Number(i)) ?? [];
    const followed = order.indexOf(s) < order.length - 1;
    const iterationEnded = ['Failed', 'Terminated', 'Canceled'].includes(
      iterationStatus.get(Number(i)) ?? '',
    );
    /** @type {CellState} */
    let state = 'ran';
    if (jobs.some((j) => j.state === 'running')) state = 'running';
    else if (jobs.some((j) => j.state === 'pending')) state = 'queued';
    else if (last && last.state !== 'succeeded' && iterationEnded) state = 'failed';
    else if (last?.state === 'succeeded' && followed) state = 'completed';
    put(Number(i), s, {
      state,
      summary: jobs.map((j) => `${j.stepId} attempt ${j.attempt}: ${j.state}`).join('\n'),
    });
  }
  const total = Number(run.output?.iterations ?? run.params?.iterations ?? 0);
  for (let i = 1; i <= total; i++) iterations.add(i);
  return {
    iterations: [...iterations].sort((a, b) => a - b),
    steps,
    cell: (i, s) => cells.get(`${i}\n${s}`) ?? { state: 'pending' },
  };
}
