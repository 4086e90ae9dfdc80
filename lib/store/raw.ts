/**
 * The raw `page_views` table: aggregating it into the aggregate tables
 * (through the same aggregator and upserter as an import, reading it with
 * keyset pagination so memory stays flat on every dialect), and deleting raw
 * rows that are already aggregated.
 */
import { Readable, pipeline } from 'node:stream';
import type { Knex } from 'knex';
import { AggregatorStream } from '../aggregate/aggregator.js';
import { TimeZone, civilFromDays, civilToMs, formatUtc } from '../aggregate/timezone.js';
import { invalidOption } from '../errors.js';
import type { ParsedBatch, UmamiEvent } from '../umami/parser.js';
import { Dialect, dialectOf, nowText, readInt } from './dialect.js';
import { type LedgerUpdate, startImport } from './ledger.js';
import { migrate } from './migrations.js';
import { Upserter } from './upserter.js';
import { parseTimestamp } from '../umami/time.js';

export interface AggregateRawOptions {
  knex: Knex;
  /** Only page views of the last N days (widened to whole months in `timezone`). Default: all. */
  days?: number;
  timezone?: string;
  topN?: number;
  batchSize?: number;
  /** Rows read per page. Default 5000. */
  pageSize?: number;
  memoryLimitMb?: number;
  /** Run the library's migrations first. Default true. */
  migrate?: boolean;
  /** The moment `days` counts back from (epoch ms). Default: now. */
  now?: number;
}

export interface AggregateRawSummary {
  importId: number;
  /** UTC start of the window aggregated, or null for the whole table. */
  since: string | null;
  pageViews: number;
  bucketsWritten: number;
  durationMs: number;
}

/**
 * The UTC instant where the window of the last `days` days starts, moved back
 * to the start of its month in `zone`: every bucket the window touches is then
 * complete, so replacing it loses nothing.
 */
export function windowStart(days: number, zone: TimeZone, now = Date.now()): number {
  const t = now - days * 86_400_000;
  const local = t + zone.offsetAt(t);
  const [y, m] = civilFromDays(Math.floor(local / 86_400_000));
  return zone.toUtc(civilToMs(y, m, 1, 0, 0, 0));
}

/** Reads page_views in id order, a page at a time, as event batches. */
function pageViewSource(knex: Knex, since: string | null, pageSize: number, maxId: number, domains: Map<string, string | null>): Readable {
  let after = 0;
  let sentWebsites = false;
  const dialect = new Dialect(dialectOf(knex));
  const utc = TimeZone.of('UTC');
  return new Readable({
    objectMode: true,
    read() {
      if (!sentWebsites) {
        sentWebsites = true;
        // Domains let the aggregator leave out own-domain referrers of events that have no hostname.
        this.push({ kind: 'websites', websites: [...domains].map(([id, domain]) => ({ id, uuid: id, name: null, domain })) } satisfies ParsedBatch);
        return;
      }
      let q = knex('page_views')
        .select('id', 'site_id', 'session_id', 'visit_id', 'url_path', 'referrer_domain', 'hostname', knex.raw(`${dialect.textOf('created_at', 'datetime')} as created_at`))
        .where('id', '>', after)
        .andWhere('id', '<=', maxId)
        .orderBy('id')
        .limit(pageSize);
      if (since) q = q.andWhere('created_at', '>=', since);
      q.then(
        (rows: Array<Record<string, unknown>>) => {
          if (rows.length === 0) return this.push(null);
          after = readInt(rows[rows.length - 1].id);
          const events: UmamiEvent[] = rows.map((r, i) => ({
            websiteId: String(readInt(r.site_id)),
            sessionId: String(r.session_id),
            visitId: r.visit_id == null ? null : String(r.visit_id),
            createdAt: parseTimestamp(String(r.created_at), utc),
            eventType: 1,
            urlPath: String(r.url_path),
            referrerDomain: r.referrer_domain == null ? null : String(r.referrer_domain),
            hostname: r.hostname == null ? null : String(r.hostname),
            eventName: null,
            offset: i,
          }));
          this.push({ kind: 'events', events } satisfies ParsedBatch);
        },
        (err: Error) => this.destroy(err),
      );
    },
  });
}

/**
 * Aggregates the raw `page_views` table (all of it, or the last `days` days
 * widened to whole months) into the aggregate tables, in one transaction
 * that replaces the buckets it covers and marks the rows aggregated.
 */
export async function aggregateRawPageViews(options: AggregateRawOptions): Promise<AggregateRawSummary> {
  const { knex } = options;
  if (options.days !== undefined && !(Number.isInteger(options.days) && options.days > 0)) throw invalidOption('days', 'a positive integer', options.days);
  const started = Date.now();
  if (options.migrate !== false) await migrate(knex);
  const zone = TimeZone.of(options.timezone ?? 'UTC');
  const since = options.days === undefined ? null : formatUtc(windowStart(options.days, zone, options.now));
  const [{ max }] = (await knex('page_views').max({ max: 'id' })) as Array<{ max: unknown }>;
  const maxId = max == null ? 0 : readInt(max);
  const domains = new Map<string, string | null>(
    ((await knex('analytics_sites').select('id', 'domain')) as Array<{ id: unknown; domain: string | null }>).map((r) => [String(readInt(r.id)), r.domain]),
  );
  const importId = await startImport(knex, { source: `page_views${since ? ` since ${since}` : ''}`, mode: 'replace', inputKey: null, bytesTotal: null });
  const aggregator = new AggregatorStream({ timezone: zone.name, topN: options.topN, maxBytes: Math.floor(((options.memoryLimitMb ?? 256) * 1048576) / 2) });
  let pageViews = 0;
  aggregator.on('aggregated', (a: { pageViews: number }) => (pageViews = a.pageViews));
  const upserter: Upserter = new Upserter({
    knex,
    importId,
    mode: 'replace',
    topN: options.topN,
    batchSize: options.batchSize,
    directSiteIds: true,
    complete: (): LedgerUpdate => ({ status: 'completed', events: pageViews, pageViews, bucketsWritten: upserter.rowsWritten.hour + upserter.rowsWritten.day + upserter.rowsWritten.month, finishedAt: nowText() }),
    finalStatements: async (trx) => {
      // Marked in the same transaction as the aggregates they went into.
      let q = trx('page_views').where('id', '<=', maxId);
      if (since) q = q.andWhere('created_at', '>=', since);
      await q.update({ aggregated: true });
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      pipeline(pageViewSource(knex, since, options.pageSize ?? 5000, maxId, domains), aggregator, upserter, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  } catch (err) {
    await knex('analytics_imports').where({ id: importId }).update({ status: 'failed', error: String((err as Error).message).slice(0, 4000), finished_at: nowText() });
    throw err;
  }
  const rows = upserter.rowsWritten;
  return { importId, since, pageViews, bucketsWritten: rows.hour + rows.day + rows.month, durationMs: Date.now() - started };
}

export interface CleanupOptions {
  knex: Knex;
  /** Only rows created before this date (`YYYY-MM-DD` or a timestamp, UTC). Default: all aggregated rows. */
  before?: string;
  /** Rows deleted per statement. Default 5000. */
  batchSize?: number;
}

export interface CleanupSummary {
  /** Raw rows deleted (all of them already aggregated). */
  removed: number;
  /** Raw rows in the range kept because they are not aggregated yet. */
  keptNotAggregated: number;
  before: string | null;
}

/** Deletes raw page views that are already aggregated, in batches. */
export async function cleanupRawPageViews(options: CleanupOptions): Promise<CleanupSummary> {
  const { knex } = options;
  const batch = options.batchSize ?? 5000;
  if (!(Number.isInteger(batch) && batch > 0)) throw invalidOption('batchSize', 'a positive integer', batch);
  let before: string | null = null;
  if (options.before !== undefined) {
    const t = parseTimestamp(options.before.length === 10 ? `${options.before} 00:00:00` : options.before, TimeZone.of('UTC'));
    if (Number.isNaN(t)) throw invalidOption('before', 'a date (YYYY-MM-DD) or timestamp', options.before);
    before = formatUtc(t);
  }
  await migrate(knex);
  const scope = (q: Knex.QueryBuilder): Knex.QueryBuilder => (before ? q.where('created_at', '<', before) : q);
  let removed = 0;
  let after = 0;
  for (;;) {
    const ids = ((await scope(knex('page_views').select('id').where('aggregated', true).andWhere('id', '>', after).orderBy('id').limit(batch))) as Array<{ id: unknown }>).map((r) => readInt(r.id));
    if (ids.length === 0) break;
    after = ids[ids.length - 1];
    removed += await knex('page_views').whereIn('id', ids).del();
  }
  const [{ n }] = (await scope(knex('page_views').where('aggregated', false)).count({ n: '*' })) as Array<{ n: unknown }>;
  return { removed, keptNotAggregated: readInt(n), before };
}
