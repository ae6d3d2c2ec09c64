// @ts-check
// Start any pipeline. Parameters come from the pipeline's JSON Schema (GET /api/pipelines):
// one field per parameter when every parameter is a plain value, a JSON box otherwise. The
// form does not validate on its own: the API validates with the same zod schema as the CLI,
// and its 400 `error.field` puts the message next to that field.
import { api } from './api.mjs';
import { errorLine, h } from './dom.mjs';

/**
 * @typedef {{ type?: string | string[], enum?: unknown[], default?: unknown, description?: string, minimum?: number, maximum?: number }} PropSchema
 * @typedef {{ name: string, description: string, params: { type?: string, properties?: Record<string, PropSchema>, required?: string[] } }} Pipeline
 */

const plainTypes = new Set(['string', 'number', 'integer', 'boolean']);

/** @param {Pipeline} p */
function isSimple(p) {
  const props = p.params.properties;
  if (p.params.type !== 'object' || !props) return false;
  return Object.values(props).every((s) => typeof s.type === 'string' && plainTypes.has(s.type));
}

/** @param {import('./app.mjs').ViewContext} ctx */
export async function renderStart(ctx) {
  ctx.root.append(h('h1', {}, 'Start a run'));
  const reply = await api('GET', 'pipelines');
  if (!reply.ok) {
    ctx.root.append(errorLine(reply.error));
    return;
  }
  /** @type {Pipeline[]} */
  const pipelines = reply.data;
  const chosen = ctx.query.get('pipeline') ?? pipelines[0]?.name ?? '';
  const select = h(
    'select',
    {
      id: 'pipeline',
      'data-testid': 'pipeline',
      onchange: (e) =>
        (location.hash = `#/start?pipeline=${encodeURIComponent(/** @type {HTMLSelectElement} */ (e.target).value)}`),
    },
    ...pipelines.map((p) => h('option', { value: p.name, selected: p.name === chosen }, p.name)),
  );
  const pipeline = pipelines.find((p) => p.name === chosen);
  ctx.root.append(
    h('div', { class: 'form-row' }, h('label', { for: 'pipeline' }, 'pipeline'), select),
  );
  if (!pipeline) return;
  ctx.root.append(h('p', { class: 'muted' }, pipeline.description));

  const simple = isSimple(pipeline);
  const fields = simple ? simpleFields(pipeline) : jsonField(pipeline);
  const formError = h('div', { 'data-testid': 'form-error' });
  const form = h(
    'form',
    { 'data-testid': 'start-form', novalidate: true },
    ...fields.rows,
    h(
      'p',
      { class: 'actions' },
      h('button', { type: 'submit', 'data-testid': 'submit' }, 'Start'),
      formError,
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submit();
  });
  ctx.root.append(form);

  const submit = async () => {
    for (const slot of form.querySelectorAll('[data-error-for]')) slot.textContent = '';
    formError.replaceChildren();
    const params = fields.read();
    if (params === undefined) return;
    const started = await api('POST', 'runs', { pipeline: pipeline.name, params });
    if (started.ok) {
      location.hash = `#/runs?started=${encodeURIComponent(started.data.runId)}`;
      return;
    }
    const slot = slotFor(form, started.error.field);
    if (slot) slot.textContent = started.error.message;
    else formError.replaceChildren(errorLine(started.error));
  };
}

/**
 * The error slot nearest to a dotted field name (`params.count`, or `params` for anything
 * inside a JSON box), so a nested field's error still lands next to what the user typed.
 * @param {HTMLElement} form @param {string | undefined} field
 */
function slotFor(form, field) {
  let name = field;
  while (name) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (slot) return slot;
    name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
  }
  return null;
}

/** @param {Pipeline} pipeline */
function simpleFields(pipeline) {
  const props = pipeline.params.properties ?? {};
  const required = new Set(pipeline.params.required ?? []);
  const inputs = Object.entries(props).map(([name, schema]) => {
    const id = `param-${name}`;
    const input =
      schema.type === 'boolean'
        ? h('input', {
            id,
            type: 'checkbox',
            name,
            'data-testid': id,
            checked: schema.default === true,
          })
        : h('input', {
            id,
            name,
            'data-testid': id,
            placeholder:
              schema.default === undefined
                ? required.has(name)
                  ? 'required'
                  : ''
                : String(schema.default),
          });
    return { name, schema, input: /** @type {HTMLInputElement} */ (input) };
  });
  return {
    rows: inputs.map(({ name, schema, input }) =>
      h(
        'div',
        { class: 'form-row' },
        h('label', { for: input.id }, name),
        input,
        h('span', { class: 'field-error', 'data-error-for': `params.${name}`, role: 'alert' }),
        schema.description ? h('span', { class: 'muted' }, ` ${schema.description}`) : null,
      ),
    ),
    /** Blank fields are left out (the schema's default applies); numbers typed as numbers. */
    read() {
      /** @type {Record<string, unknown>} */
      const params = {};
      for (const { name, schema, input } of inputs) {
        if (schema.type === 'boolean') {
          if (input.checked !== (schema.default === true)) params[name] = input.checked;
          continue;
        }
        const text = input.value.trim();
        if (text === '') continue;
        const numeric = schema.type === 'number' || schema.type === 'integer';
        params[name] =
          numeric && text !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
      }
      return params;
    },
  };
}

/** @param {Pipeline} pipeline */
function jsonField(pipeline) {
  const box = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { id: 'params', 'data-testid': 'params-json', spellcheck: 'false' }, '{}')
  );
  const slot = h('div', { class: 'field-error', 'data-error-for': 'params', role: 'alert' });
  return {
    rows: [
      h('label', { for: 'params' }, 'params (JSON)'),
      box,
      slot,
      h(
        'details',
        {},
        h('summary', {}, 'parameter schema'),
        h('pre', {}, JSON.stringify(pipeline.params, null, 2)),
      ),
    ],
    /** @returns {unknown} undefined when the box is not JSON (said next to it) */
    read() {
      try {
        return JSON.parse(box.value || '{}');
      } catch (error) {
        slot.textContent = `not valid JSON: ${error instanceof Error ? error.message : String(error)}`;
        return undefined;
      }
    },
  };
}
