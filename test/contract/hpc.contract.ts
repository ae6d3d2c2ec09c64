import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { isBatonError } from '../../shared/domain/errors.js';
import type { HpcController, HpcJobState, HpcJobStatus } from '../../shared/ports/hpc.js';

/**
 * What every HpcController must do, run against the local process site, NERSC (SFAPI server)
 * and ALCF (Globus Compute server). Each world gives site paths whose job succeeds, fails, or
 * runs until canceled.
 */
export interface HpcWorld {
  controller: HpcController;
  inputs: { ok: string; fail: string; slow: string };
  /** A folder for outputs (absolute site path). */
  output: string;
  /**
   * The site hands paths to its scripts as argv (the local site: no shell, so spaces and `$`
   * are just characters) rather than in a batch script (NERSC, ALCF: plain characters only).
   */
  pathsAsArgv?: boolean;
  /** How many jobs the site has started (a repeated submit must not add one). */
  started(): Promise<number>;
  cleanup(): Promise<void>;
}

export async function waitForHpcEnd(
  controller: HpcController,
  jobId: string,
): Promise<{ final: HpcJobStatus; seen: HpcJobState[] }> {
  const seen: HpcJobState[] = [];
  for (let i = 0; i < 600; i++) {
    const status = await controller.status(jobId);
    if (seen.at(-1) !== status.state) seen.push(status.state);
    if (status.state !== 'queued' && status.state !== 'running') return { final: status, seen };
    await sleep(20);
  }
  throw new Error(`job ${jobId} did not end`);
}

export function runHpcContract(name: string, makeWorld: () => Promise<HpcWorld>): void {
  describe(`HpcController contract: ${name}`, () => {
    let world: HpcWorld;
    before(async () => {
      world = await makeWorld();
    });
    after(() => world.cleanup());

    it('reconstructs, then builds the multi-resolution output, each ending succeeded', async () => {
      const { controller } = world;
      const first = await controller.reconstruct({
        jobId: 'recon-ok',
        input: world.inputs.ok,
        output: `${world.output}/tiff`,
      });
      assert.equal(first.jobId, 'recon-ok');
      assert.ok(['queued', 'running', 'succeeded'].includes(first.state));
      const recon = await waitForHpcEnd(controller, 'recon-ok');
      assert.equal(recon.final.state, 'succeeded', recon.final.reason);
      assert.ok(recon.seen.every((s) => ['queued', 'running', 'succeeded'].includes(s)));
      assert.ok(recon.final.siteJobId !== undefined && recon.final.siteJobId !== '');
      await controller.buildMultiResolution({
        jobId: 'multires-ok',
        input: `${world.output}/tiff`,
        output: `${world.output}/zarr`,
      });
      const multires = await waitForHpcEnd(controller, 'multires-ok');
      assert.equal(multires.final.state, 'succeeded', multires.final.reason);
    });

    it('submitting the same jobId again starts nothing new', async () => {
      const { controller } = world;
      const request = {
        jobId: 'recon-once',
        input: world.inputs.ok,
        output: `${world.output}/once`,
      };
      const before = await world.started();
      const a = await controller.reconstruct(request);
      const b = await controller.reconstruct(request);
      await waitForHpcEnd(controller, 'recon-once');
      const c = await controller.reconstruct(request);
      assert.equal(await world.started(), before + 1);
      assert.equal(c.state, 'succeeded');
      const ids = [a, b, c].map((s) => s.siteJobId).filter((s) => s !== undefined);
      assert.equal(new Set(ids).size, 1);
    });

    it('a failing job ends failed with a reason, never succeeded', async () => {
      const { controller } = world;
      await controller.reconstruct({
        jobId: 'recon-fail',
        input: world.inputs.fail,
        output: `${world.output}/f`,
      });
      const { final, seen } = await waitForHpcEnd(controller, 'recon-fail');
      assert.equal(final.state, 'failed');
      assert.ok(!seen.includes('succeeded'));
      assert.match(final.reason ?? '', /\S/);
    });

    it('cancel stops a running job and is idempotent', async () => {
      const { controller } = world;
      await controller.reconstruct({
        jobId: 'recon-slow',
        input: world.inputs.slow,
        output: `${world.output}/s`,
      });
      for (let i = 0; i < 100; i++) {
        if ((await controller.status('recon-slow')).state === 'running') break;
        await sleep(20);
      }
      const canceled = await controller.cancel('recon-slow');
      assert.equal(canceled.state, 'canceled', canceled.reason);
      assert.equal((await controller.cancel('recon-slow')).state, 'canceled');
      assert.equal((await controller.status('recon-slow')).state, 'canceled');
      // Canceling an ended job changes nothing.
      assert.equal((await controller.cancel('recon-ok')).state, 'succeeded');
    });

    it('unknown jobs are not_found; unsafe input is validation', async () => {
      const { controller } = world;
      await assert.rejects(controller.status('never-submitted'), (e) =>
        isBatonError(e, 'not_found'),
      );
      await assert.rejects(controller.cancel('never-submitted'), (e) =>
        isBatonError(e, 'not_found'),
      );
      const refused = ['relative/path', '/data/../etc', '/data/a\nb'];
      if (world.pathsAsArgv !== true) refused.push("/data/x'; rm -rf ~; '", '/data/$(id)');
      for (const input of refused) {
        await assert.rejects(
          controller.reconstruct({ jobId: 'recon-bad', input, output: world.output }),
          (e) => isBatonError(e, 'validation') && e.field === 'input',
          input,
        );
      }
      await assert.rejects(
        controller.reconstruct({ jobId: 'Bad_Id!', input: world.inputs.ok, output: world.output }),
        (e) => isBatonError(e, 'validation') && e.field === 'jobId',
      );
    });
  });
}
