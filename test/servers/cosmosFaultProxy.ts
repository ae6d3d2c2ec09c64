import { listenOnLoopback } from './listenOnLoopback.js';
import http from 'node:http';

/** A canned reply the proxy sends instead of forwarding the request. */
export interface CosmosFault {
  status: number;
  headers?: Record<string, string>;
  /** Destroy the connection without answering (a dropped connection) instead of `status`. */
  drop?: boolean;
}

export interface CosmosFaultProxy {
  /** `http://127.0.0.1:<port>`: point the SDK here (endpoint discovery off). */
  endpoint: string;
  /** Requests forwarded to the target, and faults answered instead. */
  readonly forwarded: number;
  readonly faulted: number;
  close(): Promise<void>;
}

/**
 * A plain-HTTP reverse proxy on loopback in front of a plain-HTTP emulator: `decide` sees each
 * request and either returns a fault to answer with (a JSON error body like the service's) or
 * undefined to forward it unchanged. Only `127.0.0.1` targets are accepted.
 */
export async function startCosmosFaultProxy(
  target: string,
  decide: (req: http.IncomingMessage) => CosmosFault | undefined,
): Promise<CosmosFaultProxy> {
  const upstream = new URL(target);
  if (upstream.protocol !== 'http:' || upstream.hostname !== '127.0.0.1') {
    throw new Error(`fault proxy: target must be http://127.0.0.1:<port>, got ${target}`);
  }
  let forwarded = 0;
  let faulted = 0;
  const server = http.createServer((req, res) => {
    const fault = decide(req);
    if (fault !== undefined) {
      faulted++;
      if (fault.drop === true) {
        req.socket.destroy();
        return;
      }
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(
        JSON.stringify({ code: String(fault.status), message: 'injected by the fault proxy' }),
      );
      return;
    }
    forwarded++;
    const outgoing = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (incoming) => {
        res.writeHead(incoming.statusCode ?? 502, incoming.headers);
        incoming.pipe(res);
      },
    );
    outgoing.on('error', (error) => {
      res.destroy(error);
    });
    req.pipe(outgoing);
  });
  const port = await listenOnLoopback(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get forwarded() {
      return forwarded;
    },
    get faulted() {
      return faulted;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
