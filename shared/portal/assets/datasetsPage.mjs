// @ts-check
// Datasets: the registry (name, owner, kind, items, size, registered when and by whom),
// filtered by owner (kept in the URL), and one dataset with its files as the lake lists them now.
import { api, queryString } from './api.mjs';
import { errorLine, formatBytes, formatTime, h, setChildren, table } from './dom.mjs';

/**
 * @typedef {{ name: string, owner: string, path: string, kind: string, items: number, bytes: number, registeredAt: string, registeredBy: string }} DatasetRecord
 */

/** @param {string} name */
const datasetLink = (name) => h('a', { href: `#/datasets/${encodeURIComponent(name)}` }, name);

/** @param {import('./app.mjs').ViewContext} ctx */
export async function renderDatasets(ctx) {
  const owner = ctx.query.get('owner') ?? '';
  const list = h('div', { 'data-testid': 'datasets-list' });
  const ownerBox = /** @type {HTMLInputElement} */ (
    h('input', { 'data-testid': 'filter-owner', placeholder: 'any owner', value: owner })
  );
  ownerBox.addEventListener('change', () => {
    location.hash = `#/datasets${queryString({ owner: ownerBox.value.trim() })}`;
  });
  ctx.root.append(
    h('h1', {}, 'Datasets'),
    h('div', { class: 'filters' }, h('label', {}, 'owner ', ownerBox)),
    list,
  );
  const reply = await api('GET', `datasets${queryString({ owner })}`);
  if (!ctx.active()) return;
  if (!reply.ok) return list.replaceChildren(errorLine(reply.error));
  /** @type {DatasetRecord[]} */
  const datasets = reply.data;
  setChildren(
    list,
    datasets.length === 0
      ? h('p', { class: 'muted' }, owner ? `No datasets of ${owner}.` : 'No datasets.')
      : table(
          ['dataset', 'owner', 'kind', 'items', 'size', 'lake path', 'registered'],
          datasets.map((d) => [
            datasetLink(d.name),
            h('a', { href: `#/datasets?owner=${encodeURIComponent(d.owner)}` }, d.owner),
            d.kind,
            d.items,
            formatBytes(d.bytes),
            h('code', {}, d.path),
            `${formatTime(d.registeredAt)} by ${d.registeredBy}`,
          ]),
          'datasets-table',
        ),
  );
}

/** @param {import('./app.mjs').ViewContext} ctx @param {string} name */
export async function renderDataset(ctx, name) {
  const body = h('div', { 'data-testid': 'dataset' });
  ctx.root.append(
    h('p', {}, h('a', { href: '#/datasets' }, '← datasets')),
    h('h1', {}, `Dataset ${name}`),
    body,
  );
  const reply = await api('GET', `datasets/${encodeURIComponent(name)}`);
  if (!ctx.active()) return;
  if (!reply.ok) return body.replaceChildren(errorLine(reply.error));
  /** @type {DatasetRecord & { present: boolean, files: Array<{ name: string, path: string, bytes: number }> }} */
  const dataset = reply.data;
  setChildren(
    body,
    h(
      'p',
      {},
      'owner ',
      h('strong', {}, dataset.owner),
      ` · ${dataset.kind} `,
      h('code', {}, dataset.path),
      ` · ${dataset.items} items, ${formatBytes(dataset.bytes)} when registered`,
    ),
    dataset.present
      ? null
      : h(
          'p',
          { class: 'error' },
          'Its lake path no longer exists: the record outlived its files.',
        ),
    h('h2', {}, `Files now (${dataset.files.length})`),
    table(
      ['item', 'lake path', 'size'],
      dataset.files.map((f) => [f.name, h('code', {}, f.path), formatBytes(f.bytes)]),
      'dataset-files',
    ),
  );
}
