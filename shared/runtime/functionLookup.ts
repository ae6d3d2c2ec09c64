import type { ActivityHandler, FunctionLookup } from './durable/engine.js';
import type { OrchestrationHandler } from './durable/replay.js';
import { getRegisteredFunction } from './functionRegistry.js';

/** The engine finds orchestrators and activities among the captured registrations. */
export const registryLookup: FunctionLookup = {
  orchestrator(name: string): OrchestrationHandler | undefined {
    const fn = getRegisteredFunction(name);
    return fn?.triggerType === 'orchestrationTrigger'
      ? (fn.handler as OrchestrationHandler)
      : undefined;
  },
  activity(name: string): ActivityHandler | undefined {
    const fn = getRegisteredFunction(name);
    return fn?.triggerType === 'activityTrigger' ? fn.handler : undefined;
  },
};
