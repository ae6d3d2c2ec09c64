// @ts-check
// Building DOM from data with textContent only (never innerHTML), so nothing the API returns
// (a log line, an error message, a param value) can become markup or script.

/**
 * @param {string} tag
 * @param {Record<string, string | number | boolean | ((event: Event) => void) | undefined>} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : String(child));
  }
  return el;
}

/**
 * @param {string[]} columns
 * @param {Array<Array<Node | string | number | null | undefined>>} rows
 * @param {string} [testId]
 */
export function table(columns, rows, testId) {
  return h(
    'table',
    { 'data-testid': testId },
    h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, ...rows.map((row) => h('tr', {}, ...row.map((cell) => h('td', {}, cell))))),
  );
}

/**
 * A table, or when there are no rows a muted line saying so (under the same test id).
 * @param {string} empty
 * @param {string[]} columns
 * @param {Array<Array<Node | string | number | null | undefined>>} rows
 * @param {string} testId
 */
export function tableOrNote(empty, columns, rows, testId) {
  if (rows.length === 0) return h('p', { class: 'muted', 'data-testid': testId }, empty);
  return table(columns, rows, testId);
}

/** @param {string} status */
export function statusBadge(status) {
  return h('span', { class: `status status-${status}`, 'data-status': status }, status);
}

/** @param {unknown} value */
export function jsonBlock(value) {
  return h('pre', {}, JSON.stringify(value, null, 2));
}

/** @param {{ code: string, message: string }} error */
export function errorLine(error) {
  return h('p', { class: 'error', role: 'alert', 'data-testid': 'error' }, error.message);
}

/** @param {number | undefined} ms */
export function formatDuration(ms) {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** @param {string | undefined} iso */
export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** @param {number} bytes */
export function formatBytes(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * `el.replaceChildren(...)` that leaves out null, undefined and false (the DOM's own would
 * print them as text).
 * @param {Element} el
 * @param {...(Node | string | null | undefined | false)} children
 */
export function setChildren(el, ...children) {
  el.replaceChildren(
    .../** @type {Array<Node | string>} */ (
      children.filter((c) => c !== null && c !== undefined && c !== false)
    ),
  );
}
