import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appMetricFamilies, type AppMetricsInput } from '../../shared/app/appMetrics.js';
import { renderPrometheusText, type MetricFamily } from '../../shared/domain/prometheusText.js';

function values(families: MetricFamily[], name: string): Record<string, number> {
  const found = families.find((f) => f.name === name);
  assert.ok(found, `${name} missing`);
  assert.notEqual(found.type, 'histogram');
  const out: Record<string, number> = {};
  if (found.type === 'histogram') return out;
  for (const s of found.samples) {
    const key = Object.entries(s.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out[key] = s.value;
  }
  return out;
}

const empty: AppMetricsInput = {
  runs: [],
  taskJobs: [],
  runJobsHoldingSlots: [],
  backends: [{ name: 'local', slots: 4 }],
};

describe('appMetricFamilies', () => {
  it('counts runs by pipeline and status, and runs started by pipeline', () => {
    const families = appMetricFamilies({
      ...empty,
      runs: [
        { pipeline: 'hello', status: 'completed' },
        { pipeline: 'hello', status: 'completed' },
        { pipeline: 'hello', status: 'running' },
        { pipeline: 'sweep', status: 'failed' },
      ],
    });
    assert.deepEqual(values(families, 'baton_runs'), {
      'pipeline=hello,status=completed': 2,
      'pipeline=hello,status=running': 1,
      'pipeline=sweep,status=failed': 1,
    });
    assert.deepEqual(values(families, 'baton_runs_started_total'), {
      'pipeline=hello': 3,
      'pipeline=sweep': 1,
    });
  });

  it('counts task jobs by backend and state', () => {
    const families = appMetricFamilies({
      ...empty,
      taskJobs: [
        { backend: 'local', state: 'queued' },
        { backend: 'local', state: 'queued' },
        { backend: 'local', state: 'running' },
        { backend: 'aci', state: 'succeeded' },
      ],
    });
    assert.deepEqual(values(families, 'baton_task_jobs'), {
      'backend=local,state=queued': 2,
      'backend=local,state=running': 1,
      'backend=aci,state=succeeded': 1,
    });
  });

  it('counts slots in use: task jobs assigned or running, and run jobs, per backend', () => {
    const families = appMetricFamilies({
      runs: [],
      taskJobs: [
        { backend: 'local', state: 'assigned' },
        { backend: 'local', state: 'running' },
        { backend: 'local', state: 'queued' },
        { backend: 'local', state: 'succeeded' },
        { backend: 'gone', state: 'running' },
      ],
      runJobsHoldingSlots: [{ backend: 'local' }],
      backends: [
        { name: 'local', slots: 4 },
        { name: 'aci', slots: 20 },
      ],
    });
    assert.deepEqual(values(families, 'baton_backend_slots'), {
      'backend=local': 4,
      'backend=aci': 20,
      'backend=gone': 0,
    });
    assert.deepEqual(values(families, 'baton_backend_slots_in_use'), {
      'backend=local': 3,
      'backend=aci': 0,
      'backend=gone': 1,
    });
  });

  it('renders as valid exposition text, every family present even with nothing stored', () => {
    const text = renderPrometheusText(appMetricFamilies(empty));
    for (const name of [
      'baton_runs',
      'baton_runs_started_total',
      'baton_task_jobs',
      'baton_backend_slots',
      'baton_backend_slots_in_use',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'));
    }
    assert.match(text, /^baton_backend_slots\{backend="local"\} 4$/m);
    assert.match(text, /^baton_backend_slots_in_use\{backend="local"\} 0$/m);
  });
});
