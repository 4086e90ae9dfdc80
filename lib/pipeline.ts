/**
 * createImportPipeline(): the four stages wired together behind one Writable
 * that a host pipes a dump into. It creates the tables if needed, records the
 * import in the ledger, and finishes only when the aggregates are committed.
 */
import { Writable, pipeline } from 'node:stream';
import type { Knex } from 'knex';
import { UmamiAggregateError, invalidOption } from './errors.js';
import { AggregatorStream } from './aggregate/aggregator.js';
import type { Granularity } from './aggregate/aggregator.js';
import { DumpTokenizer, type InputFormat } from './dump/tokenizer.js';
import { EventParserStream, type RejectionSummary } from './umami/parser.js';
import { nowText } from './store/dialect.js';
import { type ImportMode, startImport, updateImport } from './store/ledger.js';
import { migrate as runMigrations } from './store/migrations.js';
import type { ResolveSite } from './store/sites.js';
import { Upserter } from './store/upserter.js';

export interface ImportOptions {
  /** The target database (SQLite, PostgreSQL, MySQL/MariaDB). */
  knex: Knex;
  /** Zone for days, months and local hours. Default `UTC`. */
  timezone?: string;
  /** Entries kept in top_pages and referrers. Default 50. */
  topN?: number;
  /** Rows per INSERT statement. Default 1000. */
  batchSize?: number;
  /** `replace` (default) or `merge`. */
  mode?: ImportMode;
  /** One transaction for the whole import. Default true. */
  atomic?: boolean;
  /** Zone of offset-less timestamps not declared UTC by the dump (mysqldump --skip-tz-utc). Default `UTC`. */
  sourceTimezone?: string;
  /** Rejected rows allowed before the import fails. Default 1000. */
  maxRejected?: number;
  /** Largest single value in bytes. Default 16 MiB. */
  maxValueBytes?: number;
  /** Flush partial aggregates when this many hour buckets are held. Default: no limit. */
  maxBuckets?: number;
  /** `auto` (default), `sql`, `json` or `ndjson`. */
  format?: InputFormat;
  /** Maps Umami websites onto the host's own site ids instead of `analytics_sites`. */
  resolveSite?: ResolveSite;
  /** Run the library's migrations first. Default true. */
  migrate?: boolean;
  /** A label for the ledger (file name, URL). Default `stream`. */
  source?: string;
  /** Total input size in bytes, when known (for progress). */
  bytesTotal?: number;
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
  durationMs: number;
}

function validate(o: ImportOptions): void {
  if (!o || typeof o !== 'object') throw invalidOption('options', 'an object', o);
  if (!o.knex || typeof (o.knex as unknown as { raw?: unknown }).raw !== 'function') throw invalidOption('knex', 'a Knex instance', o.knex);
  if (o.mode !== undefined && o.mode !== 'replace' && o.mode !== 'merge') throw invalidOption('mode', "'replace' or 'merge'", o.mode);
  if (o.batchSize !== undefined && !(Number.isInteger(o.batchSize) && o.batchSize > 0)) throw invalidOption('batchSize', 'a positive integer', o.batchSize);
  if (o.bytesTotal !== undefined && !(Number.isInteger(o.bytesTotal) && o.bytesTotal >= 0)) throw invalidOption('bytesTotal', 'a non-negative integer', o.bytesTotal);
}

export class ImportPipeline extends Writable {
  readonly tokenizer: DumpTokenizer;
  readonly parser: EventParserStream;
  readonly aggregator: AggregatorStream;
  readonly upserter: Upserter;
  readonly options: ImportOptions;
  private readonly startedAt = Date.now();
  private finishedAt: number | null = null;
  private done: Promise<void> | null = null;
  private innerError: Error | null = null;
  private completed = false;

  constructor(options: ImportOptions) {
    // Every stage validates its options here, before any work is scheduled.
    validate(options);
    const parser = new EventParserStream({ sourceTimezone: options.sourceTimezone, maxRejected: options.maxRejected });
    const tokenizer = new DumpTokenizer({ select: parser.parser.select, maxValueBytes: options.maxValueBytes, format: options.format });
    const aggregator = new AggregatorStream({ timezone: options.timezone, topN: options.topN, maxBuckets: options.maxBuckets });
    const upserter = new Upserter({
      knex: options.knex,
      batchSize: options.batchSize,
      mode: options.mode,
      atomic: options.atomic,
      topN: options.topN,
      resolveSite: options.resolveSite,
      importId: 0,
    });
    super({ highWaterMark: 1 << 20 });
    this.options = options;
    this.parser = parser;
    this.tokenizer = tokenizer;
    this.aggregator = aggregator;
    this.upserter = upserter;
  }

  get importId(): number | null {
    return this.upserter.importId || null;
  }

  /** Counters so far; final once the stream has finished. */
  get summary(): ImportSummary {
    const p = this.parser.parser;
    const a = this.aggregator.aggregator;
    const rows = this.upserter.rowsWritten;
    return {
      importId: this.importId,
      source: this.options.source ?? 'stream',
      mode: this.options.mode ?? 'replace',
      format: this.tokenizer.format,
      compression: this.tokenizer.compression,
      dialect: this.tokenizer.dialect,
      umamiVersion: p.detector.version,
      bytesRead: this.tokenizer.bytesRead,
      bytesDecoded: this.tokenizer.bytesDecoded,
      rowsRead: this.tokenizer.rowsRead,
      events: p.events,
      pageViews: p.pageViews,
      rejected: p.rejectedCount,
      rejections: p.rejected,
      buckets: { ...rows },
      bucketsWritten: rows.hour + rows.day + rows.month,
      flushes: a.flushes,
      durationMs: (this.finishedAt ?? Date.now()) - this.startedAt,
    };
  }

  override _construct(cb: (err?: Error | null) => void): void {
    this.start().then(() => cb(), (err) => cb(err));
  }

  private async start(): Promise<void> {
    const knex = this.options.knex;
    if (this.options.migrate !== false) await runMigrations(knex);
    this.upserter.importId = await startImport(knex, {
      source: this.options.source ?? 'stream',
      mode: this.options.mode ?? 'replace',
      inputKey: null,
      bytesTotal: this.options.bytesTotal ?? null,
    });
    this.done = new Promise<void>((resolve, reject) => {
      pipeline(this.tokenizer, this.parser, this.aggregator, this.upserter, (err) => {
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
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.innerError) return cb(this.innerError);
    if (this.tokenizer.write(chunk)) cb();
    else this.tokenizer.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.tokenizer.end();
    this.finish().then(() => cb(), (err) => cb(err));
  }

  private async finish(): Promise<void> {
    await this.done;
    this.finishedAt = Date.now();
    const s = this.summary;
    await updateImport(this.options.knex, s.importId!, {
      status: 'completed',
      format: s.format,
      umamiVersion: s.umamiVersion,
      bytesRead: s.bytesRead,
      events: s.events,
      pageViews: s.pageViews,
      rejected: s.rejected,
      rejections: s.rejected > 0 ? s.rejections : null,
      bucketsWritten: s.bucketsWritten,
      finishedAt: nowText(),
    });
    this.completed = true;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.finishedAt ??= Date.now();
    if (this.completed && !err) return cb(null);
    const cause = err ?? new UmamiAggregateError('UA_ABORTED', 'the import was aborted');
    if (!this.done) {
      // Never started (migrations or the ledger failed): nothing to roll back.
      for (const s of [this.tokenizer, this.parser, this.aggregator, this.upserter]) s.destroy();
      return cb(err);
    }
    if (!this.tokenizer.destroyed) this.tokenizer.destroy(cause);
    const settle = async (): Promise<void> => {
      if (this.done) await this.done.catch(() => {});
      if (!this.upserter.destroyed) await new Promise<void>((r) => { this.upserter.once('close', () => r()); this.upserter.destroy(cause); });
      const id = this.importId;
      if (id) {
        await updateImport(this.options.knex, id, {
          status: 'failed',
          error: `${(cause as UmamiAggregateError).code ?? 'ERROR'}: ${cause.message}`,
          finishedAt: nowText(),
        }).catch(() => {});
      }
    };
    settle().then(() => cb(err), () => cb(err));
  }
}

/** The whole import as one Writable: `await pipeline(fs.createReadStream(f), createImportPipeline({ knex }))`. */
export function createImportPipeline(options: ImportOptions): ImportPipeline {
  return new ImportPipeline(options);
}
