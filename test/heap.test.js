// The command's hold on its main thread's young generation, checked in real processes: with it the
// young generation keeps the size it had when a worker thread came online (a new isolate resets
// V8's growth factor), however much survives later; without it, or with the library alone, the
// same allocations make it grow.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const dist = path.join(import.meta.dirname, '..', 'dist', 'lib');

/** Young generation sizes (MB) when a worker is online and after objects survived scavenges. */
async function youngGenerationMb(setup) {
  const script = `
    import v8 from 'node:v8';
    import { Worker } from 'node:worker_threads';
    ${setup}
    // A worker with the parse thread's young generation limit, reporting the size it starts with (read first thing).
    const worker = new Worker(
      "const size = process.getBuiltinModule('node:v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space').space_size / 1048576; process.getBuiltinModule('node:worker_threads').parentPort.postMessage(size); setTimeout(() => {}, 200);",
      { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 16 } },
    );
    const workerYoung = new Promise((resolve) => worker.once('message', resolve));
    await new Promise((resolve) => worker.once('online', resolve));
    // The worker's size is read before the allocations below: they grow the growth factor, which is
    // the whole process's, and a worker still starting on a busy machine would read it grown.
    const workerMb = await workerYoung;
    const young = () => v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space').space_size / 1048576;
    const online = young();
    // Objects that live across scavenges, as an import's aggregates and rows do: first made a
    // slice at a time between event-loop turns (as batches arrive), then in one synchronous run
    // (as the final flush makes its rows).
    const kept = [];
    let sum = 0;
    const make = (n) => {
      for (let i = 0; i < n; i++) {
        kept.push({ i, s: 'row ' + i });
        if (kept.length > 200000) kept.length = 0;
        sum += kept.length;
      }
    };
    for (let k = 0; k < 1000; k++) {
      make(2000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    make(4e6);
    console.log(JSON.stringify({ online, after: young(), worker: workerMb, sum }));
    await worker.terminate();
  `;
  // Started by env(1) without NODE_OPTIONS: the test runner adds its module hooks to the processes
  // its tests start, and a module-hooks thread starting late resets the growth factor too.
  const { stdout } = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], { env: { PATH: process.env.PATH } });
  return JSON.parse(stdout);
}

const heapUrl = pathToFileURL(path.join(dist, 'cli', 'heap.js')).href;
const libUrl = pathToFileURL(path.join(dist, 'index.js')).href;

t.test('without the hold the young generation grows (the control)', async (t) => {
  const { online, after } = await youngGenerationMb('');
  t.ok(after > 8 && after > online, `${online} MB, then ${after} MB`);
});

t.test('the library alone leaves the process its V8 settings', async (t) => {
  const { online, after } = await youngGenerationMb(`await import(${JSON.stringify(libUrl)});`);
  t.ok(after > 8 && after > online, `${online} MB, then ${after} MB`);
});

t.test('the command holds it, also after a worker thread comes online', async (t) => {
  const control = await youngGenerationMb('');
  const { online, after, worker } = await youngGenerationMb(`const { capYoungGeneration } = await import(${JSON.stringify(heapUrl)}); capYoungGeneration(); capYoungGeneration();`);
  // From the size it had (V8 may still take a young generation of 1 MB to 2 MB), not to the 32 MB
  // the same allocations reach without the hold.
  t.ok(online <= 8 && after <= Math.max(online, 2), `${online} MB, then ${after} MB`);
  // New isolates start as V8 starts them: the command sets nothing for them (a larger starting
  // size made each worker take 20-25 ms longer to start, and the imports peak higher).
  t.ok(control.worker < 4, `without the command a worker starts at ${control.worker} MB`);
  t.equal(worker, control.worker, `the worker's young generation starts at ${worker} MB`);
});
