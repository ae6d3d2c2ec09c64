#!/usr/bin/env node
// The benchmark step of the `ml` pipeline (examples/ml): loads the compact model that
// convert.mjs wrote (BATON_INPUT) and times batched predictions on seeded random inputs.
// Each round appends one JSON line to BATON_METRICS_FILE (the sweep trials' format):
//   {"step": <round>, "latency_ms_p50": …, "latency_ms_p95": …, "throughput": <predictions/s>}
//
// Settings from BATON_PARAMS (JSON): rounds (3), batches per round (200), batch size (64).
// Plain Node, no dependencies; well under a second with the defaults.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const params = JSON.parse(process.env.BATON_PARAMS ?? '{}');
const rounds = Math.trunc(Number(params.rounds ?? 3));
const batches = Math.trunc(Number(params.batches ?? 200));
const batchSize = Math.trunc(Number(params.batchSize ?? 64));
const input = process.env.BATON_INPUT;
const metricsFile = process.env.BATON_METRICS_FILE ?? 'metrics.jsonl';
if (!input || !(rounds >= 1) || !(batches >= 1) || !(batchSize >= 1)) {
  console.error(`benchmark.mjs needs BATON_INPUT and positive settings: ${JSON.stringify(params)}`);
  process.exit(2);
}

const model = JSON.parse(readFileSync(input, 'utf8'));
if (model.format !== 'baton-logreg-q8') {
  console.error(`${input}: not a baton-logreg-q8 model`);
  process.exit(4);
}
const q = new Int8Array(Buffer.from(model.weights, 'base64'));
const weights = Float64Array.from(q, (v) => v * model.scale);
const features = model.features;

let seed = 12345;
const next = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 4294967296 - 0.5;
};
const data = Array.from({ length: batchSize }, () => Float64Array.from({ length: features }, next));

function predictBatch(rows) {
  let positives = 0;
  for (const x of rows) {
    let z = model.bias;
    for (let j = 0; j < features; j++) z += x[j] * weights[j];
    if (1 / (1 + Math.exp(-z)) >= 0.5) positives++;
  }
  return positives;
}
const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

writeFileSync(metricsFile, '');
let sink = 0;
for (let i = 0; i < 20; i++) sink += predictBatch(data); // warm-up
for (let round = 0; round < rounds; round++) {
  const latencies = [];
  const started = performance.now();
  for (let i = 0; i < batches; i++) {
    const t0 = performance.now();
    sink += predictBatch(data);
    latencies.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const line = {
    step: round,
    latency_ms_p50: percentile(latencies, 0.5),
    latency_ms_p95: percentile(latencies, 0.95),
    throughput: (batches * batchSize) / Math.max(seconds, 1e-9),
  };
  appendFileSync(metricsFile, `${JSON.stringify(line)}\n`);
  console.log(JSON.stringify(line));
}
if (sink < 0) console.log(sink); // keeps the predictions from being optimised away
