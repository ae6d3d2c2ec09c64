/**
 * Every function of the app, registered once. The Azure Functions host loads this module
 * (package.json `main`); the local host (`baton up`) loads the very same module.
 */
import './http/runs.js';
import './http/pipelines.js';
import './http/health.js';
import './orchestrators/hello.js';
import './activities/hello.js';
import './timers/heartbeat.js';
import './queues/jobEvents.js';
import './blobs/landing.js';
