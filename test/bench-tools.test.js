// The suite's machine check (bench/steady.js) and the per-thread timeline (bench/threads.js), run
// as a reader of bench/RESULTS.md would run them.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

const root = path.join(import.meta.dirname, '..');
const run = promisify(execFile);

t.test('bench/steady.js times its fixed loop and prints it as JSON; a bad argument is a usage error', async (t) => {
  const { stdout } = await run(process.execPath, [path.join(root, 'bench', 'steady.js'), '20']);
  const out = JSON.parse(stdout);
  t.ok(Number.isInteger(out.ms) && out.ms >= 0, `${out.ms} ms`);
  t.equal(typeof out.sum, 'number', 'with the sum that keeps the loop alive');
  const bad = await run(process.execPath, [path.join(root, 'bench', 'steady.js'), 'x']).catch((err) => err);
  t.equal(bad.code, 2, 'exit code 2');
  t.match(bad.stderr, /usage: node bench\/steady\.js/, 'and the usage on stderr');
});

t.test('bench/threads.js tells the main thread from a worker thread that works beside it', { skip: fs.existsSync('/proc/self/task') ? false : 'reads /proc (Linux only)' }, async (t) => {
  // The main thread and a worker thread each spin until they have used 300 ms of CPU, read from
  // /proc/thread-self/stat (a fixed count of loop steps took 0.1 s or 2.3 s on one machine, as V8
  // happened to optimise it); the worker is what the tool calls the parse thread.
  const spin =
    "(() => { const fs = require('node:fs'); const cpu = () => { const f = fs.readFileSync('/proc/thread-self/stat', 'utf8'); const a = f.slice(f.lastIndexOf(')') + 2).split(' '); return (Number(a[11]) + Number(a[12])) * 10; }; let x = 0; while (cpu() < 300) for (let i = 0; i < 1e6; i++) x = (x + i) | 0; if (x === 0.5) console.log(x); })();";
  const program = `const { Worker } = require('node:worker_threads'); const w = new Worker(${JSON.stringify(spin)}, { eval: true }); w.on('online', () => { ${spin} });`;
  const { stdout } = await run(process.execPath, [path.join(root, 'bench', 'threads.js'), '--every', '100', '--', process.execPath, '-e', program]);
  const lines = stdout.trim().split('\n');
  t.match(lines[0], /main\s+parse\s+pool\s+helpers\s+total\s+busy/, 'a header of the thread groups');
  const windows = lines.slice(1, -1).map((l) => l.trim().split(/\s+/).map((v) => Number.parseFloat(v)));
  t.ok(windows.length >= 2, `${windows.length} windows of 100 ms`);
  const used = (k) => windows.reduce((n, w) => n + w[k], 0);
  t.ok(used(1) >= 100, `the main thread used ${used(1)} ms of CPU`);
  t.ok(used(2) >= 100, `the worker, taken for the parse thread, ${used(2)} ms`);
  t.match(lines.at(-1), /^average of \d+ windows in 0–Infinity s: main \d+, parse \d+, pool \d+, helpers \d+, total \d+ ms of CPU per 100 ms \(\d+% of two cores\)$/, 'and the averages');
  const bad = await run(process.execPath, [path.join(root, 'bench', 'threads.js')]).catch((err) => err);
  t.equal(bad.code, 2, 'no command: exit code 2');
});

t.test('bench/stages.js --passes reads the file once and runs the first stages over it again each pass', async (t) => {
  const stages = path.join(root, 'bench', 'stages.js');
  const file = path.join(root, 'test', 'fixtures', 'samples', 'umami-v2-postgres.sql');
  const fromFile = JSON.parse((await run(process.execPath, [stages, file])).stdout);
  t.ok(fromFile.events > 0, `${fromFile.events} events read from the file`);
  const passes = JSON.parse((await run(process.execPath, [stages, file, '--passes', '3'])).stdout);
  t.equal(passes.events, fromFile.events, 'the same events in each pass from memory');
  t.equal(passes.passMs.length, 3, 'a time for each pass');
  t.ok(passes.passMs.every((ms) => Number.isInteger(ms) && ms >= 0), `${passes.passMs.join(', ')} ms`);
  for (const args of [['--passes', '0'], ['--passes', '2', '--aggregate']]) {
    const bad = await run(process.execPath, [stages, file, ...args]).catch((err) => err);
    t.equal(bad.code, 2, `${args.join(' ')}: exit code 2`);
  }
});
