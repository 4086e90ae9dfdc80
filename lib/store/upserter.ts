/**
 * Stage 4: buckets in, rows upserted into the aggregate tables through Knex.
 *
 * For each flush, rows are sorted by (site, bucket), the existing rows of a
 * batch are read (and locked where the database can), merged in JS, and
 * written back with multi-row statements whose values are all bound
 * parameters. In `replace` mode a row written by an earlier import is
 * replaced; a row already written by this import is merged with, never
 * replaced. In `merge` mode counts are always added.
 *
 * Atomic (default): the whole import is one transaction, committed in
 * `_final` after the last batch; `_destroy` rolls it back. Not atomic: each
 * flush is its own transaction, retried with jittered backoff on deadlocks,
 * serialization failures and SQLITE_BUSY.
 */
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { UmamiAggregateError, invalidOption } from '../errors.js';
import { VisitorSketch } from '../aggregate/distinct.js';
import { type BucketBatch, type BucketRow, GRANULARITIES, type Granularity, bucketBatchOf } from '../aggregate/aggregator.js';
import { type TopEntry, mergeTop } from '../aggregate/toplist.js';
import type { ParsedBatch, UmamiEvent } from '../umami/parser.js';
import { formatUtc } from '../aggregate/timezone.js';
import { Dialect, dialectOf, nowText, readInt } from './dialect.js';
import { type ImportMode, type LedgerUpdate, ledgerRow, startImport } from './ledger.js';
import { AGGREGATE_TABLES } from './migrations.js';
import { EncodedRow, RowEncoder, TopJsonWriter, readTop, rowBytes } from './encode.js';
import { type ResolveSite, SiteDirectory } from './sites.js';

export interface UpserterOptions {
  /** The target database. */
  knex: Knex;
  /** Rows per INSERT statement (capped by the database's parameter limit). Default 1000. */
  batchSize?: number;
  /** `replace` (default): the import is the truth for the buckets it holds. `merge`: add to what is there. */
  mode?: ImportMode;
  /** One transaction for the whole import (default true). */
  atomic?: boolean;
  /** The ledger row of this import; when absent the upserter creates one. */
  importId?: number;
  /** The label of the ledger row it creates. Default `createUpserter`. */
  source?: string;
  /** Maps websites onto the host's own site ids instead of `analytics_sites`. */
  resolveSite?: ResolveSite;
  /** Entries kept when top lists are merged. Default 50. */
  topN?: number;
  /**
   * Called inside each flush's transaction (not atomic) with the flush just
   * written; what it returns is stored in the import's ledger row, so the
   * checkpoint commits together with the aggregates.
   */
  checkpoint?: (batch: BucketBatch) => LedgerUpdate;
  /**
   * The ledger update that marks the import completed, written in the
   * transaction that commits its last rows (so the ledger never says
   * `running` for an import whose rows are all committed, nor the reverse).
   */
  complete?: () => LedgerUpdate;
  /** Runs inside the transaction that commits the import's last rows, before the commit. */
  finalStatements?: (trx: Knex) => Promise<void>;
  /** Called before the final flush is written; throwing aborts the import (and rolls back an atomic one). */
  beforeCommit?: () => Promise<void>;
  /** Called after each flush is written (and committed, when not atomic). */
  onFlush?: (info: FlushInfo) => void;
  /**
   * Also write each page view to the `page_views` table (raw storage), in the
   * import's transaction (atomic) or with the next flush (not atomic).
   */
  rawPageViews?: boolean;
  /** Raw rows are marked aggregated (they were aggregated in this import). Default true. */
  rawAggregated?: boolean;
  /** Events name sites by their numeric id (aggregating `page_views`); no site resolution. */
  directSiteIds?: boolean;
  /** Attempts per flush transaction on conflicts (not atomic). Default 8. */
  retries?: number;
}

/** Reported after each flush. */
export interface FlushInfo {
  rows: Record<Granularity, number>;
  durationMs: number;
  retries: number;
  final: boolean;
}

interface StoredRow {
  /** The row's id (SQLite: it is then updated by id). */
  id: number | null;
  pageViews: number;
  topPages: TopEntry[];
  referrers: TopEntry[];
  sketch: Buffer | null;
  importId: number | null;
}

interface KeyedRow {
  siteId: number;
  row: BucketRow;
}

const WRITE_COLUMNS = ['site_id', '', 'page_views', 'unique_visitors', 'top_pages', 'referrers', 'visitors_sketch', 'import_id', 'created_at', 'updated_at'];
const UPDATE_COLUMNS = ['page_views', 'unique_visitors', 'top_pages', 'referrers', 'visitors_sketch', 'import_id', 'updated_at'];
/** WRITE_COLUMNS of each table, its bucket column filled in. */
const TABLE_COLUMNS = {} as Record<Granularity, readonly string[]>;
for (const g of GRANULARITIES) TABLE_COLUMNS[g] = WRITE_COLUMNS.map((c) => c || AGGREGATE_TABLES[g].column);
/**
 * The last of WRITE_COLUMNS, whose values every row of a flush shares. INSERTs into SQLite and
 * PostgreSQL take them as one parameter each per statement (named, numbered): of 10 values a row,
 * 7 are bound. better-sqlite3 reads each element of the array given it through V8's API: from
 * pg_dump, by turns, the 1M-event import's last flush took a median of 275 ms instead of 285 ms
 * (8 runs each), the import a mean of 1.29 s instead of 1.32 s (10 runs each, faster in 8). pg
 * writes 30% fewer parameters into its Bind messages and the server reads the times once: into
 * PostgreSQL the last flush took a mean of 654 ms instead of 698 ms, the import 1.68 s instead of
 * 1.74 s (10 runs each by turns, faster in all 10).
 */
const SHARED_COLUMNS = ['import_id', 'created_at', 'updated_at'];
/** Values of a row bound with it, where SHARED_COLUMNS are bound once per statement. */
const OWN_VALUES = WRITE_COLUMNS.length - SHARED_COLUMNS.length;
/** Where each of UPDATE_COLUMNS is in a row's WRITE_COLUMNS values. */
const UPDATE_AT = UPDATE_COLUMNS.map((c) => WRITE_COLUMNS.indexOf(c));

/**
 * Rows built at a time for SQLite, which writes one row per prepared
 * statement anyway: the rows (top lists, sketches, JSON) of a small chunk
 * die before the next scavenge, instead of being promoted to the old
 * generation and piling up there until a full collection (in the 1M-event
 * import's final flush the main heap grew by about 80 MB with 1000-row chunks).
 */
const SQLITE_ROWS_PER_CHUNK = 32;
/** Rows per SQLite INSERT statement (a full chunk). */
const SQLITE_STATEMENT_ROWS = SQLITE_ROWS_PER_CHUNK;

/** The pure(ish) core of stage 4: writes one flush inside a transaction. */
export class BucketWriter {
  readonly dialect: Dialect;
  readonly sites: SiteDirectory;
  readonly mode: ImportMode;
  readonly topN: number;
  readonly batchSize: number;
  rowsWritten: Record<Granularity, number> = { hour: 0, day: 0, month: 0 };
  /** Flushes written (committed or in the open transaction). */
  private writes = 0;
  private readonly encoder = new RowEncoder();
  /**
   * Top lists' JSON bytes of the statements being prepared ({@link TopJsonWriter.append}), two
   * writers: a server runs one chunk's statements while the next chunk is prepared. A writer is
   * busy from the chunk given its bytes until that chunk's statements have run; a chunk prepared
   * while both are busy gives its lists as strings.
   */
  private readonly jsonWriters = [{ writer: new TopJsonWriter(), busy: false }, { writer: new TopJsonWriter(), busy: false }];
  /** Whether the PostgreSQL server compresses with lz4 (asked once, at the first write there). */
  private lz4: boolean | null = null;

  constructor(knex: Knex, options: { mode: ImportMode; topN: number; batchSize: number; resolveSite?: ResolveSite; directSiteIds?: boolean }) {
    this.dialect = new Dialect(dialectOf(knex));
    this.sites = new SiteDirectory(this.dialect, options.resolveSite, options.directSiteIds);
    this.mode = options.mode;
    this.topN = options.topN;
    this.batchSize = options.batchSize;
  }

  /**
   * Writes the rows of a flush, in the aggregator's order (granularity,
   * website, bucket: one global order, so concurrent importers take row
   * locks in the same order; rows built on another thread for SQLite, which
   * has one writer at a time, come with the granularities interleaved). Rows
   * of websites that `hold` says cannot be resolved yet are returned instead
   * of written.
   */
  async write(trx: Knex, batch: BucketBatch, importId: number, hold?: (websiteId: string) => boolean): Promise<{ counts: Record<Granularity, number>; held: Record<Granularity, BucketRow[]> }> {
    const counts: Record<Granularity, number> = { hour: 0, day: 0, month: 0 };
    const held: Record<Granularity, BucketRow[]> = { hour: [], day: [], month: [] };
    const now = nowText();
    // A table empty when this import first writes to it has no rows to merge with in that write.
    const empty = new Set<Granularity>();
    if (this.writes === 0) {
      for (const g of ['hour', 'day', 'month'] as const) {
        const result = await trx.raw(`SELECT 1 AS x FROM ${this.dialect.id(AGGREGATE_TABLES[g].table)} LIMIT 1`);
        if (rowsOf(result).length === 0) empty.add(g);
      }
    }
    // Each site's website in this write. Once two websites write to one site (resolveSite), rows
    // of one bucket may come twice: a table empty before the write no longer stays free of them.
    const owner = new Map<number, string>();
    let shared = false;
    const sqlite = this.dialect.name === 'sqlite';
    const size = sqlite ? Math.min(this.batchSize, SQLITE_ROWS_PER_CHUNK) : this.batchSize;
    // The transaction's connection, looked up once for the whole flush.
    const driver = await driverOf(trx, this.dialect);
    // Statements of an earlier write that were never sent (it failed) hold no bytes any more.
    for (const w of this.jsonWriters) w.busy = false;
    if (driver?.kind === 'pg') await this.compressWithLz4(trx);
    // A server runs one chunk's statements while the next chunk's values are made here. One
    // statement at a time on the connection: any other query waits for the one running (settle).
    let writing: Promise<void> | null = null;
    const settle = async (): Promise<void> => {
      const w = writing;
      writing = null;
      if (w !== null) await w;
    };
    const own = (siteIds: Map<string, number>): void => {
      for (const [website, siteId] of siteIds) {
        const first = owner.get(siteId);
        if (first === undefined) owner.set(siteId, website);
        else if (first !== website && !shared) {
          shared = true;
          empty.clear();
        }
      }
    };
    // The websites of a flush made from a plan, given their sites before its first rows (in the
    // order the rows would meet them): the loop then finds every one known and owning its site,
    // on one path, where a website first met halfway through threw the loop's optimised code away.
    if (batch.plan) {
      const websites = new Set<string>();
      for (const g of GRANULARITIES) for (const site of batch.plan.order[g]) if (!hold?.(site.id)) websites.add(site.id);
      if (websites.size > 0) own(await this.sites.resolve(trx, websites));
    }
    for await (const chunk of batch.chunksAsync ? batch.chunksAsync(size) : batch.chunks(size)) {
      let rows = chunk.rows;
      if (hold) {
        const ready = rows.filter((r) => !hold(r.websiteId));
        if (ready.length < rows.length) held[chunk.granularity].push(...rows.filter((r) => hold(r.websiteId)));
        rows = ready;
      }
      if (rows.length === 0) continue;
      const websites = new Set(rows.map((r) => r.websiteId));
      if (!this.sites.knows(websites)) await settle();
      const siteIds = await this.sites.resolve(trx, websites);
      own(siteIds);
      // A loop, not map(): arrays made by the optimised and the unoptimised map() differ in their
      // elements kind, and the code reading them was thrown away and compiled again when the kind changed.
      let keyed: KeyedRow[] = [];
      for (const row of rows) keyed.push({ siteId: siteIds.get(row.websiteId)!, row });
      if (shared) keyed = this.combineDuplicates(keyed);
      counts[chunk.granularity] += keyed.length;
      for (let i = 0; i < keyed.length; ) {
        const end = this.chunkEnd(keyed, i);
        let send: () => Promise<void>;
        try {
          send = await this.prepareChunk(trx, driver, chunk.granularity, keyed.slice(i, end), importId, now, empty.has(chunk.granularity), settle);
        } catch (err) {
          // A statement still running failed first: that is the error to report (a retry looks at it).
          await settle();
          throw err;
        }
        await settle();
        const w = send();
        w.catch(() => {}); // seen by the next settle()
        writing = w;
        if (sqlite) await settle();
        i = end;
      }
    }
    await settle();
    this.writes++;
    return { counts, held };
  }

  /**
   * PostgreSQL 14 and later built with lz4: the values this transaction
   * stores compressed (top lists' JSON and sketches past about 2 KB a row)
   * are compressed with lz4 instead of pglz: the server then used about 10%
   * less CPU for a 1M-event import's last flush, whose pace it sets (the
   * tables took 0.6% more room). `SET LOCAL`: the transaction's own setting,
   * gone at its end; values stored before keep theirs (each records its own
   * method) and are read the same way.
   */
  private async compressWithLz4(trx: Knex): Promise<void> {
    if (this.lz4 === null) {
      const result = await trx.raw("SELECT 1 AS yes FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)");
      this.lz4 = rowsOf(result).length > 0;
    }
    if (this.lz4) await trx.raw("SET LOCAL default_toast_compression = 'lz4'");
  }

  /** Writes page views to the raw `page_views` table; returns rows written. */
  async writeRaw(trx: Knex, events: readonly UmamiEvent[], importId: number, aggregated: boolean): Promise<number> {
    const views = events.filter((e) => e.eventType === 1);
    if (views.length === 0) return 0;
    const siteIds = await this.sites.resolve(trx, new Set(views.map((e) => e.websiteId)));
    const columns = ['site_id', 'session_id', 'visit_id', 'url_path', 'referrer_domain', 'hostname', 'created_at', 'import_id', 'aggregated'];
    const per = Math.min(this.batchSize, Math.floor(this.dialect.maxParams / columns.length));
    for (let i = 0; i < views.length; i += per) {
      const part = views.slice(i, i + per);
      const values: unknown[] = [];
      for (const e of part) {
        values.push(
          siteIds.get(e.websiteId),
          e.sessionId.slice(0, 64),
          e.visitId?.slice(0, 64) ?? null,
          e.urlPath.slice(0, 500),
          e.referrerDomain?.slice(0, 500) ?? null,
          e.hostname?.slice(0, 100) ?? null,
          formatUtc(e.createdAt - (e.createdAt % 1000)),
          importId,
          aggregated,
        );
      }
      await trx.raw(this.dialect.insert('page_views', columns, part.length), values as Knex.RawBinding[]);
    }
    return views.length;
  }

  /** Two websites mapped onto one site give one row per bucket. */
  private combineDuplicates(rows: KeyedRow[]): KeyedRow[] {
    const seen = new Map<string, KeyedRow>();
    for (const r of rows) {
      const key = `${r.siteId}\u0000${r.row.bucket}`;
      const first = seen.get(key);
      if (first) first.row = mergeRows(first.row, r.row, this.topN);
      else seen.set(key, r);
    }
    return seen.size === rows.length ? rows : [...seen.values()];
  }

  /** Rows per statement: the batch size, the parameter limit and (MySQL) the statement size. */
  private chunkEnd(rows: KeyedRow[], start: number): number {
    const maxRows = Math.min(this.batchSize, Math.floor(this.dialect.maxParams / WRITE_COLUMNS.length));
    let bytes = 0;
    let i = start;
    while (i < rows.length && i - start < maxRows) {
      bytes += rowBytes(rows[i].row);
      if (bytes > this.dialect.maxStatementBytes && i > start) break;
      i++;
    }
    return i;
  }

  /**
   * Makes one chunk's values (reading the stored rows it merges with, after
   * `settle`); returns what sends its statements.
   */
  private async prepareChunk(trx: Knex, driver: Driver | null, g: Granularity, rows: KeyedRow[], importId: number, now: string, empty: boolean, settle: () => Promise<void>): Promise<() => Promise<void>> {
    const spec = AGGREGATE_TABLES[g];
    let existing = new Map<string, StoredRow>();
    if (!empty) {
      await settle();
      existing = await this.selectExisting(trx, driver, g, rows);
    }
    // The top lists of rows made from a plan (EncodedRow) go as the bytes of their JSON where the
    // statement takes them so (see the dialect's placeholders): into UTF-8 SQLite and PostgreSQL.
    const slot = this.jsonWriterFor(driver);
    if (slot !== null) {
      slot.writer.reset();
      slot.busy = true;
    }
    // Into SQLite and PostgreSQL the shared values of inserted rows are bound once (SHARED_COLUMNS).
    const bindShared = bindsShared(driver);
    const inserts: unknown[] = [];
    const updates: unknown[] = [];
    const updatesById: unknown[] = [];
    let nInsert = 0;
    let nUpdate = 0;
    let nById = 0;
    for (const { siteId, row } of rows) {
      const stored = existing.size === 0 ? undefined : existing.get(`${siteId}\u0000${row.bucket}`);
      // Merged with the stored row (merge mode, or a row of this import written before), or as it is.
      const merge = stored !== undefined && (this.mode === 'merge' || stored.importId === importId);
      const out = merge ? mergeRows(storedBucketRow(stored, row), row, this.topN) : row;
      const v = this.encoder.encode(out);
      const direct = slot !== null && out instanceof EncodedRow;
      const pages = direct ? out.topPagesBytes(slot.writer) : v.topPagesJson;
      const referrers = direct ? out.referrersBytes(slot.writer) : v.referrersJson;
      const values = [siteId, row.bucket, out.pageViews, v.uniqueVisitors, pages, referrers, v.sketchBytes, importId, now, now];
      if (stored && stored.id !== null && driver?.kind === 'sqlite') {
        // The stored row by its id: no conflicting insert first, no unique index search.
        for (const k of UPDATE_AT) updatesById.push(values[k]);
        updatesById.push(stored.id);
        nById++;
      } else if (stored) {
        updates.push(...values);
        nUpdate++;
      } else {
        if (bindShared) for (let k = 0; k < OWN_VALUES; k++) inserts.push(values[k]);
        else inserts.push(...values);
        nInsert++;
      }
    }
    const columns = TABLE_COLUMNS[g];
    this.rowsWritten[g] += rows.length;
    return async () => {
      try {
        if (nById > 0) await writeRows(trx, driver, () => this.dialect.updateById(spec.table, UPDATE_COLUMNS), updatesById, UPDATE_COLUMNS.length + 1, false);
        if (nInsert > 0) {
          // The values of SHARED_COLUMNS, in their order, as each row's values end.
          const shared = bindShared ? { columns: SHARED_COLUMNS, values: [importId, now, now] } : undefined;
          await writeRows(trx, driver, (n) => this.dialect.insert(spec.table, columns, n, shared?.columns), inserts, shared ? OWN_VALUES : columns.length, true, shared);
        }
        if (nUpdate > 0) await writeRows(trx, driver, (n) => this.dialect.upsert(spec.table, columns, ['site_id', spec.column], UPDATE_COLUMNS, n), updates, columns.length);
      } finally {
        if (slot !== null) slot.busy = false;
      }
    };
  }

  /** A free writer for a chunk's top lists as bytes, where the connection takes them (see prepareChunk). */
  private jsonWriterFor(driver: Driver | null): { writer: TopJsonWriter; busy: boolean } | null {
    // mysql2 too would take bytes (with CONVERT(? USING utf8mb4)), but 1M imports into MariaDB by
    // turns were no faster for them once its JSON check was gone (4 runs each), and peaked higher.
    if (driver === null || driver.kind === 'mysql2' || (driver.kind === 'sqlite' && !storesUtf8(driver.db))) return null;
    for (const w of this.jsonWriters) if (!w.busy) return w;
    return null;
  }

  /** The stored rows of these keys, locked for update where the database can. */
  private async selectExisting(trx: Knex, driver: Driver | null, g: Granularity, rows: KeyedRow[]): Promise<Map<string, StoredRow>> {
    const spec = AGGREGATE_TABLES[g];
    const d = this.dialect;
    const out = new Map<string, StoredRow>();
    const sqlite = driver?.kind === 'sqlite' ? driver.db : null;
    for (let i = 0; i < rows.length; ) {
      const siteId = rows[i].siteId;
      let j = i;
      while (j < rows.length && rows[j].siteId === siteId) j++;
      const buckets = rows.slice(i, j).map((r) => r.row.bucket);
      if (sqlite) {
        // SQLite: the site's stored rows in the batch's bucket range, through one prepared statement.
        let from = buckets[0];
        let to = buckets[0];
        for (const b of buckets) {
          if (b < from) from = b;
          if (b > to) to = b;
        }
        const st = preparedOn(
          sqlite,
          `SELECT id, ${d.id(spec.column)} AS bucket, page_views, top_pages, referrers, visitors_sketch, import_id FROM ${d.id(spec.table)} WHERE site_id = ? AND ${d.id(spec.column)} >= ? AND ${d.id(spec.column)} <= ?`,
        );
        const wanted = new Set(buckets);
        for (const r of st.all(siteId, from, to)) {
          if (wanted.has(String(r.bucket))) out.set(`${siteId}\u0000${String(r.bucket)}`, storedRow(r));
        }
        i = j;
        continue;
      }
      const sql =
        `SELECT ${d.textOf(spec.column, spec.kind)} AS bucket, page_views, top_pages, referrers, visitors_sketch, import_id ` +
        `FROM ${d.id(spec.table)} WHERE site_id = ? AND ${d.id(spec.column)} IN (${buckets.map(() => '?').join(', ')})` +
        ` ORDER BY ${d.id(spec.column)}${d.forUpdate}`;
      const result = await trx.raw(sql, [siteId, ...buckets]);
      for (const r of rowsOf(result)) out.set(`${siteId}\u0000${String(r.bucket)}`, storedRow(r));
      i = j;
    }
    return out;
  }
}

/** A stored row as a row of the bucket `like` (to merge with it). */
function storedBucketRow(stored: StoredRow, like: BucketRow): BucketRow {
  return { websiteId: like.websiteId, bucket: like.bucket, pageViews: stored.pageViews, visitors: VisitorSketch.deserialize(stored.sketch), topPages: stored.topPages, referrers: stored.referrers };
}

function storedRow(r: Record<string, unknown>): StoredRow {
  return {
    id: typeof r.id === 'number' ? r.id : null,
    pageViews: readInt(r.page_views),
    topPages: readTop(r.top_pages, 'path'),
    referrers: readTop(r.referrers, 'domain'),
    sketch: r.visitors_sketch ? Buffer.from(r.visitors_sketch as Uint8Array) : null,
    importId: r.import_id === null || r.import_id === undefined ? null : readInt(r.import_id),
  };
}

function mergeRows(a: BucketRow, b: BucketRow, topN: number): BucketRow {
  const visitors = VisitorSketch.empty();
  visitors.merge(a.visitors);
  visitors.merge(b.visitors);
  return {
    websiteId: a.websiteId,
    bucket: a.bucket,
    pageViews: a.pageViews + b.pageViews,
    visitors,
    topPages: mergeTop(a.topPages, b.topPages, topN),
    referrers: mergeTop(a.referrers, b.referrers, topN),
  };
}

/** The part of a better-sqlite3 connection used here. */
interface SqliteStatement {
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): Array<Record<string, unknown>>;
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
}

/** The part of a mysql2 connection used here. */
interface MysqlConnection {
  execute(sql: string, values: unknown[], cb: (err: Error | null) => void): void;
}

/** The part of a pg client used here. */
interface PgClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<unknown>;
}

/** A transaction's own driver connection, when it is one this file can use directly. */
type Driver = { kind: 'sqlite'; db: SqliteDatabase } | { kind: 'mysql2'; connection: MysqlConnection } | { kind: 'pg'; client: PgClient };

/**
 * pg statements of many rows by their text (with `?` placeholders): the text
 * numbered `$1…`, and the name it is prepared under on each connection, so
 * the server parses a full chunk's statement once, not once per chunk.
 */
const pgStatements = new Map<string, { name: string; text: string }>();
/** Statements kept (and prepared) at most; others run unnamed. */
const PG_STATEMENTS_MAX = 64;
/** Fewer rows than this: an unnamed statement (a flush's last, odd-sized chunk). */
const PG_NAMED_ROWS = 100;

function pgStatement(sql: string, rows: number, numbered = 0): { name: string; text: string } {
  let st = pgStatements.get(sql);
  if (st === undefined) {
    // After the `$1…` the statement numbers itself (see Dialect.insert).
    let k = numbered;
    // Only this library's statements come here: each `?` in them is a placeholder.
    st = { name: '', text: sql.replace(/\?/g, () => `$${++k}`) };
    if (rows >= PG_NAMED_ROWS && pgStatements.size < PG_STATEMENTS_MAX) {
      st.name = `umami_aggregate_${pgStatements.size}`;
      pgStatements.set(sql, st);
    }
  }
  return st;
}

const statements = new WeakMap<object, Map<string, SqliteStatement>>();

/** better-sqlite3, mysql2 or pg under a transaction, else null (knex's own query path is used). */
async function driverOf(trx: Knex, dialect: Dialect): Promise<Driver | null> {
  if (!trx.isTransaction) return null;
  const c = (await (trx.client as { acquireConnection(): Promise<unknown> }).acquireConnection()) as Record<string, unknown> | null;
  if (dialect.name === 'postgres' && typeof c?.query === 'function') return { kind: 'pg', client: c as unknown as PgClient };
  if (dialect.name === 'sqlite' && typeof c?.prepare === 'function') return { kind: 'sqlite', db: c as unknown as SqliteDatabase };
  if (dialect.name === 'mysql' && typeof c?.execute === 'function') return { kind: 'mysql2', connection: c as unknown as MysqlConnection };
  return null;
}

/**
 * Writes n rows of `width` values with the statement `sql(rows)` makes
 * (`manyRows` false: a statement of one row, whatever `rows`, such as an UPDATE):
 * SQLite gets statements of {@link SQLITE_STATEMENT_ROWS} rows and of one,
 * each prepared once per connection; mysql2 gets a server-side prepared
 * statement, its values in the binary protocol instead of escaped into SQL
 * text; pg a named prepared statement (parsed once per connection, not per
 * chunk); other drivers go through knex. With `shared` (SQLite and pg, see
 * {@link bindsShared}), the statement takes those columns once (see
 * Dialect.insert): their values are bound by name into SQLite and go first,
 * as `$1…`, to pg; `width` counts the other values of a row.
 */
async function writeRows(trx: Knex, driver: Driver | null, sql: (rows: number) => string, values: unknown[], width: number, manyRows = true, shared?: SharedValues): Promise<void> {
  if (driver?.kind === 'sqlite') {
    let named: Record<string, unknown> | undefined;
    if (shared) {
      named = {};
      shared.columns.forEach((c, k) => (named![c] = shared.values[k]));
    }
    if (manyRows) runSqlite(driver.db, sql, values, width, named);
    else runEach(preparedOn(driver.db, sql(1)), values, 0, width, named);
    return;
  }
  const n = values.length / width;
  if (driver?.kind === 'pg') {
    const st = pgStatement(sql(n), n, shared?.columns.length ?? 0);
    await driver.client.query({ name: st.name, text: st.text, values: shared ? [...shared.values, ...values] : values });
    return;
  }
  if (shared) throw new Error('values shared by every row are bound into SQLite and PostgreSQL only');
  if (driver?.kind === 'mysql2') {
    const c = driver.connection;
    return new Promise((resolve, reject) => c.execute(sql(n), values, (err) => (err ? reject(err) : resolve())));
  }
  await trx.raw(sql(n), values as Knex.RawBinding[]);
}

/** Columns whose value every row of a statement shares, and those values (see {@link writeRows}). */
interface SharedValues {
  columns: readonly string[];
  values: readonly unknown[];
}

/** Whether rows written through this connection take SHARED_COLUMNS once per statement (SQLite, pg). */
function bindsShared(driver: Driver | null): boolean {
  return driver?.kind === 'sqlite' || driver?.kind === 'pg';
}

/** Databases by whether their text is UTF-8 (`PRAGMA encoding`: a file may have been made UTF-16). */
const utf8Databases = new WeakMap<SqliteDatabase, boolean>();

function storesUtf8(db: SqliteDatabase): boolean {
  let utf8 = utf8Databases.get(db);
  if (utf8 === undefined) {
    utf8 = db.prepare('PRAGMA encoding').all()[0]?.encoding === 'UTF-8';
    utf8Databases.set(db, utf8);
  }
  return utf8;
}

/** A statement prepared once per connection. */
function preparedOn(db: SqliteDatabase, sql: string): SqliteStatement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let st = cache.get(sql);
  if (!st) cache.set(sql, (st = db.prepare(sql)));
  return st;
}

/**
 * SQLite: runs of {@link SQLITE_STATEMENT_ROWS} rows by one prepared
 * statement of that many rows, the rest row by row. Fewer statements to
 * step (and an AUTOINCREMENT table's sequence written once per statement):
 * the 46,828 hour rows of the 1M-event import took 109–112 ms to insert
 * with 32-row statements, 129–146 ms one row at a time.
 */
function runSqlite(db: SqliteDatabase, sql: (rows: number) => string, values: unknown[], width: number, named?: Record<string, unknown>): void {
  const step = SQLITE_STATEMENT_ROWS * width;
  const i = values.length >= step ? runEach(preparedOn(db, sql(SQLITE_STATEMENT_ROWS)), values, 0, step, named) : 0;
  if (i < values.length) runEach(preparedOn(db, sql(1)), values, i, width, named);
}

/**
 * Runs a statement of `step` values for each whole run of them from `from`
 * (and the named parameters, if any); returns where the runs end.
 */
function runEach(st: SqliteStatement, values: unknown[], from: number, step: number, named?: Record<string, unknown>): number {
  if (from === 0 && values.length === step) {
    if (named) st.run(values, named);
    else st.run(values);
    return step;
  }
  const part = new Array<unknown>(step);
  let i = from;
  for (; i + step <= values.length; i += step) {
    for (let k = 0; k < step; k++) part[k] = values[i + k];
    if (named) st.run(part, named);
    else st.run(part);
  }
  return i;
}

/** Rows of a knex.raw result on every dialect. */
export function rowsOf(result: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(result)) {
    // mysql2: [rows, fields]; better-sqlite3: rows
    if (result.length === 2 && Array.isArray(result[0]) && Array.isArray(result[1])) return result[0] as Array<Record<string, unknown>>;
    return result as Array<Record<string, unknown>>;
  }
  const r = result as { rows?: Array<Record<string, unknown>> };
  return r.rows ?? [];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function databaseError(err: unknown, what: string): UmamiAggregateError {
  if (err instanceof UmamiAggregateError) return err;
  const e = err as { message?: string; code?: unknown; errno?: unknown };
  const msg = (e?.message ?? String(err)).split('\n')[0].slice(0, 500);
  return new UmamiAggregateError('UA_DATABASE', `${what}: ${msg}`, { dbCode: e?.code ?? e?.errno }, { cause: err });
}

/** Stage 4 as a stream: a Writable of {@link BucketBatch}es (and website batches). */
export class Upserter extends Writable {
  readonly writer: BucketWriter;
  readonly knex: Knex;
  readonly atomic: boolean;
  importId: number | null;
  /** Flushes written. */
  flushes = 0;
  /** Transactions retried after a conflict. */
  retried = 0;
  private trx: Knex.Transaction | null = null;
  /** The import's transaction is being opened (waiting for a connection). */
  private opening = false;
  private readonly opts: UpserterOptions;
  private pending: Record<Granularity, BucketRow[]> | null = null;
  /** Not atomic: raw page views waiting for the next flush's transaction. */
  private rawPending: UmamiEvent[] = [];
  /** Raw page views written (committed, when not atomic). */
  rawRowsWritten = 0;
  private committedRows: Record<Granularity, number> = { hour: 0, day: 0, month: 0 };
  private committed = false;

  constructor(options: UpserterOptions) {
    super({ objectMode: true, highWaterMark: 2 });
    validateUpserterOptions(options);
    this.opts = options;
    this.knex = options.knex;
    this.atomic = options.atomic ?? true;
    this.importId = options.importId ?? null;
    this.writer = new BucketWriter(options.knex, {
      mode: options.mode ?? 'replace',
      topN: options.topN ?? 50,
      batchSize: options.batchSize ?? 250,
      resolveSite: options.resolveSite,
      directSiteIds: options.directSiteIds,
    });
  }

  /** Whether the import's transaction is open or being opened (atomic). */
  get inTransaction(): boolean {
    return this.opening || (this.trx !== null && !this.committed);
  }

  /** The import's transaction, started on first use; while it waits for a connection it already counts as open. */
  private async transaction(): Promise<Knex.Transaction> {
    if (this.trx) return this.trx;
    this.opening = true;
    try {
      this.trx = await this.knex.transaction();
      return this.trx;
    } finally {
      this.opening = false;
    }
  }

  get rowsWritten(): Record<Granularity, number> {
    return this.writer.rowsWritten;
  }

  override _write(batch: ParsedBatch | BucketBatch, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (batch.kind === 'websites') {
      this.writer.sites.add(batch.websites);
      return cb();
    }
    if (batch.kind === 'events') {
      if (!this.opts.rawPageViews) return cb();
      this.writeRawEvents(batch.events).then(() => cb(), (err) => cb(err));
      return;
    }
    if (batch.kind !== 'buckets') return cb();
    this.writeFlush(batch).then(() => cb(), (err) => cb(err));
  }

  private async writeRawEvents(events: UmamiEvent[]): Promise<void> {
    if (!this.atomic) {
      for (const e of events) if (e.eventType === 1) this.rawPending.push(e);
      return;
    }
    const importId = await this.ensureImport();
    const trx = await this.transaction();
    try {
      this.rawRowsWritten += await this.writer.writeRaw(trx, events, importId, this.opts.rawAggregated ?? true);
    } catch (err) {
      throw databaseError(err, 'writing raw page views failed');
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finalize().then(() => cb(), (err) => cb(err));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const trx = this.trx;
    this.trx = null;
    if (!trx || this.committed) return cb(err);
    trx.rollback().then(
      () => cb(err),
      () => cb(err),
    );
  }

  private async ensureImport(): Promise<number> {
    if (this.importId === null) {
      this.importId = await startImport(this.knex, { source: this.opts.source ?? 'createUpserter', mode: this.writer.mode, inputKey: null, bytesTotal: null });
    }
    return this.importId;
  }

  private async writeFlush(batch: BucketBatch): Promise<void> {
    try {
      const importId = await this.ensureImport();
      // The final flush comes after the whole input was read: the last moment to refuse it.
      if (batch.final) await this.opts.beforeCommit?.();
      if (batch.final && this.pending) {
        // Rows held back for websites known only now (Umami v1 ids before the website table).
        const pending = bucketBatchOf(this.pending, { final: true, position: batch.position, events: batch.events });
        this.pending = null;
        await this.writeTransaction(pending, importId, false);
      }
      await this.writeTransaction(batch, importId, true);
    } finally {
      // Written (and any rows held back copied out), or failed for good: the aggregator may reuse
      // the batch's memory, and a batch of spilled aggregates removes its files.
      batch.release?.();
    }
  }

  private async writeTransaction(batch: BucketBatch, importId: number, checkpoint: boolean): Promise<void> {
    const sites = this.writer.sites;
    const hold = batch.final ? undefined : (id: string): boolean => !sites.isResolvable(id);
    const started = Date.now();
    let attempts = 0;
    let raw = 0;
    let result: { counts: Record<Granularity, number>; held: Record<Granularity, BucketRow[]> };
    if (this.atomic) {
      const trx = await this.transaction();
      try {
        result = await this.writer.write(trx, batch, importId, hold);
      } catch (err) {
        throw databaseError(err, 'writing aggregates failed');
      }
    } else {
      const maxAttempts = this.opts.retries ?? 8;
      for (;;) {
        attempts++;
        try {
          result = await this.knex.transaction(async (trx) => {
            const written = await this.writer.write(trx, batch, importId, hold);
            if (checkpoint && this.rawPending.length > 0) {
              raw = await this.writer.writeRaw(trx, this.rawPending, importId, this.opts.rawAggregated ?? true);
            }
            if (batch.final) await sites.saveAll(trx);
            if (checkpoint && batch.final) await this.opts.finalStatements?.(trx);
            const update = !checkpoint ? undefined : batch.final ? this.completion() : this.opts.checkpoint?.(batch);
            if (update) await trx('analytics_imports').where({ id: importId }).update(ledgerRow(update));
            return written;
          });
          break;
        } catch (err) {
          sites.reset();
          this.writer.rowsWritten = { ...this.committedRows };
          if (attempts >= maxAttempts || !this.writer.dialect.isRetryable(err)) throw databaseError(err, 'writing aggregates failed');
          this.retried++;
          await sleep(Math.min(2000, 20 * 2 ** attempts) * (0.5 + Math.random()));
        }
      }
      this.committedRows = { ...this.writer.rowsWritten };
      if (raw > 0) {
        this.rawRowsWritten += raw;
        this.rawPending = [];
      }
    }
    const held = result!.held;
    if (held.hour.length + held.day.length + held.month.length > 0) {
      const p = (this.pending ??= { hour: [], day: [], month: [] });
      for (const g of ['hour', 'day', 'month'] as const) p[g].push(...held[g]);
    }
    this.flushes++;
    this.opts.onFlush?.({ rows: result!.counts, durationMs: Date.now() - started, retries: Math.max(0, attempts - 1), final: batch.final });
  }

  private completion(): LedgerUpdate {
    return this.opts.complete?.() ?? { status: 'completed', checkpoint: null, finishedAt: nowText() };
  }

  private async finalize(): Promise<void> {
    if (!this.atomic) return;
    const importId = await this.ensureImport();
    try {
      const trx = await this.transaction();
      await this.writer.sites.saveAll(trx);
      await this.opts.finalStatements?.(trx);
      await trx('analytics_imports').where({ id: importId }).update(ledgerRow(this.completion()));
      await trx.commit();
      this.committed = true;
    } catch (err) {
      throw databaseError(err, 'committing the import failed');
    }
  }
}

function validateUpserterOptions(o: UpserterOptions): void {
  if (!o || typeof o !== 'object' || !o.knex || typeof (o.knex as unknown as { raw?: unknown }).raw !== 'function') {
    throw invalidOption('knex', 'a Knex instance', o?.knex);
  }
  if (o.batchSize !== undefined && !(Number.isInteger(o.batchSize) && o.batchSize > 0)) throw invalidOption('batchSize', 'a positive integer', o.batchSize);
  if (o.mode !== undefined && o.mode !== 'replace' && o.mode !== 'merge') throw invalidOption('mode', "'replace' or 'merge'", o.mode);
  if (o.topN !== undefined && !(Number.isInteger(o.topN) && o.topN > 0)) throw invalidOption('topN', 'a positive integer', o.topN);
  if (o.resolveSite !== undefined && typeof o.resolveSite !== 'function') throw invalidOption('resolveSite', 'a function', o.resolveSite);
}

/** Stage 4: a Writable that upserts bucket batches through Knex. */
export function createUpserter(options: UpserterOptions): Upserter {
  return new Upserter(options);
}
