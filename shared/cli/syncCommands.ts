import { Argument, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { databankDir } from '../app/databanks.js';
import { loadConfig } from '../app/config.js';
import {
  syncActions,
  syncDatabank,
  type ListSummary,
  type ProgressListener,
  type SyncAction,
  type TransferSummary,
} from '../app/databankSync.js';
import { createServices } from '../app/services.js';
import { defaultConfigFileName } from '../domain/databankLayout.js';
import { skipReasonText, type SkipReason, type SyncStep } from '../domain/databankSync.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { err, globals, out } from './commandSupport.js';
import { formatBytes, table } from './output.js';

/**
 * `baton sync upload|download|list <databank>`: the seed's `adls_sync`. It runs in the CLI
 * itself (no host): the databank is a folder on this machine (`<databank root>/<name>`) and the
 * lake is the one the settings choose, so the same command works against the local folder lake
 * and ADLS.
 */
export function registerSyncCommands(program: Command): void {
  program
    .command('sync')
    .description("sync a databank with the lake: upload, download or list (the seed's adls_sync)")
    .addArgument(new Argument('<action>', 'upload, download or list').choices(syncActions))
    .argument('<databank>', 'the databank (a folder under the databank root)')
    .option(
      '--project-folder <path>',
      "lake folder of the databanks (default: the config's operational_mode.cloud.adls_folder, else orca_model_runs)",
    )
    .option('--config <file>', 'config file name in the databank', defaultConfigFileName)
    .option('--dry-run', 'show the plan; change nothing')
    .action(
      async (
        action: SyncAction,
        databank: string,
        options: { projectFolder?: string; config: string; dryRun?: boolean },
        command: Command,
      ) => {
        const g = globals(command);
        const config = loadConfig({ ...process.env, BATON_STATE_DIR: g.stateDir });
        const services = await createServices(config);
        const progress = progressDisplay(process.stderr.isTTY === true && !g.json, g.verbose);
        let summary;
        try {
          summary = await syncDatabank(
            { lake: services.lake, clock: services.clock },
            {
              action,
              databank,
              databankDir: databankDir(config, databank),
              projectFolder: options.projectFolder,
              configFileName: options.config,
              dryRun: options.dryRun === true,
            },
            progress.listener,
          );
        } catch (error) {
          throw withFlagNames(error);
        } finally {
          progress.stop();
        }
        if (g.json) return out(JSON.stringify(summary));
        out(
          summary.action === 'list'
            ? renderList(summary)
            : renderTransfer(summary, g.verbose === true),
        );
      },
    );
}

/** A bar on an interactive terminal; one line per event with --verbose otherwise; else nothing. */
function progressDisplay(
  interactive: boolean,
  verbose: boolean | undefined,
): { listener: ProgressListener; stop: () => void } {
  if (!interactive) {
    return {
      listener: verbose === true ? (p) => err(p.message) : () => undefined,
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {value}/{total} files | {transferred} | {message}',
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    listener: (p) => {
      if (p.phase === 'prepare') {
        if (verbose === true) err(p.message);
        return;
      }
      const payload = {
        transferred: `${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`,
        message: p.message.length > 60 ? `…${p.message.slice(-59)}` : p.message,
      };
      if (!started) {
        bar.start(p.total, 0, payload);
        started = true;
      }
      bar.update(p.done, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

const flagOfField: Record<string, string> = {
  projectFolder: '--project-folder',
  config: '--config',
};

/** The app names request fields; on the command line the user knows them as flags. */
function withFlagNames(error: unknown): unknown {
  if (!isBatonError(error) || error.field === undefined) return error;
  const flag = flagOfField[error.field];
  if (flag === undefined) return error;
  const message = error.message.startsWith(`${error.field}:`)
    ? `${flag}${error.message.slice(error.field.length)}`
    : error.message;
  return new BatonError(error.code, message, { field: flag, cause: error });
}

function renderTransfer(s: TransferSummary, verbose: boolean): string {
  const lines: string[] = [];
  const seconds = (s.ms / 1000).toFixed(1);
  const would = s.dryRun ? 'would ' : '';
  const verb = s.action === 'upload' ? `${would}upload` : `${would}download`;
  const count = s.action === 'upload' ? s.uploaded : s.downloaded;
  const direction =
    s.action === 'upload'
      ? `from ${s.localFolder} to lake:${s.lakePrefix}/`
      : `from lake:${s.lakePrefix}/ to ${s.localFolder}`;
  const scope =
    s.scope === 'everything'
      ? ' (empty databank: everything)'
      : s.scope === 'newOutputs'
        ? ' (existing databank: new outputs only)'
        : '';
  const unzipped = s.unzipped > 0 ? `, ${s.unzipped} component(s) unpacked` : '';
  lines.push(
    `${s.dryRun ? 'dry run: ' : ''}${verb} ${count} file(s), ${formatBytes(s.bytes)}, ${direction}${scope}${unzipped}; ${s.unchanged} unchanged; ${s.skipped} skipped; ${seconds} s`,
  );
  if (s.outputsOnly) lines.push('UPLOAD_OUTPUTS_ONLY: only outputs and config files');
  for (const [reason, n] of Object.entries(s.skippedByReason)) {
    lines.push(`  skipped ${n}: ${skipReasonText[reason as SkipReason]}`);
  }
  if (s.conflicts.length > 0) {
    lines.push(`${s.conflicts.length} conflict(s), nothing overwritten or lost:`);
    for (const c of s.conflicts) lines.push(`  ${c.path}: ${c.resolution} (${c.side})`);
  }
  if (s.plan !== undefined) {
    const shown = s.plan.filter((step) => verbose || step.op !== 'skip');
    if (shown.length > 0) lines.push('', renderPlan(shown));
  }
  return lines.join('\n');
}

function renderPlan(steps: SyncStep[]): string {
  return table(
    ['OP', 'KIND', 'PATH', 'TO / WHY'],
    steps.map((step) => {
      if (step.op === 'skip') {
        return ['skip', step.kind, step.path, skipReasonText[step.reason]];
      }
      if (step.op === 'upload') {
        const how = step.mode === 'replace' ? ' (replace)' : '';
        const kept =
          step.preserveRemoteAt === undefined ? '' : `; lake copy kept at ${step.preserveRemoteAt}`;
        return ['upload', step.kind, step.from, `${step.to}${how}${kept}`];
      }
      const to = step.unzipInto === undefined ? step.to : `${step.unzipInto}/ (unzipped)`;
      return ['download', step.kind, step.from, to];
    }),
  );
}

function renderList(s: ListSummary): string {
  return [
    table(
      ['PATH', 'KIND', 'SIZE', 'MD5'],
      s.entries.map((e) => [e.path, e.kind, formatBytes(e.size), e.md5 ?? '-']),
    ),
    `${s.files} file(s), ${formatBytes(s.bytes)} in lake:${s.lakePrefix}/`,
  ].join('\n');
}
