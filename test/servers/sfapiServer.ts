import { ApiError, startJsonRouteServer, type JsonRouteServer } from './jsonRouteServer.js';

/**
 * A stand-in for NERSC's Superfacility API v1.2 (https://api.nersc.gov/api/v1.2/docs), wide
 * enough for SfapiController: `POST /compute/jobs/{machine}` (form `job` = script text,
 * `isPath=false`) → `{task_id, status: "OK"}`; `GET /tasks/{id}` → `{id, status, result}`
 * with `result` a JSON string `{"status":"ok","jobid":"…"}` (or `{"status":"error",
 * "error":"sbatch: error: …"}`); `GET /compute/jobs/{machine}/{jobid}?sacct=true` →
 * `{status: "OK", output: [{jobid, state, exitcode, reason}], error: null}`; `DELETE
 * /compute/jobs/{machine}/{jobid}`. Errors are FastAPI bodies `{detail}`.
 *
 * The simulated Slurm job's fate is read from the script: an input path containing `fail`
 * (the next-to-last quoted word of the last line) ends FAILED (exit 1:0), `slow` stays RUNNING until canceled, `sbatch-error` makes the task
 * result an sbatch error; anything else runs PENDING → RUNNING → COMPLETED across status
 * reads. The task answers with its jobid on the first read after submission.
 * Not modelled: other machines' states, job arrays, file upload, the OAuth token exchange.
 */
export interface SfapiServer extends JsonRouteServer {
  /** Every submitted script, in order. */
  readonly scripts: string[];
  jobCount(): number;
}

interface Job {
  jobid: string;
  fate: 'ok' | 'fail' | 'slow';
  reads: number;
  state: string;
}

const base = '/api/v1.2';

export async function startSfapiServer(options: { token?: string } = {}): Promise<SfapiServer> {
  const scripts: string[] = [];
  const tasks = new Map<string, { result: string }>();
  const jobs = new Map<string, Job>();
  let nextJob = 4_200_000;
  let nextTask = 1;

  const jobState = (job: Job): string => {
    if (job.state.startsWith('CANCELLED')) return job.state;
    job.reads += 1;
    if (job.fate === 'slow') job.state = job.reads === 1 ? 'PENDING' : 'RUNNING';
    else if (job.reads === 1) job.state = 'PENDING';
    else if (job.reads === 2) job.state = 'RUNNING';
    else job.state = job.fate === 'fail' ? 'FAILED' : 'COMPLETED';
    return job.state;
  };

  const server = await startJsonRouteServer({
    token: options.token,
    errorBody: (_status, message) => ({ detail: message }),
    routes: [
      {
        method: 'POST',
        pattern: `${base}/compute/jobs/:machine`,
        handle: ({ params, body }) => {
          if (params.machine !== 'perlmutter') {
            throw new ApiError(404, `Machine ${params.machine} not found`);
          }
          const form = body as Record<string, string> | undefined;
          if (
            form?.isPath !== 'false' ||
            typeof form.job !== 'string' ||
            !form.job.startsWith('#!')
          ) {
            throw new ApiError(422, 'job must be a batch script text with isPath=false');
          }
          scripts.push(form.job);
          const taskId = String(nextTask++);
          // The input path is the next-to-last quoted word of the script's last command.
          const lastLine = form.job.trimEnd().split('\n').at(-1) ?? '';
          const input = [...lastLine.matchAll(/'([^']*)'/g)].at(-2)?.[1] ?? '';
          if (input.includes('sbatch-error')) {
            tasks.set(taskId, {
              result: JSON.stringify({ status: 'error', error: 'sbatch: error: invalid account' }),
            });
          } else {
            const jobid = String(nextJob++);
            const fate = input.includes('slow') ? 'slow' : input.includes('fail') ? 'fail' : 'ok';
            jobs.set(jobid, { jobid, fate, reads: 0, state: 'PENDING' });
            tasks.set(taskId, { result: JSON.stringify({ status: 'ok', jobid }) });
          }
          return { task_id: taskId, status: 'OK', error: null };
        },
      },
      {
        method: 'GET',
        pattern: `${base}/tasks/:id`,
        handle: ({ params }) => {
          const task = tasks.get(params.id ?? '');
          if (task === undefined) throw new ApiError(404, 'Task not found');
          return { id: params.id, status: 'completed', result: task.result };
        },
      },
      {
        method: 'GET',
        pattern: `${base}/compute/jobs/:machine/:jobid`,
        handle: ({ params, query }) => {
          if (query.sacct !== 'true')
            throw new ApiError(422, 'this server only answers sacct=true');
          const job = jobs.get(params.jobid ?? '');
          if (job === undefined) return { status: 'OK', output: [], error: null };
          const state = jobState(job);
          return {
            status: 'OK',
            output: [
              {
                jobid: job.jobid,
                state,
                exitcode: state === 'FAILED' ? '1:0' : '0:0',
                reason: state === 'PENDING' ? 'Priority' : 'None',
              },
            ],
            error: null,
          };
        },
      },
      {
        method: 'DELETE',
        pattern: `${base}/compute/jobs/:machine/:jobid`,
        handle: ({ params }) => {
          const job = jobs.get(params.jobid ?? '');
          if (job === undefined) throw new ApiError(404, `Job ${params.jobid} not found`);
          if (job.state === 'PENDING' || job.state === 'RUNNING') job.state = 'CANCELLED by 71234';
          return { status: 'OK', output: '', error: null };
        },
      },
    ],
  });
  return { ...server, scripts, jobCount: () => jobs.size };
}
