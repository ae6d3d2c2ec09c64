import { listenOnLoopback } from './listenOnLoopback.js';
import type { Server } from 'node:http';
import https from 'node:https';
import type { CosmosClientOptions } from '@azure/cosmos';
import { createHttpServer, createHttpsServer } from '@vercel/cosmosdb-server';

export interface CosmosEmulator {
  /** `https://127.0.0.1:<port>` (or `http://` when started without TLS). */
  endpoint: string;
  /** The emulator does not check keys; any non-empty string will do. */
  key: string;
  /**
   * What the real SDK needs to talk to this emulator. TEST ONLY: over TLS, certificate checks are
   * off (the bundled certificate expired in 2021); over plain HTTP, endpoint discovery is off
   * (the account document advertises an https:// location the SDK would switch to).
   */
  clientOptions: Pick<CosmosClientOptions, 'agent' | 'connectionPolicy'>;
  close(): Promise<void>;
}

/**
 * Starts @vercel/cosmosdb-server in this process on a random loopback port. State lives in
 * memory and dies with `close()`.
 */
export async function startCosmosEmulator(
  options: { tls?: boolean } = {},
): Promise<CosmosEmulator> {
  const tls = options.tls ?? true;
  const server: Server = tls ? createHttpsServer() : createHttpServer();
  const port = await listenOnLoopback(server);
  const agent = tls ? new https.Agent({ rejectUnauthorized: false }) : undefined;
  return {
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    key: 'emulator-key-not-checked',
    clientOptions: tls ? { agent } : { connectionPolicy: { enableEndpointDiscovery: false } },
    close: async () => {
      agent?.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
