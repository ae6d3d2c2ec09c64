import path from 'node:path';
import { LakeLogStore } from '../adapters/lakeLogStore.js';
import { FileBus } from '../adapters/local/fileBus.js';
import { FileLogStore } from '../adapters/local/fileLogStore.js';
import { FileStateStore } from '../adapters/local/fileStateStore.js';
import { FolderLake } from '../adapters/local/folderLake.js';
import { HostFolderStaging } from '../adapters/local/hostFolderStaging.js';
import { MlflowTracker } from '../adapters/mlflow/mlflowTracker.js';
import { LocalProcessBackend } from '../adapters/local/processCompute.js';
import { StateStoreTracker } from '../adapters/local/stateStoreTracker.js';
import type { Bus } from '../ports/bus.js';
import { systemClock, type Clock } from '../ports/clock.js';
import type { ComputeBackend } from '../ports/compute.js';
import type { JobStaging } from '../ports/jobStaging.js';
import type { Lake } from '../ports/lake.js';
import type { LogStore } from '../ports/logStore.js';
import type { StateStore } from '../ports/stateStore.js';
import type { Tracker } from '../ports/tracker.js';
import { loadConfig, type BatonConfig } from './config.js';

/**
 * The ports every activity and function works through, built once per process from the app
 * settings: local adapters by default, Azure ones where a setting chooses them. Azure SDKs are
 * loaded only when chosen, so the local host starts without them.
 */
export interface Services {
  config: BatonConfig;
  state: StateStore;
  lake: Lake;
  bus: Bus;
  compute: ComputeBackend;
  /** Task job inputs and outputs between the lake and where the jobs run. */
  staging: JobStaging;
  logs: LogStore;
  clock: Clock;
  /** Experiment tracking (sweeps and their trials): the state store's, or MLflow's. */
  tracker: Tracker;
}

let current: Promise<Services> | undefined;

export function createLocalServices(config: BatonConfig, clock: Clock = systemClock): Services {
  const dir = (name: string): string => path.join(config.stateDir, name);
  const lake = new FolderLake({ root: dir('lake') });
  const state = new FileStateStore({ root: dir('state') });
  return {
    config,
    state,
    lake,
    bus: new FileBus({
      root: dir('bus'),
      maxDeliveryCount: config.BATON_BUS_MAX_DELIVERY_COUNT,
      clock,
    }),
    compute: new LocalProcessBackend({ root: dir('jobs'), workRoot: config.stateDir, clock }),
    staging: hostStaging(config, lake),
    logs: new FileLogStore({ root: dir('logs') }),
    clock,
    tracker: createTracker(config, state, clock),
  };
}

/** The tracker the settings choose: MLflow's REST API, or runs kept in the state store. */
export function createTracker(config: BatonConfig, state: StateStore, clock: Clock): Tracker {
  if (config.BATON_TRACKER === 'mlflow') {
    return new MlflowTracker({
      baseUrl: config.BATON_MLFLOW_URL ?? '',
      ...(config.BATON_MLFLOW_TOKEN_ENV === undefined
        ? {}
        : { tokenEnvVar: config.BATON_MLFLOW_TOKEN_ENV }),
      clock,
    });
  }
  return new StateStoreTracker({ store: state, clock });
}

/** Adapters as the settings choose them; each Azure one reaches its service with the app's identity. */
export async function createServices(
  config: BatonConfig,
  clock: Clock = systemClock,
): Promise<Services> {
  const local = createLocalServices(config, clock);
  const state =
    config.BATON_STATE === 'cosmos'
      ? (await import('../adapters/azure/cosmosStateStore.js')).createCosmosStateStore({
          endpoint: config.BATON_COSMOS_ENDPOINT ?? '',
          databaseId: config.BATON_COSMOS_DATABASE,
        })
      : local.state;
  const lake =
    config.BATON_LAKE === 'adls'
      ? (await import('../adapters/azure/adlsLake.js')).createAdlsLake({
          accountUrl: config.BATON_LAKE_ACCOUNT_URL ?? '',
          fileSystem: config.BATON_LAKE_FILESYSTEM,
        })
      : local.lake;
  const bus =
    config.BATON_BUS === 'servicebus'
      ? (await import('../adapters/azure/serviceBusBus.js')).createServiceBusBus({
          fullyQualifiedNamespace: config.BATON_SERVICEBUS_NAMESPACE ?? '',
        })
      : local.bus;
  const compute =
    config.BATON_COMPUTE === 'aci'
      ? (await import('../adapters/azure/aciCompute.js')).createAciBackend({
          subscriptionId: config.BATON_ACI_SUBSCRIPTION_ID ?? '',
          resourceGroup: config.BATON_ACI_RESOURCE_GROUP ?? '',
          location: config.BATON_ACI_LOCATION ?? '',
        })
      : local.compute;
  // Step logs live beside the data: in the lake when it is ADLS (append-free, file per append).
  const logs = config.BATON_LAKE === 'adls' ? new LakeLogStore(lake, clock) : local.logs;
  // Jobs of the local process backend read staged copies on this machine, whichever the lake.
  // Container backends need staging inside the container group, which is not built yet: tasks
  // on them are refused at submission (JobStaging.supports).
  const staging = lake === local.lake ? local.staging : hostStaging(config, lake);
  const tracker = state === local.state ? local.tracker : createTracker(config, state, clock);
  return { config, state, lake, bus, compute, staging, logs, clock, tracker };
}

function hostStaging(config: BatonConfig, lake: Lake): JobStaging {
  return new HostFolderStaging({
    lake,
    root: path.join(config.stateDir, 'work'),
    backends: ['local'],
    workRoot: config.stateDir,
  });
}

/** Hands the process its services (the local host does this before loading the functions). */
export function configureServices(services: Services): void {
  current = Promise.resolve(services);
}

export function servicesConfigured(): boolean {
  return current !== undefined;
}

/** The process-wide services; built from the environment on first use. */
export function getServices(): Promise<Services> {
  current ??= createServices(loadConfig(process.env));
  return current;
}
