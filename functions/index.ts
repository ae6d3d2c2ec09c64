/**
 * Every function of the app, registered once. The Azure Functions host loads this module
 * (package.json `main`); the local host (`baton up`) loads the very same module.
 */
import './http/runs.js';
import './http/pipelines.js';
import './http/health.js';
import './orchestrators/hello.js';
import './orchestrators/command.js';
import './activities/hello.js';
import './activities/jobs.js';
import './timers/heartbeat.js';
import './timers/watchJobs.js';
import './queues/jobEvents.js';
import './queues/launchJob.js';
import './blobs/landing.js';
