import path from 'node:path';
import { FileBus } from '../adapters/local/fileBus.js';
import { FileLogStore } from '../adapters/local/fileLogStore.js';
import { FileStateStore } from '../adapters/local/fileStateStore.js';
import { FolderLake } from '../adapters/local/folderLake.js';
import { LocalProcessBackend } from '../adapters/local/processCompute.js';
import type { Bus } from '../ports/bus.js';
import { systemClock, type Clock } from '../ports/clock.js';
import type { ComputeBackend } from '../ports/compute.js';
import type { Lake } from '../ports/lake.js';
import type { LogStore } from '../ports/logStore.js';
import type { StateStore } from '../ports/stateStore.js';
import { loadConfig, type BatonConfig } from './config.js';

/**
 * The ports every activity and HTTP function works through. Built once per process from the
 * app settings; the local host may hand in its own instance (same adapters, its state dir).
 */
export interface Services {
  config: BatonConfig;
  state: StateStore;
  lake: Lake;
  bus: Bus;
  compute: ComputeBackend;
  logs: LogStore;
  clock: Clock;
}

let current: Services | undefined;

export function createLocalServices(config: BatonConfig, clock: Clock = systemClock): Services {
  const dir = (name: string): string => path.join(config.stateDir, name);
  return {
    config,
    state: new FileStateStore({ root: dir('state') }),
    lake: new FolderLake({ root: dir('lake') }),
    bus: new FileBus({
      root: dir('bus'),
      maxDeliveryCount: config.BATON_BUS_MAX_DELIVERY_COUNT,
      clock,
    }),
    compute: new LocalProcessBackend({ root: dir('jobs'), workRoot: config.stateDir, clock }),
    logs: new FileLogStore({ root: dir('logs') }),
    clock,
  };
}

export function configureServices(services: Services): void {
  current = services;
}

/** The process-wide services; built from the environment on first use. */
export function services(): Services {
  current ??= createLocalServices(loadConfig(process.env));
  return current;
}
