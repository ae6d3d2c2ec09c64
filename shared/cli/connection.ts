import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalHost } from '../runtime/localHost.js';
import { createLogger } from '../runtime/logger.js';
import { ApiClient } from './apiClient.js';

/**
 * Where CLI commands go: `--endpoint`/`BATON_ENDPOINT` (a deployed app or a host elsewhere);
 * else a `baton up` already serving this state folder (found through its `host.json`); else an
 * embedded host started in this process for the length of the command.
 */
export interface GlobalOptions {
  endpoint?: string;
  stateDir: string;
  user?: string;
  verbose?: boolean;
  json?: boolean;
}

export interface Connection {
  api: ApiClient;
  embedded: boolean;
  close(): Promise<void>;
}

export interface HostAdvert {
  url: string;
  pid: number;
}

export const advertFile = (stateDir: string): string => path.join(stateDir, 'host', 'host.json');

export async function connect(options: GlobalOptions): Promise<Connection> {
  const user = options.user ?? os.userInfo().username;
  const endpoint = options.endpoint ?? process.env.BATON_ENDPOINT;
  if (endpoint)
    return { api: new ApiClient(endpoint, user), embedded: false, close: async () => undefined };
  const running = await findRunningHost(options.stateDir);
  if (running)
    return { api: new ApiClient(running, user), embedded: false, close: async () => undefined };
  const host = await LocalHost.start({
    stateDir: options.stateDir,
    port: 0,
    // Triggers on: a run's jobs need the launch-job queue and the job watcher even when the
    // host only lives for one command.
    logger: createLogger({ level: options.verbose ? 'debug' : 'warn' }),
  });
  return { api: new ApiClient(host.url, user), embedded: true, close: () => host.stop() };
}

async function findRunningHost(stateDir: string): Promise<string | undefined> {
  let advert: HostAdvert;
  try {
    advert = JSON.parse(await fs.readFile(advertFile(stateDir), 'utf8')) as HostAdvert;
  } catch {
    return undefined;
  }
  try {
    process.kill(advert.pid, 0);
  } catch {
    return undefined;
  }
  try {
    const response = await fetch(new URL('/api/health', advert.url), {
      signal: AbortSignal.timeout(2000),
    });
    return response.ok ? advert.url : undefined;
  } catch {
    return undefined;
  }
}
