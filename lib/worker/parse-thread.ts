/**
 * Stages 1 and 2 on a worker thread: dump bytes in (or a file it reads), packed event batches
 * (and website batches) out. The tokenizer and the event parser, the larger
 * half of an import's work, then run on a second core while the aggregator
 * and the upserter run on the main thread.
 *
 * Chunks are copied into buffers of this stream's own and moved to the
 * worker, which hands each buffer back once it is read, so a few buffers
 * serve the whole input; packed batches come back without copying. Both directions are bounded: at
 * most {@link CHUNKS_IN_FLIGHT} chunks wait in the worker, and the worker
 * stops reading while {@link BATCHES_IN_FLIGHT} batches wait here, so memory
 * stays flat whichever side is slower.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { inputUnreadable } from '../errors.js';
import { type PackedEventBatch, transferablesOf } from '../umami/packed.js';
import { BATCHES_IN_FLIGHT, CHUNKS_IN_FLIGHT, EMPTY_STATS, type MainMessage, type ParseStats, type ParseThreadOptions, type WorkerMessage, reviveError } from './protocol.js';

export { BATCHES_IN_FLIGHT, CHUNKS_IN_FLIGHT, EMPTY_STATS, parseStatsOf, reviveError, serializeError } from './protocol.js';
export type { MainMessage, ParseStats, ParseThreadOptions, SerializedError, WorkerMessage } from './protocol.js';

/** Size of the buffers chunks are copied into (larger chunks get a larger one). */
const POOLED_BYTES = 1 << 20;

/**
 * The process's Node options minus module hooks (`--import`, `--require`,
 * `--loader`): the worker runs this library's own JavaScript and needs no
 * host loader, and starts faster without one.
 */
function withoutHooks(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const hook = /^--(import|require|loader|experimental-loader)(=|$)/.exec(a) ?? (a === '-r' ? [a, '', ''] : null);
    if (hook === null) out.push(a);
    else if (hook[2] !== '=') i++; // the value is the next argument
  }
  return out;
}

const WORKER_URL = new URL('./parse-thread-worker.js', import.meta.url);

/**
 * The worker's young generation, capped: what it allocates dies young (row
 * values, batches posted away), yet by default V8 let it grow until the
 * worker's heap took about 40 MB. At 16 MB the 1M-event import peaks about
 * 12 MB lower, in the same time.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 16 };

/** A worker of this library's own at `url`, with `workerData`. */
export function startWorker(url: URL, workerData: unknown): Worker {
  const base = { workerData, resourceLimits: WORKER_LIMITS };
  const execArgv = withoutHooks();
  if (execArgv.length === process.execArgv.length) return new Worker(url, base);
  try {
    return new Worker(url, { ...base, execArgv });
  } catch (err) {
    // Options a worker may not be given (V8 flags such as --max-semi-space-size): inherit them all instead.
    if ((err as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    return new Worker(url, base);
  }
}

/** Tokenizer and parser on a worker thread, as one Duplex. */
export class ParseThread extends Duplex {
  /** Input bytes written (compressed if the input is). */
  bytesRead = 0;
  stats: ParseStats = { ...EMPTY_STATS };
  private readonly worker: Worker;
  private inFlight = 0;
  private waiting: (() => void) | null = null;
  private finalCallback: ((err?: Error | null) => void) | null = null;
  private unacked = 0;
  private finished = false;
  /** Buffers the worker has handed back, for the next chunks. */
  private readonly pool: ArrayBuffer[] = [];
  /** The file the worker reads, if it reads one. */
  readonly file: string | null;
  /** The options it was made with. */
  readonly options: Readonly<ParseThreadOptions>;
  /** Its descriptor: opened here (by {@link start} or at the end of the writable side) and closed here, once the worker is done or stopped. */
  private fd: number | null = null;
  /** True once the file is being read. */
  private reading = false;
  /** The file's SHA-256 so far (with `hashFile`), then its hex digest. */
  private readonly fileHash: crypto.Hash | null;
  private digest: string | null = null;
  /** Whether the worker is kept once the input is parsed ({@link retainWorker}), and whether it was ({@link takeWorker}). */
  private retain = false;
  private kept = false;
  private handedOver = false;
  private readonly workerListeners: { message: (m: WorkerMessage) => void; error: (err: Error) => void; exit: (code: number) => void };

  constructor(options: ParseThreadOptions = {}) {
    super({ readableObjectMode: true, readableHighWaterMark: BATCHES_IN_FLIGHT, writableHighWaterMark: 1 << 20 });
    this.file = options.file ?? null;
    this.options = { ...options };
    if (options.hashFile && this.file === null) throw new TypeError('hashFile hashes the file the thread reads: give file as well');
    this.fileHash = options.hashFile ? crypto.createHash('sha256') : null;
    this.worker = startWorker(WORKER_URL, options);
    this.workerListeners = {
      message: (m) => this.received(m),
      error: (err) => this.destroy(err),
      exit: (code) => {
        if (!this.finished && !this.destroyed) this.destroy(new Error(`the parser's worker thread stopped (exit code ${code})`));
      },
    };
    this.worker.on('message', this.workerListeners.message);
    this.worker.on('error', this.workerListeners.error);
    this.worker.on('exit', this.workerListeners.exit);
    // Idle until the first chunk: a stream made but never used does not keep the process alive
    // (after the listeners, which would ref it again).
    this.worker.unref();
  }

  private received(m: WorkerMessage): void {
    if (this.destroyed) return;
    switch (m.t) {
      case 'consumed': {
        this.stats = m.stats;
        this.inFlight--;
        // Kept for reuse unless a huge chunk made it huge.
        if (m.buffer && m.buffer.byteLength <= 4 * POOLED_BYTES && this.pool.length < CHUNKS_IN_FLIGHT) this.pool.push(m.buffer);
        const next = this.waiting;
        if (next && this.inFlight < CHUNKS_IN_FLIGHT) {
          this.waiting = null;
          next();
        }
        return;
      }
      case 'input': {
        this.stats = m.stats;
        this.bytesRead += m.data.byteLength;
        const chunk = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        this.fileHash?.update(chunk);
        this.emit('input', chunk);
        const buffer = m.data.buffer as ArrayBuffer;
        this.worker.postMessage({ t: 'returned', buffer } satisfies MainMessage, [buffer]);
        return;
      }
      case 'batch':
        this.stats = m.stats;
        if ((m.batch as { kind?: string }).kind === 'packed') this.recyclable(m.batch as PackedEventBatch);
        if (this.push(m.batch)) this.worker.postMessage({ t: 'ack', n: 1 } satisfies MainMessage);
        else this.unacked++;
        return;
      case 'done': {
        this.closeFile();
        this.stats = m.stats;
        if (this.fileHash !== null) this.digest = this.fileHash.digest('hex');
        this.finished = true;
        this.push(null);
        const cb = this.finalCallback;
        this.finalCallback = null;
        // Kept for takeWorker() (idle, it does not hold the process open), or stopped.
        this.kept = this.retain;
        if (this.kept) this.worker.unref();
        else void this.worker.terminate();
        cb?.();
        return;
      }
      case 'error':
        this.destroy(reviveError(m.error));
        return;
    }
  }

  /** The batch's memory goes back to the worker once its consumer releases it. */
  private recyclable(batch: PackedEventBatch): void {
    const memory = transferablesOf(batch);
    if (memory.length !== 1) return;
    let released = false;
    batch.release = () => {
      // Once only: the memory is gone after the first call.
      if (released) return;
      released = true;
      batch.release = undefined;
      if (!this.finished && !this.destroyed) this.worker.postMessage({ t: 'recycle', buffer: memory[0] } satisfies MainMessage, memory);
    };
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send([chunk], chunk.length, cb);
  }

  /** Chunks that queued up while the worker was busy go over as one message. */
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    let total = 0;
    for (const c of chunks) total += c.chunk.length;
    this.send(
      chunks.map((c) => c.chunk),
      total,
      cb,
    );
  }

  private send(chunks: Buffer[], total: number, cb: (err?: Error | null) => void): void {
    if (this.file !== null) return cb(new Error('a ParseThread that reads a file takes no input chunks'));
    if (this.bytesRead === 0) this.worker.ref();
    this.bytesRead += total;
    // A buffer of this stream's own: the caller's chunks may share their memory with others.
    let buffer = this.pool.pop();
    if (buffer === undefined || buffer.byteLength < total) buffer = new ArrayBuffer(Math.max(total, POOLED_BYTES));
    const data = new Uint8Array(buffer, 0, total);
    let at = 0;
    for (const c of chunks) {
      data.set(c, at);
      at += c.length;
    }
    this.worker.postMessage({ t: 'chunk', data } satisfies MainMessage, [buffer]);
    if (++this.inFlight < CHUNKS_IN_FLIGHT) cb();
    else this.waiting = () => cb();
  }

  /**
   * Starts reading the file now, before the stream is ended or read from
   * (a thread made with `file`): a host that still has to open its database
   * has the file read and parsed meanwhile. The batches wait here, at most
   * {@link BATCHES_IN_FLIGHT} beyond what the readable side buffers, so
   * memory stays bounded however long the reader takes to come. End the
   * writable side as usual; an error (unreadable file, bad input) destroys
   * the stream and waits there for whoever pipes it.
   */
  start(): this {
    if (this.file === null) throw new TypeError('start() reads the file a ParseThread was made with: give file');
    if (this.reading || this.destroyed) return this;
    // Kept on the stream (stream.pipeline and finished() read it from there), not thrown before anyone listens.
    this.on('error', () => {});
    this.openFile((err) => this.destroy(err));
    return this;
  }

  /**
   * Keeps the worker once the input is parsed, to be handed over by
   * {@link takeWorker}, instead of stopping it then; it stops with the
   * stream if it is not taken. Called after the input was parsed, it is too
   * late: the worker has stopped.
   */
  retainWorker(): this {
    this.retain = true;
    return this;
  }

  /**
   * The worker, once the input is parsed, if {@link retainWorker} kept it
   * (null otherwise, or once the stream is destroyed): it can build the rows
   * of the last flush ({@link RowsThread}) without a thread started for them.
   * Whoever takes it stops it; this stream no longer does.
   */
  takeWorker(): Worker | null {
    if (!this.kept || this.handedOver || this.destroyed) return null;
    this.handedOver = true;
    this.worker.off('message', this.workerListeners.message);
    this.worker.off('error', this.workerListeners.error);
    this.worker.off('exit', this.workerListeners.exit);
    return this.worker;
  }

  /** The file's SHA-256 (hex), once it has all been read; null without `hashFile` or before. */
  fileDigest(): string | null {
    return this.digest;
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.file === null) {
      this.worker.ref();
      this.finalCallback = cb;
      this.worker.postMessage({ t: 'end' } satisfies MainMessage);
      return;
    }
    // Started early: done once the worker is (which may already be).
    if (this.reading) {
      if (this.finished) cb();
      else this.finalCallback = cb;
      return;
    }
    this.finalCallback = cb;
    this.openFile((err) => {
      this.finalCallback = null;
      cb(err);
    });
  }

  /** Opens the file and hands it to the worker; `failed` hears of a file that cannot be opened. */
  private openFile(failed: (err: Error) => void): void {
    const file = this.file!;
    this.reading = true;
    this.worker.ref();
    fs.open(file, 'r', (err, fd) => {
      if (err) return failed(inputUnreadable(file, err));
      if (this.destroyed) {
        fs.close(fd, () => {});
        return;
      }
      this.fd = fd;
      this.worker.postMessage({ t: 'file', fd, file } satisfies MainMessage);
    });
  }

  private closeFile(): void {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) fs.close(fd, () => {});
  }

  override _read(): void {
    if (this.unacked === 0) return;
    this.worker.postMessage({ t: 'ack', n: this.unacked } satisfies MainMessage);
    this.unacked = 0;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.finished = true;
    // A write waiting for room is dropped with the stream (a destroyed Writable fails its pending writes).
    this.waiting = null;
    // The file is closed once the worker has stopped: it may be reading it until then.
    const stopped = (): void => {
      this.closeFile();
      cb(err);
    };
    // A worker handed over is its taker's to stop (its input is parsed: the file is read).
    if (this.handedOver) stopped();
    else this.worker.terminate().then(stopped, stopped);
  }
}
