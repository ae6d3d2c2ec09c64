#!/usr/bin/env node
// A sweep trial (examples/ml): logistic regression by full-batch gradient descent on a small
// synthetic data set that this script generates itself, the same every time (seeded).
//
// Hyper-parameters come from BATON_PARAMS (JSON; the sweep sets it): lr, epochs, l2, and an
// optional seed for the weight initialisation. Each epoch appends one JSON line to
// BATON_METRICS_FILE (default ./metrics.jsonl):
//   {"step": <epoch>, "train_loss": …, "val_loss": …, "val_accuracy": …}
// Plain Node, no dependencies; a trial of 100 epochs takes well under a second.
//
// Final training (the `ml` pipeline) is the same script: when BATON_OUTPUT_DIR is set, it also
// writes the trained model as a JSON checkpoint there, named BATON_OUTPUT_NAME (model.json).
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const params = JSON.parse(process.env.BATON_PARAMS ?? '{}');
const lr = Number(params.lr ?? 0.1);
const epochs = Math.trunc(Number(params.epochs ?? 50));
const l2 = Number(params.l2 ?? 0);
const initSeed = Math.trunc(Number(params.seed ?? 7));
const metricsFile = process.env.BATON_METRICS_FILE ?? 'metrics.jsonl';
// On a container backend the trial has no folder shared with the host: it reports each epoch
// on its output as `baton-metric <json>` lines instead (BATON_METRICS_STDOUT=1).
const metricsOnStdout = process.env.BATON_METRICS_STDOUT === '1';
const report = (line) =>
  metricsOnStdout ? console.log(`baton-metric ${line}`) : appendFileSync(metricsFile, `${line}\n`);
if (!(lr > 0) || !(epochs >= 1) || !(l2 >= 0)) {
  console.error(`bad hyper-parameters: ${JSON.stringify(params)}`);
  process.exit(2);
}

/** mulberry32: a small seeded PRNG, so the data set is the same on every machine. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gaussian(next) {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

// The data: 12 features, 5 of them informative, labels from a noisy linear rule.
const features = 12;
const dataRng = rng(20240601);
const trueWeights = Array.from({ length: features }, (_, j) => (j < 5 ? gaussian(dataRng) * 2 : 0));
function makeSet(n) {
  const xs = [];
  const ys = [];
  for (let i = 0; i < n; i++) {
    const x = Array.from({ length: features }, () => gaussian(dataRng));
    const z = x.reduce((s, v, j) => s + v * trueWeights[j], 0.5) + gaussian(dataRng) * 1.5;
    xs.push(x);
    ys.push(z > 0 ? 1 : 0);
  }
  return { xs, ys };
}
const train = makeSet(300);
const val = makeSet(300);

const sigmoid = (z) => 1 / (1 + Math.exp(-z));
function evaluate(w, b, { xs, ys }) {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < xs.length; i++) {
    const p = sigmoid(xs[i].reduce((s, v, j) => s + v * w[j], b));
    const q = Math.min(Math.max(p, 1e-12), 1 - 1e-12);
    loss -= ys[i] * Math.log(q) + (1 - ys[i]) * Math.log(1 - q);
    if ((p >= 0.5 ? 1 : 0) === ys[i]) correct++;
  }
  return { loss: loss / xs.length, accuracy: correct / xs.length };
}

const initRng = rng(initSeed);
const w = Array.from({ length: features }, () => gaussian(initRng) * 0.5);
let b = 0;
if (!metricsOnStdout) writeFileSync(metricsFile, '');
for (let epoch = 0; epoch < epochs; epoch++) {
  const gw = new Array(features).fill(0);
  let gb = 0;
  for (let i = 0; i < train.xs.length; i++) {
    const x = train.xs[i];
    const err = sigmoid(x.reduce((s, v, j) => s + v * w[j], b)) - train.ys[i];
    for (let j = 0; j < features; j++) gw[j] += err * x[j];
    gb += err;
  }
  for (let j = 0; j < features; j++) w[j] -= lr * (gw[j] / train.xs.length + l2 * w[j]);
  b -= lr * (gb / train.xs.length);
  const t = evaluate(w, b, train);
  const v = evaluate(w, b, val);
  report(
    JSON.stringify({ step: epoch, train_loss: t.loss, val_loss: v.loss, val_accuracy: v.accuracy }),
  );
}
const final = evaluate(w, b, val);
console.log(
  `lr=${lr} epochs=${epochs} l2=${l2}: val_loss ${final.loss.toFixed(4)}, val_accuracy ${final.accuracy.toFixed(3)}`,
);

const outputDir = process.env.BATON_OUTPUT_DIR;
if (outputDir) {
  const checkpoint = path.join(outputDir, process.env.BATON_OUTPUT_NAME ?? 'model.json');
  const model = {
    format: 'baton-logreg-json',
    features,
    weights: w,
    bias: b,
    params: { lr, epochs, l2, seed: initSeed },
    val_loss: final.loss,
    val_accuracy: final.accuracy,
  };
  writeFileSync(checkpoint, `${JSON.stringify(model, null, 2)}\n`);
  console.log(`checkpoint: ${checkpoint}`);
}
