import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
  endpointPath,
  parseBeamlineConfig,
  pathBelowRoot,
  type BeamlineConfig,
} from '../domain/beamline/config.js';
import { planDispatch, type DispatchPlan } from '../domain/beamline/dispatch.js';
import { BatonError } from '../domain/errors.js';
import type { BeamlineDispatchOutput } from '../orchestrations/beamlineTypes.js';
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
    .description('dispatch a new beamline file: transfers, catalogue ingest, retention entries')
    .argument(
      '<path>',
      'the file: a local path inside a folder endpoint, or as the config writes it',
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
        options: {
          config: string;
          exportControlled?: boolean;
          nersc: boolean;
          dryRun?: boolean;
          wait?: boolean;
          runId?: string;
        },
        command: Command,
      ) => {
        const configFile = path.resolve(options.config);
        const config = await readConfig(configFile, options.config);
        const request = {
          path: configPathOf(config, path.dirname(configFile), file),
          ...(options.exportControlled === true ? { exportControlled: true } : {}),
          ...(options.nersc ? {} : { overrides: { send_to_nersc: false, nersc: false } }),
        };
        if (options.dryRun === true) {
          const plan = planDispatch(config, request);
          out(globals(command).json === true ? JSON.stringify(plan) : renderPlan(plan));
          return;
        }
        await withConnection(command, async ({ api, embedded }, gl) => {
          let run = await api.startRun(
            'beamline',
            { config: configFile, ...request },
            options.runId,
          );
          if (!gl.json) err(`started ${run.runId}`);
          if (options.wait !== true) {
            if (embedded && !gl.json)
              err(`no host is running on ${gl.stateDir}: the flow goes on when one is (baton up)`);
            out(gl.json ? JSON.stringify(run) : run.runId);
            return;
          }
          run = await waitForRun(api, run.runId, {
            timeoutMs: 24 * 3600 * 1000,
            interactive: process.stderr.isTTY === true && !gl.json,
            verbose: gl.verbose === true,
            write: err,
          });
          run = await api.getRun(run.runId);
          if (gl.json) out(JSON.stringify(run));
          else {
            out(renderRun(run));
            const hops = hopsOf(run.output ?? run.progress);
            if (hops !== undefined) out(`\n${hops}`);
          }
          exitForRun(run);
        });
      },
    );
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
 * relative to the config's folder) becomes `<root>/<below>`; anything else is passed as given.
 */
export function configPathOf(config: BeamlineConfig, configDir: string, file: string): string {
  const local = path.resolve(file);
  for (const endpoint of Object.values(config.endpoints)) {
    if (endpoint.kind !== 'folder') continue;
    const root = path.resolve(configDir, endpoint.root);
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
    `hpc flows       ${plan.hpcFlows.map((f) => f.site).join(', ') || 'none'} (not run by this version)`,
  );
  for (const s of plan.skipped) lines.push(`skipped         ${s.step}: ${s.reason}`);
  for (const w of plan.warnings) lines.push(`warning         ${w}`);
  return lines.join('\n');
}

function hopsOf(value: unknown): string | undefined {
  const newFile = (value as Partial<BeamlineDispatchOutput> | null | undefined)?.newFile;
  if (newFile === null || newFile === undefined || newFile.hops.length === 0) return undefined;
  return table(
    ['FROM', 'TO', 'STATE', 'FILES', 'BYTES', 'DURATION', 'RATE', 'REASON'],
    newFile.hops.map((h) => [
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
