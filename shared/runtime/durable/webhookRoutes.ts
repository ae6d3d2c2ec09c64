import { randomUUID } from 'node:crypto';
import { isBatonError } from '../../domain/errors.js';
import { toDurableHistoryJson } from '../../adapters/durable/durableHistoryJson.js';
import type { InstanceStatus, RuntimeStatus } from '../../ports/orchestrationClient.js';
import type { DurableEngine } from './engine.js';

/**
 * The Durable Functions extension's client API (the `rpcBaseUrl` routes that the
 * durable-functions `DurableClient` calls), answered by the local engine. This is what lets
 * `df.getClient(context)` in an HTTP function work unchanged under the local host.
 */
export const webhookPrefix = '/runtime/webhooks/durabletask/';

export interface WebhookReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export async function handleDurableWebhook(
  engine: DurableEngine,
  method: string,
  url: URL,
  bodyText: string,
): Promise<WebhookReply> {
  const q = url.searchParams;
  try {
    const parts = url.pathname.slice(webhookPrefix.length).split('/').map(decodeURIComponent);
    if (method === 'POST' && parts[0] === 'orchestrators' && parts[1]) {
      const instanceId = parts[2] || randomUUID().replace(/-/g, '');
      const input = bodyText === '' ? undefined : (JSON.parse(bodyText) as unknown);
      await engine.startInstance(parts[1], instanceId, input);
      return { status: 202, body: { id: instanceId } };
    }
    if (parts[0] !== 'instances') return { status: 404, body: { message: 'unknown route' } };
    const instanceId = parts[1] ?? '';
    if (method === 'GET' && instanceId === '') {
      const runtimeStatus = q.get('runtimeStatus')?.split(',').filter(Boolean) as
        RuntimeStatus[] | undefined;
      const list = engine.list({
        ...(runtimeStatus ? { runtimeStatus } : {}),
        ...(q.get('createdTimeFrom')
          ? { createdTimeFrom: q.get('createdTimeFrom') as string }
          : {}),
        ...(q.get('createdTimeTo') ? { createdTimeTo: q.get('createdTimeTo') as string } : {}),
      });
      return { status: 200, body: list.map((s) => toWire(s)) };
    }
    if (method === 'GET') {
      const status = await engine.getStatus(instanceId, q.get('showHistory') === 'true');
      if (!status)
        return { status: 404, body: { message: `No instance with ID '${instanceId}' found.` } };
      const done = ['Completed', 'Failed', 'Terminated', 'Canceled'].includes(status.runtimeStatus);
      return { status: done ? 200 : 202, body: toWire(status) };
    }
    if (method === 'DELETE') {
      const removed = await engine.purge(instanceId);
      return removed
        ? { status: 200, body: { instancesDeleted: 1 } }
        : { status: 404, body: { instancesDeleted: 0 } };
    }
    if (method === 'POST' && parts[2] === 'raiseEvent' && parts[3]) {
      const data = bodyText === '' ? null : (JSON.parse(bodyText) as unknown);
      await engine.raiseEvent(instanceId, parts[3], data);
      return { status: 202 };
    }
    if (method === 'POST' && parts[2] === 'terminate') {
      await engine.terminate(instanceId, q.get('reason') ?? 'terminated');
      return { status: 202 };
    }
    return { status: 404, body: { message: 'unknown route' } };
  } catch (error) {
    if (error instanceof SyntaxError) return { status: 400, body: { message: 'body is not JSON' } };
    if (error instanceof URIError) return { status: 400, body: { message: 'malformed path' } };
    if (isBatonError(error, 'not_found')) return { status: 404, body: { message: error.message } };
    if (isBatonError(error, 'conflict')) return { status: 409, body: { message: error.message } };
    if (isBatonError(error)) return { status: 400, body: { message: error.message } };
    throw error;
  }
}

function toWire(status: InstanceStatus): Record<string, unknown> {
  const { history, ...rest } = status;
  if (history === undefined) return rest;
  const events = toDurableHistoryJson(history);
  return { ...rest, history: events, historyEvents: events };
}
