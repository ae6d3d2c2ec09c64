/**
 * Throughput of the local durable engine with real disk persistence (every episode is appended
 * to history.jsonl and fsynced). Run with `npm run bench`; `--quick` scales every case down 10x
 * (CI smoke), `--json` prints the results as JSON, `--keep` leaves the state dir for inspection.
 *
 * The targets are information only: the exit code is 0 whatever the timings, and non-zero only
 * when an orchestration does not complete or returns a wrong output.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DurableEngine } from '../shared/runtime/durable/engine.js';
import { encodeInstanceId } from '../shared/runtime/durable/instanceStore.js';
import { registryLookup } from '../shared/runtime/functionLookup.js';
import { systemClock } from '../shared/ports/clock.js';
import { benchNames, flakyAttempts } from './benchFunctions.js';
import { benchArgs, formatTable, printJson } from './benchSupport.js';

interface BenchCase {
  name: string;
  n: number;
  orchestrator: string;
  input: unknown;
  expectedOutput: unknown;
  /** Extra check after completion; returns a problem or undefined. */
  verify?: (instanceId: string) => string | undefined;
}

interface CaseResult {
  case: string;
  n: number;
  totalSeconds: number;
  perItemMs: number;
  /** Lines of history.jsonl: the creation record plus one per orchestrator episode. */
  episodes: number;
  historyBytes: number;
}

interface Target {
  name: string;
  value: number | undefined;
  limit: number;
  unit: string;
  status: 'PASS' | 'MISS' | 'n/a';
}

const args = benchArgs('engine.bench.ts', ['--quick', '--json', '--keep']);
const { quick } = args;
const scale = quick ? 10 : 1;
const caseTimeoutMs = 300_000;

const sum1toN = (n: number): number => (n * (n + 1)) / 2;

const sequenceSteps = 1000 / scale;
const smallFanOut = 1000 / scale;
const largeFanOut = 10_000 / scale;
const retryFanOut = 1000 / scale;
const retryFailures = 2;

const cases: BenchCase[] = [
  {
    name: 'sequence',
    n: sequenceSteps,
    orchestrator: benchNames.sequence,
    input: { steps: sequenceSteps },
    expectedOutput: sequenceSteps,
  },
  {
    name: 'fan-out',
    n: smallFanOut,
    orchestrator: benchNames.fanOut,
    input: { n: smallFanOut },
    expectedOutput: sum1toN(smallFanOut),
  },
  {
    name: 'fan-out',
    n: largeFanOut,
    orchestrator: benchNames.fanOut,
    input: { n: largeFanOut },
    expectedOutput: sum1toN(largeFanOut),
  },
  {
    name: 'fan-out, 1 ms activity',
    n: smallFanOut,
    orchestrator: benchNames.fanOut,
    input: { n: smallFanOut, slow: true },
    expectedOutput: sum1toN(smallFanOut),
  },
  {
    name: 'fan-out, 1 ms activity',
    n: largeFanOut,
    orchestrator: benchNames.fanOut,
    input: { n: largeFanOut, slow: true },
    expectedOutput: sum1toN(largeFanOut),
  },
  {
    name: `retry fan-out (${retryFailures} failures each)`,
    n: retryFanOut,
    orchestrator: benchNames.retryFanOut,
    input: { n: retryFanOut, failures: retryFailures },
    // Each activity returns the attempt that succeeded.
    expectedOutput: retryFanOut * (retryFailures + 1),
    verify: (instanceId) => {
      const attempts = [...flakyAttempts].filter(([key]) => key.startsWith(`${instanceId}:`));
      const total = attempts.reduce((a, [, v]) => a + v, 0);
      return attempts.length === retryFanOut && total === retryFanOut * (retryFailures + 1)
        ? undefined
        : `expected ${retryFanOut * (retryFailures + 1)} attempts over ${retryFanOut} keys, saw ${total} over ${attempts.length}`;
    },
  },
];

async function runCase(root: string, c: BenchCase, index: number): Promise<CaseResult> {
  const dir = path.join(root, `case-${index}`);
  const errors: string[] = [];
  const engine = new DurableEngine({
    root: dir,
    functions: registryLookup,
    clock: systemClock,
    log: (level, instanceId, message) => {
      if (level === 'error') errors.push(`${instanceId}: ${message}`);
    },
  });
  await engine.start();
  const instanceId = `bench-${index}`;
  try {
    const started = performance.now();
    await engine.startInstance(c.orchestrator, instanceId, c.input);
    const status = await engine.waitFor(instanceId, caseTimeoutMs);
    const totalSeconds = (performance.now() - started) / 1000;
    if (status?.runtimeStatus !== 'Completed') {
      throw new Error(
        `${c.name} n=${c.n}: ${status?.runtimeStatus ?? 'missing'} after ${totalSeconds.toFixed(1)} s: ${JSON.stringify(status?.output)}`,
      );
    }
    if (JSON.stringify(status.output) !== JSON.stringify(c.expectedOutput)) {
      throw new Error(
        `${c.name} n=${c.n}: output ${JSON.stringify(status.output)}, expected ${JSON.stringify(c.expectedOutput)}`,
      );
    }
    const problem = c.verify?.(instanceId);
    if (problem) throw new Error(`${c.name} n=${c.n}: ${problem}`);
    if (errors.length > 0)
      throw new Error(`${c.name} n=${c.n}: engine logged errors:\n${errors.join('\n')}`);
    const history = await readFile(
      path.join(dir, encodeInstanceId(instanceId), 'history.jsonl'),
      'utf8',
    );
    return {
      case: c.name,
      n: c.n,
      totalSeconds,
      perItemMs: (totalSeconds * 1000) / c.n,
      episodes: history.split('\n').filter((line) => line.length > 0).length,
      historyBytes: Buffer.byteLength(history, 'utf8'),
    };
  } finally {
    await engine.stop();
  }
}

function target(name: string, value: number | undefined, limit: number, unit: string): Target {
  return {
    name,
    value,
    limit,
    unit,
    status: value === undefined ? 'n/a' : value < limit ? 'PASS' : 'MISS',
  };
}

/** The results as a table: the case column is text (left-aligned), the rest are numbers. */
function resultTable(results: readonly CaseResult[]): string {
  const rows = results.map((r) => ({
    case: r.case,
    n: String(r.n),
    'total s': r.totalSeconds.toFixed(2),
    'per-item ms': r.perItemMs.toFixed(3),
    episodes: String(r.episodes),
    'history KiB': (r.historyBytes / 1024).toFixed(1),
  }));
  const columns = ['case', 'n', 'total s', 'per-item ms', 'episodes', 'history KiB'];
  return formatTable(rows, { columns, style: 'plain' });
}

async function main(): Promise<number> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-'));
  const results: CaseResult[] = [];
  let failed = false;
  try {
    for (const [index, c] of cases.entries()) {
      console.error(`running ${c.name} n=${c.n} ...`);
      try {
        const result = await runCase(root, c, index);
        results.push(result);
        console.error(`  ${result.totalSeconds.toFixed(2)} s`);
      } catch (error) {
        failed = true;
        console.error(`  FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  } finally {
    if (args.has('--keep')) console.error(`state kept in ${root}`);
    else await rm(root, { recursive: true, force: true });
  }

  const seconds = (name: string, n: number): number | undefined =>
    results.find((r) => r.case === name && r.n === n)?.totalSeconds;
  const ratioOf = (name: string): number | undefined => {
    const small = seconds(name, smallFanOut);
    const large = seconds(name, largeFanOut);
    return small !== undefined && large !== undefined ? large / small : undefined;
  };
  const ratios = ['fan-out', 'fan-out, 1 ms activity'].map((name) => ({
    case: name,
    ratio: ratioOf(name) ?? null,
  }));
  const slowestLarge = Math.max(
    ...['fan-out', 'fan-out, 1 ms activity'].map(
      (name) => seconds(name, largeFanOut) ?? Number.NaN,
    ),
  );
  const sequence = results.find((r) => r.case === 'sequence');
  const targets = [
    target(
      '10,000-way fan-out on 2 cores',
      quick || Number.isNaN(slowestLarge) ? undefined : slowestLarge,
      60,
      's',
    ),
    target('per-step overhead (sequence)', sequence?.perItemMs, 5, 'ms'),
  ];
  const machine = {
    cpus: os.cpus().length,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    stateDir: os.tmpdir(),
  };

  if (args.json) {
    printJson({ quick, machine, results, fanOutRatios: ratios, targets, failed });
  } else {
    console.log(
      `durable engine bench${quick ? ' (--quick: sizes scaled down 10x)' : ''}: ${machine.cpus} cpus, node ${machine.node}, state in ${machine.stateDir}`,
    );
    console.log('');
    console.log(resultTable(results));
    console.log(
      '(episodes: lines of history.jsonl, i.e. the creation record plus one per episode)',
    );
    console.log('');
    for (const r of ratios) {
      console.log(
        `${r.case} scaling t(${largeFanOut})/t(${smallFanOut}) = ${r.ratio === null ? 'n/a' : r.ratio.toFixed(2)} (linear would be 10)`,
      );
    }
    console.log(
      `targets (information only): ${targets
        .map(
          (t) =>
            `${t.name} < ${t.limit} ${t.unit}: ${t.status}${t.value === undefined ? '' : ` (${t.value.toFixed(2)} ${t.unit})`}`,
        )
        .join('; ')}`,
    );
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
