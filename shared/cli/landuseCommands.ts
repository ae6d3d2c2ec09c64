import { Option, type Command } from 'commander';
import path from 'node:path';
import { unpackLanduse } from '../app/unpackLanduse.js';
import { parseModelYear } from '../domain/landuse.js';
import { globals, out } from './commandSupport.js';
import { formatBytes, table } from './output.js';

/**
 * `baton landuse unpack`: the transport modellers' land-use extraction (seed action
 * `unpack_landuse`). It works on local files only, so it runs in the CLI itself; no host.
 */
export function registerLanduseCommands(program: Command): void {
  const landuse = program.command('landuse').description('land-use data for model runs');
  landuse
    .command('unpack')
    .description(
      'extract the files of one model year from a zip archive (safe: nothing outside --output)',
    )
    .requiredOption('--model-year <year>', 'the model year, e.g. 2017')
    .requiredOption('--input <zip>', 'the land-use archive')
    .requiredOption('--output <dir>', 'where the files go (created if missing)')
    .option('--overwrite', 'replace files that already exist in --output')
    .addOption(new Option('--dry-run', 'list what would be extracted; write nothing'))
    .action(
      async (
        options: {
          modelYear: string;
          input: string;
          output: string;
          overwrite?: boolean;
          dryRun?: boolean;
        },
        command: Command,
      ) => {
        const g = globals(command);
        const report = await unpackLanduse({
          modelYear: parseModelYear(options.modelYear, '--model-year'),
          input: path.resolve(options.input),
          output: path.resolve(options.output),
          overwrite: options.overwrite === true,
          dryRun: options.dryRun === true,
        });
        if (g.json) return out(JSON.stringify(report));
        const verb = report.dryRun ? 'would extract' : 'extracted';
        out(
          `${verb} ${report.matched} file(s) of ${report.modelYear} (${formatBytes(report.bytes)}); ${report.skipped} entries of other years skipped`,
        );
        if (report.files.length > 0)
          out(
            table(
              ['FILE', 'BYTES'],
              report.files.map((f) => [f.path, String(f.bytes)]),
            ),
          );
      },
    );
}
