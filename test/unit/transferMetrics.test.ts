import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileStateStore } from '../../shared/adapters/local/fileStateStore.js';
import { renderTransferMetrics, transferMetricFamilies } from '../../shared/app/transferMetrics.js';
import { recordTransfer, type TransferRecord } from '../../shared/app/transferRecords.js';
import type { MetricFamily } from '../../shared/domain/prometheusText.js';

function transfer(overrides: Partial<TransferRecord> & { transferId: string }): TransferRecord {
  return {
    runId: 'run-1',
    beamline: '8.3.2',
    flow: 'new_file',
    from: 'spot832',
    to: 'data832',
    path: 'raw/scan.h5',
    state: 'succeeded',
    files: 1,
    bytes: 1000,
    durationMs: 2000,
    rate: 500,
    checksumVerified: true,
    endedAt: '2024-05-01T10:00:00.000Z',
    ...overrides,
  };
}

function family(families: MetricFamily[], name: string): MetricFamily {
  const found = families.find((f) => f.name === name);
  assert.ok(found, `${name} missing`);
  return found;
}

function values(families: MetricFamily[], name: string): Array<[string, number]> {
  const f = family(families, name);
  assert.notEqual(f.type, 'histogram');
  return f.type === 'histogram'
    ? []
    : f.samples.map((s) => [JSON.stringify(s.labels), s.value] as [string, number]);
}

const hop = { beamline: '8.3.2', from: 'spot832', to: 'data832' };
const flowHop = { beamline: '8.3.2', flow: 'new_file', from: 'spot832', to: 'data832' };

const records: TransferRecord[] = [
  transfer({ transferId: 'a-hop-0', bytes: 1000, files: 1, durationMs: 2000 }),
  transfer({
    transferId: 'b-hop-0',
    bytes: 3000,
    files: 2,
    durationMs: 400,
    rate: 7500,
    endedAt: '2024-05-01T12:00:00.000Z',
  }),
  transfer({
    transferId: 'c-hop-0',
    state: 'failed',
    bytes: 999_999,
    files: 9,
    durationMs: 50,
    reason: 'endpoint down',
    endedAt: '2024-05-01T13:00:00.000Z',
  }),
  transfer({
    transferId: 'd-hop-1',
    to: 'nersc',
    flow: 'nersc',
    bytes: 10,
    files: 1,
    rate: 1,
    durationMs: 7_200_000,
  }),
];

describe('transferMetricFamilies', () => {
  const families = transferMetricFamilies(records);

  it('counts every transfer by result, failed ones too', () => {
    const totals = values(families, 'baton_transfers_total');
    assert.deepEqual(
      totals.sort(),
      [
        [JSON.stringify({ ...flowHop, result: 'failed' }), 1],
        [JSON.stringify({ ...flowHop, result: 'succeeded' }), 2],
        [JSON.stringify({ ...flowHop, flow: 'nersc', to: 'nersc', result: 'succeeded' }), 1],
      ].sort(),
    );
  });

  it('adds bytes and files of succeeded transfers only', () => {
    const bytes = new Map(values(families, 'baton_transfer_bytes_total'));
    assert.equal(bytes.get(JSON.stringify(flowHop)), 4000);
    const files = new Map(values(families, 'baton_transfer_files_total'));
    assert.equal(files.get(JSON.stringify(flowHop)), 3);
  });

  it('puts succeeded durations into the histogram in seconds', () => {
    const f = family(families, 'baton_transfer_duration_seconds');
    assert.equal(f.type, 'histogram');
    if (f.type !== 'histogram') return;
    const sample = f.samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(hop));
    assert.ok(sample);
    assert.equal(sample.count, 2);
    assert.equal(sample.sum, 2.4);
    assert.deepEqual(
      sample.buckets.map((b) => [b.le, b.count]),
      [
        [0.1, 0],
        [0.5, 1],
        [1, 1],
        [5, 2],
        [30, 2],
        [60, 2],
        [300, 2],
        [1800, 2],
        [3600, 2],
      ],
    );
    const long = f.samples.find((s) => s.labels.to === 'nersc');
    assert.equal(long?.buckets.at(-1)?.count, 0, 'two hours is only in +Inf');
    assert.equal(long?.count, 1);
  });

  it('reports the rate of the succeeded transfer that ended last', () => {
    const rates = new Map(values(families, 'baton_transfer_last_rate_bytes_per_second'));
    assert.equal(rates.get(JSON.stringify(hop)), 7500, 'b ended after a; failed c is ignored');
    const reordered = transferMetricFamilies([...records].reverse());
    const again = new Map(values(reordered, 'baton_transfer_last_rate_bytes_per_second'));
    assert.equal(again.get(JSON.stringify(hop)), 7500);
  });

  it('compares end times as times, not as text', () => {
    const families2 = transferMetricFamilies([
      transfer({ transferId: 'x', rate: 1, endedAt: '2024-05-01T10:30:00+02:00' }),
      transfer({ transferId: 'y', rate: 2, endedAt: '2024-05-01T09:00:00.000Z' }),
    ]);
    const rates = new Map(values(families2, 'baton_transfer_last_rate_bytes_per_second'));
    assert.equal(rates.get(JSON.stringify(hop)), 2);
  });
});

describe('renderTransferMetrics', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'baton-transfer-metrics-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('renders the records of every run in the store', async () => {
    const state = new FileStateStore({ root: path.join(root, 'state') });
    await recordTransfer(state, records[0]!);
    await recordTransfer(state, { ...records[2]!, runId: 'run-2' });
    const text = await renderTransferMetrics(state);
    assert.match(
      text,
      /^baton_transfers_total\{beamline="8\.3\.2",flow="new_file",from="spot832",result="failed",to="data832"\} 1$/m,
    );
    assert.match(
      text,
      /^baton_transfer_bytes_total\{beamline="8\.3\.2",flow="new_file",from="spot832",to="data832"\} 1000$/m,
    );
    assert.match(
      text,
      /^baton_transfer_duration_seconds_bucket\{beamline="8\.3\.2",from="spot832",to="data832",le="\+Inf"\} 1$/m,
    );
    assert.match(
      text,
      /^baton_transfer_last_rate_bytes_per_second\{beamline="8\.3\.2",from="spot832",to="data832"\} 500$/m,
    );
    assert.match(text, /^# TYPE baton_transfer_duration_seconds histogram$/m);
  });

  it('renders HELP and TYPE only when nothing was recorded', async () => {
    const state = new FileStateStore({ root: path.join(root, 'empty') });
    const text = await renderTransferMetrics(state);
    assert.equal(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length, 0);
    assert.equal(text.split('\n').filter((l) => l.startsWith('# TYPE')).length, 5);
  });
});
