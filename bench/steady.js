#!/usr/bin/env node
// A fixed piece of CPU-bound work (integer arithmetic in a warmed-up loop, no memory traffic),
// timed: prints its milliseconds. `bench/run.js` runs it alone and two copies at once, at the start
// and at the end of a suite run. On a machine whose two cores are its own and steady, all three
// times are about equal; a copy that takes longer beside the other one shares its core with
// something, and times that differ between the start and the end mean the host's speed moved
// during the run. The suite's ratios are taken within rounds for that reason; this says how much
// it mattered.
//
//   node bench/steady.js [rounds]   (default 300 rounds of a million steps)

function steps(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * 7) | 0;
  return x;
}

const rounds = Number(process.argv[2] ?? 300);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: node bench/steady.js [rounds]');
  process.exit(2);
}
for (let i = 0; i < 20; i++) steps(1e6);
const started = process.hrtime.bigint();
let sum = 0;
for (let i = 0; i < rounds; i++) sum = (sum + steps(1e6)) | 0;
const ms = Number(process.hrtime.bigint() - started) / 1e6;
// The sum is printed so that the loop cannot be dropped as dead code.
console.log(JSON.stringify({ ms: Math.round(ms), sum }));
