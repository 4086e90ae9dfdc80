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
 * Before the first worker thread starts: once {@link capYoungGeneration}
 * has been called, each worker thread coming online holds the growth again.
 * A worker started here before the modules are loaded (the import's parse
 * thread) leaves this thread's young generation free to grow until then.
 *
 * Worker threads are held too, at the size they start with (2 MB): the
 * growth factor is one setting for the whole process. The parse thread then
 * scavenges about 80 times in a 1M-event import (47 ms) where it did 40 times
 * (37 ms) when new isolates started at 4 MB (`--min-semi-space-size`). That
 * setting made each worker take 20–25 ms longer to start, and its young
 * generation held more of zlib's dead output chunks between scavenges: the
 * 1M-event import peaked 4–6 MB higher, gzipped 8–11 MB higher and up to 2%
 * slower, by turns.
 */
export function prepareYoungGeneration(): void {
  if (listening) return;
  listening = true;
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
