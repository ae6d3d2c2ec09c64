import os from 'node:os';
import type { Clock } from '../ports/clock.js';
import type { StateStore } from '../ports/stateStore.js';

/**
 * The heartbeat timer proves that timers fire: it stamps a document that `/api/health`
 * reports, so an operator sees at once whether the scheduler side of the app is alive.
 */
export interface Heartbeat {
  at: string;
  host: string;
  beats: number;
}

export const systemCollection = 'system';
const collection = systemCollection;
const id = 'heartbeat';

export async function recordHeartbeat(deps: {
  state: StateStore;
  clock: Clock;
}): Promise<Heartbeat> {
  const previous = await deps.state.read<Heartbeat>(collection, id, id);
  const beat: Heartbeat = {
    at: deps.clock.now().toISOString(),
    host: os.hostname(),
    beats: (previous?.body.beats ?? 0) + 1,
  };
  await deps.state.upsert(collection, { id, pk: id, body: beat });
  return beat;
}

export async function readHeartbeat(state: StateStore): Promise<Heartbeat | undefined> {
  return (await state.read<Heartbeat>(collection, id, id))?.body;
}
