import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { appSettingsOf, loadConfig } from '../app/config.js';
import { webhookPrefix } from './durable/webhookRoutes.js';
import { configureServices, createLocalServices, type Services } from '../app/services.js';
import { FileStateStore } from '../adapters/local/fileStateStore.js';
import { FolderLake } from '../adapters/local/folderLake.js';
import { systemClock, type Clock } from '../ports/clock.js';
import { startBusTriggers } from './busTriggers.js';
import { DurableEngine } from './durable/engine.js';
import { installFunctionsCore, registeredFunctions } from './functionRegistry.js';
import { registryLookup } from './functionLookup.js';
import { answerClientError, createHttpDispatcher, routePrefixOf } from './httpFunctions.js';
import { startLandingTriggers } from './landingTriggers.js';
import { installOtlpTracing } from '../telemetry/exporters.js';
import { ensureLocalSecret, LocalAccess, localUserOf, randomSecret } from './localAccess.js';
import { createLogger, type Logger } from './logger.js';
import { packageRoot } from './packageRoot.js';
import { acquireStateDirLock } from './stateDirLock.js';
import { onDemandTimer, startTimerTriggers } from './timerTriggers.js';

/**
 * The local stand-in for the Azure Functions host: loads the app's registrations from
 * `functions/`, serves its HTTP functions on 127.0.0.1, fires its timers, watches the landing
 * folder for its blob triggers, pumps its queues and runs the durable engine, all with data
 * under one state folder. Kill it at any point; started again on the same folder, runs go on.
 */
export interface LocalHostOptions {
  stateDir: string;
  /** 7071 like `func start`; 0 picks a free port. */
  port?: number;
  hostname?: string;
  clock?: Clock;
  logger?: Logger;
  activityConcurrency?: number;
  env?: Record<string, string | undefined>;
  /**
   * The app's ports, when the caller builds them (tests that run the app on Azure adapters
   * against local wire servers); otherwise the local adapters under the state folder.
   */
  services?: Services;
  /** Off for embedded one-shot commands that only need HTTP and the engine. */
  triggers?: boolean;
  landingIntervalMs?: number;
}

export class LocalHost {
  readonly engine: DurableEngine;
  readonly services: Services;
  readonly logger: Logger;
  private server: Server | undefined;
  private readonly stoppers: Array<() => void | Promise<void>> = [];
  private baseUrl = '';
  private access: LocalAccess | undefined;
  /** Where the host's own DurableClient reaches the webhooks (a random path, never printed). */
  private readonly webhookKeyPrefix = `/_host/${randomSecret()}`;

  private constructor(
    private readonly options: LocalHostOptions,
    services: Services,
    logger: Logger,
  ) {
    this.services = services;
    this.logger = logger;
    this.engine = new DurableEngine({
      root: path.join(options.stateDir, 'durable'),
      functions: registryLookup,
      clock: services.clock,
      activityConcurrency:
        options.activityConcurrency ?? services.config.BATON_ACTIVITY_CONCURRENCY,
      log: (level, instanceId, message, fields) => {
        const log = logger.child({ instanceId, ...fields });
        if (level === 'error') log.error(message);
        else if (level === 'warning' || level === 'warn') log.warn(message);
        else log.debug(message);
      },
      onTerminal: (status) =>
        logger.info(
          { instanceId: status.instanceId, runId: this.engine.runIdOf(status.instanceId) },
          `${status.name} ${status.runtimeStatus.toLowerCase()}`,
        ),
    });
  }

  /** Loads the app and starts everything. */
  static async start(options: LocalHostOptions): Promise<LocalHost> {
    const env = options.env ?? process.env;
    const stateDir = path.resolve(options.stateDir);
    const config = loadConfig({ ...env, BATON_STATE_DIR: stateDir });
    const logger = options.logger ?? createLogger();
    const releaseLock = await acquireStateDirLock(stateDir);
    const services = options.services ?? createLocalServices(config, options.clock ?? systemClock);
    configureServices(services);
    installFunctionsCore();
    try {
      await import('../../functions/index.js');
    } catch (error) {
      await releaseLock();
      throw error;
    }
    const settings = { ...appSettingsOf(config), ...env };
    const host = new LocalHost({ ...options, stateDir, env: settings }, services, logger);
    host.stoppers.push(releaseLock);
    // BATON_LOCAL_SECRET may come from the process even when a caller passes its own settings.
    const secretEnv = { BATON_LOCAL_SECRET: process.env.BATON_LOCAL_SECRET, ...env };
    host.access = new LocalAccess(
      await ensureLocalSecret(stateDir, secretEnv),
      localUserOf({ BATON_USER: process.env.BATON_USER, ...env }),
    );
    if (config.BATON_OTLP_ENDPOINT !== undefined) {
      // Last to stop: spans of the engine's final commits are flushed too.
      host.stoppers.push(installOtlpTracing(config.BATON_OTLP_ENDPOINT));
      // The origin only: a collector URL may carry credentials or a token in its query.
      logger.info(`exporting traces (OTLP/HTTP) to ${new URL(config.BATON_OTLP_ENDPOINT).origin}`);
    }
    try {
      await host.startParts(settings);
    } catch (error) {
      await host.stop();
      throw error;
    }
    // Temps that writers killed mid-write left in the state folder and the lake. In the
    // background, so a big state folder or lake does not delay the start; a stop waits for it.
    const sweeps: Array<{ what: string; sweep: () => Promise<number> }> = [];
    if (services.state instanceof FileStateStore) {
      const store = services.state;
      sweeps.push({ what: 'state store', sweep: () => store.removeLeftoverTemps() });
    }
    if (services.lake instanceof FolderLake) {
      const lake = services.lake;
      sweeps.push({ what: 'lake', sweep: () => lake.removeLeftoverTemps() });
    }
    const swept = Promise.all(
      sweeps.map(({ what, sweep }) =>
        sweep().then(
          (removed) => {
            if (removed > 0) {
              logger.info(`removed ${removed} temp file(s) of interrupted writes (${what})`);
            }
          },
          (error: unknown) =>
            logger.warn({ err: error }, `sweeping leftover temp files failed (${what})`),
        ),
      ),
    );
    host.stoppers.unshift(() => swept.then(() => undefined));
    return host;
  }

  get url(): string {
    return this.baseUrl;
  }

  /** The webhooks' base as the host's own DurableClient sees it (in-process callers only). */
  get webhookUrl(): string {
    return `${this.baseUrl}${this.webhookKeyPrefix}${webhookPrefix}`;
  }

  /**
   * The portal's address with a new one-time sign-in token for `user` (default: the local user,
   * `BATON_USER` or the OS account): what `baton up` prints.
   */
  signInUrl(user?: string): string {
    if (this.access === undefined) throw new Error('the host is not started');
    return `${this.baseUrl}/?token=${this.access.issueToken(user)}`;
  }

  private async startParts(env: Record<string, string | undefined>): Promise<void> {
    const hostname = this.options.hostname ?? '127.0.0.1';
    const inputs = (): Record<string, unknown> =>
      durableClientInputs(`${this.baseUrl}${this.webhookKeyPrefix}`);
    if (this.access === undefined) throw new Error('the host has no access keys');
    const dispatch = createHttpDispatcher({
      access: this.access,
      webhookKeyPrefix: this.webhookKeyPrefix,
      engine: this.engine,
      logger: this.logger,
      baseUrl: () => this.baseUrl,
      inputs,
      // The same host.json the Azure host reads, so routes resolve alike in both hosts.
      routePrefix: routePrefixOf(readFileSync(path.join(packageRoot(), 'host.json'), 'utf8')),
    });
    const server = createServer((req, res) => {
      dispatch(req, res).catch((error: unknown) => {
        this.logger.error({ err: error }, 'request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    server.on('clientError', answerClientError);
    // The engine loads every instance before the first request can ask about one.
    await this.engine.start();
    this.stoppers.unshift(() => this.engine.stop());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 7071, hostname, () => resolve());
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    this.baseUrl = `http://${hostname}:${address.port}`;
    if (this.options.triggers !== false) {
      this.stoppers.unshift(
        startTimerTriggers({ logger: this.logger, clock: this.services.clock, env, inputs }),
      );
      this.stoppers.unshift(
        startBusTriggers({ bus: this.services.bus, logger: this.logger, env, inputs }),
      );
      // A backend that reports job ends (local processes) gets its watcher run at once.
      const watchNow = onDemandTimer({
        name: 'watchJobs',
        logger: this.logger,
        inputs,
        clock: this.services.clock,
      });
      const stopListening =
        watchNow === undefined ? undefined : this.services.compute.onJobsEnded?.(watchNow);
      if (stopListening !== undefined) this.stoppers.unshift(stopListening);
      this.stoppers.unshift(
        startLandingTriggers({
          lake: this.services.lake,
          logger: this.logger,
          env,
          inputs,
          stateFile: path.join(this.options.stateDir, 'host', 'landing-seen.json'),
          ...(this.options.landingIntervalMs ? { intervalMs: this.options.landingIntervalMs } : {}),
        }),
      );
    }
    this.logger.debug(`${registeredFunctions().length} functions registered`);
  }

  /** Clean shutdown: stop triggers, stop taking requests, let the engine commit what finished. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    for (const stop of this.stoppers.splice(0)) {
      try {
        await stop();
      } catch (error) {
        this.logger.error({ err: error }, 'error while stopping');
      }
    }
  }
}

/**
 * The value of a `durableClient` input binding, pointing the library's DurableClient at this
 * host's webhook routes (rpcBaseUrl mode: paths resolve relative to it, so it ends with '/').
 */
function durableClientInputs(baseUrl: string): Record<string, unknown> {
  const data = {
    taskHubName: 'baton',
    creationUrls: {},
    managementUrls: {},
    baseUrl: `${baseUrl}${webhookPrefix}`,
    requiredQueryStringParameters: '',
    rpcBaseUrl: `${baseUrl}${webhookPrefix}`,
  };
  return { durableClient: data, orchestrationClient: data };
}
