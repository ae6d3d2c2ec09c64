import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { installTracing } from './tracing.js';

/**
 * The local host's "export OTLP" option: `BATON_OTLP_ENDPOINT` is a collector's OTLP/HTTP base
 * URL (`http://127.0.0.1:4318`, as `OTEL_EXPORTER_OTLP_ENDPOINT` is), and traces are POSTed
 * (OTLP JSON) to `<endpoint>/v1/traces`; a URL that already ends in `/v1/traces` is used as is.
 * Spans are batched and flushed when the host stops.
 */
export function installOtlpTracing(endpoint: string): () => Promise<void> {
  const base = endpoint.replace(/\/+$/, '');
  const url = base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
  return installTracing([
    new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 1000 }),
  ]);
}
