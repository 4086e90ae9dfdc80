#!/usr/bin/env node
// Each thread's share of an import over time (Linux): runs a command, reads the CPU time of each
// of its threads from /proc/PID/task/*/stat every --every ms, and prints, per window, the CPU ms
// of the main thread, the parse thread, Node's pool (zlib, file reads), V8's helper threads
// (compilers, garbage collection) and the whole process, then the averages over --from..--to s.
// Threads are told apart by when they started: the main thread is the process's own, V8's four
// helpers start right after it, the thread that used the most CPU besides the main one is the
// parse thread, and the rest are the pool's (or others, such as the rows thread of a server
// import's driver; their sum is printed as the pool's).
//
//   node bench/threads.js [--every 100] [--from 0.6] [--to 2.2] -- node dist/lib/cli/main.js import DUMP --db sqlite:/tmp/x.sqlite
//
// A window's sum over the two cores is at most 2 × --every; the "busy" column is that sum as a
// share of both cores. The clock ticks of /proc are 10 ms: windows of 100 ms or more.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';

const USAGE = 'usage: node bench/threads.js [--every 100] [--from 0.6] [--to 2.2] -- COMMAND [ARGS…]';
let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { every: { type: 'string', default: '100' }, from: { type: 'string', default: '0' }, to: { type: 'string', default: 'Infinity' } } });
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
const { values, positionals } = parsed;
const every = Number(values.every);
const from = Number(values.from);
const to = Number(values.to);
if (positionals.length === 0 || !(every >= 10) || Number.isNaN(from) || Number.isNaN(to)) {
  console.error(USAGE);
  process.exit(2);
}

/** CPU ms (user + system) of each thread of `pid`, by thread id. */
function threadTimes(pid) {
  const out = new Map();
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime, the 14th and 15th fields, in clock ticks of 10 ms.
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

const child = spawn(positionals[0], positionals.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
const started = process.hrtime.bigint();
const samples = [];
const timer = setInterval(() => samples.push({ s: Number(process.hrtime.bigint() - started) / 1e9, times: threadTimes(child.pid) }), every);
child.on('exit', (code) => {
  clearInterval(timer);
  if (samples.length < 2) {
    console.error('the command ended before two samples were taken');
    process.exit(1);
  }
  // Each thread's CPU time when last seen (a thread may end before the process does).
  const last = new Map();
  for (const x of samples) for (const [t, ms] of x.times) last.set(t, ms);
  const main = child.pid;
  const tids = [...new Set(samples.flatMap((x) => [...x.times.keys()]))].sort((a, b) => a - b);
  const helpers = tids.filter((t) => t > main && t <= main + 4);
  const others = tids.filter((t) => t !== main && !helpers.includes(t));
  const parse = others.reduce((best, t) => ((last.get(t) ?? 0) > (last.get(best) ?? -1) ? t : best), others[0]);
  const pool = others.filter((t) => t !== parse);
  const groups = { main: [main], parse: parse === undefined ? [] : [parse], pool, helpers };
  const names = Object.keys(groups);
  console.log(`window end (s)  ${names.map((n) => n.padStart(7)).join(' ')}   total  busy`);
  const sums = Object.fromEntries([...names, 'total'].map((n) => [n, 0]));
  let windows = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1].times;
    const b = samples[i].times;
    // A thread that ended in the window counts as idle in it (its last ticks are not seen).
    const used = (ts) => ts.reduce((n, t) => n + Math.max(0, (b.get(t) ?? a.get(t) ?? 0) - (a.get(t) ?? 0)), 0);
    const row = names.map((n) => used(groups[n]));
    const total = row.reduce((x, y) => x + y, 0);
    const span = (samples[i].s - samples[i - 1].s) * 1000;
    console.log(`${samples[i].s.toFixed(2).padStart(14)}  ${row.map((v) => String(v).padStart(7)).join(' ')}  ${String(total).padStart(6)}  ${Math.round((100 * total) / (2 * span))}%`);
    if (samples[i].s >= from && samples[i].s <= to) {
      names.forEach((n, k) => (sums[n] += row[k]));
      sums.total += total;
      windows++;
    }
  }
  if (windows > 0) {
    const avg = (n) => Math.round(sums[n] / windows);
    console.log(`average of ${windows} windows in ${from}–${to} s: ${names.map((n) => `${n} ${avg(n)}`).join(', ')}, total ${avg('total')} ms of CPU per ${every} ms (${Math.round((100 * sums.total) / (windows * 2 * every))}% of two cores)`);
  }
  process.exitCode = code ?? 1;
});
