import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { TransferHop } from '../domain/beamline/dispatch.js';
import { BatonError } from '../domain/errors.js';
import { runIdSchema } from '../domain/runIds.js';
import { parseInput } from '../domain/validation.js';
import type { ProbeCheck, TransferProbe } from '../orchestrations/beamlineTestTransfers.js';
import type { BeamlineDeps } from './beamline.js';
import {
  assertFolderEndpoint,
  beamlineServicesFor,
  loadBeamlineConfig,
} from './beamlineServices.js';

/**
 * Activities of the test-transfers flow: write a uniquely named probe at the new-file source,
 * check it where a hop put it, remove it everywhere it went. The probe's name derives from the
 * run, so a retried write rewrites the same file.
 */
/** Where probes are written, below the source endpoint's root (the landing trigger skips it). */
export const transferProbeFolder = 'baton-probe';

const configured = z.object({ runId: runIdSchema, config: z.string().min(1) });
const probeSchema = z.object({
  path: z.string().regex(/^baton-probe\/[A-Za-z0-9_-]+\.txt$/, 'a probe path'),
  checksum: z.string(),
  size: z.number(),
  hops: z.array(z.object({ from: z.string(), to: z.string(), path: z.string() })),
});

export async function writeTransferProbe(
  deps: BeamlineDeps,
  input: unknown,
): Promise<TransferProbe> {
  const { runId, config } = parseInput(configured, input, 'input');
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, config);
  const { source, destination, nersc } = loaded.config.new_file;
  const relative = `${transferProbeFolder}/${runId}.txt`;
  const hops: TransferHop[] = [{ from: source, to: destination, path: relative }];
  if (nersc !== undefined) hops.push({ from: destination, to: nersc, path: relative });
  for (const endpoint of [source, destination, ...(nersc ? [nersc] : [])]) {
    assertFolderEndpoint(loaded, endpoint, deps.lakeFolder);
  }
  const root = beamlineServicesFor(loaded, deps).folderRoots[source];
  if (root === undefined) throw new BatonError('validation', `endpoints.${source}: not reachable`);
  // The content derives from the run alone: a redelivered write (activities run at least
  // once) rewrites the very bytes whose checksum the first delivery returned, so the checks
  // never compare against a probe that a later delivery replaced.
  const content = Buffer.from(
    `baton transfer probe\nrun ${runId}\n${createHash('sha256').update(`probe:${runId}`).digest('hex')}\n`,
  );
  const file = path.join(root, ...relative.split('/'));
  await mkdir(path.dirname(file), { recursive: true });
  // Unique per write: two deliveries at once must not rename each other's temp file away.
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, content);
  await rename(temp, file);
  return {
    path: relative,
    checksum: `sha256:${createHash('sha256').update(content).digest('hex')}`,
    size: content.length,
    hops,
  };
}

export async function checkTransferProbe(deps: BeamlineDeps, input: unknown): Promise<ProbeCheck> {
  const { config, endpoint, probe } = parseInput(
    configured.extend({ endpoint: z.string(), probe: probeSchema }),
    input,
    'input',
  );
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, config);
  const found = await beamlineServicesFor(loaded, deps).transfers.stat(endpoint, probe.path);
  if (found === undefined) return { present: false, checksumMatches: false };
  return {
    present: true,
    checksumMatches: found.checksum === probe.checksum,
    checksum: found.checksum,
  };
}

/** Removes the probe from each endpoint (gone already is fine); returns where it was removed. */
export async function removeTransferProbe(deps: BeamlineDeps, input: unknown): Promise<string[]> {
  const { config, probe, endpoints } = parseInput(
    configured.extend({ probe: probeSchema, endpoints: z.array(z.string()) }),
    input,
    'input',
  );
  const loaded = await loadBeamlineConfig(deps.sourcesRoot, config);
  const { transfers } = beamlineServicesFor(loaded, deps);
  const removed: string[] = [];
  for (const endpoint of [...new Set(endpoints)]) {
    try {
      if (await transfers.remove(endpoint, probe.path)) removed.push(endpoint);
    } catch {
      // An endpoint the probe could not reach (the hop failed on it) has nothing to remove;
      // the others are still cleaned.
    }
  }
  return removed;
}
