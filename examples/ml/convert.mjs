#!/usr/bin/env node
// The conversion step of the `ml` pipeline (examples/ml): exports the JSON checkpoint that
// train.mjs wrote (BATON_INPUT) to a compact format in BATON_OUTPUT_DIR, named
// BATON_OUTPUT_NAME (model.compact.json): weights quantised to int8 with one scale, base64.
// The output names the SHA-256 of the checkpoint it came from (`source.sha256`).
//
// Settings from BATON_PARAMS (JSON): `fail: true` makes the conversion refuse and exit 3 (to
// see a failing step stop the pipeline). Plain Node, no dependencies; milliseconds.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const params = JSON.parse(process.env.BATON_PARAMS ?? '{}');
const input = process.env.BATON_INPUT;
const outputDir = process.env.BATON_OUTPUT_DIR;
if (!input || !outputDir) {
  console.error('convert.mjs needs BATON_INPUT and BATON_OUTPUT_DIR');
  process.exit(2);
}
if (params.fail === true) {
  console.error('conversion refused: BATON_PARAMS asked for a failure (fail: true)');
  process.exit(3);
}

const bytes = readFileSync(input);
const model = JSON.parse(bytes.toString('utf8'));
if (model.format !== 'baton-logreg-json' || !Array.isArray(model.weights)) {
  console.error(`${input}: not a baton-logreg-json checkpoint`);
  process.exit(4);
}
const maxAbs = Math.max(1e-12, ...model.weights.map((w) => Math.abs(w)));
const scale = maxAbs / 127;
const quantised = Int8Array.from(model.weights, (w) => Math.round(w / scale));
const compact = {
  format: 'baton-logreg-q8',
  features: model.features,
  scale,
  weights: Buffer.from(quantised.buffer).toString('base64'),
  bias: model.bias,
  source: { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length },
};
const output = path.join(outputDir, process.env.BATON_OUTPUT_NAME ?? 'model.compact.json');
writeFileSync(output, `${JSON.stringify(compact)}\n`);
const maxError = Math.max(...model.weights.map((w, j) => Math.abs(w - quantised[j] * scale)));
console.log(`converted ${input} -> ${output} (max weight error ${maxError.toExponential(2)})`);
