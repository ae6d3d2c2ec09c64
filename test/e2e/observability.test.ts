import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { jobIdFor } from '../../shared/domain/jobIds.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { spanIdOfInstance, traceIdOfRun } from '../../shared/telemetry/traceIds.js';
import { installTracing, spanAttributes } from '../../shared/telemetry/tracing.js';
import { runToEnd } from '../helpers/hostProcess.js';

/**
 * Observability on the local host: every log line about a run carries its runId (and an
 * activity's its name as `step`), and a run is one trace: the orchestration's root span, one
 * span per activity execution under it, and the job's spans where the run launches one.
 */
interface LogLine {
  msg: string;
  runId?: string;
  instanceId?: string;
  step?: string;
  jobId?: string;
  attempt?: number;
}

describe('observability: run-scoped logs and one trace per run', () => {
  let stateDir: string;
  let host: LocalHost;
  let stopTracing: () => Promise<void>;
  const exporter = new InMemorySpanExporter();
  const lines: string[] = [];
  const logs = (): LogLine[] => lines.map((l) => JSON.parse(l) as LogLine);
  const spansOf = (runId: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.attributes[spanAttributes.runId] === runId);

  before(async () => {
    stopTracing = installTracing([new SimpleSpanProcessor(exporter)]);
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-observability-'));
    let partial = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done): void {
        const text = partial + chunk.toString('utf8');
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        lines.push(...parts.filter((p) => p !== ''));
        done();
      },
    });
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'debug', json: true, stream }),
      env: { BATON_JOB_WATCH_SCHEDULE: '* * * * * *' },
    });
  });
  after(async () => {
    await host.stop();
    await stopTracing();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('hello: logs and spans of a run with two activities', { timeout: 60_000 }, async () => {
    const runId = 'obs-hello';
    const view = await runToEnd<{ status: string }>(host.url, {
      pipeline: 'hello',
      runId,
      params: { count: 1 },
    });
    assert.equal(view.status, 'completed', JSON.stringify(view));

    // Logs: every line that is about the run says so in a field; activity lines name the step.
    const about = logs().filter((l) => JSON.stringify(l).includes(runId));
    assert.ok(about.length >= 3, JSON.stringify(about));
    for (const line of about) assert.equal(line.runId, runId, JSON.stringify(line));
    const activityLines = about.filter((l) => /\(task \d+, attempt \d+\)/.test(l.msg));
    assert.deepEqual(
      new Set(activityLines.map((l) => l.step)),
      new Set(['sayHello', 'summarizeGreetings']),
      JSON.stringify(activityLines),
    );
    for (const line of activityLines) assert.ok(line.msg.startsWith(line.step ?? '?'), line.msg);

    // Traces: one trace, the orchestration at its root, an activity span per execution under it.
    const spans = spansOf(runId);
    assert.deepEqual(
      new Set(spans.map((s) => s.spanContext().traceId)),
      new Set([traceIdOfRun(runId)]),
    );
    const roots = spans.filter((s) => s.parentSpanContext === undefined);
    assert.equal(roots.length, 1, spans.map((s) => s.name).join(', '));
    const root = roots[0] as ReadableSpan;
    assert.equal(root.name, 'orchestration helloFanOut');
    assert.equal(root.spanContext().spanId, spanIdOfInstance(runId));
    assert.equal(root.status.code, SpanStatusCode.OK);
    assert.equal(root.attributes[spanAttributes.status], 'Completed');
    const activities = spans.filter((s) => s.name.startsWith('activity '));
    assert.deepEqual(activities.map((s) => s.name).sort(), [
      'activity sayHello',
      'activity summarizeGreetings',
    ]);
    for (const span of activities) {
      assert.equal(span.parentSpanContext?.spanId, root.spanContext().spanId);
      assert.equal(span.status.code, SpanStatusCode.OK);
      assert.equal(span.attributes[spanAttributes.attempt], 1);
      assert.equal(span.attributes[spanAttributes.activity], span.name.slice('activity '.length));
      assert.ok(span.duration[0] >= 0 && span.duration[1] >= 0);
      // Inside the run: started after it, ended before it.
      assert.ok(spanStart(span) >= spanStart(root) - 1, `${span.name} starts in the run`);
    }
  });

  it('command: job spans and job log fields join the run', { timeout: 60_000 }, async () => {
    const runId = 'obs-cmd';
    const view = await runToEnd<{ status: string }>(host.url, {
      pipeline: 'command',
      runId,
      params: { argv: ['node', '-e', 'console.log("traced")'] },
    });
    assert.equal(view.status, 'completed', JSON.stringify(view));
    const jobId = jobIdFor(runId, 'command', 1);

    const about = logs().filter((l) => JSON.stringify(l).includes(runId));
    for (const line of about) assert.equal(line.runId, runId, JSON.stringify(line));
    const collect = about.find((l) => l.step === 'collectJobLogs');
    assert.equal(collect?.jobId, jobId, JSON.stringify(about));

    const spans = spansOf(runId);
    assert.deepEqual(
      new Set(spans.map((s) => s.spanContext().traceId)),
      new Set([traceIdOfRun(runId)]),
    );
    const root = spans.find((s) => s.parentSpanContext === undefined);
    assert.equal(root?.name, 'orchestration runCommand');
    for (const name of [
      'job.launch',
      'job',
      'activity requestJobLaunch',
      'activity collectJobLogs',
    ]) {
      const span = spans.find((s) => s.name === name);
      assert.ok(span, `${name} in ${spans.map((s) => s.name).join(', ')}`);
      assert.equal(span.parentSpanContext?.spanId, spanIdOfInstance(runId), name);
      assert.equal(span.status.code, SpanStatusCode.OK, name);
    }
    const job = spans.find((s) => s.name === 'job') as ReadableSpan;
    assert.equal(job.attributes[spanAttributes.jobId], jobId);
    assert.equal(job.attributes[spanAttributes.backend], 'local');
    assert.equal(job.attributes[spanAttributes.jobState], 'succeeded');
    assert.equal(job.attributes[spanAttributes.exitCode], 0);
  });

  it('a failed job: ERROR on the job and root spans', { timeout: 60_000 }, async () => {
    const runId = 'obs-fail';
    const view = await runToEnd<{ status: string }>(host.url, {
      pipeline: 'command',
      runId,
      params: { argv: ['node', '-e', 'process.exit(4)'] },
    });
    assert.equal(view.status, 'failed');
    const spans = spansOf(runId);
    const root = spans.find((s) => s.parentSpanContext === undefined);
    assert.equal(root?.status.code, SpanStatusCode.ERROR);
    assert.match(root?.status.message ?? '', /exit code 4/);
    const job = spans.find((s) => s.name === 'job');
    assert.equal(job?.status.code, SpanStatusCode.ERROR);
    assert.equal(job?.attributes[spanAttributes.exitCode], 4);
  });

  it(
    'a failed activity: its span is ERROR, not overwritten by OK',
    { timeout: 60_000 },
    async () => {
      const runId = 'obs-activity-fail';
      const view = await runToEnd<{ status: string }>(host.url, {
        pipeline: 'beamline',
        runId,
        params: { config: 'no-such-beamline.yaml', path: 'x.h5' },
      });
      assert.equal(view.status, 'failed');
      const plan = spansOf(runId).filter((s) => s.name.includes('planBeamlineDispatch'));
      assert.ok(plan.length >= 1, 'the planning activity has a span');
      for (const span of plan) assert.equal(span.status.code, SpanStatusCode.ERROR, span.name);
    },
  );
});

function spanStart(span: ReadableSpan): number {
  return span.startTime[0] * 1000 + span.startTime[1] / 1e6;
}
