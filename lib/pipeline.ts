/**
 * createImportPipeline(): the four stages wired together behind one Writable
 * that a host pipes a dump into. It creates the tables if needed, records the
 * import in the ledger, and finishes only when the aggregates are committed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { type Readable, Writable, pipeline } from 'node:stream';
import type { Knex } from 'knex';
import { UmamiAggregateError, inputUnreadable, invalidOption } from './errors.js';
import { AggregatorStream, type BucketBatch, type Granularity } from './aggregate/aggregator.js';
import { DumpTokenizer, type InputFormat } from './dump/tokenizer.js';
import { EventParserStream, type RejectionSummary } from './umami/parser.js';
import { type ParseStats, ParseThread, parseStatsOf } from './worker/parse-thread.js';
import { RowsThread } from './worker/rows-thread.js';
import { dialectOf, nowText } from './store/dialect.js';
import {
  type ImportMode,
  type LedgerUpdate,
  findCompletedByFingerprint,
  findResumable,
  markInterrupted,
  processOwner,
  startImport,
  updateImport,
} from './store/ledger.js';
import { migrate as runMigrations } from './store/migrations.js';
import type { ResolveSite } from './store/sites.js';
import { type FlushInfo, Upserter } from './store/upserter.js';

export interface ImportOptions {
  /** The target database (SQLite, PostgreSQL, MySQL/MariaDB). */
  knex: Knex;
  /** Zone for days, months and local hours. Default `UTC`. */
  timezone?: string;
  /** Entries kept in top_pages and referrers. Default 50. */
  topN?: number;
  /** Rows per INSERT statement. Default 1000. */
  batchSize?: number;
  /** `replace` (default): the import is the truth for the buckets it holds. `merge`: its counts are added. */
  mode?: ImportMode;
  /** One transaction for the whole import (default true). False: each flush commits with a checkpoint. */
  atomic?: boolean;
  /**
   * Continue the interrupted non-atomic import of this input from its last
   * checkpoint (the input is recognised by its size and the hash of its first
   * MiB); without one, the import starts from the beginning.
   */
  resume?: boolean;
  /** Merge an input even if an import with the same fingerprint completed before. */
  force?: boolean;
  /** Zone of offset-less timestamps not declared UTC by the dump (mysqldump --skip-tz-utc). Default `UTC`. */
  sourceTimezone?: string;
  /** Rejected rows allowed before the import fails. Default 1000. */
  maxRejected?: number;
  /** Largest single value in bytes. Default 16 MiB. */
  maxValueBytes?: number;
  /** Flush partial aggregates when this many hour buckets are held. Default: from memoryLimitMb. */
  maxBuckets?: number;
  /** Memory budget in MB; aggregates over half of it are spilled (atomic) or flushed (not atomic). Default 96. */
  memoryLimitMb?: number;
  /**
   * An atomic import writes aggregates over half of memoryLimitMb (or over
   * maxBuckets) to run files in a temporary folder made inside this one, and
   * writes every row once at the end; the folder is removed when the import
   * ends. Default: the system's temporary folder. `false`: partial flushes
   * into the database instead, each merged with the rows written before.
   */
  spillDir?: string | false;
  /** Not atomic: commit a flush and a checkpoint at least every this many events. Default 100000. */
  checkpointEvents?: number;
  /** `auto` (default), `sql`, `json` or `ndjson`. */
  format?: InputFormat;
  /** Maps Umami websites onto the host's own site ids instead of `analytics_sites`. */
  resolveSite?: ResolveSite;
  /** Run the library's migrations first. Default true. */
  migrate?: boolean;
  /** A label for the ledger (file name, URL). Default `stream`. */
  source?: string;
  /** Total input size in bytes, when known (progress; part of the key that recognises an input to resume). */
  bytesTotal?: number;
  /**
   * Read the input from this file instead of what is written to the
   * pipeline: end the pipeline without writing (`pipeline.end()`, then wait
   * for `finish`). With the worker thread (the default) the file is read on
   * that thread, so this one only hashes and aggregates.
   */
  inputFile?: string;
  /**
   * SHA-256 (hex) of the whole input when the host knows it: a merge of a
   * known input is refused before anything is read. A promise of it (a hash
   * computed elsewhere meanwhile) spares the import hashing the input itself.
   */
  fingerprint?: string | Promise<string>;
  /**
   * A {@link ParseThread} made for `inputFile` (the same path, with
   * `hashFile: true` unless `fingerprint` is given), used instead of one made
   * here; it may already be {@link ParseThread.start started}, so a host
   * that makes it before opening its database has the file read meanwhile.
   * The pipeline's `format`, `maxValueBytes`, `sourceTimezone` and
   * `maxRejected`, when given, must equal the thread's own. The pipeline
   * owns it from here: it ends and destroys it with itself.
   */
  parseThread?: ParseThread;
  /** Events per progress chunk: a `progress` event (and a ledger update) at least once per chunk. Default 10000. */
  chunkSize?: number;
  /** Aborting it cancels the import cleanly (an atomic import commits nothing). */
  signal?: AbortSignal;
  /** Fail the import (cleanly, UA_TIMEOUT) when it takes longer than this. Default: no limit. */
  timeoutMs?: number;
  /** A pino-compatible logger (`info(obj, msg)`, `debug`, `warn`); silent by default. */
  logger?: Logger;
  /** Skip writing raw page views (default true); false also writes each page view to `page_views`. */
  skipRawDataStorage?: boolean;
  /** Aggregate during the import (default true); false stores raw page views only, for `aggregateRawPageViews` later. */
  aggregate?: boolean;
  /**
   * Tokenize and parse on a worker thread, in parallel with aggregating and
   * writing, and (into SQLite) make the last flush's rows on another while
   * they are written (default true). Imports that store raw page views
   * always parse on the calling thread.
   */
  worker?: boolean;
}

/** The part of a pino logger this library uses. */
export interface Logger {
  info(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}

/** Emitted as `progress` at least once per chunk of `chunkSize` events, and once at the end (`done`). */
export interface ImportProgress {
  importId: number | null;
  bytesRead: number;
  /** Input size when known (the file size, compressed if the input is). */
  bytesTotal: number | null;
  rowsRead: number;
  /** Events aggregated so far (all events of the input once `done`). */
  events: number;
  /** Page views aggregated so far. */
  pageViews: number;
  /** Hour buckets held in memory now. */
  bucketsHeld: number;
  /** Aggregate rows written so far. */
  bucketsWritten: number;
  chunksProcessed: number;
  /** Estimated from the bytes read while the input size is known; exact at the end. */
  totalChunks: number | null;
  done: boolean;
}

/** What an import did, available as `pipeline.summary` once it finished. */
export interface ImportSummary {
  importId: number | null;
  source: string;
  mode: ImportMode;
  format: string | null;
  compression: string | null;
  dialect: string | null;
  umamiVersion: string;
  bytesRead: number;
  bytesDecoded: number;
  rowsRead: number;
  events: number;
  pageViews: number;
  rejected: number;
  rejections: RejectionSummary;
  buckets: Record<Granularity, number>;
  bucketsWritten: number;
  flushes: number;
  /** Run files the aggregates over the limits were spilled to (atomic imports; see spillDir). */
  spills: number;
  /** Flush transactions retried after a deadlock, serialization failure or busy database. */
  retries: number;
  /** Page views written to the raw `page_views` table (skipRawDataStorage: false). */
  rawPageViews: number;
  /** Events left out because a resumed import had committed them before. */
  resumedFrom: number | null;
  /** SHA-256 of the input, once it has been read completely. */
  fingerprint: string | null;
  durationMs: number;
}

/** The position an import reached, stored in its ledger row at each commit. */
export interface Checkpoint {
  /** Every event whose row starts before this offset of the decoded input is committed. */
  position: number;
  events: number;
  bytesDecoded: number;
  /** The import's time zone and top-list size: a resumed import must use the same. */
  timezone: string;
  topN: number;
}

const KEY_BYTES = 1 << 20;
/** Progress is written to the ledger at most once in this many milliseconds. */
const LEDGER_PROGRESS_MS = 200;

function validate(o: ImportOptions): void {
  if (!o || typeof o !== 'object') throw invalidOption('options', 'an object', o);
  if (!o.knex || typeof (o.knex as unknown as { raw?: unknown }).raw !== 'function') throw invalidOption('knex', 'a Knex instance', o.knex);
  if (o.mode !== undefined && o.mode !== 'replace' && o.mode !== 'merge') throw invalidOption('mode', "'replace' or 'merge'", o.mode);
  for (const name of ['batchSize', 'memoryLimitMb', 'checkpointEvents', 'chunkSize', 'timeoutMs'] as const) {
    const v = o[name];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw invalidOption(name, 'a positive integer', v);
  }
  if (o.bytesTotal !== undefined && !(Number.isInteger(o.bytesTotal) && o.bytesTotal >= 0)) throw invalidOption('bytesTotal', 'a non-negative integer', o.bytesTotal);
  if (o.inputFile !== undefined && !(typeof o.inputFile === 'string' && o.inputFile.length > 0)) throw invalidOption('inputFile', 'a file path', o.inputFile);
  if (o.spillDir !== undefined && o.spillDir !== false && !(typeof o.spillDir === 'string' && o.spillDir.length > 0)) throw invalidOption('spillDir', 'a folder path or false', o.spillDir);
  if (o.fingerprint !== undefined && !(o.fingerprint instanceof Promise) && !/^[0-9a-f]{64}$/.test(o.fingerprint)) {
    throw invalidOption('fingerprint', 'a SHA-256 hex digest or a promise of one', o.fingerprint);
  }
  if (o.resume && o.atomic !== false) throw invalidOption('resume', 'used with atomic: false (an atomic import leaves nothing to resume)', o.resume);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidOption('signal', 'an AbortSignal', o.signal);
  if (o.worker !== undefined && typeof o.worker !== 'boolean') throw invalidOption('worker', 'a boolean', o.worker);
  if (o.logger !== undefined && (o.logger === null || typeof o.logger.info !== 'function')) throw invalidOption('logger', 'a logger with an info(obj, msg) method', o.logger);
  if (o.aggregate === false && o.skipRawDataStorage !== false) {
    throw invalidOption('aggregate', 'true unless raw page views are stored (skipRawDataStorage: false); otherwise the import would keep nothing', o.aggregate);
  }
  if (o.parseThread !== undefined) validateParseThread(o);
  if (o.mode === 'merge' && o.atomic === false && typeof o.fingerprint !== 'string' && !o.force) {
    // Flushes commit as they go, so a repeated input must be recognised before the first one.
    throw invalidOption('fingerprint', "given (the input's SHA-256) for a merge that is not atomic, or force: true", o.fingerprint);
  }
}

/** A host's parse thread: one that reads the pipeline's input file as the pipeline would. */
function validateParseThread(o: ImportOptions): void {
  const t = o.parseThread;
  if (!(t instanceof ParseThread)) throw invalidOption('parseThread', 'a ParseThread', t);
  if (o.worker === false || o.skipRawDataStorage === false) throw invalidOption('parseThread', 'left out when the worker thread is not used (worker: false, or raw page views stored)', t.file);
  if (o.inputFile === undefined || t.file !== o.inputFile) throw invalidOption('parseThread', `a thread reading inputFile (${o.inputFile ?? 'not given'})`, t.file);
  if (o.fingerprint === undefined && !t.options.hashFile) throw invalidOption('parseThread', 'made with hashFile: true (or the fingerprint given)', t.file);
  for (const name of ['format', 'maxValueBytes', 'sourceTimezone', 'maxRejected'] as const) {
    if (o[name] !== undefined && o[name] !== t.options[name]) throw invalidOption(name, `the parseThread's own (${String(t.options[name])})`, o[name]);
  }
}

/**
 * The import as one Writable. Bytes written to it are hashed (the input's
 * fingerprint), the first MiB is held until the import is registered in the
 * ledger (its size and hash recognise the input when resuming), then
 * everything flows through tokenizer → parser → aggregator → upserter.
 */
export class ImportPipeline extends Writable {
  /** Stage 1 when it runs on this thread (null when stages 1 and 2 run on the worker thread). */
  readonly tokenizer: DumpTokenizer | null;
  /** Stage 2 when it runs on this thread. */
  readonly parser: EventParserStream | null;
  /** Stages 1 and 2 on a worker thread (the default), or null. */
  readonly parseThread: ParseThread | null;
  /** Builds the last flush's rows (with the parser's thread only). */
  private rowsThread: RowsThread | null = null;
  /** The first stage: what the input is written to. */
  private readonly front: Writable;
  private readonly stages: Array<Readable | Writable>;
  readonly aggregator: AggregatorStream;
  readonly upserter: Upserter;
  readonly options: ImportOptions;
  private readonly startedAt = Date.now();
  private finishedAt: number | null = null;
  private done: Promise<void> | null = null;
  private innerError: Error | null = null;
  private completed = false;
  /** Hashes the input as it passes, unless the fingerprint comes from the host. */
  private readonly hash: crypto.Hash | null;
  private fingerprint: string | null = null;
  private head: Buffer[] = [];
  private headLength = 0;
  private resumedFrom: number | null = null;
  private readonly serialLedger: boolean;

  constructor(options: ImportOptions) {
    // Every stage validates its options here, before any work is scheduled.
    validate(options);
    const atomic = options.atomic ?? true;
    const memoryBytes = (options.memoryLimitMb ?? 96) * 1048576;
    const raw = options.skipRawDataStorage === false;
    const threaded = !raw && options.worker !== false;
    // Made (and their options validated) on this thread either way.
    const parser = new EventParserStream({ sourceTimezone: options.sourceTimezone, maxRejected: options.maxRejected, fields: raw ? ['visitId'] : undefined });
    const tokenizer = new DumpTokenizer({ select: parser.parser.select, maxValueBytes: options.maxValueBytes, format: options.format });
    const aggregator = new AggregatorStream({
      timezone: options.timezone,
      topN: options.topN,
      maxBuckets: options.maxBuckets,
      maxBytes: Math.floor(memoryBytes / 2),
      flushEvery: atomic ? undefined : (options.checkpointEvents ?? 100_000),
      // Not atomic, each flush commits a checkpoint: nothing is spilled.
      spillDir: atomic && options.spillDir !== false ? (options.spillDir ?? os.tmpdir()) : undefined,
      aggregate: options.aggregate,
      forwardEvents: raw,
      chunkSize: options.chunkSize,
      // The upserter releases each flush once written: the next tables reuse its memory.
      waitForRelease: true,
    });
    const upserter = new Upserter({
      knex: options.knex,
      batchSize: options.batchSize,
      mode: options.mode,
      atomic,
      topN: options.topN,
      resolveSite: options.resolveSite,
      importId: 0,
      checkpoint: atomic ? undefined : (batch) => this.checkpoint(batch),
      beforeCommit: () => this.beforeCommit(),
      complete: () => this.completion(),
      onFlush: (info) => this.flushed(info),
      rawPageViews: raw,
      rawAggregated: options.aggregate !== false,
    });
    // Started before the stream exists: if the thread cannot start, no half-made stream is left behind.
    const thread = threaded
      ? (options.parseThread ??
        new ParseThread({
          file: options.inputFile,
          hashFile: options.fingerprint === undefined && options.inputFile !== undefined,
          format: options.format,
          maxValueBytes: options.maxValueBytes,
          sourceTimezone: options.sourceTimezone,
          maxRejected: options.maxRejected,
        }))
      : null;
    super({ highWaterMark: 1 << 20 });
    this.options = options;
    if (thread && dialectOf(options.knex) === 'sqlite') {
      // SQLite writes on this thread, and the rows were made here between writes: the last flush's
      // rows are made on another thread while this one writes them. That thread is the parse
      // thread's worker, kept once the input is parsed and taken on its `finish` (after the last
      // batches are aggregated): a thread started for the rows took about 90 ms to load before its
      // first rows, and one started earlier met the grouping's peak (the 1M-event import peaked at
      // 143–155 MB against 138–145 MB, for a flush no shorter). A worker not kept (the input parsed
      // before this pipeline existed) means one started as before. A server's writes already
      // overlap with making the rows here; another thread there only took memory: 1M events into
      // PostgreSQL peaked at 199–215 MB against 186–191 MB, into MariaDB at 169–171 against 151–162.
      thread.retainWorker();
      const rowsThread = (): RowsThread => (this.rowsThread ??= new RowsThread({ worker: thread.takeWorker() ?? undefined }));
      thread.once('finish', () => {
        // Spilled aggregates end in a merge, whose rows are made here: no thread for them.
        if (!this.destroyed && aggregator.aggregator.spills === 0) rowsThread();
      });
      aggregator.buildRows = (plan, size) => rowsThread().buildRows(plan, size);
      // The last flush's names go first: the worker orders them while this thread groups the tables.
      aggregator.prepareRows = (paths, refNames) => rowsThread().prepare(paths, refNames);
    }
    if (thread) {
      this.parseThread = thread;
      this.parser = null;
      this.tokenizer = null;
      this.front = this.parseThread;
      this.stages = [this.parseThread, aggregator, upserter];
    } else {
      this.parseThread = null;
      this.parser = parser;
      this.tokenizer = tokenizer;
      this.front = tokenizer;
      this.stages = [tokenizer, parser, aggregator, upserter];
    }
    this.aggregator = aggregator;
    this.upserter = upserter;
    // A file read on the worker thread is hashed by the thread, as its chunks come back to this one.
    this.hash = options.fingerprint === undefined && thread?.options.hashFile !== true ? crypto.createHash('sha256') : null;
    if (options.fingerprint instanceof Promise) options.fingerprint.catch(() => {});
    // SQLite has one writer: while an atomic import holds it, the ledger is written at start and end only.
    this.serialLedger = atomic && dialectOf(options.knex) === 'sqlite';
    this.chunkSize = options.chunkSize ?? 10_000;
    this.logger = options.logger ?? null;
    this.aggregator.on('aggregated', () => this.aggregated());
    const signal = options.signal;
    if (signal) {
      const abort = (): void => {
        this.destroy(new UmamiAggregateError('UA_ABORTED', atomic ? 'the import was aborted; nothing of it was committed' : 'the import was aborted; resume it with resume: true'));
      };
      if (signal.aborted) queueMicrotask(abort);
      else signal.addEventListener('abort', abort, { once: true });
      this.once('close', () => signal.removeEventListener('abort', abort));
    }
    if (options.timeoutMs !== undefined) {
      const timer = setTimeout(() => {
        this.destroy(new UmamiAggregateError('UA_TIMEOUT', `the import took longer than ${options.timeoutMs! / 1000} s and was stopped${atomic ? '; nothing of it was committed' : ''}`));
      }, options.timeoutMs);
      timer.unref();
      this.once('close', () => clearTimeout(timer));
    }
  }

  // ───────────── progress, ledger updates and logs while the import runs ─────────────

  private readonly chunkSize: number;
  private readonly logger: Logger | null;
  private chunksReported = 0;
  private ledgerClosed = false;
  private ledgerBusy: Promise<void> = Promise.resolve();
  private ledgerWriting = false;
  private ledgerDirty = false;
  /** When the last progress write to the ledger began, and the timer of the next one. */
  private ledgerWrittenAt = -Infinity;
  private ledgerTimer: NodeJS.Timeout | null = null;

  /** Progress as of now. */
  get progress(): ImportProgress {
    const a = this.aggregator.aggregator;
    const s = this.summary;
    const seen = a.events + a.skipped;
    const chunksProcessed = Math.floor(seen / this.chunkSize);
    const total = this.options.bytesTotal;
    const done = this.completed;
    let totalChunks: number | null = null;
    if (done) totalChunks = Math.ceil(seen / this.chunkSize);
    else if (total && s.bytesRead > 0) totalChunks = Math.max(chunksProcessed, Math.ceil((seen * total) / s.bytesRead / this.chunkSize));
    return {
      importId: this.importId,
      bytesRead: s.bytesRead,
      bytesTotal: total ?? null,
      rowsRead: s.rowsRead,
      // While running: what the aggregator has taken (the parser, on its own thread, may be ahead).
      events: done ? s.events : seen,
      pageViews: done ? s.pageViews : a.pageViews,
      bucketsHeld: a.bucketsHeld,
      bucketsWritten: s.bucketsWritten,
      chunksProcessed,
      totalChunks,
      done,
    };
  }

  private aggregated(): void {
    const a = this.aggregator.aggregator;
    const chunks = Math.floor((a.events + a.skipped) / this.chunkSize);
    if (chunks <= this.chunksReported) return;
    this.chunksReported = chunks;
    this.reportProgress();
  }

  private reportProgress(): void {
    const p = this.progress;
    this.emit('progress', p);
    this.logger?.debug?.({ importId: p.importId, events: p.events, chunks: p.chunksProcessed, totalChunks: p.totalChunks }, 'import progress');
    this.writeLedgerProgress();
  }

  /**
   * One ledger write at a time, and at most one each {@link LEDGER_PROGRESS_MS}:
   * progress that arrives meanwhile is written after it, as it then is. Each
   * write commits (into SQLite, a journal and its syncs on this thread: a
   * write for every 10,000 events blocked the 1M-event import for about 0.2 s).
   */
  private writeLedgerProgress(): void {
    if (this.ledgerClosed || !this.importId) return;
    // While an atomic import holds SQLite's only connection, the ledger waits for the end.
    if (this.serialLedger && this.upserter.inTransaction) return;
    if (this.ledgerTimer !== null) return;
    if (this.ledgerWriting) {
      this.ledgerDirty = true;
      return;
    }
    const wait = this.ledgerWrittenAt + LEDGER_PROGRESS_MS - performance.now();
    if (wait > 0) {
      this.ledgerTimer = setTimeout(() => {
        this.ledgerTimer = null;
        this.writeLedgerProgress();
      }, wait);
      this.ledgerTimer.unref();
      return;
    }
    this.ledgerWrittenAt = performance.now();
    this.ledgerWriting = true;
    this.ledgerBusy = updateImport(this.options.knex, this.importId!, this.progressUpdate())
      .catch((err: Error) => this.logger?.warn?.({ err: err.message }, 'progress not written to the ledger'))
      .then(() => {
        this.ledgerWriting = false;
        if (this.ledgerDirty) {
          this.ledgerDirty = false;
          this.writeLedgerProgress();
        }
      });
  }

  /** The ledger's progress columns, as of now. */
  private progressUpdate(): LedgerUpdate {
    const p = this.progress;
    return { bytesRead: p.bytesRead, events: p.events, pageViews: p.pageViews, chunksProcessed: p.chunksProcessed, totalChunks: p.totalChunks };
  }

  /** No more progress writes (the import's end is written next). */
  private closeLedger(): void {
    this.ledgerClosed = true;
    if (this.ledgerTimer !== null) clearTimeout(this.ledgerTimer);
    this.ledgerTimer = null;
  }

  private flushed(info: FlushInfo): void {
    const m = process.memoryUsage();
    this.logger?.info(
      {
        importId: this.importId,
        hourly: info.rows.hour,
        daily: info.rows.day,
        monthly: info.rows.month,
        durationMs: info.durationMs,
        retries: info.retries,
        final: info.final,
        rssMb: Math.round(m.rss / 1048576),
        heapUsedMb: Math.round(m.heapUsed / 1048576),
      },
      'flushed aggregates',
    );
    this.reportProgress();
  }

  get importId(): number | null {
    return this.upserter.importId || null;
  }

  /** Counters of stages 1 and 2, wherever they run. */
  private get parsed(): ParseStats & { bytesRead: number } {
    if (this.parseThread) return { ...this.parseThread.stats, bytesRead: this.parseThread.bytesRead };
    return { ...parseStatsOf(this.tokenizer!, this.parser!.parser), bytesRead: this.tokenizer!.bytesRead };
  }

  /** Counters so far; final once the stream has finished. */
  get summary(): ImportSummary {
    const p = this.parsed;
    const a = this.aggregator.aggregator;
    const rows = this.upserter.rowsWritten;
    return {
      importId: this.importId,
      source: this.options.source ?? 'stream',
      mode: this.options.mode ?? 'replace',
      format: p.format,
      compression: p.compression,
      dialect: p.dialect,
      umamiVersion: p.umamiVersion,
      bytesRead: p.bytesRead,
      bytesDecoded: p.bytesDecoded,
      rowsRead: p.rowsRead,
      events: p.events,
      pageViews: p.pageViews,
      rejected: p.rejectedCount,
      rejections: p.rejected,
      buckets: { ...rows },
      bucketsWritten: rows.hour + rows.day + rows.month,
      flushes: a.flushes,
      spills: a.spills,
      retries: this.upserter.retried,
      rawPageViews: this.upserter.rawRowsWritten,
      resumedFrom: this.resumedFrom,
      fingerprint: this.fingerprint,
      durationMs: (this.finishedAt ?? Date.now()) - this.startedAt,
    };
  }

  override _construct(cb: (err?: Error | null) => void): void {
    this.prepare().then(() => cb(), (err) => cb(err));
  }

  /** Before any input: tables, stale ledger rows, a refusal by a known fingerprint. */
  private async prepare(): Promise<void> {
    const knex = this.options.knex;
    if (this.options.migrate !== false) await runMigrations(knex);
    await markInterrupted(knex);
    if (typeof this.options.fingerprint === 'string') await this.refuseKnownInput(this.options.fingerprint);
    if (!this.options.resume) {
      // Registered at once, so a host can follow the import before its first byte arrives.
      this.upserter.importId = await startImport(knex, {
        source: this.options.source ?? 'stream',
        mode: this.options.mode ?? 'replace',
        inputKey: null,
        bytesTotal: this.options.bytesTotal ?? null,
      });
      this.announce();
    }
  }

  private async refuseKnownInput(fingerprint: string): Promise<void> {
    if ((this.options.mode ?? 'replace') !== 'merge' || this.options.force) return;
    const seen = await findCompletedByFingerprint(this.options.knex, fingerprint);
    if (seen && seen.id !== this.importId) {
      throw new UmamiAggregateError(
        'UA_ALREADY_IMPORTED',
        `this input was already imported (import #${seen.id}, ${seen.startedAt}); merging it again would count it twice. Use --force (force: true) to merge anyway`,
        { importId: seen.id },
      );
    }
  }

  /** Registers the import (or finds the one to resume) once the first MiB is known, then starts the stages. */
  private async start(): Promise<void> {
    const knex = this.options.knex;
    // A file the worker reads: its first MiB is read here as well, for the key.
    const file = this.parseThread?.file ?? null;
    const first = file !== null ? await readHead(file, KEY_BYTES) : Buffer.concat(this.head);
    const inputKey = `${this.options.bytesTotal ?? '?'}:${crypto.createHash('sha256').update(first.subarray(0, KEY_BYTES)).digest('hex')}`;
    const resumed = this.options.resume ? await findResumable(knex, inputKey) : null;
    const settings = this.settings();
    if (this.upserter.importId) {
      // Registered before the input arrived: record what recognises the input.
      await knex('analytics_imports').where({ id: this.upserter.importId }).update({ input_key: inputKey });
    } else if (resumed) {
      const cp = resumed.checkpoint as Checkpoint;
      const mismatch =
        resumed.mode !== settings.mode ? `ran in ${resumed.mode} mode, not ${settings.mode}` : cp.timezone !== settings.timezone ? `used time zone ${cp.timezone}, not ${settings.timezone}` : cp.topN !== settings.topN ? `kept ${cp.topN} top entries, not ${settings.topN}` : null;
      if (mismatch) {
        throw new UmamiAggregateError('UA_RESUME_MISMATCH', `the interrupted import #${resumed.id} of this input ${mismatch}; resume it with the same options`, { importId: resumed.id });
      }
      this.resumedFrom = cp.position;
      this.aggregator.aggregator.skipBefore = cp.position;
      await knex('analytics_imports').where({ id: resumed.id }).update({ status: 'running', owner: processOwner(), error: null, finished_at: null });
      this.upserter.importId = resumed.id;
    } else {
      // Nothing committed to continue from: start from the beginning.
      this.upserter.importId = await startImport(knex, {
        source: this.options.source ?? 'stream',
        mode: settings.mode,
        inputKey,
        bytesTotal: this.options.bytesTotal ?? null,
      });
    }
    this.done = new Promise<void>((resolve, reject) => {
      pipeline(this.stages, (err) => {
        this.rowsThread?.stop();
        if (err) {
          this.innerError = err;
          reject(err);
          // Fail the outer stream too, so a host's pipeline() rejects.
          if (!this.destroyed) this.destroy(err);
        } else {
          resolve();
        }
      });
    });
    this.done.catch(() => {});
    this.head = [];
    if (this.resumedFrom !== null || this.options.resume) this.announce();
    if (file === null) await this.forward(first);
  }

  private announce(): void {
    this.logger?.info({ importId: this.importId, source: this.options.source ?? 'stream', resumedFrom: this.resumedFrom }, this.resumedFrom === null ? 'import started' : 'import resumed');
    this.emit('started', { importId: this.importId });
  }

  private forward(chunk: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.front.write(chunk)) resolve();
      else this.front.once('drain', () => resolve());
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.options.inputFile !== undefined) return cb(invalidOption('inputFile', 'no input written to the pipeline as well', this.options.inputFile));
    this.take(chunk, cb);
  }

  /** An input chunk: hashed, held until the import is registered, then passed on. */
  private take(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.innerError) return cb(this.innerError);
    this.hash?.update(chunk);
    if (this.done === null) {
      this.head.push(chunk);
      this.headLength += chunk.length;
      if (this.headLength < KEY_BYTES) return cb();
      this.start().then(() => cb(), (err) => cb(err));
      return;
    }
    if (this.front.write(chunk)) cb();
    else this.front.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    const run = async (): Promise<void> => {
      // A file read on this thread (no worker thread): taken like written input.
      if (this.options.inputFile !== undefined && this.parseThread === null) await this.readInput(this.options.inputFile);
      if (this.done === null) await this.start();
      this.front.end();
      await this.finish();
    };
    run().then(() => cb(), (err) => cb(err));
  }

  private async readInput(file: string): Promise<void> {
    const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    const chunks = input[Symbol.asyncIterator]();
    try {
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = await chunks.next();
        } catch (err) {
          throw inputUnreadable(file, err);
        }
        if (next.done) return;
        await new Promise<void>((resolve, reject) => this.take(next.value, (err) => (err ? reject(err) : resolve())));
      }
    } finally {
      input.destroy();
    }
  }

  /** The options a resumed import must share with the interrupted one. */
  private settings(): { mode: ImportMode; timezone: string; topN: number } {
    return { mode: this.options.mode ?? 'replace', timezone: this.aggregator.aggregator.zone.name, topN: this.aggregator.aggregator.topN };
  }

  /** Called by the upserter inside the transaction of each flush (not atomic). */
  private checkpoint(batch: BucketBatch): LedgerUpdate {
    const { timezone, topN } = this.settings();
    const cp: Checkpoint = { position: batch.position, events: batch.events, bytesDecoded: this.parsed.bytesDecoded, timezone, topN };
    const s = this.summary;
    return { checkpoint: cp, bytesRead: s.bytesRead, events: s.events, pageViews: s.pageViews, rejected: s.rejected };
  }

  /** Called by the upserter before the final commit: the whole input has been read and hashed. */
  private async beforeCommit(): Promise<void> {
    // From here the ledger row is written only with the last rows.
    this.closeLedger();
    while (this.ledgerWriting) await this.ledgerBusy;
    if (this.fingerprint === null) {
      if (this.options.fingerprint !== undefined) this.fingerprint = await this.options.fingerprint;
      else if (this.hash) this.fingerprint = this.hash.digest('hex');
      else {
        const digest = this.parseThread?.fileDigest() ?? null;
        // The thread hashes the file it reads and has read it all by now.
        if (digest === null) throw new Error('the input file was not hashed');
        this.fingerprint = digest;
      }
    }
    await this.refuseKnownInput(this.fingerprint);
  }

  private async finish(): Promise<void> {
    await this.done;
    this.finishedAt = Date.now();
    this.completed = true;
    const s = this.summary;
    this.emit('progress', this.progress);
    this.logger?.info({ importId: s.importId, events: s.events, pageViews: s.pageViews, buckets: s.bucketsWritten, rejected: s.rejected, durationMs: s.durationMs }, 'import completed');
  }

  /** The ledger update that marks this import completed (written with its last rows). */
  private completion(): LedgerUpdate {
    const s = this.summary;
    const a = this.aggregator.aggregator;
    const chunks = Math.ceil((a.events + a.skipped) / this.chunkSize);
    return {
      status: 'completed',
      chunksProcessed: chunks,
      totalChunks: chunks,
      fingerprint: s.fingerprint,
      format: s.format,
      umamiVersion: s.umamiVersion,
      bytesRead: s.bytesRead,
      events: s.events,
      pageViews: s.pageViews,
      rejected: s.rejected,
      rejections: s.rejected > 0 ? s.rejections : null,
      bucketsWritten: s.bucketsWritten,
      checkpoint: null,
      finishedAt: nowText(),
    };
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.finishedAt ??= Date.now();
    if (this.completed && !err) return cb(null);
    const cause = err ?? new UmamiAggregateError('UA_ABORTED', 'the import was aborted');
    if (!this.done) {
      // Never started: nothing to roll back.
      for (const s of this.stages) s.destroy();
      this.rowsThread?.stop();
      const id = this.importId;
      if (!id) return cb(err);
      this.markFailed(id, cause).then(() => cb(err), () => cb(err));
      return;
    }
    if (!this.front.destroyed) this.front.destroy(cause);
    const settle = async (): Promise<void> => {
      await this.done!.catch(() => {});
      if (!this.upserter.destroyed) {
        await new Promise<void>((r) => {
          this.upserter.once('close', () => r());
          this.upserter.destroy(cause);
        });
      }
      const id = this.importId;
      if (id) await this.markFailed(id, cause);
    };
    settle().then(() => cb(err), () => cb(err));
  }

  private async markFailed(id: number, cause: Error): Promise<void> {
    const s = this.summary;
    // How far it got, as progress writes it (the last progress write may be up to LEDGER_PROGRESS_MS old).
    const progress = this.progressUpdate();
    this.logger?.error?.({ importId: id, code: (cause as UmamiAggregateError).code, err: cause.message }, 'import failed');
    this.closeLedger();
    while (this.ledgerWriting) await this.ledgerBusy;
    await updateImport(this.options.knex, id, {
      ...progress,
      status: 'failed',
      error: `${(cause as UmamiAggregateError).code ?? 'ERROR'}: ${cause.message}`,
      rejected: s.rejected,
      finishedAt: nowText(),
    }).catch(() => {});
  }
}

/** The first `bytes` of a file (fewer if it is shorter). */
async function readHead(file: string, bytes: number): Promise<Buffer> {
  let handle: fs.promises.FileHandle | null = null;
  try {
    handle = await fs.promises.open(file, 'r');
    const buf = Buffer.allocUnsafe(bytes);
    let n = 0;
    while (n < bytes) {
      const { bytesRead } = await handle.read(buf, n, bytes - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return buf.subarray(0, n);
  } catch (err) {
    throw inputUnreadable(file, err);
  } finally {
    await handle?.close();
  }
}

/** The whole import as one Writable: `await pipeline(fs.createReadStream(f), createImportPipeline({ knex }))`. */
export function createImportPipeline(options: ImportOptions): ImportPipeline {
  return new ImportPipeline(options);
}

