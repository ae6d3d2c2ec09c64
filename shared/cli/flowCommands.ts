import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
  endpointPath,
  parseBeamlineConfig,
  pathBelowRoot,
  type BeamlineConfig,
} from '../domain/beamline/config.js';
import { locateFile, planDispatch, type DispatchPlan } from '../domain/beamline/dispatch.js';
import { planReconstruction, type ReconstructionPlan } from '../domain/beamline/reconstruction.js';
import { BatonError } from '../domain/errors.js';
import type { ReconstructionResult } from '../orchestrations/beamlineReconstructTypes.js';
import type { BeamlineDispatchOutput, HopResult } from '../orchestrations/beamlineTypes.js';
import { err, globals, out, withConnection } from './commandSupport.js';
import { exitForRun, formatBytes, renderRun, table } from './output.js';
import { waitForRun } from './waitForRun.js';

/**
 * `baton flow new-file <path> --config <yaml>`: dispatches a beamline's new file through the
 * `beamline` pipeline (the same run `POST /api/runs {pipeline: "beamline"}` starts). The config
 * is read here too, so `--dry-run` prints the dispatcher's plan without a host, and a path given
 * as a local file inside a folder endpoint is rewritten the way the config writes roots. The run
 * gets the config's absolute path, which the host requires inside its sources root
 * (BATON_MODEL_SOURCES_ROOT, default the host's working folder).
 */
export function registerFlowCommands(program: Command): void {
  const flow = program.command('flow').description('beamline file flows (beamline config)');
  flow
    .command('new-file')
    .description(
      'dispatch a new beamline file: transfers, catalogue ingest, retention, HPC reconstruction',
    )
    .argument(
      '<path>',
      'the file: a local path inside a folder endpoint or the landing lake folder, or as the config writes it',
    )
    .requiredOption('--config <yaml>', 'the beamline config file')
    .option('--export-controlled', 'the file is export-controlled: it never leaves the site')
    .option('--no-nersc', 'send nothing to NERSC this time (send_to_nersc and nersc off)')
    .option('--dry-run', 'print the dispatch plan; start nothing')
    .option('--wait', 'wait for the flow to end; exit 0 only when it completed')
    .option('--run-id <id>', 'choose the run id (default: generated)')
    .action(
      async (
        file: string,
        options: FlowOptions & { exportControlled?: boolean; nersc: boolean },
        command: Command,
      ) => {
        const configFile = path.resolve(options.config);
        const config = await readConfig(configFile, options.config);
        const request = {
          path: configPathOf(config, path.dirname(configFile), file, lakeFolderOf(command)),
          ...(options.exportControlled === true ? { exportControlled: true } : {}),
          ...(options.nersc ? {} : { overrides: { send_to_nersc: false, nersc: false } }),
        };
        if (options.dryRun === true) {
          const plan = planDispatch(config, request);
          out(globals(command).json === true ? JSON.stringify(plan) : renderPlan(plan));
          return;
        }
        await startFlow(command, 'beamline', { config: configFile, ...request }, options);
      },
    );
  flow
    .command('reconstruct')
    .description(
      'reconstruct a raw file at an HPC site: TIFF slices, a multi-resolution Zarr, both copied back',
    )
    .argument('<path>', 'the raw file (as for new-file), at the endpoint the site reads from')
    .requiredOption('--config <yaml>', 'the beamline config file')
    .requiredOption('--site <site>', 'nersc or alcf')
    .option('--dry-run', 'print the reconstruction plan; start nothing')
    .option('--wait', 'wait for the flow to end; exit 0 only when it completed')
    .option('--run-id <id>', 'choose the run id (default: generated)')
    .action(async (file: string, options: FlowOptions & { site: string }, command: Command) => {
      const configFile = path.resolve(options.config);
      const config = await readConfig(configFile, options.config);
      if (options.site !== 'nersc' && options.site !== 'alcf') {
        throw new BatonError('validation', `--site: must be nersc or alcf, got "${options.site}"`, {
          field: '--site',
        });
      }
      const where = configPathOf(config, path.dirname(configFile), file, lakeFolderOf(command));
      if (options.dryRun === true) {
        const plan = planReconstruction(config, options.site, locateFile(config, where));
        out(globals(command).json === true ? JSON.stringify(plan) : renderReconstructionPlan(plan));
        return;
      }
      await startFlow(
        command,
        'beamline-reconstruct',
        { config: configFile, site: options.site, path: where },
        options,
      );
    });
  flow
    .command('test-transfers')
    .description('move a probe file spot → data → NERSC, check each hop, clean up')
    .requiredOption('--config <yaml>', 'the beamline config file')
    .option('--wait', 'wait for the flow to end; exit 0 only when every hop passed')
    .option('--run-id <id>', 'choose the run id (default: generated)')
    .action(async (options: FlowOptions, command: Command) => {
      const configFile = path.resolve(options.config);
      await readConfig(configFile, options.config);
      await startFlow(command, 'beamline-test-transfers', { config: configFile }, options);
    });
}

interface FlowOptions {
  config: string;
  dryRun?: boolean;
  wait?: boolean;
  runId?: string;
}

/** The lake folder of the local state folder (where `lake` endpoints are locally). */
function lakeFolderOf(command: Command): string {
  return path.join(globals(command).stateDir, 'lake');
}

async function startFlow(
  command: Command,
  pipeline: string,
  params: Record<string, unknown>,
  options: FlowOptions,
): Promise<void> {
  await withConnection(command, async ({ api, embedded }, gl) => {
    let run = await api.startRun(pipeline, params, options.runId);
    if (!gl.json) err(`started ${run.runId}`);
    if (options.wait !== true) {
      if (embedded && !gl.json)
        err(`no host is running on ${gl.stateDir}: the flow goes on when one is (baton up)`);
      out(gl.json ? JSON.stringify(run) : run.runId);
      return;
    }
    run = await waitForRun(api, run.runId, {
      timeoutMs: 48 * 3600 * 1000,
      interactive: process.stderr.isTTY === true && !gl.json,
      verbose: gl.verbose === true,
      write: err,
    });
    run = await api.getRun(run.runId);
    if (gl.json) out(JSON.stringify(run));
    else {
      out(renderRun(run));
      const details = renderFlowResult(run.output ?? run.progress);
      if (details !== '') out(`\n${details}`);
    }
    exitForRun(run);
  });
}

async function readConfig(file: string, given: string): Promise<BeamlineConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new BatonError('validation', `--config: ${given} cannot be read`, { field: '--config' });
  }
  return parseBeamlineConfig(text, path.basename(file));
}

/**
 * The path as the config writes roots: a local file inside a folder endpoint's folder (roots
 * relative to the config's folder) or a lake endpoint's (below the local lake folder) becomes
 * `<root>/<below>`; anything else is passed as given.
 */
export function configPathOf(
  config: BeamlineConfig,
  configDir: string,
  file: string,
  lakeFolder: string,
): string {
  const local = path.resolve(file);
  for (const endpoint of Object.values(config.endpoints)) {
    if (endpoint.kind === 'globus') continue;
    const base = endpoint.kind === 'lake' ? lakeFolder : configDir;
    const root = path.resolve(base, endpoint.root.replace(/^\/+/, ''));
    const below = pathBelowRoot(root.split(path.sep).join('/'), local.split(path.sep).join('/'));
    if (below !== null && below !== '') return endpointPath(endpoint, below);
  }
  return file;
}

function renderPlan(plan: DispatchPlan): string {
  const lines = [
    `file            ${plan.file.endpoint}: ${plan.file.path}`,
    `export control  ${plan.exportControl.controlled ? `yes (${plan.exportControl.reasons.join('; ')})` : 'no'}`,
  ];
  if (plan.newFile === null) lines.push('new-file flow   off');
  else {
    lines.push(
      `hops            ${plan.newFile.hops.map((h) => `${h.from} → ${h.to}`).join(', ') || 'none'}`,
      `catalogue       ${plan.newFile.ingest}`,
      `retention       ${plan.newFile.retention.map((r) => `${r.endpoint} after ${r.afterDays} d`).join(', ') || 'none'}`,
    );
  }
  lines.push(
    `hpc flows       ${plan.hpcFlows.map((f) => `${f.site} (reads ${f.input.endpoint})`).join(', ') || 'none'}`,
  );
  for (const s of plan.skipped) lines.push(`skipped         ${s.step}: ${s.reason}`);
  for (const w of plan.warnings) lines.push(`warning         ${w}`);
  return lines.join('\n');
}

function renderReconstructionPlan(plan: ReconstructionPlan): string {
  const lines = [
    `site            ${plan.site} (${plan.siteEndpoint}, scratch ${plan.scratch})`,
    `raw             ${plan.raw.endpoint}: ${plan.raw.path}`,
    `stage           ${plan.stage === null ? 'none (the raw file is at the site)' : `${plan.stage.from} → ${plan.stage.to}`}`,
    `tiff            ${plan.tiff.endpoint}: ${plan.tiff.path}/`,
    `zarr            ${plan.zarr.endpoint}: ${plan.zarr.path}/`,
    `back            ${plan.back.map((h) => `${h.from} → ${h.to} ${h.path}`).join(', ')}`,
    `retention       ${plan.retention.map((r) => `${r.endpoint}:${r.path}${r.folder ? '/' : ''} after ${r.afterDays} d`).join(', ') || 'none'}`,
  ];
  return lines.join('\n');
}

/** The hops of a flow's transfers and the steps of its reconstructions, as tables. */
export function renderFlowResult(value: unknown): string {
  const result = value as
    | (Partial<BeamlineDispatchOutput> & Partial<ReconstructionResult> & { hops?: HopResult[] })
    | null
    | undefined;
  if (result === null || result === undefined || typeof result !== 'object') return '';
  const parts: string[] = [];
  const hops = result.newFile?.hops ?? (Array.isArray(result.hops) ? result.hops : []);
  if (hops.length > 0) parts.push(hopsTable(hops));
  const reconstructions = result.reconstructions ?? (result.steps === undefined ? [] : [result]);
  for (const r of reconstructions) {
    if (r.steps === undefined) continue;
    parts.push(
      `${r.site ?? ''} reconstruction: ${r.status ?? ''}\n` +
        table(
          ['STEP', 'STATE', 'DURATION', 'REASON'],
          r.steps.map((s) => [s.name, s.state, `${s.durationMs} ms`, s.reason ?? '']),
        ),
    );
  }
  return parts.join('\n\n');
}

function hopsTable(hops: HopResult[]): string {
  return table(
    ['FROM', 'TO', 'STATE', 'FILES', 'BYTES', 'DURATION', 'RATE', 'REASON'],
    hops.map((h) => [
      h.from,
      h.to,
      h.state,
      String(h.files),
      formatBytes(h.bytes),
      `${h.durationMs} ms`,
      `${formatBytes(h.rate)}/s`,
      h.reason ?? '',
    ]),
  );
}
