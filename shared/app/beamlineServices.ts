import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { FolderTransfers } from '../adapters/local/folderTransfers.js';
import { StateStoreCatalogue } from '../adapters/local/stateStoreCatalogue.js';
import { parseBeamlineConfig, type BeamlineConfig } from '../domain/beamline/config.js';
import { BatonError } from '../domain/errors.js';
import { isInsidePath } from '../domain/paths.js';
import type { Catalogue } from '../ports/catalogue.js';
import type { StateStore } from '../ports/stateStore.js';
import type { TransferService } from '../ports/transfers.js';

/**
 * The beamline flows' config and ports. The config file is named by the run's params and must
 * resolve (links too) inside the host's sources root (BATON_MODEL_SOURCES_ROOT), as databank
 * sources must. Its endpoints make the TransferService (folder endpoints: a FolderTransfers
 * with roots relative to the config's folder) and its catalogue the Catalogue (`local`: the
 * state store's). Services are kept per config file and endpoint roots for the life of the
 * process: a transfer submitted by one activity is followed by the next (FolderTransfers keeps
 * its transfers in memory; after a restart, `transferStatus` resubmits under the same id).
 *
 * `lake` endpoints are folders below the lake's root when the lake is a folder (the local
 * host: `<state>/lake/<root>`), which is where the landing trigger sees new files. Not wired
 * yet: `globus` endpoints, `lake` endpoints on ADLS, and the `scicat` catalogue (their adapters
 * exist; they need credentials and settings this module does not take yet). A hop involving one
 * fails with a message saying so.
 */
export interface LoadedBeamlineConfig {
  /** The real path of the config file. */
  file: string;
  config: BeamlineConfig;
}

export interface BeamlineServices {
  transfers: TransferService;
  catalogue: Catalogue;
  /** Endpoint name → local folder, for the folder endpoints. */
  folderRoots: Record<string, string>;
}

/** Reads and parses the config named by a run's `config` param. */
export async function loadBeamlineConfig(
  sourcesRoot: string,
  configParam: string,
): Promise<LoadedBeamlineConfig> {
  const candidate = path.resolve(sourcesRoot, configParam);
  let real: string;
  let root: string;
  try {
    [real, root] = await Promise.all([realpath(candidate), realpath(sourcesRoot)]);
  } catch {
    throw new BatonError(
      'not_found',
      `config: ${configParam} does not exist (looked in ${candidate})`,
      {
        field: 'config',
      },
    );
  }
  if (!isInsidePath(root, real)) {
    throw new BatonError(
      'forbidden',
      `config: ${configParam} is outside ${root} (the host's sources root, setting BATON_MODEL_SOURCES_ROOT)`,
      { field: 'config' },
    );
  }
  const text = await readFile(real, 'utf8');
  return { file: real, config: parseBeamlineConfig(text, path.basename(real)) };
}

/**
 * The local folder of each endpoint reachable as one: folder endpoints (roots relative to the
 * config file's folder) and, with a folder lake, lake endpoints (roots relative to the lake's).
 */
export function folderEndpointRoots(
  loaded: LoadedBeamlineConfig,
  lakeFolder?: string,
): Record<string, string> {
  const base = path.dirname(loaded.file);
  const roots: Record<string, string> = {};
  for (const endpoint of Object.values(loaded.config.endpoints)) {
    if (endpoint.kind === 'folder') roots[endpoint.name] = path.resolve(base, endpoint.root);
    if (endpoint.kind === 'lake' && lakeFolder !== undefined) {
      roots[endpoint.name] = path.resolve(lakeFolder, endpoint.root.replace(/^\/+/, ''));
    }
  }
  return roots;
}

const cache = new Map<string, BeamlineServices>();

/** The beamline's TransferService and Catalogue (the same instances for the same config). */
export function beamlineServicesFor(
  loaded: LoadedBeamlineConfig,
  deps: { state: StateStore; lakeFolder?: string | undefined },
): BeamlineServices {
  const { state } = deps;
  const folderRoots = folderEndpointRoots(loaded, deps.lakeFolder);
  const key = JSON.stringify([loaded.file, folderRoots, loaded.config.catalogue]);
  let services = cache.get(key);
  if (services === undefined) {
    if (loaded.config.catalogue.kind !== 'local') {
      throw new BatonError(
        'validation',
        'catalogue.kind: only "local" is wired into the beamline flows yet (scicat is not)',
        { field: 'catalogue.kind' },
      );
    }
    services = {
      transfers: new FolderTransfers({ endpoints: folderRoots }),
      catalogue: new StateStoreCatalogue(state),
      folderRoots,
    };
    cache.set(key, services);
  }
  return services;
}

/**
 * Refuses a hop between endpoints this host cannot reach yet: globus endpoints, and lake
 * endpoints when the lake is not a folder.
 */
export function assertFolderEndpoint(
  loaded: LoadedBeamlineConfig,
  name: string,
  lakeFolder?: string,
): void {
  const endpoint = loaded.config.endpoints[name];
  if (endpoint === undefined || endpoint.kind === 'folder') return;
  if (endpoint.kind === 'lake' && lakeFolder !== undefined) return;
  const why =
    endpoint.kind === 'lake'
      ? 'lake endpoints are wired into the beamline flows only when the lake is a folder (BATON_LAKE=folder)'
      : `${endpoint.kind} endpoints are not wired into the beamline flows yet (folder and lake endpoints are)`;
  throw new BatonError('validation', `endpoints.${name}: ${why}`, { field: `endpoints.${name}` });
}
