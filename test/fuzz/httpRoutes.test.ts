import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { recordTallies } from '../campaign/tally.js';
import {
  fillRoute,
  rawRequest,
  registeredHttpRoutes,
  replyProblems,
  startInProcessHost,
  type HttpRouteInfo,
  type InProcessHost,
  type RawReply,
} from '../helpers/inProcessHost.js';
import { asUser, testSecret } from '../helpers/localAuth.js';
import {
  fuzzSeed,
  headerSafe,
  hostileJson,
  hostileString,
  nested,
  wrongTypeFor,
} from './hostile.js';

/**
 * Input fuzzing of every HTTP route the app registers (issue 10): at least `perRoute`
 * malformed or adversarial requests each (wrong types, missing fields, huge values, deep
 * nesting, invalid UTF-8, wrong content types, hostile route parameters and query strings),
 * authenticated as several users and as no one. Every reply must be below 500, carry no stack
 * trace or path of this machine, and every 4xx must be an `{error:{code,message}}` body whose
 * validation errors name their field. The route list is the function registry's, so a new
 * route is fuzzed without anyone adding it here.
 */
const perRoute = 1000;
const requestTimeoutMs = 15_000;
const inFlight = 8;

/** A body of the right shape for routes that take one: mutated, never sent as is. */
interface BodySeed {
  body: Record<string, unknown>;
  /** Keys only ever replaced by a wrong type, never dropped (keeps `dryRun: true` in force). */
  pinned?: string[];
}

const knownQueryKeys = [
  'limit',
  'tail',
  'status',
  'pipeline',
  'owner',
  'removeFiles',
  'dryRun',
  'step',
  'job',
  'attempt',
  'config',
  'state',
  'due',
  'experiment',
  'tag',
  'param',
  'metric',
  'orderBy',
  'max',
  'parent',
];

interface FuzzCase {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  what: string;
}

/** Known-good route parameter values (existing resources are added in `before`). */
const pools: Record<string, string[]> = {
  flow: ['new-file', 'reconstruct', 'test-transfers'],
  eventName: ['approve', 'job:j1'],
  page: ['', 'index.html'],
  path: ['cfg/a.json', 'new/file.txt'],
  runId: [],
  name: ['user.alice.cfg', 'user.alice.t1', 'user.bob.none', 'scenario_2030'],
};

describe('input fuzzing: every HTTP route', { timeout: 240_000 }, () => {
  let host: InProcessHost;
  const seeds: Record<string, BodySeed> = {
    cancelRun: { body: { reason: 'fuzz' } },
    raiseRunEvent: { body: { approved: true } },
    registerDataset: { body: { name: 'user.alice.fz', path: 'users/alice/missing' } },
    createTask: {
      body: {
        name: 'user.alice.fz',
        configDataset: 'user.alice.cfg',
        dataDataset: 'user.alice.data',
        exec: 'cat %DATA %IN > %OUT',
        priority: 1,
        cpu: 1,
        memoryGb: 1,
        timeoutSeconds: 60,
        maxRetries: 0,
        bypass: false,
        dryRun: true,
      },
      pinned: ['dryRun'],
    },
    initDatabank: {
      body: { name: 'fz', config: 'models: {}\n', sourceDir: '.', dryRun: true },
      pinned: ['dryRun'],
    },
    planModelRun: { body: { iterations: 1, steps: ['a'], overwrite: false } },
    syncDatabank: {
      body: { action: 'list', projectFolder: 'p', dryRun: true },
      pinned: ['dryRun'],
    },
    scheduleRetention: { body: { path: 'users/alice/missing', afterDays: 30, reason: 'fuzz' } },
    pruneBeamlineNow: {
      body: { config: 'examples/beamline/beamline.yaml', dryRun: true },
      pinned: ['dryRun'],
    },
    startBeamlineFlow: { body: { config: 12, path: 'x' }, pinned: ['config'] },
  };

  before(async () => {
    host = await startInProcessHost({ prefix: 'baton-fuzz-http-' });
    // Resources that exist, so some requests get past "not found" into the use cases.
    const alice = asUser('alice');
    for (const [file, text] of [
      ['cfg/a.json', '{"x":1}'],
      ['data/d.txt', 'data'],
    ] as const) {
      const put = await rawRequest(host.url, {
        method: 'PUT',
        path: `/api/files/${file}`,
        headers: alice,
        body: text,
      });
      assert.equal(put.status, 201, put.body);
    }
    for (const [name, path] of [
      ['user.alice.cfg', 'users/alice/cfg'],
      ['user.alice.data', 'users/alice/data'],
    ]) {
      const registered = await post('/api/datasets', { name, path });
      assert.equal(registered.status, 201, registered.body);
    }
    const task = await post('/api/tasks', {
      name: 'user.alice.t1',
      configDataset: 'user.alice.cfg',
      dataDataset: 'user.alice.data',
      exec: 'cat %DATA %IN > %OUT',
    });
    assert.equal(task.status, 201, task.body);
    const run = await post('/api/runs', { pipeline: 'hello', params: { count: 1 } });
    assert.equal(run.status, 202, run.body);
    pools.runId?.push((JSON.parse(run.body) as { runId: string }).runId);

    function post(path: string, body: unknown): Promise<RawReply> {
      return rawRequest(host.url, {
        method: 'POST',
        path,
        headers: alice,
        body: JSON.stringify(body),
      });
    }
  });
  after(() => host.stop());

  it(`answers ${perRoute} hostile requests per route: no 5xx, no stack trace, every error names its field`, async () => {
    const routes = registeredHttpRoutes();
    assert.ok(routes.length >= 30, `only ${routes.length} HTTP routes registered`);
    const pipelines = JSON.parse(
      (await rawRequest(host.url, { path: '/api/pipelines' })).body,
    ) as Array<{ name: string; params: { properties?: Record<string, unknown> } }>;
    assert.ok(pipelines.length > 0);

    let requests = 0;
    let serverErrors = 0;
    let stackTraces = 0;
    let internalPaths = 0;
    let unnamed = 0;
    let noAnswer = 0;
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const shortRoutes: string[] = [];

    for (const [index, route] of routes.entries()) {
      const cases = casesFor(route, index, pipelines);
      let sent = 0;
      await pool(cases, inFlight, async (c) => {
        let reply: RawReply;
        const send = (fresh: boolean) =>
          withTimeout(
            rawRequest(host.url, {
              method: c.method,
              path: c.path,
              headers: c.headers,
              fresh,
              ...(c.body === undefined ? {} : { body: c.body }),
            }),
          );
        try {
          // A kept-alive socket the server has just closed is the client's race, not an
          // answer: such a request goes once more on a connection of its own.
          reply = await send(false).catch((error: unknown) => {
            if (/socket hang up|ECONNRESET|EPIPE/.test(String(error))) return send(true);
            throw error;
          });
        } catch (error) {
          noAnswer++;
          failures.push(`${c.what}: no answer (${String(error)})`);
          return;
        }
        sent++;
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        const p = replyProblems(reply, [host.stateDir]);
        const where = () =>
          `${route.name} ${c.what} -> ${reply.status} ${reply.body.slice(0, 300)}`;
        const fail = (what: string): number => Math.sign(failures.push(`${what}: ${where()}`));
        if (p.serverError) serverErrors += fail('5xx');
        if (p.stackTrace) stackTraces += fail('stack');
        if (p.internalPath) internalPaths += fail('path');
        if (p.malformedError || p.unnamedField) unnamed += fail('field');
      });
      requests += sent;
      if (sent < perRoute) shortRoutes.push(`${route.name} (${sent})`);
    }

    recordTallies('input fuzzing', [
      { measure: 'HTTP routes', count: routes.length, required: '>= 30' },
      { measure: 'HTTP requests', count: requests },
      { measure: 'routes with < 1000 requests', count: shortRoutes.length, required: '= 0' },
      { measure: 'HTTP 5xx responses', count: serverErrors, required: '= 0' },
      { measure: 'HTTP stack traces', count: stackTraces, required: '= 0' },
      { measure: 'HTTP internal paths shown', count: internalPaths, required: '= 0' },
      { measure: 'HTTP errors not naming a field', count: unnamed, required: '= 0' },
      { measure: 'HTTP requests unanswered', count: noAnswer, required: '= 0' },
    ]);
    const byStatus = [...statuses.entries()].sort(([a], [b]) => a - b);
    console.log(`HTTP fuzz: ${routes.length} routes, ${requests} requests, statuses`, byStatus);
    const samples = new Map<string, string[]>();
    for (const f of failures) {
      const key = f.slice(0, f.indexOf(':')) + ' ' + (/-> (\d+)/.exec(f)?.[1] ?? '');
      const list = samples.get(key) ?? [];
      list.push(f.slice(0, 600));
      samples.set(key, list);
    }
    for (const [key, list] of samples) console.log(key, list.length, list.slice(0, 4));
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
    assert.deepEqual(shortRoutes, []);
    // The fuzz reached the use cases, not only the auth and routing layers.
    assert.ok((statuses.get(400) ?? 0) > routes.length * 100, 'too few validation errors');
    assert.ok(
      [200, 201, 202].some((s) => (statuses.get(s) ?? 0) > 0),
      'nothing was accepted',
    );
  });

  /** `perRoute` requests for one route, drawn from a seed derived from the route's place. */
  function casesFor(
    route: HttpRouteInfo,
    index: number,
    pipelines: Array<{ name: string; params: { properties?: Record<string, unknown> } }>,
  ): FuzzCase[] {
    const seed = seedFor(route, pipelines);
    const bodyArb = bodyArbitrary(seed);
    const caseArb = fc.record({
      method: fc.oneof(
        { weight: 19, arbitrary: fc.constantFrom(...route.methods) },
        { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE') },
      ),
      auth: authArbitrary,
      params: fc.tuple(...route.params.map((p) => paramArbitrary(p))),
      query: queryArbitrary,
      body: bodyArb,
      contentType: contentTypeArbitrary,
    });
    const drawn = fc.sample(caseArb, { seed: fuzzSeed + index * 7919, numRuns: perRoute - 1 });
    const cases = drawn.map((d) => {
      const values = new Map(route.params.map((p, i) => [p, d.params[i] ?? '']));
      const path = `/${fillRoute(route.route, (p) => values.get(p) ?? '')}${d.query}`.replace(
        /\/{2,}/g,
        '/',
      );
      const headers = { ...d.auth.headers };
      if (d.contentType !== undefined) headers['content-type'] = d.contentType;
      else delete headers['content-type'];
      return {
        method: d.method,
        path,
        headers,
        ...(d.method === 'GET' ? {} : { body: d.body.data }),
        what: `${d.method} ${path.slice(0, 160)} as ${d.auth.who} [${d.body.kind}]`,
      };
    });
    // One body over the 10 MiB limit per route.
    const method = route.methods.find((m) => m !== 'GET') ?? route.methods[0] ?? 'GET';
    cases.push({
      method,
      path: `/${fillRoute(route.route, () => 'x')}`,
      headers: asUser('alice'),
      ...(method === 'GET' ? {} : { body: new Uint8Array(10 * 1024 * 1024 + 1).fill(0x61) }),
      what: `${method} oversized body`,
    });
    return cases;
  }

  function seedFor(
    route: HttpRouteInfo,
    pipelines: Array<{ name: string; params: { properties?: Record<string, unknown> } }>,
  ): fc.Arbitrary<BodySeed> {
    if (route.name === 'startRun') {
      // Every pipeline's params, from its JSON Schema, always as a dry run.
      return fc.constantFrom(...pipelines).map((p) => ({
        body: {
          pipeline: p.name,
          params: Object.fromEntries(
            Object.keys(p.params.properties ?? {}).map((k) => [k, exampleOf(p.params, k)]),
          ),
          dryRun: true,
        },
        pinned: ['dryRun'],
      }));
    }
    return fc.constant(seeds[route.name] ?? { body: {} });
  }
});

/** An example value for property `key` of a JSON Schema (its default, else by type). */
function exampleOf(schema: { properties?: Record<string, unknown> }, key: string): unknown {
  const prop = (schema.properties?.[key] ?? {}) as { default?: unknown; type?: unknown };
  if (prop.default !== undefined) return prop.default;
  switch (prop.type) {
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return false;
    case 'array':
      return [];
    case 'object':
      return {};
    default:
      return 'x';
  }
}

const users = ['alice', 'bob', 'mallory'];

const authArbitrary: fc.Arbitrary<{ who: string; headers: Record<string, string> }> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...users).map((u) => ({ who: u, headers: asUser(u) })) },
  {
    weight: 2,
    arbitrary: hostileString.map((u) => ({
      who: 'a hostile user name',
      headers: { ...asUser('x'), 'x-baton-user': headerSafe(u) },
    })),
  },
  { weight: 3, arbitrary: fc.constant({ who: 'no one', headers: {} }) },
  {
    weight: 1,
    arbitrary: fc.constant({
      who: 'a wrong bearer',
      headers: { authorization: `Bearer ${testSecret}x`, 'x-baton-user': 'alice' },
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constant({
      who: 'a forged cookie',
      headers: { cookie: 'baton_session=forged', 'x-baton-portal': '1' },
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constant({
      who: 'platform headers',
      headers: {
        'x-ms-client-principal-name': 'alice',
        'x-ms-client-principal': Buffer.from('{"claims":[]}').toString('base64'),
      },
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constant({
      who: 'a foreign origin',
      headers: { ...asUser('alice'), origin: 'https://evil.example' },
    }),
  },
);

/** A route parameter as it goes on the wire: percent-encoded, or raw (traversal kept). */
function paramArbitrary(name: string): fc.Arbitrary<string> {
  return fc
    .oneof(
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: hostileString },
    )
    .chain((hostile) =>
      fc
        .tuple(fc.constantFrom('encoded', 'raw'), fc.constantFrom(...(pools[name] ?? []), 'x'))
        .map(([how, known]) => {
          const value = hostile ?? known;
          return how === 'encoded' ? encodeAny(value) : rawSegment(value);
        }),
    );
}

/** Keeps `/`, `.`, `%` and `\` as typed; encodes what an HTTP client cannot send raw. */
function rawSegment(value: string): string {
  return value.replace(/[^\u0021-\u007e]|[?#]/gu, (c) => encodeAny(c));
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** encodeURIComponent, with a lone surrogate sent as its (invalid) CESU-8 bytes. */
function encodeAny(value: string): string {
  return value.split(loneSurrogate).map(encodeURIComponent).join('%ED%A0%80');
}

const queryArbitrary: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...knownQueryKeys) },
        { weight: 1, arbitrary: hostileString },
      ),
      fc.oneof(
        { weight: 4, arbitrary: hostileString.map(encodeAny) },
        { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '%C0%AE', '+') },
        { weight: 2, arbitrary: fc.constantFrom('-1', '0', '1e9', 'true', 'yes', 'x') },
      ),
    ),
    { maxLength: 5 },
  )
  .map((pairs) =>
    pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${encodeAny(k)}=${v}`).join('&')}`,
  );

const contentTypeArbitrary: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      'application/json; charset=utf-16',
      'application/xml',
      '*/*',
      'garbage',
    ),
  },
);

interface DrawnBody {
  kind: string;
  data: string | Uint8Array;
}

function bodyArbitrary(seedArb: fc.Arbitrary<BodySeed>): fc.Arbitrary<DrawnBody> {
  const json = (kind: string) => (value: unknown) => ({ kind, data: JSON.stringify(value) ?? '' });
  return fc.oneof(
    { weight: 6, arbitrary: seedArb.chain((seed) => mutation(seed)).map(json('mutated')) },
    { weight: 3, arbitrary: hostileJson.map(json('json')) },
    {
      weight: 2,
      arbitrary: seedArb.chain((seed) =>
        fc
          .dictionary(
            fc.constantFrom(...Object.keys(seed.body), 'extra', '__proto__', 'constructor'),
            hostileJson,
            { maxKeys: 6 },
          )
          .map(json('fields')),
      ),
    },
    {
      weight: 1,
      arbitrary: seedArb.chain((seed) => {
        const text = JSON.stringify(seed.body);
        return fc
          .integer({ min: 0, max: Math.max(0, text.length - 1) })
          .map((n) => ({ kind: 'truncated', data: text.slice(0, n) }));
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 200 })
        .map((bytes) => ({ kind: 'bytes', data: Uint8Array.from([0xc3, 0x28, 0xff, ...bytes]) })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1000, max: 50_000 }).map((depth) => ({
        kind: 'deep',
        data: depth % 2 === 0 ? '['.repeat(depth) + ']'.repeat(depth) : deepObjectText(depth),
      })),
    },
    {
      weight: 1,
      arbitrary: seedArb.chain((seed) =>
        fc
          .tuple(
            fc.constantFrom(...Object.keys(seed.body), 'extra'),
            fc.integer({ min: 64, max: 512 }),
          )
          .map(([key, kilobytes]) => ({
            kind: 'huge',
            data: JSON.stringify({ ...seed.body, [key]: 'y'.repeat(kilobytes * 1024) }),
          })),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        { kind: 'empty', data: '' },
        { kind: 'form', data: 'name=user.alice.x&path=..%2F..' },
        { kind: 'xml', data: '<?xml version="1.0"?><a>1</a>' },
        { kind: 'bom', data: '\ufeff{"name":"user.alice.x"}' },
        { kind: 'nul', data: '{"name":"user.alice.\u0000"}' },
        { kind: 'lone surrogate', data: '{"name":"\\ud800"}' },
        { kind: 'duplicate keys', data: '{"dryRun":true,"dryRun":"no"}' },
        { kind: 'numbers', data: '{"priority":1e400,"cpu":-0,"maxRetries":1.5}' },
      ),
    },
  );
}

function deepObjectText(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** One mutation of a seed body: a field of the wrong type, a dropped or an extra field. */
function mutation(seed: BodySeed): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(seed.body);
  const droppable = keys.filter((k) => !(seed.pinned ?? []).includes(k));
  const ops: Array<fc.Arbitrary<Record<string, unknown>>> = [
    fc.tuple(fc.string({ maxLength: 12 }), hostileJson).map(([k, v]) => ({
      ...seed.body,
      [`x_${k}`]: v,
    })),
  ];
  if (keys.length > 0) {
    ops.push(
      fc
        .tuple(fc.constantFrom(...keys), fc.nat())
        .map(([k, pick]) => ({ ...seed.body, [k]: wrongTypeFor(seed.body[k], pick) })),
    );
    // A hostile value of any type for one field, the pinned ones excepted.
    if (droppable.length > 0)
      ops.push(
        fc
          .tuple(fc.constantFrom(...droppable), hostileJson)
          .map(([k, v]) => ({ ...seed.body, [k]: v })),
      );
  }
  if (droppable.length > 0)
    ops.push(
      fc.constantFrom(...droppable).map((k) => {
        const copy = { ...seed.body };
        delete copy[k];
        return copy;
      }),
    );
  const params = seed.body.params;
  if (typeof params === 'object' && params !== null && Object.keys(params).length > 0) {
    const inner = params as Record<string, unknown>;
    ops.push(
      fc
        .tuple(fc.constantFrom(...Object.keys(inner)), fc.nat(), fc.integer({ min: 0, max: 1 }))
        .map(([k, pick, deep]) => ({
          ...seed.body,
          params: { ...inner, [k]: deep === 1 ? nested(50) : wrongTypeFor(inner[k], pick) },
        })),
    );
  }
  return fc.oneof(...ops);
}

async function pool<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await work(item);
      }
    }),
  );
}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), requestTimeoutMs);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error as Error)),
    );
  });
}
