import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './hostProcess.js';

/** The beamline example: its config and its site scripts. */
export const beamlineExample = path.join(repoRoot, 'examples', 'beamline');

/** The example config's folder endpoints (spot832, its landing, is the lake's). */
export const beamlineFolderEndpoints = [
  'data832',
  'nersc832',
  'alcf832',
  'nersc832_scratch',
  'alcf832_scratch',
] as const;

/**
 * Fills a sources root (`BATON_MODEL_SOURCES_ROOT`) the way the beamline tests need it:
 * `beamline.yaml` (the example's, or `configText`), the example's `scripts/`, and an empty
 * folder per folder endpoint under `endpoints/`.
 */
export async function copyBeamlineExample(sources: string, configText?: string): Promise<void> {
  const config = path.join(sources, 'beamline.yaml');
  if (configText === undefined) await cp(path.join(beamlineExample, 'beamline.yaml'), config);
  else await writeFile(config, configText);
  await cp(path.join(beamlineExample, 'scripts'), path.join(sources, 'scripts'), {
    recursive: true,
  });
  for (const name of beamlineFolderEndpoints) {
    await mkdir(path.join(sources, 'endpoints', name), { recursive: true });
  }
}
