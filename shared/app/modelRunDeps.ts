import type { ModelRunDeps } from './modelRun.js';
import type { Services } from './services.js';

/** The model-run activities' ports and folders, from the process-wide services. */
export function modelRunDepsOf(s: Services): ModelRunDeps {
  return {
    state: s.state,
    lake: s.lake,
    compute: s.compute,
    logs: s.logs,
    clock: s.clock,
    databankRoot: s.config.databankRoot,
    workRoot: s.config.stateDir,
  };
}
