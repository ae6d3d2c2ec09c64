import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { recordTallies } from '../campaign/tally.js';
import {
  repoRoot,
  startHostProcess,
  stopGracefully,
  type HostProcess,
} from '../helpers/hostProcess.js';
import { rawRequest, type RawReply } from '../helpers/inProcessHost.js';

/**
 * Secrets (issue 10): every setting that holds a secret (the host's bearer secret, the tokens
 * BATON_MLFLOW_TOKEN_ENV / BATON_NERSC_TOKEN_ENV / BATON_ALCF_TOKEN_ENV name, Application
 * Insights' connection string, credentials in the OTLP collector URL) gets a planted canary.
 * A `baton up` child runs on them through a workload with successes, failures and bad
 * requests (runs, a task of jobs, a job that prints its environment, the MLflow tracker
 * refusing its calls, malformed and unauthorised requests, the portal), and then its output,
 * every file of its state folder (state documents, histories, the log store, the lake) and
 * every HTTP reply are scanned for the canaries and their base64, base64url, URL and hex forms.
 */
const canary = (name: string): string =>
  `CANARY${name}${randomBytes(12).toString('hex').toUpperCase()}`;

const canaries = {
  hostSecret: canary('HOSTSECRET') + 'x'.repeat(8),
  mlflowToken: canary('MLFLOW'),
  nerscToken: canary('NERSC'),
  alcfToken: canary('ALCF'),
  appInsights: canary('APPINSIGHTS'),
  otlpPassword: canary('OTLPPASS'),
  otlpToken: canary('OTLPTOKEN'),
};

/** Every form a canary could take on its way out. */
function formsOf(secret: string): string[] {
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString('hex'),
    Buffer.from(secret).toString('hex').toUpperCase(),
  ]);
  // base64 (and base64url) at each of the three alignments a secret can have in a longer
  // text: the characters that depend only on the secret itself.
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.from('x'.repeat(offset) + secret).toString('base64');
    const core = encoded.slice(Math.ceil((offset * 4) / 3) + 1, -4);
    forms.add(core);
    forms.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...forms];
}

describe('secrets never leave the host', { timeout: 120_000 }, () => {
  let stateDir: string;
  let host: HostProcess;
  let mlflow: Server;
  let collector: Server;
  const mlflowAuth: string[] = [];
  let collectorHits = 0;
  const replies: Array<{ what: string; reply: RawReply }> = [];

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-secrets-'));
    // An MLflow that refuses every call (so the tracker's errors are exercised with the token).
    mlflow = await listen((req, res) => {
      mlflowAuth.push(String(req.headers.authorization ?? ''));
      req.resume();
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end('{"error_code":"PERMISSION_DENIED","message":"not allowed"}');
    });
    // An OTLP collector taking the spans (reached through a URL with credentials in it).
    collector = await listen((req, res) => {
      collectorHits++;
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const port = (server: Server) => (server.address() as AddressInfo).port;
    host = await startHostProcess(stateDir, {
      BATON_LOG_LEVEL: 'debug',
      BATON_LOCAL_SECRET: canaries.hostSecret,
      BATON_USER: 'alice',
      BATON_TRACKER: 'mlflow',
      BATON_MLFLOW_URL: `http://127.0.0.1:${port(mlflow)}`,
      BATON_MLFLOW_TOKEN_ENV: 'BATON_FUZZ_MLFLOW_TOKEN',
      BATON_FUZZ_MLFLOW_TOKEN: canaries.mlflowToken,
      BATON_NERSC_TOKEN_ENV: 'BATON_FUZZ_NERSC_TOKEN',
      BATON_FUZZ_NERSC_TOKEN: canaries.nerscToken,
      BATON_ALCF_TOKEN_ENV: 'BATON_FUZZ_ALCF_TOKEN',
      BATON_FUZZ_ALCF_TOKEN: canaries.alcfToken,
      APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${canaries.appInsights};IngestionEndpoint=http://127.0.0.1:9/`,
      BATON_OTLP_ENDPOINT: `http://baton:${canaries.otlpPassword}@127.0.0.1:${port(collector)}/?token=${canaries.otlpToken}`,
      BATON_JOB_WATCH_SCHEDULE: '*/1 * * * * *',
      BATON_TASK_TEST_JOBS: '1',
    });
  });
  after(async () => {
    if (host) await stopGracefully(host);
    await new Promise((resolve) => mlflow?.close(resolve));
    await new Promise((resolve) => collector?.close(resolve));
    await rm(stateDir, { recursive: true, force: true });
  });

  it('plants a canary in every secret setting and finds none anywhere', async () => {
    const url = host.url;
    const alice = {
      'content-type': 'application/json',
      authorization: `Bearer ${canaries.hostSecret}`,
      'x-baton-user': 'alice',
    };
    const send = async (
      what: string,
      method: string,
      route: string,
      body?: unknown,
      headers: Record<string, string> = alice,
    ): Promise<RawReply> => {
      const reply = await rawRequest(url, {
        method,
        path: route,
        headers,
        ...(body === undefined
          ? {}
          : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      replies.push({ what, reply });
      return reply;
    };
    const runToEnd = async (what: string, body: unknown): Promise<string> => {
      const started = await send(what, 'POST', '/api/runs', body);
      assert.equal(started.status, 202, started.body);
      const { runId } = JSON.parse(started.body) as { runId: string };
      await until(what, async () => {
        const view = await send(`${what}: view`, 'GET', `/api/runs/${runId}`);
        return !['pending', 'running'].includes(
          (JSON.parse(view.body) as { status: string }).status,
        );
      });
      await send(`${what}: logs`, 'GET', `/api/runs/${runId}/logs`);
      return runId;
    };

    // Successes and failures.
    await runToEnd('hello', { pipeline: 'hello', params: { count: 3 } });
    await runToEnd('a failing job', {
      pipeline: 'command',
      params: { argv: ['node', '-e', 'console.error("failing on purpose"); process.exit(3)'] },
    });
    const envRun = await runToEnd('a job printing its environment', {
      pipeline: 'command',
      params: { argv: ['node', '-e', 'console.log(JSON.stringify(process.env))'] },
    });
    await runToEnd('a job that runs too long', {
      pipeline: 'command',
      params: { argv: ['node', '-e', 'setTimeout(() => {}, 60000)'], timeoutSeconds: 1 },
    });
    const envLogs = replies.find((r) => r.what === 'a job printing its environment: logs');
    assert.match(
      envLogs?.reply.body ?? '',
      /PATH/,
      `the job's environment was not logged (${envRun})`,
    );
    // A task of two jobs that print their environment, and its logs.
    for (const [file, text] of [
      ['cfg/1.json', '{"a":1}'],
      ['cfg/2.json', '{"a":2}'],
      ['data/d.txt', 'data'],
    ]) {
      assert.equal((await send(`upload ${file}`, 'PUT', `/api/files/${file}`, text)).status, 201);
    }
    for (const name of ['cfg', 'data']) {
      const registered = await send(`dataset ${name}`, 'POST', '/api/datasets', {
        name: `user.alice.${name}`,
        path: `users/alice/${name}`,
      });
      assert.equal(registered.status, 201, registered.body);
    }
    const task = await send('task', 'POST', '/api/tasks', {
      name: 'user.alice.envdump',
      configDataset: 'user.alice.cfg',
      dataDataset: 'user.alice.data',
      exec: 'env; cat %DATA %IN > %OUT; echo "$BATON_LOCAL_SECRET" >&2; exit 1',
      bypass: true,
      maxRetries: 0,
    });
    assert.equal(task.status, 201, task.body);
    await until('the task', async () => {
      const view = await send('task view', 'GET', '/api/tasks/user.alice.envdump');
      return ['finished', 'failed', 'broken'].includes(
        (JSON.parse(view.body) as { state: string }).state,
      );
    });
    const taskLogs = await send('task logs', 'GET', '/api/tasks/user.alice.envdump/logs');
    assert.match(
      taskLogs.body,
      /PATH/,
      `the task's jobs did not log their environment: ${taskLogs.body.slice(0, 300)}`,
    );
    // The tracker with its token, refused by MLflow.
    await send('tracked runs', 'GET', '/api/tracking/runs?experiment=sweeps');
    await send('a tracked run', 'GET', '/api/tracking/runs/abc123');
    // The beamline configuration (sites with token settings).
    const config = 'examples/beamline/beamline.yaml';
    await send('beamline prune dry run', 'POST', '/api/beamline/prune', { config, dryRun: true });
    await send('beamline retention', 'GET', `/api/beamline/retention?config=${config}`);
    await send('beamline audit', 'GET', `/api/beamline/prune/audit?config=${config}`);

    // Controls the scan must find, so that it is known to read the lake and decode base64.
    const controls = { plain: canary('CONTROL'), encoded: canary('CONTROLB64') };
    await send('control', 'PUT', '/api/files/control/plain.txt', `x${controls.plain}x`);
    const encoded = Buffer.from(`zz${controls.encoded}`).toString('base64');
    await send('control', 'PUT', '/api/files/control/b64.txt', encoded);

    // Bad requests of every kind.
    for (const body of [
      '{',
      'null',
      '[]',
      '{"pipeline":7}',
      '{"pipeline":"nope"}',
      '\u00ff\u00fe',
    ]) {
      await send('bad body', 'POST', '/api/runs', body);
      await send('bad body', 'POST', '/api/tasks', body);
      await send('bad body', 'POST', '/api/datasets', body);
      await send('bad body', 'POST', '/api/retention', body);
    }
    await send(
      'wrong secret',
      'POST',
      '/api/runs',
      {},
      { ...alice, authorization: 'Bearer wrong' },
    );
    await send('no secret', 'DELETE', '/api/runs/x', undefined, {});
    await send(
      'foreign origin',
      'POST',
      '/api/runs',
      {},
      { ...alice, origin: 'https://evil.example' },
    );
    await send(
      'webhooks without the secret',
      'GET',
      '/runtime/webhooks/durabletask/instances',
      undefined,
      {},
    );
    await send('webhooks with the secret', 'GET', '/runtime/webhooks/durabletask/instances');
    await send('unknown route', 'GET', '/api/nothing/here');
    await send('wrong method', 'PATCH', '/api/runs');
    await send('long URL', 'GET', `/api/runs?x=${'a'.repeat(20_000)}`);
    await send('traversal', 'GET', '/api/datasets/..%2F..%2Fhost%2Fsecret');
    await send('missing run', 'GET', '/api/runs/hello-20200101t000000-abcdef');

    // Reads, the portal and a portal session.
    for (const route of [
      '/api/runs',
      '/api/tasks',
      '/api/datasets',
      '/api/retention',
      '/api/metrics',
      '/api/health',
      '/api/me',
      '/api/pipelines',
    ])
      await send(`read ${route}`, 'GET', route);
    const assets = await readdir(path.join(repoRoot, 'shared', 'portal', 'assets'));
    for (const page of ['/', '/index.html', ...assets.map((a) => `/portal/${a}`)])
      await send(`portal ${page}`, 'GET', page, undefined, {});
    const token = /token=([A-Za-z0-9_-]+)/.exec(host.output())?.[1] ?? '';
    const signIn = await send(
      'sign in',
      'POST',
      '/api/session',
      { token },
      {
        'content-type': 'application/json',
        origin: url,
      },
    );
    assert.equal(signIn.status, 200, signIn.body);

    const exited = await stopGracefully(host);
    assert.equal(exited, 0, host.output().slice(-2000));

    // The scan.
    const places: Array<{ where: string; text: string }> = [
      { where: 'host output', text: host.output() },
      ...replies.map(({ what, reply }) => ({
        where: `reply to ${what}`,
        text: `${JSON.stringify(reply.headers)}\n${reply.body}`,
      })),
    ];
    for (const file of await filesBelow(stateDir)) {
      const relative = path.relative(stateDir, file);
      places.push({ where: `state ${relative}`, text: (await readFile(file)).toString('latin1') });
    }
    const hits: string[] = [];
    for (const [name, secret] of Object.entries(canaries)) {
      const forms = formsOf(secret);
      for (const place of places)
        for (const form of forms)
          if (place.text.includes(form))
            hits.push(`${name} (${form.slice(0, 12)}…) in ${place.where}`);
    }
    recordTallies('secrets', [
      { measure: 'secret settings planted', count: Object.keys(canaries).length, required: '>= 7' },
      { measure: 'places scanned', count: places.length },
      { measure: 'canary hits', count: hits.length, required: '= 0' },
    ]);
    console.log(
      `secrets: ${places.length} places scanned (${replies.length} replies, ${places.length - replies.length - 1} state files), ${hits.length} hits; MLflow saw the token ${mlflowAuth.filter((a) => a === `Bearer ${canaries.mlflowToken}`).length} times, the collector ${collectorHits} exports`,
    );
    assert.deepEqual(hits, []);
    // The workload did reach the secrets' users: the scan is not vacuous.
    assert.ok(
      mlflowAuth.includes(`Bearer ${canaries.mlflowToken}`),
      'the tracker never used its token',
    );
    assert.ok(places.length > 100, `only ${places.length} places scanned`);
  });
});

function listen(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesBelow(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 40_000;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `${what} did not end`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
