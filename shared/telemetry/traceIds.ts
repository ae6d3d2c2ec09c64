import { createHash } from 'node:crypto';

/**
 * A run's trace id and its orchestrations' span ids are derived from ids Baton already has
 * (the run id, the instance id), not handed around. An activity runs in another process, or
 * again after a replay or a host restart, and durable inputs are part of the recorded history:
 * carrying a W3C trace context in them would change the history shape and break replay of
 * stored histories. A hash needs nothing carried: anyone who knows the run id knows its trace,
 * and anyone who knows an instance id knows the span its work hangs under. Two runs can share a
 * trace id only by a SHA-256 collision on a 128-bit prefix.
 */
export function traceIdOfRun(runId: string): string {
  return nonZero(hexOf(`baton.trace:${runId}`, 32));
}

/** The span id of an orchestration instance (a run's root, or a sub-orchestration). */
export function spanIdOfInstance(instanceId: string): string {
  return nonZero(hexOf(`baton.span:${instanceId}`, 16));
}

function hexOf(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** All-zero ids are invalid in W3C trace context; a hash hitting one is bumped to ...01. */
function nonZero(hex: string): string {
  return /^0+$/.test(hex) ? `${hex.slice(0, -1)}1` : hex;
}
