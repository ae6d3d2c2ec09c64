import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { traceIdOfRun } from '../../shared/telemetry/traceIds.js';
import { runToEnd } from '../helpers/hostProcess.js';

/**
 * `BATON_OTLP_ENDPOINT`: the local host POSTs its spans (OTLP/HTTP, JSON) to a collector. A tiny
 * collector here records what arrives; stopping the host flushes the last batch.
 */
interface OtlpExport {
  resourceSpans: Array<{
    scopeSpans: Array<{ spans: Array<{ traceId: string; name: string; parentSpanId?: string }> }>;
  }>;
}

describe('OTLP export (BATON_OTLP_ENDPOINT)', () => {
  const received: Array<{ url: string; contentType: string; body: OtlpExport }> = [];
  const collector = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        url: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport,
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  let stateDir: string;
  let endpoint: string;
  before(async () => {
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-otlp-'));
  });
  after(async () => {
    collector.close();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('sends the run trace to the collector', { timeout: 60_000 }, async () => {
    const host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_OTLP_ENDPOINT: endpoint },
    });
    const runId = 'otlp-hello';
    try {
      const view = await runToEnd<{ status: string }>(host.url, {
        pipeline: 'hello',
        runId,
        params: { count: 2 },
      });
      assert.equal(view.status, 'completed');
    } finally {
      await host.stop();
    }
    assert.ok(received.length > 0, 'the collector received nothing');
    for (const r of received) {
      assert.equal(r.url, '/v1/traces');
      assert.match(r.contentType, /^application\/json/);
    }
    const spans = received.flatMap((r) =>
      r.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)),
    );
    const ofRun = spans.filter((s) => s.traceId === traceIdOfRun(runId));
    const names = ofRun.map((s) => s.name).sort();
    assert.deepEqual(names, [
      'activity sayHello',
      'activity sayHello',
      'activity summarizeGreetings',
      'orchestration helloFanOut',
    ]);
  });
});
