// Issue 10, "paths": traversal encodings against every API and CLI argument that names a path,
// a dataset, a databank or a config, on an in-process local host (127.0.0.1).
//
// The encodings: `../` and `..\` at several depths, URL- and double-encoded, overlong UTF-8,
// `....//` and `..;/` filter bypasses, NUL, absolute paths, drive letters and UNC names, and
// names that go through symlinks planted in the lake (a user's folder), in the databank folder
// (a databank that is a link, a config file that is a link) and in the sources root. A sentinel
// outside every root holds a random string: it must never appear in a response, never change,
// and nothing may be created outside the roots. An attempt whose value (as the server decodes
// it for that channel) leaves its root must be refused with a 4xx; one that stays inside (a
// literal `%2e%2e` name) may be accepted, and is counted apart.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../shared/cli/main.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { recordTally } from '../campaign/tally.js';
import { repoRoot } from '../helpers/hostProcess.js';
import { asUser } from '../helpers/localAuth.js';

const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'baton-traversal-')));
const outside = path.join(base, 'outside');
const stateDir = path.join(base, 'state');
const sources = path.join(base, 'sources');
const secret = `SENTINEL-${randomBytes(12).toString('hex')}`;
const sentinel = path.join(outside, 'sentinel.txt');

// ---- the encodings ------------------------------------------------------------------------------

/** Ways to write "one level up" (each followed by a separator of its own kind). */
const ups = [
  '../',
  '..\\',
  '..\\/',
  '../\\',
  './../',
  './/..//',
  '....//',
  '..;/',
  '.../',
  '%2e%2e%2f',
  '%2e%2e/',
  '..%2f',
  '%2e%2e%5c',
  '..%5c',
  '%252e%252e%252f',
  '..%252f',
  '%25%32%65%25%32%65%25%32%66',
  '%c0%ae%c0%ae%c0%af',
  '..%c0%af',
  '%e0%80%ae%e0%80%ae/',
  '..%c1%9c',
  '.%00./',
  '..%00/',
  '..\0/',
  '\u2024\u2024/', // one-dot leaders (a literal name)
  '\uff0e\uff0e/', // fullwidth dots (a literal name)
  '..\u2215', // division slash (a literal name)
];
const depths = [1, 2, 3, 4, 6, 9];
const leaves = ['outside/sentinel.txt', 'sentinel.txt', 'outside', 'etc/passwd'];
const absolutes = [
  sentinel,
  outside,
  '/etc/passwd',
  `//${sentinel}`,
  `/${sentinel.slice(1).replaceAll('/', '//')}`,
  sentinel.replaceAll('/', '\\'),
  `%2f${sentinel.slice(1)}`,
  `%252f${sentinel.slice(1)}`,
  'C:\\Windows\\win.ini',
  'C:/Windows/win.ini',
  'c:sentinel.txt',
  '\\\\server\\share\\sentinel.txt',
  'file:///etc/passwd',
  `${sentinel}\0.txt`,
  '\0',
  '/',
  '\\',
];
/** Names that go through the symlinks planted below. */
const viaLinks = [
  'evil/sentinel.txt',
  'evil',
  'evil/',
  'evil/orca_model_config.yaml',
  'evilfile',
  'evilbank',
  'linkbank',
  'bank/evil',
];

function encodings(): string[] {
  const out = new Set<string>();
  for (const up of ups) {
    for (const depth of depths) {
      for (const leaf of leaves) {
        out.add(up.repeat(depth) + leaf);
        if (depth <= 2) out.add(`users/tester/${up.repeat(depth + 2)}${leaf}`);
      }
    }
  }
  for (const a of absolutes) out.add(a);
  for (const l of viaLinks) {
    out.add(l);
    out.add(`users/tester/${l}`);
  }
  return [...out];
}
const attempts = encodings();

/**
 * What the route receives for a value sent in a URL path after `prefix`: the URL as a server
 * parses it (WHATWG: `..`, `%2e%2e` and `.%2e` segments are resolved), then decoded once.
 * Undefined when the normalised path no longer reaches the route (another route, or none).
 */
function urlParam(prefix: string, value: string): string | undefined {
  const pathname = new URL(`http://127.0.0.1${prefix}${forUrl(value)}`).pathname;
  if (!pathname.startsWith(prefix)) return undefined;
  const param = pathname.slice(prefix.length);
  try {
    return decodeURIComponent(param);
  } catch {
    return param;
  }
}

/**
 * Whether `value`, as the route receives it, leaves its root on this host: NUL, a `..`
 * segment, an absolute path (where the argument is a path of its own; a URL path parameter
 * always hangs below its route), or a first segment that is one of the symlinks planted in the
 * argument's root. Drive letters, `file:` and backslashes are literal names on POSIX: accepted
 * ones are counted as literal names, and still checked by their effect (sentinel, outside).
 */
function escapes(value: string, channel: Target['channel'], links: readonly string[]): boolean {
  if (value.includes('\0')) return true;
  if (channel !== 'url' && value.startsWith('/')) return true;
  const parts = value.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return true;
  const joined = parts.join('/');
  return links.some((link) => joined === link || joined.startsWith(`${link}/`));
}

// ---- the world ----------------------------------------------------------------------------------

let host: LocalHost;
const counts = {
  schemaOnlyAccepted: 0,
  attempts: 0,
  requests: 0,
  dangerous: 0,
  acceptedDangerous: 0,
  leaked: 0,
  literalAccepted: 0,
  cli: 0,
};
const problems: string[] = [];
function problem(text: string): void {
  if (problems.length < 25) problems.push(text.slice(0, 400));
}

function snapshotOutsideState(): string {
  const rows: string[] = [];
  for (const entry of readdirSync(base, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    if (full === stateDir || full.startsWith(`${stateDir}${path.sep}`)) continue;
    const info = lstatSync(full);
    rows.push(`${path.relative(base, full)}:${info.size}:${info.mtimeMs}`);
  }
  return rows.sort().join('\n');
}

/** Raw HTTP so that `..` and `%2e` reach the server as sent (fetch would normalise them). */
function raw(
  method: string,
  pathAndQuery: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const url = new URL(host.url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: url.port,
        method,
        path: pathAndQuery,
        headers: {
          ...asUser('tester'),
          ...(payload ? { 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Bytes an HTTP request line cannot carry (controls, space, non-ASCII, `\`) percent-encoded. */
function forUrl(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((b) =>
      b <= 0x20 || b >= 0x7f || b === 0x5c || b === 0x23 || b === 0x3f
        ? `%${b.toString(16).padStart(2, '0').toUpperCase()}`
        : String.fromCharCode(b),
    )
    .join('');
}

interface Target {
  name: string;
  channel: 'url' | 'body' | 'query';
  /** For the url channel: the path before the value. */
  prefix?: string;
  /** The symlinks planted in this argument's root (relative to it). */
  links: readonly string[];
  send: (value: string) => Promise<{ status: number; text: string }>;
  /** A 2xx that is not an acceptance (the portal's page route serves its shell for any page). */
  harmless2xx?: boolean;
  /**
   * `POST /api/runs` with `dryRun` checks the params' schema only; the databank, config and
   * project folder are opened when the run starts, by the same code the plan, prune and flow
   * targets here exercise (which must refuse). A 2xx here is counted apart, not as accepted.
   */
  schemaOnly?: boolean;
}

const exec = 'python3 /job.py -d %DATA -c %IN -o %OUT';
const beamlineConfig = 'beamline.yaml';
const lakeLinks = ['users/tester/evil', 'users/tester/evilfile'];
const userLinks = ['evil', 'evilfile'];
const sourceLinks = ['evil', 'evilfile'];
// A databank folder that is itself a link (evilbank, to a relocated folder) is an operator's
// layout that databankSync follows on purpose; links *inside* databanks are what must not be.
const bankLinks = ['linkbank'];
const inBankLinks = ['evil'];
const url = (
  name: string,
  method: string,
  prefix: string,
  suffix: string,
  links: readonly string[],
  body?: unknown,
  harmless2xx = false,
): Target => ({
  name,
  channel: 'url',
  prefix,
  links,
  send: (v) => raw(method, `${prefix}${forUrl(v)}${suffix}`, body),
  harmless2xx,
});
const json = (
  name: string,
  route: string,
  links: readonly string[],
  body: (v: string) => unknown,
): Target => ({ name, channel: 'body', links, send: (v) => raw('POST', route, body(v)) });
const query = (name: string, route: string, links: readonly string[]): Target => ({
  name,
  channel: 'query',
  links,
  send: (v) => raw('GET', `${route}${encodeURIComponent(v)}`),
});
const schemaOnly = (target: Target): Target => ({ ...target, schemaOnly: true });
const targets: Target[] = [
  url('PUT /api/files/{path}', 'PUT', '/api/files/', '', userLinks, 'x'),
  url('GET /api/datasets/{name}', 'GET', '/api/datasets/', '', []),
  url('DELETE /api/datasets/{name}', 'DELETE', '/api/datasets/', '?removeFiles=true', []),
  url('GET /api/tasks/{name}', 'GET', '/api/tasks/', '', []),
  url('GET /api/tasks/{name}/logs', 'GET', '/api/tasks/', '/logs', []),
  url('POST /api/databanks/{name}/plan', 'POST', '/api/databanks/', '/plan', bankLinks, {}),
  url('POST /api/databanks/{name}/sync', 'POST', '/api/databanks/', '/sync', bankLinks, {
    action: 'upload',
    dryRun: true,
  }),
  url('GET /portal/{path}', 'GET', '/portal/', '', []),
  url('GET /{page}', 'GET', '/', '', [], undefined, true),
  url('GET /api/runs/{runId}/logs', 'GET', '/api/runs/', '/logs', []),
  json('POST /api/datasets path', '/api/datasets', lakeLinks, (v) => ({
    name: `user.tester.t${counts.requests}`,
    path: v,
  })),
  json('POST /api/datasets name', '/api/datasets', [], (v) => ({
    name: `user.tester.${v}`,
    path: 'users/tester/data',
  })),
  json('POST /api/tasks configDataset/dataDataset', '/api/tasks', [], (v) => ({
    name: 'user.tester.task',
    configDataset: v,
    dataDataset: v,
    exec,
    dryRun: true,
  })),
  json('POST /api/databanks name', '/api/databanks', bankLinks, (v) => ({
    name: v,
    config: modelConfig,
    sourceDir: sources,
    dryRun: true,
  })),
  json('POST /api/databanks configFileName', '/api/databanks', [], (v) => ({
    name: 'newbank',
    config: modelConfig,
    configFileName: v,
    sourceDir: sources,
    dryRun: true,
  })),
  json('POST /api/databanks sourceDir', '/api/databanks', sourceLinks, (v) => ({
    name: 'newbank',
    config: modelConfig,
    sourceDir: path.isAbsolute(v) ? v : `${sources}/${v}`,
    dryRun: true,
  })),
  json('POST /api/databanks/{name}/plan config', '/api/databanks/bank/plan', inBankLinks, (v) => ({
    config: v,
  })),
  json(
    'POST /api/databanks/{name}/sync projectFolder',
    '/api/databanks/bank/sync',
    lakeLinks,
    (v) => ({
      action: 'list',
      projectFolder: v,
    }),
  ),
  // Retention schedules a lake path by name; the lake refuses to delete through a link when
  // the pruner gets to it (FolderLake: "leads outside the lake"), so links are not counted here.
  json('POST /api/retention path', '/api/retention', [], (v) => ({
    path: v,
    afterDays: 30,
  })),
  schemaOnly(
    json('POST /api/runs model databank', '/api/runs', bankLinks, (v) => ({
      pipeline: 'model',
      params: { databank: v },
      dryRun: true,
    })),
  ),
  schemaOnly(
    json('POST /api/runs model config/state', '/api/runs', inBankLinks, (v) => ({
      pipeline: 'model',
      params: { databank: 'bank', config: v, state: v },
      dryRun: true,
    })),
  ),
  schemaOnly(
    json('POST /api/runs model projectFolder', '/api/runs', lakeLinks, (v) => ({
      pipeline: 'model',
      params: { databank: 'bank', projectFolder: v },
      dryRun: true,
    })),
  ),
  schemaOnly(
    json('POST /api/runs beamline config', '/api/runs', sourceLinks, (v) => ({
      pipeline: 'beamline',
      params: { config: v, path: 'scan.h5' },
      dryRun: true,
    })),
  ),
  schemaOnly(
    json('POST /api/runs beamline path', '/api/runs', [], (v) => ({
      pipeline: 'beamline',
      params: { config: beamlineConfig, path: v },
      dryRun: true,
    })),
  ),
  json('POST /api/flows/reconstruct path', '/api/flows/reconstruct', [], (v) => ({
    config: beamlineConfig,
    path: v,
    site: 'nersc',
    dryRun: true,
  })),
  json('POST /api/flows/new-file config', '/api/flows/new-file', sourceLinks, (v) => ({
    config: v,
    path: 'scan.h5',
    dryRun: true,
  })),
  json('POST /api/beamline/prune config', '/api/beamline/prune', sourceLinks, (v) => ({
    config: v,
    dryRun: true,
  })),
  query('GET /api/beamline/retention?config=', '/api/beamline/retention?config=', sourceLinks),
  query('GET /api/beamline/prune/audit?config=', '/api/beamline/prune/audit?config=', sourceLinks),
];

const modelConfig = [
  'model_steps: [step]',
  'iterations: { total: 1 }',
  'sub_components:',
  '  step:',
  '    template_dir: templates',
  '    commands:',
  '      - command: [node, run.mjs]',
  '',
].join('\n');

describe('path traversal against every path-naming API and CLI argument (fuzz)', () => {
  before(async () => {
    mkdirSync(outside, { recursive: true });
    writeFileSync(sentinel, `${secret}\n`);
    // A model config and a beamline config outside, each carrying the secret where a response
    // would echo it (a command, the beamline's name), for links to lead to.
    writeFileSync(
      path.join(outside, 'orca_model_config.yaml'),
      modelConfig.replace('run.mjs', secret),
    );
    writeFileSync(
      path.join(outside, 'beamline.yaml'),
      readFileSync(path.join(repoRoot, 'examples', 'beamline', 'beamline.yaml'), 'utf8').replace(
        'beamline: bl832',
        `beamline: ${secret.slice(0, 30)}`,
      ),
    );
    mkdirSync(path.join(sources, 'templates'), { recursive: true });
    writeFileSync(path.join(sources, 'templates', 'run.mjs'), '');
    writeFileSync(
      path.join(sources, beamlineConfig),
      readFileSync(path.join(repoRoot, 'examples', 'beamline', 'beamline.yaml'), 'utf8'),
    );
    symlinkSync(outside, path.join(sources, 'evil'));
    symlinkSync(sentinel, path.join(sources, 'evilfile'));
    host = await LocalHost.start({
      stateDir,
      port: 0,
      hostname: '127.0.0.1',
      logger: createLogger({ level: 'silent' }),
      env: { BATON_MODEL_SOURCES_ROOT: sources },
      triggers: false,
    });
    // A real databank, then links planted in the databank folder and the lake.
    const made = await raw('POST', '/api/databanks', {
      name: 'bank',
      config: modelConfig,
      sourceDir: sources,
    });
    assert.equal(made.status, 201, made.text);
    const banks = host.services.config.databankRoot;
    const relocated = path.join(base, 'relocated-bank');
    mkdirSync(relocated);
    writeFileSync(path.join(relocated, 'orca_model_config.yaml'), modelConfig);
    symlinkSync(relocated, path.join(banks, 'evilbank'));
    mkdirSync(path.join(banks, 'linkbank'));
    symlinkSync(
      path.join(outside, 'orca_model_config.yaml'),
      path.join(banks, 'linkbank', 'orca_model_config.yaml'),
    );
    symlinkSync(outside, path.join(banks, 'bank', 'evil'));
    const data = await raw('PUT', '/api/files/data/part.csv', 'x');
    assert.equal(data.status, 201, data.text);
    const lakeUser = path.join(stateDir, 'lake', 'users', 'tester');
    symlinkSync(outside, path.join(lakeUser, 'evil'));
    symlinkSync(sentinel, path.join(lakeUser, 'evilfile'));
  });

  after(async () => {
    await host.stop();
    rmSync(base, { recursive: true, force: true });
  });

  it(`${attempts.length} encodings x ${targets.length} API arguments: refused, nothing read or written outside`, async () => {
    assert.ok(attempts.length >= 500, `only ${attempts.length} encodings`);
    const before = snapshotOutsideState();
    for (const target of targets) {
      for (const value of attempts) {
        counts.requests += 1;
        const seen = target.channel === 'url' ? urlParam(target.prefix ?? '/', value) : value;
        const dangerous = seen !== undefined && escapes(seen, target.channel, target.links);
        const response = await target.send(value);
        if (response.text.includes(secret) || response.text.includes(secret.slice(0, 30))) {
          counts.leaked += 1;
          problem(`${target.name} ${JSON.stringify(value)}: the sentinel is in the response`);
        }
        if (response.status >= 500)
          problem(`${target.name} ${JSON.stringify(value)}: ${response.status} ${response.text}`);
        const ok = response.status >= 200 && response.status < 300;
        if (dangerous) counts.dangerous += 1;
        if (ok && dangerous && target.schemaOnly) {
          counts.schemaOnlyAccepted += 1;
        } else if (ok && dangerous && !target.harmless2xx) {
          counts.acceptedDangerous += 1;
          problem(
            `${target.name} accepted ${JSON.stringify(value)}: ${response.status} ${response.text.slice(0, 200)}`,
          );
        } else if (ok && !target.harmless2xx) {
          counts.literalAccepted += 1;
        }
      }
    }
    counts.attempts += attempts.length;
    const changed = snapshotOutsideState() !== before ? 1 : 0;
    if (changed) problem(`outside the state folder changed:\n${snapshotOutsideState()}`);
    counts.leaked += changed;
    if (readFileSync(sentinel, 'utf8') !== `${secret}\n`) counts.leaked += 1;
    // Uploads that were accepted stayed below users/tester in the lake, as real files.
    const lake = path.join(stateDir, 'lake');
    for (const entry of readdirSync(lake, { recursive: true, withFileTypes: true })) {
      const full = path.join(entry.parentPath, entry.name);
      const real = realpathSync(full);
      if (
        !real.startsWith(`${realpathSync(lake)}${path.sep}`) &&
        !['evil', 'evilfile'].includes(entry.name)
      ) {
        counts.leaked += 1;
        problem(`lake entry ${full} resolves outside: ${real}`);
      }
    }
  });

  it('the CLI arguments that name paths refuse the same encodings', async () => {
    const cli = async (args: string[]): Promise<{ code: number; out: string }> => {
      let out = '';
      const write = process.stdout.write.bind(process.stdout);
      const writeErr = process.stderr.write.bind(process.stderr);
      const capture = (chunk: string | Uint8Array): boolean => {
        out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        return true;
      };
      process.stdout.write = capture;
      process.stderr.write = capture;
      try {
        const code = await main([
          'node',
          'baton',
          '--endpoint',
          host.url,
          '--user',
          'tester',
          '--state-dir',
          stateDir,
          '--json',
          ...args,
        ]);
        return { code, out };
      } finally {
        process.stdout.write = write;
        process.stderr.write = writeErr;
        process.exitCode = undefined;
      }
    };
    const cliTargets: Array<[string, (v: string) => string[]]> = [
      [
        'dataset register -p',
        (v) => ['dataset', 'register', '-d', `user.tester.c${counts.cli}`, '-p', v],
      ],
      ['dataset show', (v) => ['dataset', 'show', v]],
      [
        'task create -c/-d',
        (v) => [
          'task',
          'create',
          '-t',
          'user.tester.ct',
          '-c',
          v,
          '-d',
          v,
          '--exec',
          exec,
          '--dry-run',
        ],
      ],
      ['sync list --project-folder', (v) => ['sync', 'list', 'bank', '--project-folder', v]],
      ['sync upload <databank>', (v) => ['sync', 'upload', v, '--dry-run']],
      ['run <databank> --dry-run', (v) => ['run', v, '--dry-run']],
      [
        'flow new-file <path>',
        (v) => ['flow', 'new-file', v, '--config', path.join(sources, beamlineConfig), '--dry-run'],
      ],
      [
        'flow new-file --config',
        (v) => ['flow', 'new-file', 'scan.h5', '--config', v, '--dry-run'],
      ],
      [
        'flow reconstruct <path>',
        (v) => [
          'flow',
          'reconstruct',
          v,
          '--site',
          'nersc',
          '--config',
          path.join(sources, beamlineConfig),
          '--dry-run',
        ],
      ],
      ['prune --beamline', (v) => ['prune', '--beamline', v, '--dry-run']],
    ];
    // Every 5th encoding per CLI argument (commander parses each call afresh), all of them dangerous ones.
    const sampleValues = attempts.filter(
      (v, i) => i % 5 === 0 && escapes(v, 'body', [...sourceLinks, ...bankLinks]),
    );
    const before = snapshotOutsideState();
    for (const [name, argv] of cliTargets) {
      for (const value of sampleValues) {
        counts.cli += 1;
        const { code, out } = await cli(argv(value));
        if (out.includes(secret) || out.includes(secret.slice(0, 30))) {
          counts.leaked += 1;
          problem(`cli ${name} ${JSON.stringify(value)}: the sentinel in the output`);
        }
        if (code === 0) {
          counts.acceptedDangerous += 1;
          problem(`cli ${name} accepted ${JSON.stringify(value)}: ${out.slice(0, 200)}`);
        } else if (code !== 2) {
          problem(`cli ${name} ${JSON.stringify(value)}: exit ${code} ${out.slice(0, 200)}`);
        }
      }
    }
    if (snapshotOutsideState() !== before) counts.leaked += 1;
    recordTally({
      item: 'paths',
      measure: 'traversal attempts',
      count: counts.attempts,
      required: '>= 500',
    });
    recordTally({
      item: 'paths',
      measure: 'requests (encodings x API arguments)',
      count: counts.requests,
    });
    recordTally({ item: 'paths', measure: 'CLI invocations', count: counts.cli });
    recordTally({
      item: 'paths',
      measure: 'run dry runs passing the schema (refused at start)',
      count: counts.schemaOnlyAccepted,
    });
    recordTally({
      item: 'paths',
      measure: 'literal names accepted inside the root',
      count: counts.literalAccepted,
    });
    recordTally({
      item: 'paths',
      measure: 'accepted or escaped',
      count: counts.acceptedDangerous + counts.leaked,
      required: '= 0',
    });
    assert.deepEqual(problems, []);
  });
});
