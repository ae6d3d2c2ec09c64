/**
 * Every function of the app, registered once. The Azure Functions host loads this module
 * (package.json `main`); the local host (`baton up`) loads the very same module.
 */
import { loadConfig } from '../shared/app/config.js';
import { servicesConfigured } from '../shared/app/services.js';
import { startAzureMonitor } from '../shared/telemetry/azureMonitor.js';

// Settings are checked when the app loads, so a missing or malformed one stops the app at
// start-up with its name instead of failing the first request (the local host checked its own).
// Only in the Functions host (the local host configured its services and its own tracing):
// Application Insights through OpenTelemetry when the app has a connection string.
if (!servicesConfigured()) {
  loadConfig(process.env);
  void startAzureMonitor(process.env).catch((error: unknown) => {
    console.error('Azure Monitor OpenTelemetry did not start:', error);
  });
}

import './http/runs.js';
import './http/pipelines.js';
import './http/datasets.js';
import './http/tasks.js';
import './http/files.js';
import './http/databanks.js';
import './http/modelDatabanks.js';
import './http/tracking.js';
import './http/health.js';
import './http/me.js';
import './http/retention.js';
import './http/beamline.js';
import './http/metrics.js';
import './http/runInsights.js';
import './http/portal.js';
import './orchestrators/hello.js';
import './orchestrators/command.js';
import './orchestrators/modelRun.js';
import './orchestrators/sweep.js';
import './orchestrators/mlLifecycle.js';
import './orchestrators/beamline.js';
import './activities/hello.js';
import './activities/jobs.js';
import './activities/modelRun.js';
import './activities/sweep.js';
import './activities/mlLifecycle.js';
import './activities/beamline.js';
import './timers/heartbeat.js';
import './timers/watchJobs.js';
import './timers/pruneRetention.js';
import './timers/pruneBeamline.js';
import './timers/scheduleTasks.js';
import './timers/sampleSlots.js';
import './queues/jobEvents.js';
import './queues/launchJob.js';
import './queues/scheduleTasks.js';
import './queues/launchJobDeadLetters.js';
import './blobs/landing.js';
