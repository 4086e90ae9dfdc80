/**
 * Stage 3: events in, per-site hourly, daily and monthly buckets out.
 *
 * Page views are counted into hour buckets only (one map lookup per event);
 * days and months are rolled up from the hours when buckets are flushed —
 * local hours nest in local days and months in every time zone. Memory grows
 * with the number of buckets and the distinct visitors, pages and referrers
 * in them, never with the number of events.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { invalidOption } from '../errors.js';
import type { ParsedBatch, UmamiEvent, UmamiWebsite } from '../umami/parser.js';
import { VisitorSketch, hash53 } from './distinct.js';
import { TimeZone, civilFromDays, formatDay, formatMonth, formatUtc } from './timezone.js';
import { type TopEntry, topOf } from './toplist.js';

export type Granularity = 'hour' | 'day' | 'month';

/** One aggregate row, before it is written. */
export interface BucketRow {
  /** The website as events name it ({@link UmamiEvent.websiteId}). */
  websiteId: string;
  /** `YYYY-MM-DD HH:MM:SS` (UTC instant the local hour starts), `YYYY-MM-DD` or `YYYY-MM`. */
  bucket: string;
  pageViews: number;
  /** Distinct visitors (session ids) of the bucket's page views. */
  visitors: VisitorSketch;
  /** Page views by URL path, top N. */
  topPages: TopEntry[];
  /** Page views by referrer domain, top N (NULL, '' and the event's own hostname left out). */
  referrers: TopEntry[];
}

/** What the aggregator emits at each flush. */
export interface BucketBatch {
  kind: 'buckets';
  hour: BucketRow[];
  day: BucketRow[];
  month: BucketRow[];
  /** True for the flush at the end of input. */
  final: boolean;
  /** Every event before this input offset is in this flush or an earlier one. */
  position: number;
  /** Events aggregated so far (all flushes). */
  events: number;
}

export interface AggregatorOptions {
  /** IANA zone or offset for days, months and local hours. Default `UTC`. */
  timezone?: string;
  /** Entries kept in top_pages and referrers. Default 50. */
  topN?: number;
  /** Flush partial aggregates when this many hour buckets are held. Default: no limit. */
  maxBuckets?: number;
}

interface Acc {
  pageViews: number;
  visitors: Set<number>;
  pages: Map<string, number>;
  refs: Map<string, number>;
  /** Referrers of events without a hostname (Umami v1): the site's own domain is left out at flush. */
  hostlessRefs: Map<string, number> | null;
}

interface HourBucket extends Acc {
  start: number;
  day: number;
  month: number;
}

function newAcc(): Acc {
  return { pageViews: 0, visitors: new Set(), pages: new Map(), refs: new Map(), hostlessRefs: null };
}

function addCounts(into: Map<string, number>, from: Map<string, number>): void {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
}

function mergeAcc(into: Acc, from: Acc): void {
  into.pageViews += from.pageViews;
  for (const h of from.visitors) into.visitors.add(h);
  addCounts(into.pages, from.pages);
  addCounts(into.refs, from.refs);
  if (from.hostlessRefs) addCounts((into.hostlessRefs ??= new Map()), from.hostlessRefs);
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

export class Aggregator {
  readonly zone: TimeZone;
  readonly topN: number;
  readonly maxBuckets: number;
  /** Hour buckets per website. */
  private sites = new Map<string, Map<number, HourBucket>>();
  private readonly domains = new Map<string, string | null>();
  private held = 0;
  private position = 0;
  events = 0;
  pageViews = 0;
  bucketsEmitted = 0;
  flushes = 0;

  constructor(options: AggregatorOptions = {}) {
    const { topN = 50, maxBuckets = Infinity } = options;
    if (!(Number.isInteger(topN) && topN > 0 && topN <= 10_000)) throw invalidOption('topN', 'an integer from 1 to 10000', topN);
    if (!(maxBuckets === Infinity || (Number.isInteger(maxBuckets) && maxBuckets > 0))) {
      throw invalidOption('maxBuckets', 'a positive integer', maxBuckets);
    }
    this.zone = TimeZone.of(options.timezone ?? 'UTC');
    this.topN = topN;
    this.maxBuckets = maxBuckets;
  }

  /** Hour buckets held in memory. */
  get bucketsHeld(): number {
    return this.held;
  }

  get full(): boolean {
    return this.held >= this.maxBuckets;
  }

  addWebsites(websites: readonly UmamiWebsite[]): void {
    for (const w of websites) this.domains.set(w.id, w.domain ? w.domain.toLowerCase() : null);
  }

  add(events: readonly UmamiEvent[]): void {
    const zone = this.zone;
    const fixed = zone.fixedOffset;
    let lastSite: string | null = null;
    let hours: Map<number, HourBucket> | undefined;
    for (let k = 0; k < events.length; k++) {
      const e = events[k];
      this.events++;
      if (e.offset >= this.position) this.position = e.offset + 1;
      if (e.eventType !== 1) continue;
      this.pageViews++;
      if (e.websiteId !== lastSite) {
        lastSite = e.websiteId;
        hours = this.sites.get(lastSite);
        if (hours === undefined) {
          hours = new Map();
          this.sites.set(lastSite, hours);
        }
      }
      const t = e.createdAt;
      const offset = fixed !== null ? fixed : zone.offsetAt(t);
      const local = t + offset;
      const localHour = local - (((local % HOUR) + HOUR) % HOUR);
      const start = localHour - offset;
      const key = start / 60000;
      let b = hours!.get(key);
      if (b === undefined) {
        const day = Math.floor(local / DAY);
        const [y, m] = civilFromDays(day);
        b = { start, day, month: y * 12 + m - 1, ...newAcc() };
        hours!.set(key, b);
        this.held++;
      }
      b.pageViews++;
      b.visitors.add(hash53(e.sessionId));
      const path = e.urlPath;
      b.pages.set(path, (b.pages.get(path) ?? 0) + 1);
      const ref = e.referrerDomain;
      if (ref !== null && ref !== '') {
        if (e.hostname === null) {
          const m = (b.hostlessRefs ??= new Map());
          m.set(ref, (m.get(ref) ?? 0) + 1);
        } else if (ref !== e.hostname) {
          b.refs.set(ref, (b.refs.get(ref) ?? 0) + 1);
        }
      }
    }
  }

  /**
   * Emits every bucket held and forgets them. `final` marks the end of input.
   * Returns null when nothing is held and this is not the final flush.
   */
  flush(final: boolean): BucketBatch | null {
    if (this.held === 0 && !final) return null;
    const out: BucketBatch = { kind: 'buckets', hour: [], day: [], month: [], final, position: this.position, events: this.events };
    const siteIds = [...this.sites.keys()].sort();
    for (const site of siteIds) {
      const hours = this.sites.get(site)!;
      const domain = this.domains.get(site) ?? null;
      const days = new Map<number, Acc>();
      const months = new Map<number, Acc>();
      const hourKeys = [...hours.keys()].sort((a, b) => a - b);
      for (const key of hourKeys) {
        const h = hours.get(key)!;
        let d = days.get(h.day);
        if (!d) days.set(h.day, (d = newAcc()));
        mergeAcc(d, h);
        let m = months.get(h.month);
        if (!m) months.set(h.month, (m = newAcc()));
        mergeAcc(m, h);
        out.hour.push(this.row(site, formatUtc(h.start), h, domain));
      }
      for (const day of [...days.keys()].sort((a, b) => a - b)) out.day.push(this.row(site, formatDay(day), days.get(day)!, domain));
      for (const month of [...months.keys()].sort((a, b) => a - b)) out.month.push(this.row(site, formatMonth(month), months.get(month)!, domain));
    }
    this.sites = new Map();
    this.held = 0;
    this.flushes++;
    this.bucketsEmitted += out.hour.length + out.day.length + out.month.length;
    return out;
  }

  private row(websiteId: string, bucket: string, acc: Acc, domain: string | null): BucketRow {
    if (acc.hostlessRefs) {
      for (const [ref, c] of acc.hostlessRefs) if (ref !== domain) acc.refs.set(ref, (acc.refs.get(ref) ?? 0) + c);
    }
    return {
      websiteId,
      bucket,
      pageViews: acc.pageViews,
      visitors: VisitorSketch.fromSet(acc.visitors),
      topPages: topOf(acc.pages, this.topN),
      referrers: topOf(acc.refs, this.topN),
    };
  }
}

/** Stage 3 as a stream: {@link ParsedBatch}es in; {@link BucketBatch}es (and the websites, passed on) out. */
export class AggregatorStream extends Transform {
  readonly aggregator: Aggregator;

  constructor(options: AggregatorOptions = {}) {
    super({ objectMode: true, highWaterMark: 4 });
    this.aggregator = new Aggregator(options);
  }

  override _transform(batch: ParsedBatch, _enc: BufferEncoding, cb: TransformCallback): void {
    if (batch.kind === 'websites') {
      this.aggregator.addWebsites(batch.websites);
      this.push(batch);
      return cb();
    }
    if (batch.kind !== 'events') {
      this.push(batch);
      return cb();
    }
    this.aggregator.add(batch.events);
    if (this.aggregator.full) this.push(this.aggregator.flush(false));
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.push(this.aggregator.flush(true));
    cb();
  }
}

/** Stage 3: a Transform from event batches to bucket batches. */
export function createAggregator(options: AggregatorOptions = {}): AggregatorStream {
  return new AggregatorStream(options);
}
