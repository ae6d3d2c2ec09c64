import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { isBatonError } from '../../shared/domain/errors.js';
import type { TransferService, TransferStatus } from '../../shared/ports/transfers.js';

/**
 * What every TransferService must do, run against the local folder adapter and the Globus
 * adapter (on the local Globus Transfer server). Endpoints `spot` and `data` are folders the
 * test can read and write directly.
 */
export interface TransfersWorld {
  service: TransferService;
  /** Endpoint name → the folder standing for its root. */
  folders: { spot: string; data: string };
  /** New transfers stay active until the returned function is called. */
  hold(): () => void;
  /** Whether `stat` reports `sha256:<hex>` (Globus cannot: it reports '' = unknown). */
  reportsChecksums: boolean;
  /** Whether `remove` deletes (Globus: not yet, `precondition_failed`). */
  removes: boolean;
  cleanup(): Promise<void>;
}

export async function waitForEnd(
  service: TransferService,
  transferId: string,
): Promise<TransferStatus> {
  for (let i = 0; i < 500; i++) {
    const status = await service.status(transferId);
    if (status.state !== 'active') return status;
    await sleep(10);
  }
  throw new Error(`transfer ${transferId} did not end`);
}

async function put(root: string, relative: string, content: string): Promise<void> {
  const file = path.join(root, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

const readOrUndefined = (file: string): Promise<string | undefined> =>
  readFile(file, 'utf8').catch(() => undefined);

export function runTransfersContract(name: string, makeWorld: () => Promise<TransfersWorld>): void {
  describe(`TransferService contract: ${name}`, () => {
    let world: TransfersWorld;
    before(async () => {
      world = await makeWorld();
    });
    after(() => world.cleanup());

    it('copies a file, verifies it, and reports files and bytes', async () => {
      const { service, folders } = world;
      await put(folders.spot, 'raw/scan1.h5', 'hello beamline');
      const submitted = await service.submit({
        transferId: 't-file-1',
        source: { endpoint: 'spot', path: 'raw/scan1.h5' },
        destination: { endpoint: 'data', path: 'raw/scan1.h5' },
      });
      assert.equal(submitted.transferId, 't-file-1');
      const done = await waitForEnd(service, 't-file-1');
      assert.equal(done.state, 'succeeded', done.reason);
      assert.equal(done.files, 1);
      assert.equal(done.bytes, 14);
      assert.equal(done.checksumVerified, true);
      assert.equal(done.reason, undefined);
      assert.ok(done.startedAt !== undefined && done.finishedAt !== undefined);
      assert.equal(
        await readFile(path.join(folders.data, 'raw/scan1.h5'), 'utf8'),
        'hello beamline',
      );
      const stat = await service.stat('data', 'raw/scan1.h5');
      assert.equal(stat?.size, 14);
      const hex = createHash('sha256').update('hello beamline').digest('hex');
      assert.equal(stat?.checksum, world.reportsChecksums ? `sha256:${hex}` : '');
    });

    it('removes a file (idempotently), or says removal is not supported', async () => {
      const { service, folders } = world;
      await mkdir(path.join(folders.spot, 'prune'), { recursive: true });
      await writeFile(path.join(folders.spot, 'prune/old.h5'), 'old');
      if (!world.removes) {
        await assert.rejects(service.remove('spot', 'prune/old.h5'), (e: unknown) =>
          isBatonError(e, 'precondition_failed'),
        );
        return;
      }
      assert.equal(await service.remove('spot', 'prune/old.h5'), true);
      assert.equal(await service.stat('spot', 'prune/old.h5'), undefined);
      assert.equal(await service.remove('spot', 'prune/old.h5'), false);
      await assert.rejects(service.remove('spot', 'prune'), (e: unknown) =>
        isBatonError(e, 'validation'),
      );
      await assert.rejects(service.remove('spot', '../outside.h5'), (e: unknown) =>
        isBatonError(e, 'validation'),
      );
    });

    it('copies a folder tree when recursive', async () => {
      const { service, folders } = world;
      await put(folders.spot, 'tree/a.txt', 'aa');
      await put(folders.spot, 'tree/sub/b.txt', 'bbb');
      await put(folders.spot, 'tree/sub/deeper/c.txt', 'cccc');
      await service.submit({
        transferId: 't-tree',
        source: { endpoint: 'spot', path: 'tree' },
        destination: { endpoint: 'data', path: 'copies/tree' },
        recursive: true,
      });
      const done = await waitForEnd(service, 't-tree');
      assert.equal(done.state, 'succeeded', done.reason);
      assert.equal(done.files, 3);
      assert.equal(done.bytes, 9);
      assert.equal(
        await readFile(path.join(folders.data, 'copies/tree/sub/deeper/c.txt'), 'utf8'),
        'cccc',
      );
    });

    it('submitting the same transferId again starts nothing new', async () => {
      const { service, folders } = world;
      await put(folders.spot, 'once.txt', 'first');
      const request = {
        transferId: 't-once',
        source: { endpoint: 'spot', path: 'once.txt' },
        destination: { endpoint: 'data', path: 'once.txt' },
      };
      await service.submit(request);
      await service.submit(request);
      assert.equal((await waitForEnd(service, 't-once')).state, 'succeeded');
      await put(folders.spot, 'once.txt', 'second');
      const again = await service.submit(request);
      assert.equal(again.state, 'succeeded');
      await sleep(30);
      assert.equal(await readFile(path.join(folders.data, 'once.txt'), 'utf8'), 'first');
    });

    it('a missing source fails with a reason and is never reported as success', async () => {
      const { service, folders } = world;
      await service.submit({
        transferId: 't-missing',
        source: { endpoint: 'spot', path: 'nope/absent.h5' },
        destination: { endpoint: 'data', path: 'absent.h5' },
      });
      const done = await waitForEnd(service, 't-missing');
      assert.equal(done.state, 'failed');
      assert.equal(done.checksumVerified, false);
      assert.match(done.reason ?? '', /\S/);
      assert.equal(await readOrUndefined(path.join(folders.data, 'absent.h5')), undefined);
      assert.equal(await service.stat('data', 'absent.h5'), undefined);
    });

    it('a folder without recursive fails', async () => {
      const { service, folders } = world;
      await put(folders.spot, 'dir-nr/x.txt', 'x');
      await service.submit({
        transferId: 't-not-recursive',
        source: { endpoint: 'spot', path: 'dir-nr' },
        destination: { endpoint: 'data', path: 'dir-nr' },
      });
      const done = await waitForEnd(service, 't-not-recursive');
      assert.equal(done.state, 'failed');
      assert.match(done.reason ?? '', /\S/);
    });

    it('cancel stops an active transfer and is idempotent', async () => {
      const { service, folders } = world;
      await put(folders.spot, 'cancel-me.txt', 'payload');
      const release = world.hold();
      try {
        const submitted = await service.submit({
          transferId: 't-cancel',
          source: { endpoint: 'spot', path: 'cancel-me.txt' },
          destination: { endpoint: 'data', path: 'cancel-me.txt' },
        });
        assert.equal(submitted.state, 'active');
        const canceled = await service.cancel('t-cancel');
        assert.equal(canceled.state, 'canceled');
        assert.match(canceled.reason ?? '', /cancel/i);
      } finally {
        release();
      }
      await sleep(30);
      assert.equal((await service.cancel('t-cancel')).state, 'canceled');
      assert.equal((await service.status('t-cancel')).state, 'canceled');
      assert.equal(await readOrUndefined(path.join(folders.data, 'cancel-me.txt')), undefined);
      // Canceling an ended transfer changes nothing.
      assert.equal((await service.cancel('t-file-1')).state, 'succeeded');
    });

    it('unknown transfers are not_found; bad input is validation', async () => {
      const { service } = world;
      await assert.rejects(service.status('t-never'), (e) => isBatonError(e, 'not_found'));
      await assert.rejects(service.cancel('t-never'), (e) => isBatonError(e, 'not_found'));
      await assert.rejects(
        service.submit({
          transferId: 't-bad',
          source: { endpoint: 'spot', path: '../etc/passwd' },
          destination: { endpoint: 'data', path: 'x' },
        }),
        (e) => isBatonError(e, 'validation'),
      );
      await assert.rejects(
        service.submit({
          transferId: 't-bad2',
          source: { endpoint: 'elsewhere', path: 'a' },
          destination: { endpoint: 'data', path: 'x' },
        }),
        (e) => isBatonError(e, 'validation'),
      );
      await assert.rejects(
        service.submit({
          transferId: 'bad id; rm -rf',
          source: { endpoint: 'spot', path: 'a' },
          destination: { endpoint: 'data', path: 'x' },
        }),
        (e) => isBatonError(e, 'validation'),
      );
      assert.equal(await service.stat('spot', 'no/such/file'), undefined);
    });
  });
}
