import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { BatonError } from '../domain/errors.js';
import { out, withConnection } from './commandSupport.js';
import { table } from './output.js';

/**
 * `baton prune --beamline <config.yaml> (--dry-run | --now)`: the verified beamline pruner over
 * `POST /api/beamline/prune` (the same pass the `pruneBeamline` timer makes). `--dry-run` lists
 * what would go and why and changes nothing; `--now` deletes, as the signed-in user, every due
 * copy with a proven survivor. One of the two is required, so pruning is never an accident.
 * The config is sent as an absolute path, which the host requires inside its sources root.
 */
const copySchema = z.object({ endpoint: z.string(), path: z.string(), checksum: z.string() });

export const beamlinePruneReportSchema = z.object({
  beamline: z.string(),
  dryRun: z.boolean(),
  at: z.string(),
  due: z.number(),
  deleted: z.number(),
  refused: z.number(),
  gone: z.number(),
  failed: z.number(),
  entries: z.array(
    z.object({
      endpoint: z.string(),
      path: z.string(),
      dueAt: z.string(),
      outcome: z.enum(['deleted', 'would-delete', 'refused', 'gone', 'failed']),
      reason: z.string(),
      survivor: copySchema.optional(),
      refusal: z.object({ code: z.string(), reason: z.string() }).optional(),
      error: z.string().optional(),
    }),
  ),
});
export type BeamlinePruneReportDto = z.infer<typeof beamlinePruneReportSchema>;

export function registerPruneCommands(program: Command): void {
  program
    .command('prune')
    .description('prune due beamline copies that provably survive elsewhere (verified pruner)')
    .requiredOption('--beamline <yaml>', 'the beamline config whose retention entries to prune')
    .option('--dry-run', 'list what would be deleted or refused, and why; change nothing')
    .option('--now', 'prune now: delete every due copy with a surviving copy elsewhere')
    .action(
      async (options: { beamline: string; dryRun?: boolean; now?: boolean }, command: Command) => {
        const dryRun = options.dryRun === true;
        if (dryRun === (options.now === true)) {
          throw new BatonError('validation', '--dry-run or --now: give exactly one', {
            field: '--now',
          });
        }
        const config = path.resolve(options.beamline);
        await withConnection(command, async ({ api }, g) => {
          const report = await api.request(beamlinePruneReportSchema, 'POST', 'beamline/prune', {
            config,
            dryRun,
          });
          out(g.json === true ? JSON.stringify(report) : renderPruneReport(report));
        });
      },
    );
}

export function renderPruneReport(report: BeamlinePruneReportDto): string {
  const head = report.dryRun
    ? `beamline ${report.beamline}: ${report.due} due (dry run, nothing changed)`
    : `beamline ${report.beamline}: deleted ${report.deleted}, refused ${report.refused}, already gone ${report.gone}, failed ${report.failed} of ${report.due} due`;
  if (report.entries.length === 0) return head;
  const rows = report.entries.map((e) => [e.outcome, e.endpoint, e.path, e.dueAt, e.reason]);
  return `${head}\n${table(['OUTCOME', 'ENDPOINT', 'PATH', 'DUE', 'WHY'], rows)}`;
}
