import Module from 'node:module';

/**
 * The Azure Functions host hands `@azure/functions` a module named `@azure/functions-core`
 * through which every `app.*` registration flows. The local host provides that module itself,
 * so the very same `functions/` registrations are captured here instead of being dropped.
 */
export interface BindingMetadata {
  type: string;
  name: string;
  direction: 'in' | 'out';
  [option: string]: unknown;
}

export interface RegisteredFunction {
  name: string;
  /** Trigger type as the host sees it: httpTrigger, timerTrigger, blobTrigger, serviceBusTrigger, orchestrationTrigger, activityTrigger, entityTrigger. */
  triggerType: string;
  trigger: BindingMetadata;
  extraInputs: BindingMetadata[];
  extraOutputs: BindingMetadata[];
  returnBinding: BindingMetadata | undefined;
  handler: (...args: unknown[]) => unknown;
}

interface CoreFunctionMetadata {
  name: string;
  bindings: Record<string, BindingMetadata>;
}

const functions = new Map<string, RegisteredFunction>();
let installed = false;

const coreApi = {
  setProgrammingModel(): void {
    // The local host calls handlers directly; the programming model object is not needed.
  },
  getProgrammingModel(): undefined {
    return undefined;
  },
  registerFunction(metadata: CoreFunctionMetadata, handler: (...args: unknown[]) => unknown) {
    functions.set(metadata.name, toRegisteredFunction(metadata, handler));
    return { dispose: () => functions.delete(metadata.name) };
  },
  registerHook() {
    return { dispose: () => undefined };
  },
  log(): void {
    // system logs of the library are not interesting locally
  },
};

function toRegisteredFunction(
  metadata: CoreFunctionMetadata,
  handler: (...args: unknown[]) => unknown,
): RegisteredFunction {
  const bindings = Object.entries(metadata.bindings);
  const triggerEntry = bindings.find(
    ([, b]) => b.direction === 'in' && b.type.toLowerCase().endsWith('trigger'),
  );
  if (!triggerEntry) throw new Error(`function ${metadata.name} has no trigger binding`);
  const [, trigger] = triggerEntry;
  const others = bindings.filter(([key]) => key !== triggerEntry[0]);
  return {
    name: metadata.name,
    triggerType: trigger.type,
    trigger: { ...trigger },
    extraInputs: others
      .filter(([k, b]) => b.direction === 'in' && k !== '$return')
      .map(([, b]) => b),
    extraOutputs: others
      .filter(([k, b]) => b.direction === 'out' && k !== '$return')
      .map(([, b]) => b),
    returnBinding: metadata.bindings.$return,
    handler,
  };
}

/**
 * Makes `require('@azure/functions-core')` resolve to the capturing module. Must run before the
 * first `app.*` call, because `@azure/functions` caches the lookup (including a failure).
 */
export function installFunctionsCore(): void {
  if (installed) return;
  installed = true;
  const moduleWithLoad = Module as unknown as {
    _load: (request: string, parent: unknown, isMain: boolean) => unknown;
  };
  const originalLoad = moduleWithLoad._load;
  moduleWithLoad._load = function load(request: string, parent: unknown, isMain: boolean) {
    if (request === '@azure/functions-core') return coreApi;
    return originalLoad.call(this, request, parent, isMain);
  };
}

export function registeredFunctions(): RegisteredFunction[] {
  return [...functions.values()];
}

export function getRegisteredFunction(name: string): RegisteredFunction | undefined {
  return functions.get(name);
}

export function functionsByTrigger(triggerType: string): RegisteredFunction[] {
  return registeredFunctions().filter((f) => f.triggerType === triggerType);
}
