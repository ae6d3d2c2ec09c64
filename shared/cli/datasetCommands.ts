import type { Command } from 'commander';
import { parseDatasetName } from '../domain/datasets.js';
import type { DatasetDto, DatasetViewDto } from './apiClient.js';
import { out, withConnection } from './commandSupport.js';
import { age, formatBytes, table } from './output.js';

/**
 * `baton dataset register|list|show|delete`: Orchestra's dataset registry over `/api/datasets`.
 * Names are checked here before any host starts, so a bad name fails fast (exit 2) naming the
 * flag; the server checks them again.
 */

export function renderDatasetList(list: DatasetDto[]): string {
  if (list.length === 0) return 'no datasets';
  return table(
    ['DATASET', 'KIND', 'ITEMS', 'SIZE', 'PATH', 'AGE'],
    list.map((d) => [
      d.name,
      d.kind,
      String(d.items),
      formatBytes(d.bytes),
      d.path,
      age(d.registeredAt),
    ]),
  );
}

export function renderDataset(d: DatasetViewDto): string {
  const lines = [
    `dataset     ${d.name}`,
    `owner       ${d.owner}`,
    `path        ${d.path}${d.present ? '' : ' (missing from the lake)'}`,
    `kind        ${d.kind}`,
    `items       ${d.items} at registration, ${d.files.length} now`,
    `size        ${formatBytes(d.bytes)} at registration`,
    `registered  ${d.registeredAt} by ${d.registeredBy}`,
  ];
  if (d.files.length > 0) {
    lines.push('');
    lines.push(
      table(
        ['ITEM', 'SIZE'],
        d.files.map((f) => [f.name, formatBytes(f.bytes)]),
      ),
    );
  }
  return lines.join('\n');
}

export function registerDatasetCommands(program: Command): void {
  const dataset = program
    .command('dataset')
    .description('register, list, show and delete datasets (user.<owner>.<name> → lake path)');

  dataset
    .command('register')
    .description('register a lake file or folder as a dataset you own')
    .requiredOption('-d, --dataset <name>', 'dataset name, user.<you>.<name>')
    .requiredOption('-p, --path <path>', 'lake path of a file or a folder')
    .action(async (options: { dataset: string; path: string }, command: Command) => {
      parseDatasetName(options.dataset, '--dataset');
      await withConnection(command, async ({ api }, g) => {
        const d = await api.registerDataset(options.dataset, options.path);
        out(
          g.json
            ? JSON.stringify(d)
            : `registered ${d.name} → ${d.kind} ${d.path} (${d.items} item${d.items === 1 ? '' : 's'}, ${formatBytes(d.bytes)})`,
        );
      });
    });

  dataset
    .command('list')
    .description('list datasets by name')
    .option('-u, --owner <owner>', "only this user's datasets")
    .action(async (options: { owner?: string }, command: Command) => {
      await withConnection(command, async ({ api }, g) => {
        const list = await api.listDatasets(options.owner);
        out(g.json ? JSON.stringify(list) : renderDatasetList(list));
      });
    });

  dataset
    .command('show')
    .description('show a dataset and the items the lake holds for it now')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      parseDatasetName(name, 'name');
      await withConnection(command, async ({ api }, g) => {
        const d = await api.getDataset(name);
        out(g.json ? JSON.stringify(d) : renderDataset(d));
      });
    });

  dataset
    .command('delete')
    .description('delete a dataset you own (its files stay unless --remove-files)')
    .argument('<name>')
    .option('--remove-files', "also delete the dataset's file or folder from the lake")
    .action(async (name: string, options: { removeFiles?: boolean }, command: Command) => {
      parseDatasetName(name, 'name');
      await withConnection(command, async ({ api }, g) => {
        const result = await api.deleteDataset(name, options.removeFiles === true);
        out(
          g.json
            ? JSON.stringify(result)
            : `deleted ${result.name}${result.filesRemoved ? ' and its files' : ''}`,
        );
      });
    });
}
