#!/usr/bin/env node
// The visitor sketch's error and size for 10^2 … 10^7 distinct visitors:
// built in one piece (the estimate a bucket written once stores), and merged
// from 8 parts (a bucket written by several flushes or importers, where the
// exact count is no longer known). Writes a Markdown table to stdout.
//
//   node bench/sketch.js [--trials N]
import { parseArgs } from 'node:util';
import { VisitorSketch, hash53 } from '../dist/lib/index.js';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '20' } } });
const trials = Number(values.trials);

function sketchOf(from, to, seed) {
  const hashes = new Float64Array(to - from);
  for (let i = from; i < to; i++) hashes[i - from] = hash53(`${seed}-visitor-${i}`);
  return VisitorSketch.fromHashes(hashes);
}

console.log('| distinct | mode | one piece: estimate | size (bytes) | merged from 8 parts: mean error | RMS error | worst | size (bytes) | trials |');
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|');
for (const n of [100, 1_000, 2_048, 5_000, 10_000, 100_000, 1_000_000, 10_000_000]) {
  const runs = n >= 1_000_000 ? Math.max(2, Math.floor(trials / (n / 500_000))) : trials;
  let sum = 0;
  let sq = 0;
  let worst = 0;
  let mergedSize = 0;
  let one = null;
  for (let r = 0; r < runs; r++) {
    if (r === 0) one = sketchOf(0, n, r);
    const merged = VisitorSketch.empty();
    const step = Math.ceil(n / 8);
    for (let from = 0; from < n; from += step) merged.merge(sketchOf(from, Math.min(n, from + step), r));
    const err = merged.estimate() / n - 1;
    sum += err;
    sq += err * err;
    worst = Math.max(worst, Math.abs(err));
    mergedSize = merged.serialize().length;
  }
  const pct = (x) => `${(x * 100).toFixed(2)}%`;
  console.log(
    `| ${n.toLocaleString('en-US')} | ${one.isExact ? 'exact' : 'HLL'} | ${one.estimate().toLocaleString('en-US')} | ${one.serialize().length.toLocaleString('en-US')} | ${pct(sum / runs)} | ${pct(Math.sqrt(sq / runs))} | ${pct(worst)} | ${mergedSize.toLocaleString('en-US')} | ${runs} |`,
  );
}
const small = VisitorSketch.of(Array.from({ length: 10 }, (_, i) => hash53(`v${i}`)));
console.log(`\nA bucket of 10 visitors: ${small.serialize().length} bytes.`);
