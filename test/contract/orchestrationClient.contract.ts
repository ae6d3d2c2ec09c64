import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as df from 'durable-functions';
import { BatonError } from '../../shared/domain/errors.js';
import type { OrchestrationClient } from '../../shared/ports/orchestrationClient.js';
import { installFunctionsCore } from '../../shared/runtime/functionRegistry.js';

/**
 * The OrchestrationClient contract: what HTTP functions and the CLI may rely on, whichever
 * client sits behind it (the engine directly, or durable-functions' DurableClient talking to
 * the engine's webhooks; the Azure extension must behave the same).
 */
installFunctionsCore();
df.app.activity('cx_upper', { handler: (s: unknown) => String(s).toUpperCase() });
df.app.orchestration('cx_echo', function* (context) {
  const input = context.df.getInput<{ text: string }>();
  const upper: unknown = yield context.df.callActivity('cx_upper', input.text);
  context.df.setCustomStatus({ phase: 'done' });
  return { upper };
});
df.app.orchestration('cx_waitEvent', function* (context) {
  context.df.setCustomStatus('waiting');
  const data: unknown = yield context.df.waitForExternalEvent('go');
  return { got: data };
});
df.app.orchestration('cx_fail', function* (context) {
  yield context.df.callActivity('cx_upper', 'x');
  throw new Error('orchestrator gave up');
});

export interface ClientHarness {
  client: OrchestrationClient;
  cleanup(): Promise<void>;
}

async function untilDone(
  client: OrchestrationClient,
  id: string,
): Promise<NonNullable<Awaited<ReturnType<OrchestrationClient['getStatus']>>>> {
  for (let i = 0; i < 200; i++) {
    const s = await client.getStatus(id);
    if (s && ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus)) return s;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${id} did not finish`);
}

async function untilCustomStatus(
  client: OrchestrationClient,
  id: string,
  expected: unknown,
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await client.getStatus(id);
    if (JSON.stringify(s?.customStatus) === JSON.stringify(expected)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${id} never reached custom status ${JSON.stringify(expected)}`);
}

export function runOrchestrationClientContract(
  name: string,
  makeHarness: () => Promise<ClientHarness>,
): void {
  describe(`OrchestrationClient contract: ${name}`, () => {
    let h: ClientHarness;
    before(async () => {
      h = await makeHarness();
    });
    after(async () => {
      await h.cleanup();
    });

    it('starts an instance with a chosen id and reports input, output, custom status and times', async () => {
      const id = await h.client.start('cx_echo', { instanceId: 'echo-1', input: { text: 'hi' } });
      assert.equal(id, 'echo-1');
      const s = await untilDone(h.client, 'echo-1');
      assert.equal(s.runtimeStatus, 'Completed');
      assert.equal(s.name, 'cx_echo');
      assert.deepEqual(s.input, { text: 'hi' });
      assert.deepEqual(s.output, { upper: 'HI' });
      assert.deepEqual(s.customStatus, { phase: 'done' });
      assert.ok(Date.parse(s.createdTime) <= Date.parse(s.lastUpdatedTime));
    });

    it('generates an id when none is given', async () => {
      const id = await h.client.start('cx_echo', { input: { text: 'x' } });
      assert.match(id, /^[A-Za-z0-9-]{8,}$/);
      assert.equal((await untilDone(h.client, id)).runtimeStatus, 'Completed');
    });

    it('returns the history folded into work items on request', async () => {
      const s = await h.client.getStatus('echo-1', { history: true });
      const activity = s?.history?.find((w) => w.kind === 'activity');
      assert.equal(activity?.name, 'cx_upper');
      assert.equal(activity?.status, 'completed');
      assert.ok(activity?.finishedAt);
      const plain = await h.client.getStatus('echo-1');
      assert.equal(plain?.history, undefined);
    });

    it('answers undefined for an unknown instance, not_found for events to it', async () => {
      assert.equal(await h.client.getStatus('nobody-here'), undefined);
      await assert.rejects(
        h.client.raiseEvent('nobody-here', 'go', 1),
        (e: unknown) => e instanceof BatonError && e.code === 'not_found',
      );
    });

    it('refuses a second start of a running instance id with conflict', async () => {
      await h.client.start('cx_waitEvent', { instanceId: 'wait-1' });
      await assert.rejects(
        h.client.start('cx_waitEvent', { instanceId: 'wait-1' }),
        (e: unknown) => e instanceof BatonError && e.code === 'conflict',
      );
    });

    it('delivers an external event with its data', async () => {
      await untilCustomStatus(h.client, 'wait-1', 'waiting');
      await h.client.raiseEvent('wait-1', 'go', { n: 7 });
      const s = await untilDone(h.client, 'wait-1');
      assert.deepEqual(s.output, { got: { n: 7 } });
    });

    it('terminates a waiting instance and purges it afterwards', async () => {
      await h.client.start('cx_waitEvent', { instanceId: 'wait-2' });
      await untilCustomStatus(h.client, 'wait-2', 'waiting');
      await h.client.terminate('wait-2', 'no longer needed');
      const s = await untilDone(h.client, 'wait-2');
      assert.equal(s.runtimeStatus, 'Terminated');
      assert.equal(await h.client.purge('wait-2'), true);
      assert.equal(await h.client.getStatus('wait-2'), undefined);
      assert.equal(await h.client.purge('wait-2'), false);
    });

    it('reports an orchestrator failure with its message', async () => {
      await h.client.start('cx_fail', { instanceId: 'fail-1' });
      const s = await untilDone(h.client, 'fail-1');
      assert.equal(s.runtimeStatus, 'Failed');
      assert.match(String(s.output), /orchestrator gave up/);
    });

    it('lists instances, filtered by status', async () => {
      const all = await h.client.list();
      assert.ok(all.some((s) => s.instanceId === 'echo-1'));
      const failed = await h.client.list({ runtimeStatus: ['Failed'] });
      assert.deepEqual(
        failed.map((s) => s.instanceId),
        ['fail-1'],
      );
    });

    it('refuses to start an orchestrator that does not exist', async () => {
      await assert.rejects(
        h.client.start('cx_missing', { instanceId: 'missing-1' }),
        (e: unknown) => e instanceof BatonError && e.code === 'not_found',
      );
    });
  });
}
