import { promises as fs } from 'node:fs';
import path from 'node:path';
import { localUserOf, readLocalSecret } from '../runtime/localAccess.js';
import { LocalHost } from '../runtime/localHost.js';
import { createLogger } from '../runtime/logger.js';
import { ApiClient } from './apiClient.js';

/**
 * Where CLI commands go: `--endpoint`/`BATON_ENDPOINT` (a deployed app or a host elsewhere);
 * else a `baton up` already serving this state folder (found through its `host.json`); else an
 * embedded host started in this process for the length of the command.
 *
 * A host on this machine (the last two, or an endpoint on a loopback address) is sent the
 * state folder's secret (`<state>/host/secret`, 0600, or `BATON_LOCAL_SECRET`) as a bearer
 * token: that is what lets the CLI change things there as `--user`/`BATON_USER`/the OS user.
 * The secret never goes to any other endpoint.
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
  const user = options.user ?? localUserOf(process.env);
  const secret = (): Promise<string | undefined> => readLocalSecret(options.stateDir, process.env);
  const endpoint = options.endpoint ?? process.env.BATON_ENDPOINT;
  if (endpoint) {
    const local = isLoopbackUrl(endpoint) ? await secret() : undefined;
    return {
      api: new ApiClient(endpoint, user, local),
      embedded: false,
      close: async () => undefined,
    };
  }
  const running = await findRunningHost(options.stateDir);
  if (running)
    return {
      api: new ApiClient(running, user, await secret()),
      embedded: false,
      close: async () => undefined,
    };
  const host = await LocalHost.start({
    stateDir: options.stateDir,
    port: 0,
    // Triggers on: a run's jobs need the launch-job queue and the job watcher even when the
    // host only lives for one command.
    logger: createLogger({ level: options.verbose ? 'debug' : 'warn' }),
  });
  return {
    api: new ApiClient(host.url, user, await secret()),
    embedded: true,
    close: () => host.stop(),
  };
}

function isLoopbackUrl(endpoint: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(endpoint).hostname);
  } catch {
    return false;
  }
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
