// @ts-check
// Reads the Prometheus text of `GET /api/metrics` in the browser: the slots page's only source,
// since no JSON route returns backends and their slots. Pure (no DOM), so node tests import it.

/**
 * Every sample line as `{ name, labels, value }`; comments and blank lines are skipped, a line
 * that does not parse is left out rather than failing the page.
 * @param {string} text
 * @returns {Array<{ name: string, labels: Record<string, string>, value: number }>}
 */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    /** @type {Record<string, string>} */
    const labels = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return samples;
}

/**
 * Slots per backend from the `baton_backend_slots` and `baton_backend_slots_in_use` gauges.
 * @param {ReturnType<typeof parseMetrics>} samples
 * @returns {Array<{ backend: string, slots: number, inUse: number, free: number }>}
 */
export function slotsByBackend(samples) {
  /** @type {Map<string, { backend: string, slots: number, inUse: number, free: number }>} */
  const byBackend = new Map();
  /** @param {string} backend */
  const entry = (backend) => {
    const found = byBackend.get(backend) ?? { backend, slots: 0, inUse: 0, free: 0 };
    byBackend.set(backend, found);
    return found;
  };
  for (const s of samples) {
    const backend = s.labels.backend;
    if (backend === undefined) continue;
    if (s.name === 'baton_backend_slots') entry(backend).slots = s.value;
    if (s.name === 'baton_backend_slots_in_use') entry(backend).inUse = s.value;
  }
  for (const e of byBackend.values()) e.free = Math.max(0, e.slots - e.inUse);
  return [...byBackend.values()].sort((a, b) => (a.backend < b.backend ? -1 : 1));
}
