import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { recordTallies } from '../campaign/tally.js';
import {
  rawRequest,
  startInProcessHost,
  type InProcessHost,
  type RawReply,
} from '../helpers/inProcessHost.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * Isolation (issue 10): users × resources they own × operations, each cell through the HTTP
 * API as that user, signed in either way the local host knows (the host secret naming the
 * user, as the CLI does; a portal session cookie, with an `x-baton-user` header naming the
 * owner that must be ignored) and as no one. The rules (README, "Access"): anyone may read;
 * a change needs a signed-in user (401); datasets, tasks and the lake areas of their files
 * (`users/<you>/`, `tasks/user.<you>.*`) are changed only by their owner (403). Runs have no
 * owner in the README: any signed-in user may cancel, signal or delete one. A refused change
 * must also have changed nothing, which each cell checks afterwards.
 */
const owners = ['alice', 'bob'] as const;
const actors = ['alice', 'bob', 'carol', 'anonymous'] as const;
type Actor = (typeof actors)[number];
type Owner = (typeof owners)[number];
type Kind = 'dataset' | 'task' | 'run' | 'files';
type Expect = 'allowed' | 'forbidden' | 'unauthenticated' | 'confined';

interface Caller {
  actor: Actor;
  via: 'secret' | 'session' | 'none';
  headers: (owner: Owner) => Record<string, string>;
}

describe('isolation: users × owned resources × operations', { timeout: 120_000 }, () => {
  let host: InProcessHost;
  const callers: Caller[] = [];

  const call = (
    headers: Record<string, string>,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<RawReply> =>
    rawRequest(host.url, {
      method,
      path,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const as = (owner: Owner) => asUser(owner);

  before(async () => {
    host = await startInProcessHost({ prefix: 'baton-isolation-' });
    for (const owner of owners) {
      for (const [file, text] of [
        ['ds/a.txt', 'a'],
        ['ds/b.txt', 'b'],
        ['cfg/1.json', '{}'],
      ]) {
        const upload = await rawRequest(host.url, {
          method: 'PUT',
          path: `/api/files/${file}`,
          headers: as(owner),
          body: text,
        });
        assert.equal(upload.status, 201, upload.body);
      }
    }
    for (const actor of actors) {
      if (actor === 'anonymous') {
        callers.push({
          actor,
          via: 'none',
          headers: () => ({ 'content-type': 'application/json' }),
        });
        continue;
      }
      callers.push({ actor, via: 'secret', headers: () => asUser(actor) });
      const token = new URL(host.host.signInUrl(actor)).searchParams.get('token') ?? '';
      const signIn = await rawRequest(host.url, {
        method: 'POST',
        path: '/api/session',
        headers: { 'content-type': 'application/json', origin: host.url },
        body: JSON.stringify({ token }),
      });
      assert.equal(signIn.status, 200, signIn.body);
      const setCookie = signIn.headers['set-cookie'];
      const cookie = (Array.isArray(setCookie) ? setCookie[0] : setCookie)?.split(';')[0] ?? '';
      callers.push({
        actor,
        via: 'session',
        // The owner's name in x-baton-user: a session must not be able to claim it.
        headers: (owner) => ({
          cookie,
          'content-type': 'application/json',
          'x-baton-portal': '1',
          origin: host.url,
          'x-baton-user': owner,
        }),
      });
    }
  });
  after(() => host.stop());

  it('lets each user read everything and change only what the rules allow', async () => {
    const cells: string[] = [];
    const violations: string[] = [];
    let serial = 0;

    /** One cell: the reply must match the rule, and `unchanged` must hold after a refusal. */
    const cell = async (
      caller: Caller,
      owner: Owner,
      kind: Kind,
      op: string,
      expected: Expect,
      request: () => Promise<RawReply>,
      checks: {
        ok?: (reply: RawReply) => boolean;
        /** After a refusal: nothing changed. */
        unchanged?: () => Promise<boolean>;
        /** After an allowed change: it took effect. */
        changed?: () => Promise<boolean>;
      } = {},
    ): Promise<void> => {
      const name = `${caller.actor} (${caller.via}) ${op} ${owner}'s ${kind}`;
      cells.push(name);
      const reply = await request();
      const status = reply.status;
      let fine: boolean;
      if (expected === 'confined') fine = status < 500;
      else if (expected === 'allowed')
        fine = status < 400 || status === 409 ? (checks.ok?.(reply) ?? true) : false;
      else fine = status === (expected === 'forbidden' ? 403 : 401);
      if (fine && expected !== 'allowed' && checks.unchanged) fine = await checks.unchanged();
      if (fine && expected === 'allowed' && checks.changed) fine = await checks.changed();
      if (!fine)
        violations.push(`${name}: expected ${expected}, got ${status} ${reply.body.slice(0, 200)}`);
    };

    const rule = (caller: Caller, owner: Owner, kind: Kind, change: boolean): Expect => {
      if (!change) return 'allowed';
      if (caller.actor === 'anonymous') return 'unauthenticated';
      return caller.actor === owner ? 'allowed' : 'forbidden';
    };
    const exists = async (path: string): Promise<boolean> =>
      (await call(as('alice'), 'GET', path)).status === 200;
    const lakeHas = async (path: string): Promise<boolean> =>
      (await host.host.services.lake.stat(path)) !== undefined;

    for (const owner of owners) {
      // Resources each cell may change on its own, so that no cell depends on another.
      const fresh = async (kind: 'dataset' | 'task'): Promise<string> => {
        const name = `user.${owner}.${kind}${++serial}`;
        const made =
          kind === 'dataset'
            ? await call(as(owner), 'POST', '/api/datasets', { name, path: `users/${owner}/ds` })
            : await call(as(owner), 'POST', '/api/tasks', {
                name,
                configDataset: await freshDataset('cfg'),
                dataDataset: await freshDataset('ds'),
                exec: 'cat %DATA %IN > %OUT',
              });
        assert.equal(made.status, 201, made.body);
        return name;
      };
      const freshDataset = async (folder: string): Promise<string> => {
        const name = `user.${owner}.${folder}${++serial}`;
        const made = await call(as(owner), 'POST', '/api/datasets', {
          name,
          path: `users/${owner}/${folder}`,
        });
        assert.equal(made.status, 201, made.body);
        return name;
      };
      const stable = await freshDataset('cfg');

      for (const caller of callers) {
        const h = caller.headers(owner);
        const r = (kind: Kind, change: boolean) => rule(caller, owner, kind, change);

        // Datasets.
        const dataset = await fresh('dataset');
        await cell(caller, owner, 'dataset', 'read', r('dataset', false), () =>
          call(h, 'GET', `/api/datasets/${dataset}`),
        );
        await cell(
          caller,
          owner,
          'dataset',
          'list',
          r('dataset', false),
          () => call(h, 'GET', `/api/datasets?owner=${owner}`),
          { ok: (reply) => reply.body.includes(dataset) },
        );
        const added = `user.${owner}.added${++serial}`;
        await cell(
          caller,
          owner,
          'dataset',
          'register in namespace',
          r('dataset', true),
          () => call(h, 'POST', '/api/datasets', { name: added, path: `users/${owner}/ds` }),
          { unchanged: async () => !(await exists(`/api/datasets/${added}`)) },
        );
        await cell(
          caller,
          owner,
          'dataset',
          'delete',
          r('dataset', true),
          () => call(h, 'DELETE', `/api/datasets/${dataset}`),
          { unchanged: () => exists(`/api/datasets/${dataset}`) },
        );

        // The owner's files: through a dataset of the caller's own pointing at them, by
        // retention, by an upload that climbs out of the caller's folder.
        if (caller.actor !== 'anonymous') {
          const pointer = `user.${caller.actor}.ptr${++serial}`;
          const made = await call(asUser(caller.actor), 'POST', '/api/datasets', {
            name: pointer,
            path: `users/${owner}/ds`,
          });
          assert.equal(made.status, 201, made.body);
          await cell(
            caller,
            owner,
            'files',
            'remove through own dataset',
            r('files', true),
            () => call(h, 'DELETE', `/api/datasets/${pointer}?removeFiles=true`),
            { unchanged: () => lakeHas(`users/${owner}/ds/a.txt`) },
          );
          if (caller.actor === owner) await restoreFiles(owner);
        }
        const keep = `users/${owner}/keep${++serial}`;
        await cell(
          caller,
          owner,
          'files',
          'schedule retention',
          r('files', true),
          () => call(h, 'POST', '/api/retention', { path: keep, afterDays: 3650 }),
          {
            unchanged: async () =>
              !(await call(as('alice'), 'GET', '/api/retention')).body.includes(`"${keep}"`),
          },
        );
        for (const climb of [`../${owner}/up${serial}`, `..%2F${owner}%2Fup${serial}`]) {
          const target = `users/${owner}/up${serial}`;
          await cell(
            caller,
            owner,
            'files',
            `upload ${climb.slice(0, 6)}…`,
            // Never into someone else's folder: refused, or confined to the caller's own.
            'confined',
            () =>
              rawRequest(host.url, {
                method: 'PUT',
                path: `/api/files/${climb}`,
                headers: h,
                body: 'x',
              }),
            { unchanged: async () => !(await lakeHas(target)) },
          );
        }

        // Tasks.
        const task = await fresh('task');
        for (const [op, path] of [
          ['read', `/api/tasks/${task}`],
          ['logs', `/api/tasks/${task}/logs`],
        ]) {
          await cell(caller, owner, 'task', op ?? '', r('task', false), () =>
            call(h, 'GET', path ?? ''),
          );
        }
        await cell(
          caller,
          owner,
          'task',
          'list',
          r('task', false),
          () => call(h, 'GET', `/api/tasks?owner=${owner}`),
          { ok: (reply) => reply.body.includes(task) },
        );
        const stateOf = async (): Promise<string> =>
          (
            JSON.parse((await call(as('alice'), 'GET', `/api/tasks/${task}`)).body) as {
              state: string;
            }
          ).state;
        const before = await stateOf();
        for (const op of ['retry', 'kill'] as const) {
          await cell(
            caller,
            owner,
            'task',
            op,
            r('task', true),
            () => call(h, 'POST', `/api/tasks/${task}/${op}`, {}),
            { unchanged: async () => (await stateOf()) === before },
          );
        }
        await cell(
          caller,
          owner,
          'task',
          'delete',
          r('task', true),
          () => call(h, 'DELETE', `/api/tasks/${task}`),
          { unchanged: () => exists(`/api/tasks/${task}`) },
        );
        const created = `user.${owner}.made${++serial}`;
        await cell(
          caller,
          owner,
          'task',
          'create in namespace',
          r('task', true),
          () =>
            call(h, 'POST', '/api/tasks', {
              name: created,
              configDataset: stable,
              dataDataset: stable,
              exec: 'cat %DATA %IN > %OUT',
              dryRun: true,
            }),
          { unchanged: async () => !(await exists(`/api/tasks/${created}`)) },
        );

        // Runs: a fresh one of the owner's for each caller.
        const runId = await freshRun(owner);
        await cell(caller, owner, 'run', 'read', r('run', false), () =>
          call(h, 'GET', `/api/runs/${runId}`),
        );
        await cell(caller, owner, 'run', 'logs', r('run', false), () =>
          call(h, 'GET', `/api/runs/${runId}/logs`),
        );
        await cell(
          caller,
          owner,
          'run',
          'list',
          r('run', false),
          () => call(h, 'GET', '/api/runs?limit=500'),
          { ok: (reply) => reply.body.includes(runId) },
        );
        await cell(caller, owner, 'run', 'raise event', r('run', true), () =>
          call(h, 'POST', `/api/runs/${runId}/events/approve`, {}),
        );
        const statusOf = async (): Promise<string> =>
          (
            JSON.parse((await call(as('alice'), 'GET', `/api/runs/${runId}`)).body) as {
              status: string;
            }
          ).status;
        await cell(
          caller,
          owner,
          'run',
          'cancel',
          r('run', true),
          () => call(h, 'POST', `/api/runs/${runId}/cancel`, { reason: 'isolation' }),
          { unchanged: async () => (await statusOf()) !== 'canceled' },
        );
        await until(async () => !['pending', 'running'].includes(await statusOf()));
        await cell(
          caller,
          owner,
          'run',
          'delete',
          r('run', true),
          () => call(h, 'DELETE', `/api/runs/${runId}`),
          {
            unchanged: () => exists(`/api/runs/${runId}`),
            changed: async () => !(await exists(`/api/runs/${runId}`)),
          },
        );
      }
    }

    async function freshRun(owner: Owner): Promise<string> {
      const run = await call(as(owner), 'POST', '/api/runs', {
        pipeline: 'hello',
        params: { count: 1 },
      });
      assert.equal(run.status, 202, run.body);
      return (JSON.parse(run.body) as { runId: string }).runId;
    }

    async function until(condition: () => Promise<boolean>): Promise<void> {
      const deadline = Date.now() + 20_000;
      while (!(await condition())) {
        assert.ok(Date.now() < deadline, 'the run did not end');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }

    async function restoreFiles(owner: Owner): Promise<void> {
      for (const file of ['ds/a.txt', 'ds/b.txt']) {
        const put = await rawRequest(host.url, {
          method: 'PUT',
          path: `/api/files/${file}`,
          headers: as(owner),
          body: 'again',
        });
        assert.equal(put.status, 201, put.body);
      }
    }

    recordTallies('isolation', [
      { measure: 'cells', count: cells.length, required: '>= 200' },
      { measure: 'violations', count: violations.length, required: '= 0' },
    ]);
    console.log(`isolation: ${cells.length} cells, ${violations.length} violations`);
    assert.deepEqual(violations, []);
  });
});
