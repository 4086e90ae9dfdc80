/**
 * The rows of a flush built on a worker thread while this thread writes
 * them. An import's last flush is the one part of it where one core works
 * alone: the parser's thread is done, and making the rows took longer than
 * writing them. The plan's typed arrays move to the worker (not copied); it
 * makes each row's costly parts, the visitor sketch and the top lists
 * picked, and sends them back as typed arrays ({@link PlanPart}), up to
 * {@link ROW_MESSAGES_AHEAD} messages ahead of the writer. This thread reads
 * the rest of each row from the plan (website, bucket, page views) and makes
 * the top lists' JSON.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { BucketChunk } from '../aggregate/aggregator.js';
import { ChunkGatherer, type FlushPlan, type PlanPart, bucketLabel, planBucketsInterleaved, planBuffers } from '../aggregate/rows.js';
import { TopNames, encodedRowOf } from '../store/encode.js';
import { startWorker } from './parse-thread.js';
import { type SerializedError, reviveError } from './protocol.js';
import type { RowsPort } from './rows-service.js';

/**
 * Messages of rows the worker sends ahead of those read here. The rows come
 * with hours, days and months interleaved ({@link planBucketsInterleaved}):
 * the lead only evens out the uneven cost of the rows. A message of 64 hour
 * rows takes about 25 KB, of day rows about 130 KB.
 */
export const ROW_MESSAGES_AHEAD = 128;
/** Bytes of rows the worker sends ahead at most, however few messages they take. */
export const ROW_BYTES_AHEAD = 8 << 20;
/** Messages read here before the worker is told (one message for several, unless nothing else is here to read). */
const ACK_EVERY = 16;

/** How far ahead the worker may build (smaller than the defaults in tests). */
export interface RowsThreadOptions {
  /** Messages of rows sent ahead at most. Default {@link ROW_MESSAGES_AHEAD}. */
  messagesAhead?: number;
  /** Bytes of rows sent ahead at most (at least one message is). Default {@link ROW_BYTES_AHEAD}. */
  bytesAhead?: number;
  /**
   * A worker of this library's to build the rows on instead of starting
   * one: a {@link ParseThread}'s, its input parsed ({@link ParseThread.takeWorker}).
   * This thread then owns it and stops it.
   */
  worker?: Worker;
}

/** Messages from the worker. */
export type RowsWorkerMessage =
  | { t: 'rows'; id: number; part: PlanPart }
  | { t: 'end'; id: number }
  | { t: 'error'; id: number; error: SerializedError };

/** Messages to the worker. */
export type RowsMainMessage =
  | { t: 'names'; paths: readonly string[]; refNames: readonly string[] }
  | { t: 'build'; id: number; plan: FlushPlan | null; namesSent?: boolean }
  | { t: 'ack'; id: number; n: number }
  | { t: 'stop'; id: number };

const WORKER_URL = new URL('./rows-thread-worker.js', import.meta.url);

/** A worker thread that builds the rows of flush plans. */
export class RowsThread {
  private readonly worker: Worker;
  /** Where requests go and rows come from: a port sent to the worker ({@link RowsPort}). */
  private readonly port: MessagePort;
  /** The plan the worker holds (a request for it again sends only its id). */
  private planSent: FlushPlan | null = null;
  /** The names last sent ahead of a plan ({@link prepare}). */
  private namesSent: { paths: readonly string[]; refNames: readonly string[] } | null = null;
  private lastId = 0;
  private reader: RowsReader | null = null;
  private stopped = false;

  /**
   * Starts the worker now (it loads while the flush's tables are grouped), or
   * serves rows on the one given; idle, it does not hold the process open.
   */
  constructor(options: RowsThreadOptions = {}) {
    const limits = { messagesAhead: options.messagesAhead ?? ROW_MESSAGES_AHEAD, bytesAhead: options.bytesAhead ?? ROW_BYTES_AHEAD };
    this.worker = options.worker ?? startWorker(WORKER_URL, null);
    const { port1, port2 } = new MessageChannel();
    this.worker.postMessage({ t: 'rows', port: port2, limits } satisfies RowsPort, [port2]);
    this.port = port1;
    this.port.on('message', (m: RowsWorkerMessage) => {
      if (this.reader?.id === m.id) this.reader.take(m);
    });
    this.port.on('messageerror', (err) => this.reader?.fail(err));
    this.worker.on('error', (err) => this.reader?.fail(err));
    // A worker given that has stopped already (its 'exit' has passed): every request fails at once.
    if (this.worker.threadId === -1) this.stopped = true;
    this.worker.on('exit', (code) => {
      this.stopped = true;
      this.reader?.fail(new Error(`the thread building rows stopped (exit code ${code})`));
    });
    this.unref();
  }

  /**
   * The plan's rows, `size` at a time, each chunk of one granularity, in
   * {@link planBucketsInterleaved}' order: hours, days and months spread
   * over the whole. For SQLite's one writer: it is not the global order
   * (granularity, website, bucket) in which importers into a server take
   * row locks, so concurrent ones could deadlock. The
   * plan's typed arrays move to the worker with the first request: the plan
   * is of no use on this thread after it. Iterating again builds the rows
   * again. One iteration at a time.
   */
  buildRows(plan: FlushPlan, size: number): AsyncIterable<BucketChunk> {
    return { [Symbol.asyncIterator]: () => this.read(plan, size) };
  }

  /**
   * Sends the names of the next plan ahead of it (its `paths` and `refNames`, the same arrays):
   * the worker orders them while this thread groups the plan's tables, and the plan then goes
   * without them. A plan over other arrays goes with its own names, as without this.
   */
  prepare(paths: readonly string[], refNames: readonly string[]): void {
    if (this.stopped) return;
    this.post({ t: 'names', paths, refNames });
    this.namesSent = { paths, refNames };
  }

  /** Stops the worker (an iteration under way fails). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reader?.fail(new Error('the thread building rows was stopped'));
    this.port.close();
    void this.worker.terminate();
  }

  /** Waiting for the worker's messages keeps the process alive; idle, it does not. */
  private ref(): void {
    this.worker.ref();
    this.port.ref();
  }

  private unref(): void {
    this.worker.unref();
    this.port.unref();
  }

  private async *read(plan: FlushPlan, size: number): AsyncGenerator<BucketChunk> {
    if (this.stopped) throw new Error('the thread building rows was stopped');
    if (this.reader !== null) throw new Error('the rows of another request are still being read');
    const send = this.planSent !== plan;
    // A plan that moved to another thread: its arrays are empty (bucket offsets hold one entry at least),
    // and a message holding them would be dropped without a word.
    if (send && (plan.visitors.start.length === 0 || plan.hours.start.length === 0)) throw new Error("the plan's arrays were moved to another thread already");
    const reader = new RowsReader(++this.lastId);
    this.reader = reader;
    // Waiting for the worker's messages keeps the process alive.
    this.ref();
    let ended = false;
    try {
      // Names sent ahead stay there: the plan goes without its own copy of them.
      const named = send && this.namesSent !== null && this.namesSent.paths === plan.paths && this.namesSent.refNames === plan.refNames;
      const sent = named ? { ...plan, paths: [], refNames: [] } : plan;
      this.post({ t: 'build', id: reader.id, plan: send ? sent : null, namesSent: named }, send ? planBuffers(plan) : []);
      this.planSent = plan;
      // The rest of each row is read from the plan here, in the same order (messages hold a few dozen rows).
      const buckets = planBucketsInterleaved(plan);
      const gather = new ChunkGatherer(size);
      const pathNames = new TopNames(plan.paths, 'path');
      const refNames = new TopNames(plan.refNames, 'domain');
      let unacked = 0;
      for (;;) {
        // About to wait: the worker hears of every message read (it may be waiting for room).
        if (unacked > 0 && !reader.ready) {
          this.post({ t: 'ack', id: reader.id, n: unacked });
          unacked = 0;
        }
        const part = await reader.next();
        if (part === null) {
          if (!buckets.next().done) throw new Error('the thread building rows sent fewer rows than the plan has');
          ended = true;
          gather.end();
          yield* gather.take();
          return;
        }
        if (++unacked === ACK_EVERY) {
          this.post({ t: 'ack', id: reader.id, n: unacked });
          unacked = 0;
        }
        const sketches = Buffer.from(part.sketches.buffer, part.sketches.byteOffset, part.sketches.byteLength);
        for (let i = 0; i < part.rows; i++) {
          const next = buckets.next();
          if (next.done) throw new Error('the thread building rows sent more rows than the plan has');
          const { granularity, site, b } = next.value;
          const row = encodedRowOf(site.id, bucketLabel(plan, granularity, b), plan.views[b], part, sketches, i, pathNames, refNames);
          gather.add(granularity, row);
          const ready = gather.take();
          if (ready.length > 0) for (const chunk of ready) {
            // Stopped meanwhile: no more rows, not even those already here.
            reader.check();
            yield chunk;
          }
        }
      }
    } finally {
      this.reader = null;
      if (!this.stopped) {
        // Left early (the writer failed): the worker stops building.
        if (!ended && !reader.failed) this.post({ t: 'stop', id: reader.id });
        this.unref();
      }
    }
  }

  private post(m: RowsMainMessage, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(m, transfer);
  }
}

/** The messages of one request, waiting to be read. */
class RowsReader {
  private readonly queue: PlanPart[] = [];
  private ended = false;
  private error: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(readonly id: number) {}

  get failed(): boolean {
    return this.error !== null;
  }

  /** A message or the end is here: next() will not wait. */
  get ready(): boolean {
    return this.queue.length > 0 || this.ended || this.error !== null;
  }

  take(m: RowsWorkerMessage): void {
    if (m.t === 'rows') this.queue.push(m.part);
    else if (m.t === 'end') this.ended = true;
    else this.error ??= reviveError(m.error);
    this.poke();
  }

  fail(err: Error): void {
    this.error ??= err;
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Throws the error that ended the reading, if any. */
  check(): void {
    if (this.error !== null) throw this.error;
  }

  /** The next chunk; null at the end; throws the worker's error. */
  async next(): Promise<PlanPart | null> {
    for (;;) {
      this.check();
      if (this.queue.length > 0) return this.queue.shift()!;
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
