/**
 * An import into SQLite stops its main thread's young generation growing.
 *
 * V8 doubles the young generation (two semi-spaces) each time enough objects
 * have survived since it last grew, up to 32 MB by default. Any long run
 * gets there, and an import's final flush allocates enough to do it. Those
 * pages stay part of the process's memory: about 16 MB more at the peak of a
 * 1M-event import, with no gain in speed.
 *
 * The `--max-semi-space-size` option only takes effect when Node starts. The
 * growth factor can be changed while the process runs. V8 sets it back to 2
 * whenever a new isolate starts, so it is set to 1 again each time a worker
 * thread comes online. In an import it is first set once the modules are
 * loaded (the parse thread may be up before): by then the young generation
 * has grown to about 8 MB, and there it stays. Module hooks that start a thread of their
 * own later (a loader given in `NODE_OPTIONS`) set the factor back as well;
 * the command then takes more memory, as it did before, and nothing else
 * changes.
 *
 * Only SQLite imports do this. There, rows are written synchronously, 32 at a
 * time, and die young. Rows sent to PostgreSQL or MariaDB wait for the
 * server across many scavenges. A small young generation then promotes them,
 * and full collections follow: the 1M import into PostgreSQL took 3.5–3.9 s
 * held, against 3.1–3.2 s without.
 *
 * This module is for the command line only. The process belongs to the
 * command, so the command may change a process-wide V8 setting; the library
 * never does.
 */
import v8 from 'node:v8';

let listening = false;
let capped = false;

/** Stops the young generation growing from its present size. */
function hold(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Semi-space size (MB) new isolates start with. The growth factor is one
 * setting for the whole process: held at 1, it would also keep a worker
 * thread's young generation at the 2 MB it starts with, and the parse thread
 * then spent 420 ms scavenging in a 1M-event import, 640 times, instead of
 * 67 ms, 60 times. New isolates start larger instead: the parse thread's
 * young generation starts at 4 MB and stays there, and scavenges 95 times
 * for 69 ms. (Starting at 8 MB gave the same speed and about 12 MB more.)
 */
const WORKER_SEMI_SPACE_MB = 4;

/**
 * Before the first worker thread starts: worker threads start with their
 * young generation grown, and once {@link capYoungGeneration} has been
 * called, each one coming online holds the growth again. A worker started
 * here before the modules are loaded (the import's parse thread) leaves this
 * thread's young generation free to grow until then.
 */
export function prepareYoungGeneration(): void {
  if (listening) return;
  listening = true;
  v8.setFlagsFromString(`--min-semi-space-size=${WORKER_SEMI_SPACE_MB}`);
  process.on('worker', (worker) => worker.once('online', () => capped && hold()));
}

/**
 * Stops this thread's young generation growing: now, and again after each
 * worker thread comes online. Calling it a second time does nothing.
 */
export function capYoungGeneration(): void {
  prepareYoungGeneration();
  if (capped) return;
  capped = true;
  hold();
}
