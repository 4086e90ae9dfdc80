/**
 * Stage 3: events in, per-site hourly, daily and monthly buckets out.
 *
 * Each page view updates its local hour, day and month (local hours nest in
 * local days and months in every time zone). Memory grows with the number of
 * buckets and the distinct visitors, pages and referrers in them, never with
 * the number of events.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { UmamiAggregateError, invalidOption } from '../errors.js';
import type { ParsedBatch, UmamiEvent, UmamiWebsite } from '../umami/parser.js';
import { type PackedEventBatch, REF_COUNTED, REF_HOSTLESS, REF_NONE, refKindOf } from '../umami/packed.js';
import { VisitorSketch, hash53 } from './distinct.js';
import { Names } from './names.js';
import { RowFile, type Run, RunMerger, type RunReader, RunWriter, countMerged, makeSpillFolder, mergeRuns, removeSpillFolder } from './spill.js';
import { HourIndex, PairCounter, PairSet, slotsOf } from './tables.js';
import path from 'node:path';
import { TimeZone, firstDayOfMonth, monthOfDay } from './timezone.js';
import { type FlushPlan, GRANULARITIES, NameOrder, type PlanShared, type PlannedSite, Tally } from './rows.js';
import { encodedChunks } from '../store/encode.js';
import type { TopEntry } from './toplist.js';

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

/** A run of rows of one granularity, ordered by website and bucket. */
export interface BucketChunk {
  granularity: Granularity;
  rows: BucketRow[];
}

/**
 * What the aggregator emits at each flush. The rows are produced on demand,
 * a chunk at a time, so a flush of many buckets never exists as objects all
 * at once; `chunks()` can be iterated again (a retried transaction does).
 */
export interface BucketBatch {
  kind: 'buckets';
  /** Rows per granularity in this flush. */
  counts: Record<Granularity, number>;
  /** Hours, then days, then months; each ordered by website id, then bucket. */
  chunks(size: number): Iterable<BucketChunk>;
  /** True for the flush at the end of input. */
  final: boolean;
  /** Every event before this input offset is in this flush or an earlier one. */
  position: number;
  /** Events aggregated so far (all flushes). */
  events: number;
  /**
   * Called by the consumer once it is done with the batch (its chunks are
   * not read again): the aggregator's next tables then reuse the memory of
   * this flush's tables. Absent on batches that hold no such memory.
   */
  release?: () => void;
  /**
   * The data the rows are made from, when they are made from the
   * aggregator's tables (not from spilled runs): a consumer may build them
   * elsewhere, on another thread (`planParts`, as the rows thread does).
   */
  plan?: FlushPlan;
  /**
   * Present when the rows are built elsewhere (see
   * {@link AggregatorOptions.buildRows}): the chunks, as they arrive. Such a
   * batch's `chunks()` throws; read this instead. Like `chunks()`, it can be
   * iterated again.
   */
  chunksAsync?: (size: number) => AsyncIterable<BucketChunk>;
}

export { GRANULARITIES, NameOrder, type FlushPlan, type PlannedSite } from './rows.js';

/** A batch over rows already built (tests, rows held back for later). */
export function bucketBatchOf(rows: Record<Granularity, BucketRow[]>, fields: { final: boolean; position: number; events: number }): BucketBatch {
  return {
    kind: 'buckets',
    counts: { hour: rows.hour.length, day: rows.day.length, month: rows.month.length },
    *chunks(size: number) {
      for (const granularity of GRANULARITIES) {
        const all = rows[granularity];
        for (let i = 0; i < all.length; i += size) yield { granularity, rows: all.slice(i, i + size) };
      }
    },
    ...fields,
  };
}

/** Every row of a batch, by granularity. */
export function collectRows(batch: BucketBatch): Record<Granularity, BucketRow[]> {
  const out: Record<Granularity, BucketRow[]> = { hour: [], day: [], month: [] };
  for (const c of batch.chunks(1000)) out[c.granularity].push(...c.rows);
  return out;
}

export interface AggregatorOptions {
  /** IANA zone or offset for days, months and local hours. Default `UTC`. */
  timezone?: string;
  /** Entries kept in top_pages and referrers. Default 50. */
  topN?: number;
  /** Flush partial aggregates when this many hour buckets are held. Default: no limit. */
  maxBuckets?: number;
  /** Flush partial aggregates when they take about this many bytes (or would, were a table to grow). Default: no limit. */
  maxBytes?: number;
  /** Flush at least every this many events (checkpoints of imports that commit per flush). Default: never. */
  flushEvery?: number;
  /** Leave out events whose row starts before this input offset (a resumed import). Default 0. */
  skipBefore?: number;
  /** Count events into buckets (default true); false only tracks position and passes events on. */
  aggregate?: boolean;
  /** Pass event batches on downstream too (for raw storage). Default false. */
  forwardEvents?: boolean;
  /** The stream emits `aggregated` after each run of this many events (progress chunks). Default 10000. */
  chunkSize?: number;
  /**
   * The stream takes no more events after a flush that is not the last until
   * the consumer calls the batch's `release()`, and the next tables reuse the
   * flushed tables' memory (presized, nothing to grow into; the flushes fall
   * on the same events). For consumers that release every batch they are
   * given, as the import pipeline's upserter does. Default false.
   */
  waitForRelease?: boolean;
  /**
   * Builds the rows of the stream's last flush elsewhere (an import into
   * SQLite gives {@link RowsThread.buildRows}: a worker thread started as
   * the parser's thread ends). The plan's typed arrays may be moved away: the batch then
   * offers its rows through `chunksAsync` only. Not used for a flush of
   * spilled runs. Default: the rows are built on this thread.
   */
  buildRows?: (plan: FlushPlan, size: number) => AsyncIterable<BucketChunk>;
  /**
   * A folder for aggregates over maxBytes or maxBuckets: instead of a flush,
   * the held hour buckets are written to a run file in a temporary folder
   * made inside it, and the tables start again empty; the last flush merges
   * the runs a website and month at a time, so the aggregates of any dump are
   * written once, as one batch (its `release()` removes the files). Not with
   * flushEvery. With an {@link Aggregator} used directly, call
   * {@link Aggregator.spill} when it is full. Default: none (partial flushes).
   */
  spillDir?: string;
}

/** Events between two looks at maxBytes (a power of two). */
const CHECK_EVERY = 1024;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const KIND_HOUR = 0;
const KIND_DAY = 1;
const KIND_MONTH = 2;

interface SiteBuckets {
  id: string;
  hours: HourIndex;
  days: Map<number, number>;
  months: Map<number, number>;
}

/** The names of a packer's batches (see {@link PackedEventBatch}), and what they are in this aggregator. */
interface PackedSource {
  sites: string[];
  paths: string[];
  refs: string[];
  /** Per name id: its site, path id or referrer id here (undefined or -1: not looked up since the last flush). */
  site: Array<SiteBuckets | undefined>;
  path: Int32Array;
  ref: Int32Array;
  /** The aggregator's {@link Aggregator.resets} when these were looked up. */
  mapped: number;
}

/** Packers whose names an aggregator keeps at most (the most recently started). */
const SOURCES_KEPT = 8;

/** Adds a batch's new names (those from id `base` on) to a source's list; a batch seen before adds none. */
function appendNames(kind: string, list: string[], names: readonly string[], base: number): void {
  if (base + names.length <= list.length) return;
  if (base !== list.length) {
    throw new UmamiAggregateError('UA_INVALID_OPTION', `packed batches taken out of order: ${kind} from id ${base} arrived after ${list.length} of them`, { option: 'batch' });
  }
  for (let k = 0; k < names.length; k++) list.push(names[k]);
}

/** `map` with room for n ids (new ones -1). */
function roomFor(map: Int32Array, n: number): Int32Array {
  if (map.length >= n) return map;
  const next = new Int32Array(Math.max(n, map.length * 2)).fill(-1);
  next.set(map);
  return next;
}


/**
 * The pure core of stage 3. Every bucket (hour, day, month) has an id and
 * its page views in an array. Visitors live in one shared set of (hour,
 * visitor hash) pairs, page and referrer counts in shared (hour, name)
 * counters: an event touches only its hour in them. A flush rolls the hours
 * up into their days and months (local hours nest in local days and months):
 * the union of the hours' visitor sets, the sum of their counts.
 */
export class Aggregator {
  readonly zone: TimeZone;
  readonly topN: number;
  readonly maxBuckets: number;
  readonly maxBytes: number;
  readonly flushEvery: number;
  /** Events whose row starts before this offset are left out. */
  skipBefore: number;
  /** False: events are counted but not aggregated. */
  readonly aggregating: boolean;
  /** Events left out by skipBefore. */
  skipped = 0;
  private sinceFlush = 0;
  /** A limit was reached: flush before taking more events. */
  private due = false;
  private domains = new Map<string, string | null>();
  private sites = new Map<string, SiteBuckets>();
  // per bucket
  private kind: number[] = [];
  private key: number[] = [];
  private views: number[] = [];
  private dayOf: number[] = [];
  private monthOf: number[] = [];
  /**
   * Buckets held: ids [0, buckets) of the arrays above. After a spill the
   * arrays are filled again from the start, not made anew: arrays grown
   * again after every spill were garbage in the old generation (their
   * larger backing stores are allocated there), which piled up between
   * full collections.
   */
  private buckets = 0;
  // shared tables keyed by hour bucket
  private visitors = new PairSet();
  private pages = new PairCounter();
  private refs = new PairCounter();
  /** Referrers of events without a hostname (Umami v1): the site's own domain is left out at flush. */
  private hostlessRefs: PairCounter | null = null;
  private paths = new Names();
  private refNames = new Names();
  /** Name lists of the packers whose batches came here. */
  private readonly sources = new Map<number, PackedSource>();
  /** Flushes that forgot the names and sites (a source's lookups older than this are stale). */
  private resets = 0;
  private held = 0;
  private position = 0;
  events = 0;
  pageViews = 0;
  bucketsEmitted = 0;
  flushes = 0;
  /** Run files written (see spillDir). */
  spills = 0;
  private readonly timezone: string;
  private readonly spillDir: string | null;
  private spillFolder: string | null = null;
  /** A spill that failed: the aggregates it took are lost, so nothing more is taken or flushed. */
  private spillFailure: Error | null = null;
  private runs: Run[] = [];
  /** A slice of a merge (see {@link mergedFlush}): the orders and tallies of its parent's names. */
  private shared: PlanShared | null = null;

  constructor(options: AggregatorOptions = {}) {
    const { topN = 50, maxBuckets = Infinity, maxBytes = Infinity, flushEvery = Infinity, skipBefore = 0 } = options;
    if (!(Number.isInteger(topN) && topN > 0 && topN <= 10_000)) throw invalidOption('topN', 'an integer from 1 to 10000', topN);
    for (const [name, v] of [['maxBuckets', maxBuckets], ['maxBytes', maxBytes], ['flushEvery', flushEvery]] as const) {
      if (!(v === Infinity || (Number.isInteger(v) && v > 0))) throw invalidOption(name, 'a positive integer', v);
    }
    if (!(Number.isInteger(skipBefore) && skipBefore >= 0)) throw invalidOption('skipBefore', 'a non-negative integer', skipBefore);
    this.timezone = options.timezone ?? 'UTC';
    this.zone = TimeZone.of(this.timezone);
    if (options.spillDir !== undefined && !(typeof options.spillDir === 'string' && options.spillDir.length > 0)) throw invalidOption('spillDir', 'a folder path', options.spillDir);
    if (options.spillDir !== undefined && flushEvery !== Infinity) throw invalidOption('spillDir', 'left out when flushEvery is set (each checkpoint writes its rows)', options.spillDir);
    this.spillDir = options.spillDir ?? null;
    this.topN = topN;
    this.maxBuckets = maxBuckets;
    this.maxBytes = maxBytes;
    this.flushEvery = flushEvery;
    this.skipBefore = skipBefore;
    this.aggregating = options.aggregate ?? true;
  }

  /** Hour buckets held in memory. */
  get bucketsHeld(): number {
    return this.held;
  }

  /**
   * Whether a limit says to flush now: flushEvery events since the last
   * flush, or maxBytes (looked at every 1024 events). Limits are checked at
   * event counts, never at batch ends, so flushes fall on the same events
   * however the input was batched (a resumed import repeats them exactly).
   */
  get full(): boolean {
    return this.due;
  }

  /** Undoes the count of page view k (its hour must wait for a flush); returns k, to be taken again. */
  private putBack(k: number, position: number): number {
    this.position = position;
    this.events--;
    this.sinceFlush--;
    this.pageViews--;
    this.due = false;
    return k;
  }

  /** A page view of hour h: its hour, day and month. */
  private viewed(h: number): void {
    const views = this.views;
    views[h]++;
    views[this.dayOf[h]]++;
    views[this.monthOf[h]]++;
  }

  /** Counts a taken event and checks the limits. */
  private counted(): void {
    this.events++;
    const n = ++this.sinceFlush;
    if (n >= this.flushEvery || ((n & (CHECK_EVERY - 1)) === 0 && this.maxBytes !== Infinity && this.bytesAhead() >= this.maxBytes)) this.due = true;
  }

  /**
   * The most bytes the aggregates may take before the next look at the
   * limit (an event adds at most one pair to each table): a table that would
   * grow meanwhile counts its old and new slots together. So a flush comes
   * before a growth that would pass maxBytes, not just after it (the grown
   * table would be flushed at once, and the growth would have held the old
   * slots and twice as many new ones).
   */
  private bytesAhead(): number {
    const tables = (this.hostlessRefs?.bytesWhileAdding(CHECK_EVERY) ?? 0) + this.visitors.bytesWhileAdding(CHECK_EVERY) + this.pages.bytesWhileAdding(CHECK_EVERY) + this.refs.bytesWhileAdding(CHECK_EVERY);
    return tables + this.otherBytes();
  }

  /** Bytes of the bucket arrays and names. */
  private otherBytes(): number {
    return this.buckets * 100 + this.namesBytes();
  }

  private namesBytes(): number {
    return (this.paths.names.length + this.refNames.names.length) * 120;
  }

  /** Approximate bytes held by the aggregates (tables, bucket arrays, names). */
  get memoryBytes(): number {
    return (this.hostlessRefs?.bytes ?? 0) + this.visitors.bytes + this.pages.bytes + this.refs.bytes + this.otherBytes();
  }

  addWebsites(websites: readonly UmamiWebsite[]): void {
    for (const w of websites) this.domains.set(w.id, w.domain ? w.domain.toLowerCase() : null);
  }

  private newBucket(kind: number, site: SiteBuckets, key: number): number {
    const id = this.buckets++;
    this.kind[id] = kind;
    this.key[id] = key;
    this.views[id] = 0;
    this.dayOf[id] = -1;
    this.monthOf[id] = -1;
    return id;
  }

  private hourBucket(site: SiteBuckets, start: number, local: number): number {
    const h = this.newBucket(KIND_HOUR, site, start);
    site.hours.set(Math.floor(start / 60000) | 0, h);
    const day = Math.floor(local / DAY);
    let d = site.days.get(day);
    if (d === undefined) {
      d = this.newBucket(KIND_DAY, site, day);
      site.days.set(day, d);
    }
    const month = monthOfDay(day);
    let mo = site.months.get(month);
    if (mo === undefined) {
      mo = this.newBucket(KIND_MONTH, site, month);
      site.months.set(month, mo);
    }
    this.dayOf[h] = d;
    this.monthOf[h] = mo;
    this.held++;
    return h;
  }

  /** The site's buckets, made on first use. */
  private siteOf(id: string): SiteBuckets {
    let site = this.sites.get(id);
    if (site === undefined) {
      site = { id, hours: new HourIndex(), days: new Map(), months: new Map() };
      this.sites.set(id, site);
    }
    return site;
  }

  /** The hour bucket of instant t (made with its day and month on first use); -1 when maxBuckets are held. */
  private hourOf(site: SiteBuckets, t: number): number {
    const zone = this.zone;
    const offset = zone.fixedOffset !== null ? zone.fixedOffset : zone.offsetAt(t);
    const local = t + offset;
    // Without a double's % (an x87 remainder loop): for whole milliseconds within a Date's range
    // (|local| <= 8.64e15), local / HOUR never rounds up to the next whole hour.
    const start = Math.floor(local / HOUR) * HOUR - offset;
    // Minutes since the epoch: an integer key (hour starts of zones with odd offsets fall within a minute).
    const h = site.hours.get(Math.floor(start / 60000) | 0);
    if (h !== undefined) return h;
    if (this.held >= this.maxBuckets) return -1;
    return this.hourBucket(site, start, local);
  }

  /**
   * Aggregates packed events (from the parser's worker thread) from index
   * `from` on; returns like {@link add}.
   */
  addPacked(batch: PackedEventBatch, from = 0, to = batch.count): number {
    // The packer's names in this aggregator's (looked up again after a flush forgot them).
    const src = this.sourceOf(batch);
    const sites = src.site;
    const paths = src.path;
    const refs = src.ref;
    const { site, visitor, time, eventType, path, ref, refKind, offset } = batch;
    for (let k = from; k < to; k++) {
      if (this.due) return k;
      const before = this.position;
      if (!this.admit(offset[k], eventType[k])) continue;
      const h = this.hourOf((sites[site[k]] ??= this.siteOf(src.sites[site[k]])), time[k]);
      if (h < 0) return this.putBack(k, before);
      let p = paths[path[k]];
      if (p < 0) p = paths[path[k]] = this.paths.id(src.paths[path[k]]);
      const kind = refKind[k];
      let r = -1;
      if (kind !== REF_NONE) {
        r = refs[ref[k]];
        if (r < 0) r = refs[ref[k]] = this.refNames.id(src.refs[ref[k]]);
      }
      this.tally(h, visitor[k], p, kind, r);
    }
    return to;
  }

  /** The names of the batch's packer, with this batch's added and room to look each up. */
  private sourceOf(batch: PackedEventBatch): PackedSource {
    let src = batch.source === undefined ? undefined : this.sources.get(batch.source);
    if (src === undefined || batch.reset === true || batch.source === undefined) {
      src = { sites: [], paths: [], refs: [], site: [], path: new Int32Array(0), ref: new Int32Array(0), mapped: this.resets };
      // A batch without a source stands alone: its names are all it uses.
      if (batch.source !== undefined) {
        this.sources.delete(batch.source);
        // The names of packers long gone are dropped (a batch of one of them would fail as out of order).
        if (this.sources.size >= SOURCES_KEPT) this.sources.delete(this.sources.keys().next().value!);
        this.sources.set(batch.source, src);
      }
    }
    appendNames('website ids', src.sites, batch.sites, batch.siteBase ?? 0);
    appendNames('paths', src.paths, batch.paths, batch.pathBase ?? 0);
    appendNames('referrers', src.refs, batch.refs, batch.refBase ?? 0);
    if (src.mapped !== this.resets) {
      src.site = [];
      src.path.fill(-1);
      src.ref.fill(-1);
      src.mapped = this.resets;
    }
    src.path = roomFor(src.path, src.paths.length);
    src.ref = roomFor(src.ref, src.refs.length);
    // Room for every site id too: a read past the array's end threw away addPacked's optimised code.
    for (let k = src.site.length; k < src.sites.length; k++) src.site.push(undefined);
    return src;
  }

  /**
   * Counts an event at byte `at` and moves the position past it; true when it
   * is a page view to aggregate (not before skipBefore, not a custom event).
   */
  private admit(at: number, eventType: number): boolean {
    if (at >= this.position) this.position = at + 1;
    if (at < this.skipBefore) {
      this.skipped++;
      return false;
    }
    this.counted();
    if (eventType !== 1 || !this.aggregating) return false;
    this.pageViews++;
    return true;
  }

  /** A page view of hour h: its views, visitor, path id p and referrer id r (counted as `kind` says). */
  private tally(h: number, visitor: number, p: number, kind: number, r: number): void {
    this.viewed(h);
    this.visitors.add(h, visitor);
    this.pages.add(h, p, 1);
    if (kind === REF_COUNTED) this.refs.add(h, r, 1);
    else if (kind === REF_HOSTLESS) (this.hostlessRefs ??= new PairCounter()).add(h, r, 1);
  }

  /**
   * Aggregates events from index `from` on. Stops early, returning the index
   * of the first event not taken, when a new hour bucket would exceed
   * maxBuckets or when {@link full} (flush, then call again); returns
   * events.length when done.
   */
  add(events: readonly UmamiEvent[], from = 0, to = events.length): number {
    let lastId: string | null = null;
    let site: SiteBuckets | undefined;
    for (let k = from; k < to; k++) {
      if (this.due) return k;
      const e = events[k];
      const before = this.position;
      if (!this.admit(e.offset, e.eventType)) continue;
      if (e.websiteId !== lastId) {
        lastId = e.websiteId;
        site = this.siteOf(lastId);
      }
      const h = this.hourOf(site!, e.createdAt);
      if (h < 0) return this.putBack(k, before);
      const kind = refKindOf(e.referrerDomain, e.hostname);
      this.tally(h, hash53(e.sessionId), this.paths.id(e.urlPath), kind, kind === REF_NONE ? -1 : this.refNames.id(e.referrerDomain!));
    }
    return to;
  }

  /**
   * The path and referrer names the next flush's plan will hold (its `paths` and `refNames`,
   * the same arrays), as long as no events are added before it: null when that flush merges
   * spilled runs (whose names are made then).
   */
  nextPlanNames(): { paths: readonly string[]; refNames: readonly string[] } | null {
    if (this.runs.length > 0) return null;
    return { paths: this.paths.names, refNames: this.refNames.names };
  }

  /**
   * Hands over every bucket held and forgets them. `final` marks the end of
   * input. A flush with nothing held still hands over a batch (no rows): it
   * carries the position reached, for a checkpoint.
   */
  flush(final: boolean): BucketBatch {
    if (this.spillFailure !== null) throw this.spillFailure;
    if (this.runs.length > 0) return this.mergedFlush(final);
    const plan = this.plan();
    this.reset();
    this.flushes++;
    this.bucketsEmitted += plan.counts.hour + plan.counts.day + plan.counts.month;
    const shared = this.shared;
    const release = final ? undefined : (): void => this.reuse(plan.visitors.values, plan.pages.pairs, plan.refs.pairs);
    return {
      kind: 'buckets',
      counts: plan.counts,
      final,
      position: this.position,
      events: this.events,
      release,
      plan,
      chunks: (size: number) => encodedChunks(plan, size, shared),
    };
  }

  /** The tables grouped by hour bucket, with the names and the buckets' order: what the rows are made of. */
  private plan(): FlushPlan {
    const n = this.buckets;
    // No entries past the buckets (hoursOf reads the arrays' length; the plan copies keys and views).
    for (const a of [this.kind, this.key, this.views, this.dayOf, this.monthOf]) a.length = n;
    const keys = this.key;
    const order: Record<Granularity, PlannedSite[]> = { hour: [], day: [], month: [] };
    const counts: Record<Granularity, number> = { hour: 0, day: 0, month: 0 };
    for (const id of [...this.sites.keys()].sort()) {
      const site = this.sites.get(id)!;
      const domain = this.domains.get(id) ?? null;
      const held: Array<[Granularity, number[]]> = [['hour', site.hours.values()], ['day', [...site.days.values()]], ['month', [...site.months.values()]]];
      for (const [g, ids] of held) {
        const buckets = ids.sort((a, b) => keys[a] - keys[b]);
        order[g].push({ id, domain, buckets });
        counts[g] += buckets.length;
      }
    }
    return {
      counts,
      order,
      keys: Float64Array.from(keys),
      views: Float64Array.from(this.views),
      // Group the shared tables by hour.
      visitors: this.visitors.group(n),
      pages: this.pages.group(n),
      refs: this.refs.group(n),
      hostlessRefs: this.hostlessRefs?.group(n) ?? null,
      hours: hoursOf(this.kind, this.dayOf, this.monthOf),
      paths: this.paths.names,
      refNames: this.refNames.names,
      topN: this.topN,
    };
  }

  /**
   * With spillDir: writes the hour buckets held to a run file and empties
   * the tables (their memory reused; names kept), so events can be taken
   * again; true. False (flush instead) without spillDir, or when the names
   * kept take half of maxBytes (a flush forgets them).
   */
  spill(): boolean {
    if (this.spillFailure !== null) throw this.spillFailure;
    // Names are kept across spills: once they take half the limit, a spill would free too
    // little (and come again at once). A flush instead writes what is held and forgets them.
    if (this.spillDir === null || 2 * this.namesBytes() >= this.maxBytes) return false;
    this.spillHeld();
    this.due = false;
    return true;
  }

  /** Writes the hour buckets held (if any) to a new run and empties the tables. */
  private spillHeld(): void {
    const n = this.buckets;
    if (n === 0) return;
    if (this.spillDir === null) throw new Error('nowhere to spill');
    this.spillFolder ??= makeSpillFolder(this.spillDir);
    const file = path.join(this.spillFolder, `run-${this.spills}.bin`);
    const vis = this.visitors.group(n);
    const pg = this.pages.group(n);
    const rf = this.refs.group(n);
    const hl = this.hostlessRefs?.group(n) ?? null;
    const keys = this.key;
    const sites = [...this.sites.keys()].sort();
    let writer: RunWriter | null = null;
    try {
      writer = new RunWriter(file);
      for (let s = 0; s < sites.length; s++) {
        const hours = this.sites.get(sites[s])!.hours.values().sort((a, b) => keys[a] - keys[b]);
        for (const h of hours) {
          writer.record(
            s,
            keys[h],
            keys[this.dayOf[h]],
            this.views[h],
            vis.values.subarray(vis.start[h], vis.start[h + 1]),
            pg.pairs.subarray(2 * pg.start[h], 2 * pg.start[h + 1]),
            rf.pairs.subarray(2 * rf.start[h], 2 * rf.start[h + 1]),
            hl === null ? NO_PAIRS : hl.pairs.subarray(2 * hl.start[h], 2 * hl.start[h + 1]),
          );
        }
      }
      writer.close();
      writer = null;
    } catch (err) {
      // The tables were emptied into the run: what they held is gone with it.
      this.spillFailure = err as Error;
      this.due = true;
      try {
        writer?.close();
      } catch {
        // the first error is the one to report
      }
      throw err;
    }
    this.runs.push({ file, sites, level: 0 });
    this.spills++;
    this.compactRuns();
    // Empty tables in the memory of the spilled ones; the names stay, and with them the
    // packers' name ids looked up so far (their websites are looked up again).
    this.clearBuckets(true);
    this.visitors = new PairSet(0, slotsOf(vis.values));
    this.pages = new PairCounter(0, slotsOf(pg.pairs));
    this.refs = new PairCounter(0, slotsOf(rf.pairs));
    for (const src of this.sources.values()) src.site = [];
  }

  /**
   * Keeps the runs few (a merge reads every run at once): whenever the last
   * {@link RUNS_MERGED} runs are of one level, they are merged into one run
   * of the next level, so each spilled record is rewritten about once per
   * eightfold growth of the spills, not at every merge.
   */
  private compactRuns(): void {
    for (;;) {
      const runs = this.runs;
      const n = runs.length;
      if (n < RUNS_MERGED) return;
      const level = runs[n - 1].level;
      if (!runs.slice(n - RUNS_MERGED).every((r) => r.level === level)) return;
      const file = path.join(this.spillFolder!, `run-${this.spills}-${level + 1}.bin`);
      this.runs = [...runs.slice(0, n - RUNS_MERGED), mergeRuns(runs.slice(n - RUNS_MERGED), file, level + 1)];
    }
  }

  /** Removes the run files (the folder made in spillDir), if any. */
  disposeSpills(): void {
    const folder = this.spillFolder;
    this.spillFolder = null;
    this.runs = [];
    if (folder !== null) removeSpillFolder(folder);
  }

  /**
   * The last flush after spills: what is held is spilled too, and the batch
   * merges the runs. Its chunks read them again each time they are asked
   * for: a website's records in hour order are aggregated a month at a time
   * (local days nest in local months) by a slice aggregator sharing this
   * one's names, hour rows handed out as each slice is done, its day and
   * month rows kept in files until the hours of every website are out.
   */
  private mergedFlush(final: boolean): BucketBatch {
    this.spillHeld();
    const runs = this.runs;
    const folder = this.spillFolder!;
    const counts = countMerged(runs);
    // The runs and their folder now belong to the batch (removed by its release, or at exit).
    this.runs = [];
    this.spillFolder = null;
    const { paths, refNames, domains, timezone, topN } = this;
    const shared: PlanShared = {
      pathOrder: new NameOrder(paths.names),
      refOrder: new NameOrder(refNames.names),
      pathTally: new Tally(paths.names.length),
      refTally: new Tally(refNames.names.length),
    };
    // Slice aggregators, kept for the next slices: their tables reuse their memory.
    const idle: Aggregator[] = [];
    const takeSlice = (): Aggregator => {
      const a = idle.pop() ?? new Aggregator({ timezone, topN });
      a.paths = paths;
      a.refNames = refNames;
      a.domains = domains;
      a.shared = shared;
      return a;
    };
    const position = this.position;
    const events = this.events;
    this.reset();
    this.flushes++;
    this.bucketsEmitted += counts.hour + counts.day + counts.month;
    let released = false;
    return {
      kind: 'buckets',
      counts,
      final,
      position,
      events,
      release: () => {
        released = true;
        removeSpillFolder(folder);
      },
      *chunks(size: number): Generator<BucketChunk> {
        if (released) throw new Error('the rows of spilled aggregates were asked for after their batch was released');
        const later: Record<'day' | 'month', RowFile | null> = { day: null, month: null };
        let merger: RunMerger | null = null;
        // Open slices of the current website by month (a month stays open a day past its end:
        // around a DST change, local time may step back across midnight).
        let site: string | null = null;
        const open = new Map<number, { lastDay: number; a: Aggregator }>();
        const close = function* (month: number): Generator<BucketChunk> {
          const slice = open.get(month)!;
          open.delete(month);
          // Rows are made a chunk at a time: hours handed out, days and months kept for later.
          const batch = slice.a.flush(false);
          for (const c of batch.chunks(size)) {
            if (c.granularity === 'hour') {
              yield c;
              continue;
            }
            for (const r of c.rows) later[c.granularity]!.write([r.websiteId, r.bucket, r.pageViews, r.topPages, r.referrers], r.visitors.serialize());
          }
          batch.release?.();
          idle.push(slice.a);
        };
        try {
          later.day = new RowFile(path.join(folder, 'days.bin'));
          later.month = new RowFile(path.join(folder, 'months.bin'));
          merger = new RunMerger(runs);
          // Records of one hour go to one slice: the month of the hour's day (its first record's).
          let slice: { lastDay: number; a: Aggregator } | undefined;
          for (let r = merger.next(); r !== null; r = merger.next()) {
            if (r.site !== site) {
              for (const m of [...open.keys()].sort((x, y) => x - y)) yield* close(m);
              site = r.site;
            }
            if (merger.firstOfHour) {
              const day = merger.day;
              for (const [m, s] of [...open].sort((x, z) => x[0] - z[0])) if (s.lastDay + 1 < day) yield* close(m);
              const month = monthOfDay(day);
              slice = open.get(month);
              if (slice === undefined) {
                slice = { lastDay: firstDayOfMonth(month + 1) - 1, a: takeSlice() };
                open.set(month, slice);
              }
            }
            slice!.a.takeRecord(r, merger.day);
          }
          for (const m of [...open.keys()].sort((x, y) => x - y)) yield* close(m);
          later.day.end();
          later.month.end();
          for (const g of ['day', 'month'] as const) {
            let rows: BucketRow[] = [];
            for (const [v, sketch] of later[g]!.read()) {
              const [websiteId, bucket, pageViews, topPages, referrers] = v as [string, string, number, TopEntry[], TopEntry[]];
              rows.push({ websiteId, bucket, pageViews, visitors: VisitorSketch.deserialize(sketch), topPages, referrers });
              if (rows.length === size) {
                yield { granularity: g, rows };
                rows = [];
              }
            }
            if (rows.length > 0) yield { granularity: g, rows };
          }
        } finally {
          merger?.close();
          later.day?.end();
          later.month?.end();
        }
      },
    };
  }

  /** Adds a run's hour record, of an hour on local day `day`, to this (slice) aggregator. */
  private takeRecord(r: RunReader, day: number): void {
    const site = this.siteOf(r.site);
    const start = r.start;
    let h = site.hours.get(Math.floor(start / 60000) | 0);
    if (h === undefined) h = this.hourBucket(site, start, day * DAY);
    const views = this.views;
    views[h] += r.views;
    views[this.dayOf[h]] += r.views;
    views[this.monthOf[h]] += r.views;
    const { f64, i32 } = r;
    for (let i = r.hashAt, end = i + r.hashCount; i < end; i++) this.visitors.add(h, f64[i]);
    for (let k = 2 * r.pageAt, end = 2 * r.refAt; k < end; k += 2) this.pages.add(h, i32[k], i32[k + 1]);
    for (let k = 2 * r.refAt, end = 2 * r.hostlessAt; k < end; k += 2) this.refs.add(h, i32[k], i32[k + 1]);
    if (r.pairsEnd > r.hostlessAt) {
      const t = (this.hostlessRefs ??= new PairCounter());
      for (let k = 2 * r.hostlessAt, end = 2 * r.pairsEnd; k < end; k += 2) t.add(h, i32[k], i32[k + 1]);
    }
  }

  /**
   * The tables of a flush, no longer read: the tables still empty take over
   * their memory (cleared), at the capacity the flush reached.
   */
  private reuse(visitors: Float64Array, pages: Int32Array, refs: Int32Array): void {
    if (this.visitors.size === 0) this.visitors = new PairSet(0, slotsOf(visitors));
    if (this.pages.size === 0) this.pages = new PairCounter(0, slotsOf(pages));
    if (this.refs.size === 0) this.refs = new PairCounter(0, slotsOf(refs));
  }

  /**
   * No bucket held: sites, bucket arrays and the referrers without a hostname
   * forgotten. `refill`: the arrays are kept and filled again (nothing else holds them).
   */
  private clearBuckets(refill = false): void {
    this.sites = new Map();
    this.buckets = 0;
    if (!refill) {
      this.kind = [];
      this.key = [];
      this.views = [];
      this.dayOf = [];
      this.monthOf = [];
    }
    this.hostlessRefs = null;
    this.held = 0;
  }

  private reset(): void {
    this.clearBuckets();
    this.visitors = new PairSet();
    this.pages = new PairCounter();
    this.refs = new PairCounter();
    this.paths = new Names();
    this.refNames = new Names();
    this.resets++;
    this.sinceFlush = 0;
    this.due = false;
  }
}

const NO_PAIRS = new Int32Array(0);
/** Runs of one level merged into one of the next. */
const RUNS_MERGED = 8;


/** Each day's and month's hour buckets: `hours[start[b]..start[b + 1]]`. */
function hoursOf(kind: readonly number[], dayOf: readonly number[], monthOf: readonly number[]): { start: Int32Array; hours: Int32Array } {
  const n = kind.length;
  const start = new Int32Array(n + 1);
  for (let h = 0; h < n; h++) {
    if (kind[h] !== KIND_HOUR) continue;
    start[dayOf[h] + 1]++;
    start[monthOf[h] + 1]++;
  }
  for (let b = 0; b < n; b++) start[b + 1] += start[b];
  const fill = start.slice(0, n);
  const hours = new Int32Array(start[n]);
  for (let h = 0; h < n; h++) {
    if (kind[h] !== KIND_HOUR) continue;
    hours[fill[dayOf[h]]++] = h;
    hours[fill[monthOf[h]]++] = h;
  }
  return { start, hours };
}

/** Stage 3 as a stream: {@link ParsedBatch}es in; {@link BucketBatch}es (and the websites, passed on) out. */
export class AggregatorStream extends Transform {
  readonly aggregator: Aggregator;
  private readonly forwardEvents: boolean;
  private readonly waitForRelease: boolean;
  private readonly chunkSize: number;
  /** See {@link AggregatorOptions.buildRows}; may be set until the input ends. */
  buildRows: ((plan: FlushPlan, size: number) => AsyncIterable<BucketChunk>) | null;
  /**
   * Given with {@link buildRows}: called at the end of the input, before the last flush groups
   * its tables, with the names its plan will hold, so that the builder can order them meanwhile.
   */
  prepareRows: ((paths: readonly string[], refNames: readonly string[]) => void) | null = null;

  constructor(options: AggregatorOptions = {}) {
    super({ objectMode: true, highWaterMark: 4 });
    this.aggregator = new Aggregator(options);
    this.forwardEvents = options.forwardEvents ?? false;
    this.waitForRelease = options.waitForRelease ?? false;
    this.chunkSize = options.chunkSize ?? 10_000;
    this.buildRows = options.buildRows ?? null;
    if (!(Number.isInteger(this.chunkSize) && this.chunkSize > 0)) throw invalidOption('chunkSize', 'a positive integer', this.chunkSize);
  }

  override _transform(batch: ParsedBatch | PackedEventBatch, _enc: BufferEncoding, cb: TransformCallback): void {
    if (batch.kind === 'packed') return this.takePacked(batch, cb);
    if (batch.kind === 'websites') {
      this.aggregator.addWebsites(batch.websites);
      this.push(batch);
      return cb();
    }
    if (batch.kind !== 'events') {
      this.push(batch);
      return cb();
    }
    const a = this.aggregator;
    const events = batch.events;
    if (this.forwardEvents) {
      // Downstream (raw storage) sees the events before any flush that includes them.
      const taken = a.skipBefore > 0 ? events.filter((e) => e.offset >= a.skipBefore) : events;
      if (taken.length > 0) this.push(taken === events ? batch : { kind: 'events', events: taken });
    }
    this.takeInChunks(events.length, (from, to) => a.add(events, from, to), () => cb());
  }

  private takePacked(batch: PackedEventBatch, cb: TransformCallback): void {
    const a = this.aggregator;
    if (this.forwardEvents) return cb(invalidOption('forwardEvents', 'false for packed event batches (they hold no raw events)', true));
    this.takeInChunks(
      batch.count,
      (from, to) => a.addPacked(batch, from, to),
      () => {
        // Read for the last time: its memory may go back to its producer.
        batch.release?.();
        cb();
      },
    );
  }

  /**
   * Events are taken a chunk at a time, with `aggregated` after each chunk
   * (progress), flushing whenever the aggregator stops early or is full;
   * `done` once all are taken. With waitForRelease, taking stops after a
   * flush until its batch is released.
   */
  private takeInChunks(count: number, add: (from: number, to: number) => number, done: () => void): void {
    const a = this.aggregator;
    let i = 0;
    let end = -1;
    const go = (): void => {
      if (this.destroyed) return;
      for (;;) {
        if (end < 0) {
          if (i >= count) return done();
          const seen = a.events + a.skipped;
          end = Math.min(count, i + this.chunkSize - (seen % this.chunkSize));
        }
        while (i < end) {
          i = add(i, end);
          if (i < end || a.full) {
            // Over a limit: spilled (with spillDir) or flushed.
            let spilled: boolean;
            try {
              spilled = a.spill();
            } catch (err) {
              this.destroy(err as Error);
              return;
            }
            if (spilled) continue;
            const batch = a.flush(false);
            if (this.waitForRelease && batch.release) {
              const release = batch.release;
              batch.release = () => {
                batch.release = undefined;
                release();
                setImmediate(go);
              };
              this.push(batch);
              return;
            }
            this.push(batch);
          }
        }
        this.emit('aggregated', a);
        end = -1;
      }
    };
    go();
  }

  override _flush(cb: TransformCallback): void {
    let batch: BucketBatch;
    try {
      const names = this.buildRows !== null && this.prepareRows !== null ? this.aggregator.nextPlanNames() : null;
      if (names !== null) this.prepareRows!(names.paths, names.refNames);
      batch = this.aggregator.flush(true);
    } catch (err) {
      return cb(err as Error);
    }
    const build = this.buildRows;
    const plan = batch.plan;
    if (build && plan) {
      // The plan's arrays may move to the builder's thread: rows from here would read emptied arrays.
      batch.chunks = () => {
        throw new Error('the rows of this batch are built elsewhere: read them with chunksAsync()');
      };
      batch.chunksAsync = (size) => build(plan, size);
    }
    this.push(batch);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.aggregator.disposeSpills();
    cb(err);
  }
}

/** Stage 3: a Transform from event batches to bucket batches. */
export function createAggregator(options: AggregatorOptions = {}): AggregatorStream {
  return new AggregatorStream(options);
}
