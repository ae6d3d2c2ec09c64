import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Every test server listens on 127.0.0.1 only, on a port the system picks; returns the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
