import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  advanceModelState,
  failModelState,
  formatStateTime,
  initialModelState,
  parseModelConfig,
  parseModelState,
  planModelRun,
  remainingEntries,
  resumePoint,
  type ModelConfig,
  type ModelState,
} from '../../shared/domain/modelConfig.js';
import { expectBatonError } from './batonErrorAssert.js';

/** Copied verbatim from the seed README's "Model Configuration Structure". */
const seedYaml = `# Model execution settings
model_steps:
  - activitysim
  - quetzal
  - populationsim

iterations:
  total: 3
  start_at: 1

# Sub-component configurations
sub_components:
  activitysim:
    template_dir: "/path/to/activitysim/template"
    commands:
      - description: "Run ActivitySim"
        command: "python run_activitysim.py"
    output_archives:
      - pattern: "outputs/*.csv"
        archive_name: "activitysim_outputs"
    cleanup_patterns:
      - "*.tmp"
      - "temp_*"

# Input data sources
input_data:
  landuse:
    - source: "/shared/landuse/"
      target: "inputs/landuse/"
  networks:
    - source: "/shared/networks/"
      target: "inputs/networks/"

# Cloud operations
operational_mode:
  cloud:
    adls_url: "https://account.dfs.core.windows.net"
    adls_container: "raw"
    adls_folder: "orca_model_runs"

# Performance monitoring
performance_monitoring:
  enabled: true
  poll_interval: 1.0
  track_memory: true
  track_cpu: true
`;

/** The README's example only defines activitysim; these complete its model_steps. */
const seedCompletion = `
  quetzal:
    commands:
      - description: "Run Quetzal"
        command: "python run_quetzal.py"
  populationsim:
    commands:
      - command: "python run_populationsim.py"
`;
const seedComplete = seedYaml.replace(
  '# Input data sources',
  `${seedCompletion.trimStart().replace(/^/, '  ')}\n# Input data sources`,
);

const minimal = (subComponents: string, extra = ''): string => `model_steps: [a, b]
iterations: { total: 3, start_at: 1 }
sub_components:
${subComponents}
${extra}`;

const okComponents = `  a:
    commands:
      - command: [node, a.mjs]
  b:
    commands:
      - command: node b.mjs`;

function parse(text: string, file = 'orca_model_config.yaml'): ModelConfig {
  return parseModelConfig(text, file).config;
}

function expectConfigError(text: string, field: string, why: RegExp, file = 'cfg.yaml'): void {
  const e = expectBatonError(() => parseModelConfig(text, file));
  assert.equal(e.field, field);
  assert.ok(e.message.startsWith(`${file}: ${field}: `), e.message);
  assert.match(e.message, why);
  assert.ok(!e.message.includes('\n'), e.message);
}

describe('parseModelConfig: the seed README example', () => {
  it('accepts the verbatim example as written, warning about the steps it never defines', () => {
    const { config, warnings } = parseModelConfig(seedYaml, 'orca_model_config.yaml');
    assert.deepEqual(config.model_steps, ['activitysim', 'quetzal', 'populationsim']);
    assert.deepEqual(
      warnings.filter((w) => w.field.startsWith('model_steps')).map((w) => w.field),
      ['model_steps[1]', 'model_steps[2]'],
    );
    assert.match(warnings[0]?.message ?? '', /"quetzal" has no entry under sub_components/);
  });

  it('refuses to plan a run of a step that has no sub_components entry, naming it', () => {
    const { config } = parseModelConfig(seedYaml, 'orca_model_config.yaml');
    const e = expectBatonError(() => planModelRun(config));
    assert.equal(e.field, 'model_steps[1]');
    assert.match(e.message, /"quetzal" has no entry under sub_components/);
    assert.equal(planModelRun(config, { steps: ['activitysim'] }).entries.length, 3);
  });

  it('parses the example once its steps have sub_components', () => {
    const { config, warnings } = parseModelConfig(seedComplete, 'orca_model_config.yaml');
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.model_steps, ['activitysim', 'quetzal', 'populationsim']);
    assert.deepEqual(config.iterations, { total: 3, start_at: 1 });
    const activitysim = config.sub_components.activitysim;
    assert.ok(activitysim);
    assert.equal(activitysim.template_dir, '/path/to/activitysim/template');
    assert.deepEqual(activitysim.commands, [
      {
        description: 'Run ActivitySim',
        argv: ['python', 'run_activitysim.py'],
        timeout: undefined,
        retries: 0,
        env: {},
        iterations: 'all',
      },
    ]);
    assert.deepEqual(activitysim.output_archives, [
      { pattern: 'outputs/*.csv', archive_name: 'activitysim_outputs' },
    ]);
    assert.deepEqual(activitysim.cleanup_patterns, ['*.tmp', 'temp_*']);
    assert.deepEqual(config.input_data, {
      landuse: [{ source: '/shared/landuse/', target: 'inputs/landuse/' }],
      networks: [{ source: '/shared/networks/', target: 'inputs/networks/' }],
    });
    assert.deepEqual(config.operational_mode.cloud, {
      adls_url: 'https://account.dfs.core.windows.net',
      adls_container: 'raw',
      adls_folder: 'orca_model_runs',
    });
    assert.deepEqual(config.performance_monitoring, {
      enabled: true,
      poll_interval: 1,
      track_memory: true,
      track_cpu: true,
    });
  });

  it('parses examples/transport-model/orca_model_config.yaml (2 iterations × 3 steps)', () => {
    const file = 'examples/transport-model/orca_model_config.yaml';
    const { config, warnings } = parseModelConfig(readFileSync(file, 'utf8'), file);
    assert.deepEqual(warnings, []);
    assert.equal(config.iterations.total, 2);
    assert.equal(config.model_steps.length, 3);
    for (const step of config.model_steps) {
      const argv = config.sub_components[step]?.commands[0]?.argv;
      assert.deepEqual(argv?.slice(0, 2), ['node', `scripts/${step}.mjs`]);
    }
    const plan = planModelRun(config);
    assert.equal(plan.entries.length, 6);
    assert.deepEqual(
      plan.entries.map((e) => `${e.iteration}:${e.step}:${e.commands.length}`),
      [
        '1:populationsim:1',
        '1:activitysim:1',
        '1:quetzal:1',
        '2:populationsim:0',
        '2:activitysim:1',
        '2:quetzal:2',
      ],
    );
  });
});

describe('parseModelConfig: fields', () => {
  it('defaults optional sections and fields', () => {
    const config = parse(minimal(okComponents));
    assert.deepEqual(config.input_data, {});
    assert.equal(config.operational_mode.cloud, undefined);
    assert.equal(config.performance_monitoring.enabled, false);
    const b = config.sub_components.b;
    assert.deepEqual(b?.commands[0]?.argv, ['node', 'b.mjs']);
    assert.deepEqual(b?.output_archives, []);
    assert.deepEqual(b?.cleanup_patterns, []);
    assert.equal(b?.template_dir, undefined);
  });

  it('defaults start_at to 1', () => {
    const text = minimal(okComponents).replace('{ total: 3, start_at: 1 }', '{ total: 2 }');
    assert.deepEqual(parse(text).iterations, { total: 2, start_at: 1 });
  });

  it('accepts per-command timeout, retries, env and iterations, per-step image/cpu/memory', () => {
    const config = parse(
      minimal(`  a:
    image: ghcr.io/orca/activitysim:1.2
    cpu: 4
    memory: 16
    commands:
      - command: [python, run.py, '--chunk', '0']
        timeout: 3600
        retries: 3
        env: { OMP_NUM_THREADS: 4, MODE: full, DEBUG: false }
        iterations: [3, 1]
  b:
    commands:
      - command: x
        iterations: last`),
    );
    const a = config.sub_components.a;
    assert.equal(a?.image, 'ghcr.io/orca/activitysim:1.2');
    assert.equal(a?.cpu, 4);
    assert.equal(a?.memory, 16);
    assert.deepEqual(a?.commands[0], {
      description: undefined,
      argv: ['python', 'run.py', '--chunk', '0'],
      timeout: 3600,
      retries: 3,
      env: { OMP_NUM_THREADS: '4', MODE: 'full', DEBUG: 'false' },
      iterations: [1, 3],
    });
    assert.equal(config.sub_components.b?.commands[0]?.iterations, 'last');
  });

  it('splits string commands with shell-words rules', () => {
    const config = parse(
      minimal(`  a:
    commands:
      - command: python "my script.py" --name 'O'\\''Brien' a\\ b
  b:
    commands:
      - command: "node b.mjs"`),
    );
    assert.deepEqual(config.sub_components.a?.commands[0]?.argv, [
      'python',
      'my script.py',
      '--name',
      "O'Brien",
      'a b',
    ]);
  });

  it('refuses lone surrogates in commands and env (a process would get U+FFFD instead)', () => {
    for (const [command, field] of [
      ['[node, "a\\ud800"]', 'sub_components.a.commands[0].command[1]'],
      ['"node a\\udc00"', 'sub_components.a.commands[0].command'],
    ] as const) {
      const error = expectBatonError(() =>
        parse(
          minimal(
            `  a:\n    commands:\n      - command: ${command}\n  b:\n    commands:\n      - command: node b.mjs`,
          ),
        ),
      );
      assert.equal(error.field, field);
    }
    const error = expectBatonError(() =>
      parse(
        minimal(
          `  a:\n    commands:\n      - command: node a.mjs\n        env: { X: "\\ud800" }\n  b:\n    commands:\n      - command: node b.mjs`,
        ),
      ),
    );
    assert.equal(error.field, 'sub_components.a.commands[0].env.X');
  });

  it('warns about unknown keys and still parses', () => {
    const { config, warnings } = parseModelConfig(
      minimal(
        `  a:
    owner: team-a
    commands:
      - command: [node, a.mjs]
        notes: hi
  b:
    commands:
      - command: node b.mjs
  unused:
    commands:
      - command: node c.mjs`,
        'custom_section: {x: 1}\noperational_mode: { local: { path: /tmp } }',
      ),
      'cfg.yaml',
    );
    assert.equal(config.sub_components.a?.commands.length, 1);
    assert.deepEqual(
      warnings.map((w) => w.field),
      [
        'sub_components.a.owner',
        'sub_components.a.commands[0].notes',
        'custom_section',
        'operational_mode.local',
        'sub_components.unused',
      ],
    );
    assert.equal(warnings[0]?.message, 'cfg.yaml: sub_components.a.owner: unknown key, ignored');
    assert.match(warnings[4]?.message ?? '', /not in model_steps/);
  });
});

describe('parseModelConfig: errors name the file and the field path', () => {
  it('a missing command', () => {
    expectConfigError(
      minimal(`  a:
    commands:
      - command: [node, a.mjs]
  b:
    commands:
      - description: no command here`),
      'sub_components.b.commands[0].command',
      /: required$/,
    );
  });

  it('the seed-style message for a missing command', () => {
    const text = seedComplete.replace('command: "python run_quetzal.py"', 'cmd: x');
    const e = expectBatonError(() => parseModelConfig(text, 'orca_model_config.yaml'));
    assert.equal(
      e.message,
      'orca_model_config.yaml: sub_components.quetzal.commands[0].command: required',
    );
    assert.equal(e.field, 'sub_components.quetzal.commands[0].command');
  });

  it('wrong types', () => {
    expectConfigError(
      minimal(okComponents).replace('total: 3', 'total: three'),
      'iterations.total',
      /expected number, got string/,
    );
    expectConfigError(
      minimal(okComponents).replace('model_steps: [a, b]', 'model_steps: a'),
      'model_steps',
      /expected array, got string/,
    );
    expectConfigError(
      minimal(okComponents).replace('command: [node, a.mjs]', 'command: [node, 3]'),
      'sub_components.a.commands[0].command',
      /string or a non-empty list/,
    );
    expectConfigError(
      minimal(okComponents, 'performance_monitoring: { enabled: yes please }'),
      'performance_monitoring.enabled',
      /expected boolean, got string/,
    );
  });

  it('a model_steps entry without sub_components is a warning at parse time', () => {
    const { warnings } = parseModelConfig(
      minimal(okComponents).replace('[a, b]', '[a, b, c]'),
      'cfg.yaml',
    );
    assert.ok(
      warnings.some((w) => w.field === 'model_steps[2]' && /"c" has no entry/.test(w.message)),
    );
  });

  it('a step listed twice, or with a name that is not a folder name', () => {
    expectConfigError(
      minimal(okComponents).replace('[a, b]', '[a, b, a]'),
      'model_steps[2]',
      /listed twice/,
    );
    expectConfigError(
      minimal(okComponents).replace('[a, b]', '[a, ../b]'),
      'model_steps[1]',
      /step names/,
    );
  });

  it('a bad start_at', () => {
    for (const startAt of ['0', '4', '-1']) {
      expectConfigError(
        minimal(okComponents).replace('start_at: 1', `start_at: ${startAt}`),
        'iterations.start_at',
        /between 1 and iterations.total \(3\)/,
      );
    }
    expectConfigError(
      minimal(okComponents).replace('start_at: 1', 'start_at: 1.5'),
      'iterations.start_at',
      /whole number/,
    );
  });

  it('bad selectors, env names, timeouts and retries', () => {
    const withCommand = (extra: string): string =>
      minimal(`  a:
    commands:
      - command: [node, a.mjs]
${extra}
  b:
    commands:
      - command: node b.mjs`);
    const p = 'sub_components.a.commands[0]';
    expectConfigError(withCommand('        iterations: [1, 4]'), `${p}.iterations[1]`, /beyond/);
    expectConfigError(withCommand('        iterations: [2, 2]'), `${p}.iterations[1]`, /twice/);
    expectConfigError(withCommand('        iterations: sometimes'), `${p}.iterations`, /"first"/);
    expectConfigError(withCommand('        iterations: []'), `${p}.iterations`, /at least one/);
    expectConfigError(withCommand('        iterations: [0]'), `${p}.iterations[0]`, /start at 1/);
    expectConfigError(
      minimal(okComponents).replace('command: [node, a.mjs]', 'command: []'),
      `${p}.command`,
      /at least one argument/,
    );
    expectConfigError(withCommand('        env: { 1BAD: x }'), `${p}.env.1BAD`, /letters/);
    expectConfigError(withCommand('        env: { A: [x] }'), `${p}.env.A`, /string, number/);
    expectConfigError(withCommand('        timeout: 0'), `${p}.timeout`, /positive/);
    expectConfigError(withCommand('        timeout: -5'), `${p}.timeout`, /positive/);
    expectConfigError(withCommand('        retries: 11'), `${p}.retries`, /0 and 10/);
    expectConfigError(withCommand('        retries: -1'), `${p}.retries`, /0 and 10/);
    expectConfigError(withCommand('        retries: 1.5'), `${p}.retries`, /whole/);
  });

  it('shell operators in a string command', () => {
    expectConfigError(
      minimal(okComponents).replace('command: node b.mjs', 'command: "node b.mjs | tee log"'),
      'sub_components.b.commands[0].command',
      /not run by a shell.*list of arguments/,
    );
    expectConfigError(
      minimal(okComponents).replace('command: node b.mjs', "command: ''"),
      'sub_components.b.commands[0].command',
      /must not be empty/,
    );
    expectConfigError(
      minimal(okComponents).replace('command: [node, a.mjs]', "command: ['', a.mjs]"),
      'sub_components.a.commands[0].command[0]',
      /program must not be empty/,
    );
  });

  it('YAML syntax errors name the file, line and column', () => {
    const e = expectBatonError(() =>
      parseModelConfig('model_steps: [a\niterations:\n  total: 1\n', 'bad.yaml'),
    );
    assert.match(e.message, /^bad\.yaml:\d+:\d+: invalid YAML: /);
    assert.ok(!e.message.includes('\n'), e.message);
    const dup = expectBatonError(() => parseModelConfig('a: 1\na: 2\n', 'dup.yaml'));
    assert.match(dup.message, /^dup\.yaml:2:1: invalid YAML: .*unique/i);
  });

  it('an empty file or a non-mapping', () => {
    for (const text of ['', '- a\n- b\n', 'just text']) {
      const e = expectBatonError(() => parseModelConfig(text, 'x.yaml'));
      assert.match(e.message, /^x\.yaml: must be a YAML mapping/);
    }
  });
});

const threeSteps = parse(
  minimal(`  a:
    commands:
      - command: [a, every]
      - command: [a, first]
        iterations: first
      - command: [a, last]
        iterations: last
      - command: [a, two-three]
        iterations: [2, 3]
  b:
    commands:
      - command: [b]
  c:
    commands:
      - command: [c]`).replace('[a, b]', '[a, b, c]'),
);

const describePlan = (plan: ReturnType<typeof planModelRun>): string[] =>
  plan.entries.map(
    (e) => `${e.iteration}:${e.step}:${e.commands.map((c) => c.argv.join(' ')).join(',')}`,
  );

describe('planModelRun', () => {
  it('orders iterations × steps and applies selectors', () => {
    const plan = planModelRun(threeSteps);
    assert.equal(plan.totalIterations, 3);
    assert.equal(plan.startAt, 1);
    assert.deepEqual(describePlan(plan), [
      '1:a:a every,a first',
      '1:b:b',
      '1:c:c',
      '2:a:a every,a two-three',
      '2:b:b',
      '2:c:c',
      '3:a:a every,a last,a two-three',
      '3:b:b',
      '3:c:c',
    ]);
    assert.deepEqual(
      plan.entries[6]?.commands.map((c) => c.index),
      [0, 2, 3],
    );
  });

  it('--iterations overrides the total and moves "last"', () => {
    assert.deepEqual(describePlan(planModelRun(threeSteps, { iterations: 2, steps: ['a'] })), [
      '1:a:a every,a first',
      '2:a:a every,a last,a two-three',
    ]);
    assert.equal(planModelRun(threeSteps, { iterations: 5 }).entries.length, 15);
  });

  it('--steps keeps model_steps order and names an unknown step', () => {
    const plan = planModelRun(threeSteps, { steps: ['c', 'a'], iterations: 1 });
    assert.deepEqual(plan.steps, ['a', 'c']);
    const e = expectBatonError(() => planModelRun(threeSteps, { steps: ['a', 'nope'] }));
    assert.equal(e.field, '--steps');
    assert.match(e.message, /unknown step "nope"/);
    expectBatonError(() => planModelRun(threeSteps, { steps: [] }));
  });

  it('startAt skips earlier iterations (and "first" commands)', () => {
    const plan = planModelRun(threeSteps, { startAt: 2 });
    assert.equal(plan.entries[0]?.iteration, 2);
    assert.ok(plan.entries.every((e) => e.commands.every((c) => c.iterations !== 'first')));
    assert.equal(
      expectBatonError(() => planModelRun(threeSteps, { startAt: 4 })).field,
      '--start-at',
    );
    assert.equal(
      expectBatonError(() => planModelRun(threeSteps, { iterations: 0 })).field,
      '--iterations',
    );
  });
});

describe('model state', () => {
  const t0 = new Date('2025-01-15T10:30:00Z');
  const at = (minutes: number): Date => new Date(t0.getTime() + minutes * 60_000);

  it('has exactly the seed state file fields', () => {
    const plan = planModelRun(threeSteps);
    const state = initialModelState(threeSteps, plan, t0);
    assert.deepEqual(state, {
      start_at: 1,
      total_iterations: 3,
      current_iteration: 1,
      steps: ['a', 'b', 'c'],
      completed_steps: [],
      current_step_index: 0,
      status: 'running',
      start_time: '2025-01-15 10:30:00',
      last_updated: '2025-01-15 10:30:00',
    });
    assert.equal(formatStateTime(new Date('2025-01-15T11:45:00.999Z')), '2025-01-15 11:45:00');
  });

  it('advances like the seed example and completes', () => {
    const plan = planModelRun(threeSteps, { steps: ['a', 'b'] });
    let state = initialModelState(threeSteps, plan, t0);
    state = advanceModelState(state, { iteration: 1, step: 'a' }, at(75));
    assert.deepEqual(state, {
      start_at: 1,
      total_iterations: 3,
      current_iteration: 1,
      steps: ['a', 'b'],
      completed_steps: ['a'],
      current_step_index: 1,
      status: 'running',
      start_time: '2025-01-15 10:30:00',
      last_updated: '2025-01-15 11:45:00',
    });
    state = advanceModelState(state, { iteration: 1, step: 'b' }, at(80));
    assert.equal(state.current_iteration, 2);
    assert.deepEqual(state.completed_steps, []);
    assert.equal(state.current_step_index, 0);
    for (const entry of plan.entries.slice(2)) {
      state = advanceModelState(state, entry, at(90));
    }
    assert.equal(state.status, 'completed');
    assert.deepEqual(state.completed_steps, ['a', 'b']);
    assert.equal(state.current_step_index, 2);
    assert.equal(resumePoint(state), null);
  });

  it('ignores a redelivered completion and refuses one out of order', () => {
    const plan = planModelRun(threeSteps);
    const s1 = advanceModelState(initialModelState(threeSteps, plan, t0), plan.entries[0]!, at(1));
    assert.equal(advanceModelState(s1, { iteration: 1, step: 'a' }, at(2)), s1);
    assert.equal(
      expectBatonError(() => advanceModelState(s1, { iteration: 1, step: 'c' }, at(2)), 'conflict')
        .code,
      'conflict',
    );
    expectBatonError(() => advanceModelState(s1, { iteration: 2, step: 'b' }, at(2)), 'conflict');
    expectBatonError(() => advanceModelState(s1, { iteration: 9, step: 'b' }, at(2)), 'conflict');
    expectBatonError(() => advanceModelState(s1, { iteration: 1, step: 'x' }, at(2)), 'conflict');
  });

  it('after a kill at any point, the resume point is the next planned step', () => {
    const plan = planModelRun(threeSteps, { startAt: 2 });
    for (let k = 0; k < plan.entries.length; k += 1) {
      let state = initialModelState(threeSteps, plan, t0);
      for (const entry of plan.entries.slice(0, k)) state = advanceModelState(state, entry, at(k));
      // The process dies here; the state file is what survives.
      const reloaded: ModelState = parseModelState(JSON.stringify(state), 'orca_model_state.json');
      const failed = failModelState(reloaded, at(k + 1));
      const next = plan.entries[k];
      const point = resumePoint(failed);
      assert.deepEqual(
        point && { iteration: point.iteration, step: point.step },
        next && { iteration: next.iteration, step: next.step },
        `after ${k} steps`,
      );
      assert.deepEqual(remainingEntries(plan, failed), plan.entries.slice(k));
      const resumed = advanceModelState(failed, next!, at(k + 2));
      assert.equal(resumed.status, k + 1 === plan.entries.length ? 'completed' : 'running');
    }
  });

  it('parses the seed state example and names bad fields', () => {
    const seedState = `{
  "start_at": 1,
  "total_iterations": 3,
  "current_iteration": 1,
  "steps": ["activitysim", "quetzal"],
  "completed_steps": ["activitysim"],
  "current_step_index": 1,
  "status": "running",
  "start_time": "2025-01-15 10:30:00",
  "last_updated": "2025-01-15 11:45:00"
}`;
    const state = parseModelState(seedState, 'orca_model_state.json');
    assert.deepEqual(resumePoint(state), { iteration: 1, step: 'quetzal', stepIndex: 1 });
    const bad = expectBatonError(() =>
      parseModelState(seedState.replace('"running"', '"paused"'), 's.json'),
    );
    assert.equal(bad.field, 'status');
    assert.match(bad.message, /^s\.json: status: /);
    assert.equal(
      expectBatonError(() =>
        parseModelState(
          seedState.replace('"current_iteration": 1', '"current_iteration": 7'),
          's.json',
        ),
      ).field,
      'current_iteration',
    );
    assert.match(
      expectBatonError(() => parseModelState('{', 's.json')).message,
      /^s\.json: invalid JSON/,
    );
  });
});
