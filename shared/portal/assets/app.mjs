// @ts-check
// The portal's entry: sign-in, who is signed in, and a hash router. Each view renders into
// <main> and gets a context whose timers and charts are stopped when the user goes to another view, so a view
// left behind never keeps polling the API.
import { currentUser, signInFromUrl } from './api.mjs';
import { renderDataset, renderDatasets } from './datasetsPage.mjs';
import { h } from './dom.mjs';
import { renderRetention } from './retentionPage.mjs';
import { renderRun } from './runPage.mjs';
import { renderRuns } from './runsPage.mjs';
import { renderSlots } from './slotsPage.mjs';
import { renderStart } from './startPage.mjs';
import { renderTask, renderTasks } from './tasksPage.mjs';

/**
 * @typedef {object} ViewContext
 * @property {HTMLElement} root
 * @property {URLSearchParams} query
 * @property {(ms: number, fn: () => Promise<void> | void) => void} every
 * @property {(fn: () => void) => void} onLeave
 * @property {() => boolean} active
 */

/** @type {Array<{ pattern: RegExp, render: (ctx: ViewContext, ...params: string[]) => Promise<void> }>} */
const routes = [
  { pattern: /^\/runs\/([^/]+)$/, render: renderRun },
  { pattern: /^\/runs$/, render: renderRuns },
  { pattern: /^\/start$/, render: renderStart },
  { pattern: /^\/tasks\/([^/]+)$/, render: renderTask },
  { pattern: /^\/tasks$/, render: renderTasks },
  { pattern: /^\/datasets\/([^/]+)$/, render: renderDataset },
  { pattern: /^\/datasets$/, render: renderDatasets },
  { pattern: /^\/retention$/, render: renderRetention },
  { pattern: /^\/slots$/, render: renderSlots },
];

/** @type {Array<() => void>} */
let leaving = [];
let generation = 0;

async function show() {
  for (const fn of leaving.splice(0)) fn();
  const mine = ++generation;
  const hash = location.hash.replace(/^#/, '') || '/runs';
  const [path = '/runs', search = ''] = hash.split('?');
  const root = /** @type {HTMLElement} */ (document.getElementById('view'));
  root.replaceChildren();
  /** @type {ViewContext} */
  const ctx = {
    root,
    query: new URLSearchParams(search),
    every(ms, fn) {
      const timer = setInterval(() => {
        if (mine === generation) void fn();
      }, ms);
      leaving.push(() => clearInterval(timer));
    },
    onLeave(fn) {
      leaving.push(fn);
    },
    active: () => mine === generation,
  };
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    await route.render(ctx, ...match.slice(1).map(decodeURIComponent));
    return;
  }
  root.append(h('p', { class: 'error' }, `No page ${path}.`));
}

const userLabel = /** @type {HTMLElement} */ (document.getElementById('user'));
window.addEventListener('hashchange', () => void show());
void (async () => {
  const refused = await signInFromUrl();
  const user = await currentUser();
  userLabel.textContent = refused === undefined ? user : `${user} (sign-in refused: ${refused})`;
  userLabel.dataset.user = user;
  await show();
})();
