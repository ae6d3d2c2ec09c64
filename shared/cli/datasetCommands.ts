import type { Command } from 'commander';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseDatasetName } from '../domain/datasets.js';
import { BatonError } from '../domain/errors.js';
import { normalizeLakePath } from '../domain/paths.js';
import type { DatasetDto, DatasetViewDto } from './apiClient.js';
import { err, out, withConnection } from './commandSupport.js';
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
    .option(
      '-p, --path <path>',
      'lake path of a file or a folder (with --upload: below users/<you>/)',
    )
    .option(
      '--upload <local>',
      'first copy this local file or folder into the lake (below users/<you>/; never overwrites)',
    )
    .option(
      '--backend <name>',
      'accepted for Orchestra scripts (--cluster); data lives in the lake',
    )
    .action(
      async (options: { dataset: string; path?: string; upload?: string }, command: Command) => {
        const { rest } = parseDatasetName(options.dataset, '--dataset');
        if (options.path === undefined && options.upload === undefined) {
          throw new BatonError(
            'validation',
            '--path: required (or --upload a local file or folder)',
            {
              field: '--path',
            },
          );
        }
        const files = options.upload === undefined ? [] : await localFiles(options.upload);
        await withConnection(command, async ({ api }, g) => {
          let lakePath = options.path ?? '';
          if (options.upload !== undefined) {
            const relative = normalizeLakePath(options.path ?? rest, '--path');
            const single = files.length === 1 && files[0]?.relative === '';
            for (const [i, file] of files.entries()) {
              const target = single ? relative : `${relative}/${file.relative}`;
              await api.uploadFile(target, await readFile(file.absolute));
              if (g.verbose) err(`uploaded ${i + 1}/${files.length} ${target}`);
            }
            lakePath = `users/${api.user}/${relative}`;
          }
          const d = await api.registerDataset(options.dataset, lakePath);
          out(
            g.json
              ? JSON.stringify(d)
              : `registered ${d.name} → ${d.kind} ${d.path} (${d.items} item${d.items === 1 ? '' : 's'}, ${formatBytes(d.bytes)})`,
          );
        });
      },
    );

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

/**
 * The regular files of a local file or folder (recursively, hidden names and symlinks skipped:
 * a link could point anywhere), each with its path relative to the folder ('' for a file).
 */
async function localFiles(local: string): Promise<Array<{ absolute: string; relative: string }>> {
  const root = path.resolve(local);
  const info = await stat(root).catch(() => undefined);
  if (info === undefined) {
    throw new BatonError('validation', `--upload: ${local} does not exist`, { field: '--upload' });
  }
  if (info.isFile()) return [{ absolute: root, relative: '' }];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile())
    .map((e) => {
      const absolute = path.join(e.parentPath, e.name);
      return { absolute, relative: path.relative(root, absolute).split(path.sep).join('/') };
    })
    .filter((f) => !f.relative.split('/').some((part) => part.startsWith('.')))
    .sort((a, b) => (a.relative < b.relative ? -1 : 1));
  if (files.length === 0) {
    throw new BatonError('validation', `--upload: ${local} has no files`, { field: '--upload' });
  }
  return files;
}
