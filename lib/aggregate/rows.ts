/**
 * The rows of a flush, built from a {@link FlushPlan}: the aggregator's
 * tables grouped by hour bucket, with the names and the buckets' order.
 * Plain data (typed arrays, strings, numbers), so the rows can be built on
 * another thread than the one that aggregated: an import into SQLite makes
 * their costly parts ({@link planParts}) on a second worker thread while the
 * main thread writes them.
 */
import { VisitorSketch } from './distinct.js';
import type { Grouped } from './tables.js';
import { formatDay, formatMonth, formatUtc } from './timezone.js';
import { type TopEntry, compareCodePoints, engineOrderIsCodePointOrder, topOfEntries } from './toplist.js';
import type { BucketChunk, BucketRow, Granularity } from './aggregator.js';

/** The buckets of one website in one granularity, in the order their rows are written. */
export interface PlannedSite {
  id: string;
  /** The website's domain (hostless referrers naming it are left out), or null. */
  domain: string | null;
  buckets: number[];
}

/**
 * What a flush's rows are made from. Bucket b: its kind's key in `keys[b]`
 * (hour start in ms, local day or month number), its page views in
 * `views[b]`; hour buckets' visitor hashes and (item, count) pairs grouped by
 * bucket; days and months list their hours in `hours`.
 */
export interface FlushPlan {
  counts: Record<Granularity, number>;
  order: Record<Granularity, PlannedSite[]>;
  /** Typed arrays (not moved with the plan, copied): a message of plain arrays of numbers took 11 ms to read on the rows thread for the 53,000 buckets of a 1M-event import, typed 0.2 ms. */
  keys: Float64Array;
  views: Float64Array;
  visitors: { start: Int32Array; values: Float64Array };
  pages: Grouped;
  refs: Grouped;
  hostlessRefs: Grouped | null;
  hours: { start: Int32Array; hours: Int32Array };
  paths: readonly string[];
  refNames: readonly string[];
  topN: number;
}

/** Name orders and tallies a caller may share between plans over the same names (slices of a merge), or make before its plan comes. */
export interface PlanShared {
  pathOrder: NameOrder;
  refOrder: NameOrder;
  pathTally: Tally;
  refTally: Tally;
}

/** The granularities in the order a flush hands out their rows. */
export const GRANULARITIES: readonly Granularity[] = ['hour', 'day', 'month'];

/** The sketches and top lists of a plan's buckets (the rest of a row is read from the plan). */
class RowMaker {
  readonly pathOrder: NameOrder;
  readonly refOrder: NameOrder;
  private readonly pathTally: Tally;
  private readonly refTally: Tally;
  private readonly union = new Union();

  constructor(
    private readonly plan: FlushPlan,
    shared: PlanShared | null,
  ) {
    this.pathOrder = shared?.pathOrder ?? new NameOrder(plan.paths);
    this.refOrder = shared?.refOrder ?? new NameOrder(plan.refNames);
    this.pathTally = shared?.pathTally ?? new Tally(plan.paths.length);
    this.refTally = shared?.refTally ?? new Tally(plan.refNames.length);
  }

  visitors(b: number, g: Granularity): VisitorSketch {
    const { visitors: vis, hours } = this.plan;
    if (g === 'hour') return VisitorSketch.fromHashes(vis.values.slice(vis.start[b], vis.start[b + 1]));
    return VisitorSketch.fromHashes(this.union.of(vis, hours.hours, hours.start[b], hours.start[b + 1]));
  }

  /** Picks the bucket's top pages into pathOrder's list; returns how many. */
  pages(b: number, g: Granularity): number {
    const { pages, hours, topN } = this.plan;
    if (g === 'hour') return topOfHour(pages, b, this.pathOrder, topN);
    return sumTop(this.pathTally, pages, null, hours.start[b], hours.start[b + 1], hours.hours, this.pathOrder, null, topN);
  }

  /** Picks the bucket's top referrers into refOrder's list; returns how many. */
  referrers(b: number, g: Granularity, domain: string | null): number {
    const { refs: rf, hostlessRefs: hl, hours, topN } = this.plan;
    if (g !== 'hour') return sumTop(this.refTally, rf, hl, hours.start[b], hours.start[b + 1], hours.hours, this.refOrder, domain, topN);
    if (hl === null || hl.start[b + 1] === hl.start[b]) return topOfHour(rf, b, this.refOrder, topN);
    return sumTop(this.refTally, rf, hl, b, b + 1, null, this.refOrder, domain, topN);
  }
}

const LABEL: Record<Granularity, (key: number) => string> = { hour: formatUtc, day: formatDay, month: formatMonth };

/** The plan's buckets in the order their rows are written: hours, then days, then months, each by website, then bucket. */
export function* planBuckets(plan: FlushPlan): Generator<{ granularity: Granularity; site: PlannedSite; b: number }> {
  for (const granularity of GRANULARITIES) {
    for (const site of plan.order[granularity]) {
      for (const b of site.buckets) yield { granularity, site, b };
    }
  }
}

/**
 * The plan's buckets with hours, days and months interleaved: each
 * granularity's rows in {@link planBuckets}' order, spread evenly over the
 * whole (the next row is of the granularity least far through its rows).
 * Hour rows cost more to write than to make, day and month rows the
 * reverse: written by one thread as another makes them, in this order both
 * threads work throughout, where after all the hours one would wait for
 * the other. Not a global lock order for concurrent writers: for SQLite,
 * which has one writer at a time.
 */
export function* planBucketsInterleaved(plan: FlushPlan): Generator<{ granularity: Granularity; site: PlannedSite; b: number }> {
  // Totals from the buckets themselves (a plan made elsewhere may count them otherwise).
  const cursors = GRANULARITIES.map((g) => new BucketCursor(g, plan.order[g], plan.order[g].reduce((n, site) => n + site.buckets.length, 0)));
  for (;;) {
    let next: BucketCursor | null = null;
    // Least far through its rows, counting the next one as half taken: (taken + 1/2) / total.
    for (const c of cursors) if (c.taken < c.total && (next === null || (c.taken + 0.5) * next.total < (next.taken + 0.5) * c.total)) next = c;
    if (next === null) return;
    yield next.take();
  }
}

/** Walks one granularity's buckets, website after website. */
class BucketCursor {
  taken = 0;
  private s = -1;
  private k = 0;
  /**
   * The current website's buckets; none before the first: the first take() moves on to the next
   * website, so that path is known before the code is optimised (met first halfway through, it
   * threw that code away on both threads).
   */
  private buckets: readonly number[] = [];

  constructor(
    readonly granularity: Granularity,
    private readonly sites: PlannedSite[],
    readonly total: number,
  ) {}

  take(): { granularity: Granularity; site: PlannedSite; b: number } {
    while (this.k >= this.buckets.length) {
      this.s++;
      this.k = 0;
      this.buckets = this.sites[this.s].buckets;
    }
    this.taken++;
    return { granularity: this.granularity, site: this.sites[this.s], b: this.buckets[this.k++] };
  }
}

/** Bucket b's label: `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD` or `YYYY-MM`. */
export function bucketLabel(plan: FlushPlan, granularity: Granularity, b: number): string {
  return LABEL[granularity](plan.keys[b]);
}

const NO_CHUNKS: readonly BucketChunk[] = [];

/**
 * Rows given with their granularities interleaved, gathered into chunks of
 * `size`, each of one granularity: each granularity's rows are gathered
 * apart, and its chunks cut when full (the rest at the end).
 */
export class ChunkGatherer {
  private ready: BucketChunk[] = [];
  private readonly apart: Record<Granularity, BucketRow[]> = { hour: [], day: [], month: [] };

  constructor(private readonly size: number) {}

  add(granularity: Granularity, row: BucketRow): void {
    const rows = this.apart[granularity];
    rows.push(row);
    if (rows.length === this.size) {
      this.ready.push({ granularity, rows });
      this.apart[granularity] = [];
    }
  }

  /** The rows left, as last chunks. */
  end(): void {
    for (const granularity of GRANULARITIES) {
      const rows = this.apart[granularity];
      if (rows.length > 0) this.ready.push({ granularity, rows });
      this.apart[granularity] = [];
    }
  }

  /** The chunks completed since the last call, in order. */
  take(): readonly BucketChunk[] {
    if (this.ready.length === 0) return NO_CHUNKS;
    const out = this.ready;
    this.ready = [];
    return out;
  }
}

/** Top lists of a chunk's rows: row i's items (indices into the plan's names) and counts at [ends[i − 1], ends[i]). */
export interface PickedLists {
  items: Int32Array;
  counts: Float64Array;
  ends: Int32Array;
}

/**
 * What {@link planParts} (or {@link planPartsInOrder}) makes of `rows` rows of a plan, in the order it takes them:
 * their distinct counts, sketches (bytes) and top lists. Typed arrays only,
 * each in a buffer of its own, so the chunk can move to another thread.
 */
export interface PlanPart {
  rows: number;
  uniqueVisitors: Float64Array;
  /** The sketches' bytes, one after another; row i's end at `sketchEnds[i]`. */
  sketches: Uint8Array;
  sketchEnds: Int32Array;
  pages: PickedLists;
  referrers: PickedLists;
}

/** The buffers of a part: what moves with it. */
export function partBuffers(p: PlanPart): ArrayBuffer[] {
  // A literal, not map(): see the keyed rows in store/upserter.ts.
  return [
    p.uniqueVisitors.buffer as ArrayBuffer,
    p.sketches.buffer as ArrayBuffer,
    p.sketchEnds.buffer as ArrayBuffer,
    p.pages.items.buffer as ArrayBuffer,
    p.pages.counts.buffer as ArrayBuffer,
    p.pages.ends.buffer as ArrayBuffer,
    p.referrers.items.buffer as ArrayBuffer,
    p.referrers.counts.buffer as ArrayBuffer,
    p.referrers.ends.buffer as ArrayBuffer,
  ];
}

/** Collects picked lists, row after row. */
class PickedWriter {
  private items = new Int32Array(1024);
  private counts = new Float64Array(1024);
  private n = 0;
  private readonly ends: Int32Array;
  private row = 0;

  constructor(rows: number) {
    this.ends = new Int32Array(rows);
  }

  add(order: NameOrder, k: number): void {
    if (this.n + k > this.items.length) {
      const size = Math.max(this.items.length * 2, this.n + k);
      const items = new Int32Array(size);
      const counts = new Float64Array(size);
      items.set(this.items.subarray(0, this.n));
      counts.set(this.counts.subarray(0, this.n));
      this.items = items;
      this.counts = counts;
    }
    // By a loop: two subarray views per row cost more than copying a top list's few entries.
    const { items, counts } = this;
    const picked = order.picked;
    const pickedCounts = order.pickedCounts;
    const n = this.n;
    for (let j = 0; j < k; j++) {
      items[n + j] = picked[j];
      counts[n + j] = pickedCounts[j];
    }
    this.n = n + k;
    this.ends[this.row++] = this.n;
  }

  done(rows: number): PickedLists {
    return { items: this.items.slice(0, this.n), counts: this.counts.slice(0, this.n), ends: this.ends.slice(0, rows) };
  }

  /** Starts again for the next part, keeping the arrays (done() copied what they held). */
  reset(): void {
    this.n = 0;
    this.row = 0;
  }
}

/** One part of a plan's rows being made (see {@link planParts}). */
class PartWriter {
  rows = 0;
  private bytes = 0;
  private readonly uniqueVisitors: Float64Array;
  private readonly sketchEnds: Int32Array;
  private readonly sketches: Uint8Array[];
  private readonly pages: PickedWriter;
  private readonly referrers: PickedWriter;

  constructor(size: number) {
    this.uniqueVisitors = new Float64Array(size);
    this.sketchEnds = new Int32Array(size);
    this.sketches = new Array(size);
    this.pages = new PickedWriter(size);
    this.referrers = new PickedWriter(size);
  }

  add(make: RowMaker, b: number, g: Granularity, domain: string | null): void {
    const i = this.rows++;
    const visitors = make.visitors(b, g);
    this.uniqueVisitors[i] = visitors.estimate();
    const bytes = visitors.serialize();
    this.sketches[i] = bytes;
    this.bytes += bytes.length;
    this.sketchEnds[i] = this.bytes;
    this.pages.add(make.pathOrder, make.pages(b, g));
    this.referrers.add(make.refOrder, make.referrers(b, g, domain));
  }

  done(): PlanPart {
    const n = this.rows;
    // A buffer of the part's own (serialize() may hand out slices of Node's shared pool): it can move.
    const all = new Uint8Array(this.bytes);
    for (let i = 0, at = 0; i < n; i++) {
      all.set(this.sketches[i], at);
      at += this.sketches[i].length;
    }
    return {
      rows: n,
      uniqueVisitors: this.uniqueVisitors.slice(0, n),
      sketches: all,
      sketchEnds: this.sketchEnds.slice(0, n),
      pages: this.pages.done(n),
      referrers: this.referrers.done(n),
    };
  }

  /** Starts again for the next part, keeping the arrays (done() copied what they held). */
  reset(): void {
    this.rows = 0;
    this.bytes = 0;
    this.sketches.fill(undefined as unknown as Uint8Array);
    this.pages.reset();
    this.referrers.reset();
  }
}

/**
 * The sketches and top lists of the plan's rows, `size` rows at a time, in
 * {@link planBucketsInterleaved}' order: the costly part of a flush's rows, made where the plan
 * is (another thread), the rest read from the plan where the rows are written. `shared`: orders
 * and tallies over the plan's names, made beforehand.
 */
export function* planParts(plan: FlushPlan, size: number, shared: PlanShared | null = null): Generator<PlanPart> {
  const make = new RowMaker(plan, shared);
  // One writer for every part: done() copies what it holds, and its arrays serve the next part. A
  // writer per part (four arrays and two 1,024-entry list writers each) had the thread building
  // the 1M-event import's rows grow glibc's heap all through the last flush: its peak was 4–6 MB
  // higher (10 and 6 runs by turns).
  const part = new PartWriter(size);
  for (const { granularity, site, b } of planBucketsInterleaved(plan)) {
    part.add(make, b, granularity, site.domain);
    if (part.rows === size) {
      yield part.done();
      part.reset();
    }
  }
  if (part.rows > 0) yield part.done();
}

/** Rows of one granularity in {@link planBuckets}' order: their websites and buckets, and what {@link planParts} makes of them. */
export interface OrderedPart {
  granularity: Granularity;
  sites: PlannedSite[];
  buckets: number[];
  part: PlanPart;
}

/**
 * The plan's rows as {@link planParts} makes them, but in {@link planBuckets}' order (hours,
 * days, months, each by website, then bucket: the order in which importers into a server take
 * row locks), `size` rows at most to a part and each part of one granularity.
 */
export function* planPartsInOrder(plan: FlushPlan, size: number, shared: PlanShared | null = null): Generator<OrderedPart> {
  const make = new RowMaker(plan, shared);
  const part = new PartWriter(size);
  let sites: PlannedSite[] = [];
  let buckets: number[] = [];
  let granularity: Granularity = 'hour';
  for (const next of planBuckets(plan)) {
    if (part.rows > 0 && (next.granularity !== granularity || part.rows === size)) {
      yield { granularity, sites, buckets, part: part.done() };
      part.reset();
      sites = [];
      buckets = [];
    }
    granularity = next.granularity;
    part.add(make, next.b, granularity, next.site.domain);
    sites.push(next.site);
    buckets.push(next.b);
  }
  if (part.rows > 0) yield { granularity, sites, buckets, part: part.done() };
}

/** The typed arrays' buffers of a plan (each once): what moves with it to another thread. */
export function planBuffers(plan: FlushPlan): ArrayBuffer[] {
  const arrays = [plan.visitors.start, plan.visitors.values, plan.pages.start, plan.pages.pairs, plan.refs.start, plan.refs.pairs, plan.hours.start, plan.hours.hours];
  if (plan.hostlessRefs !== null) arrays.push(plan.hostlessRefs.start, plan.hostlessRefs.pairs);
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

/** Positions in code point order: at most 2^26 names (the tables' item limit). */
const RANKS = 2 ** 26;
/** Counts below this keep `count · 2^26 + position` exact in a double. */
const KEYED_COUNT_LIMIT = 2 ** 27;

/**
 * The names of a flush in code point order, and top lists picked from
 * (item, count) pairs with one numeric sort, without a comparator: each pair
 * becomes the number `count · 2^26 + (2^26 − 1 − position)`, so ascending
 * order is count ascending, then name descending, and the top list is read
 * from the end. Pairs with a count of 2^27 or more (not exact as such a
 * number) are ordered with the comparator instead.
 */
export class NameOrder {
  private readonly rank: Int32Array;
  private readonly byRank: Int32Array;
  private keys = new Float64Array(256);
  private items = new Int32Array(256);
  private counts = new Float64Array(256);
  private max = 0;
  /** What the last {@link pick} picked: items (indices into names) and their counts. */
  picked = new Int32Array(64);
  pickedCounts = new Float64Array(64);

  constructor(readonly names: readonly string[]) {
    if (names.length > RANKS) throw new RangeError(`more than ${RANKS} names`);
    // The engine's string comparison where it gives the code point order: a flush's names (some
    // 38,000 paths and referrers in the 1M-event import) sorted in about half the time of the
    // comparison in code (still cold when the last flush comes).
    const byEngine = (a: number, b: number): number => {
      const x = names[a];
      const y = names[b];
      return x < y ? -1 : x > y ? 1 : 0;
    };
    const order = names.map((_, i) => i).sort(engineOrderIsCodePointOrder(names) ? byEngine : (a, b) => compareCodePoints(names[a], names[b]));
    this.byRank = Int32Array.from(order);
    this.rank = new Int32Array(names.length);
    for (let k = 0; k < order.length; k++) this.rank[order[k]] = k;
  }

  /** Starts a list of up to m pairs, given by {@link put} and read by {@link top}. */
  start(m: number): void {
    if (this.keys.length < m) {
      const size = Math.max(m, this.keys.length * 2);
      this.keys = new Float64Array(size);
      this.items = new Int32Array(size);
      this.counts = new Float64Array(size);
    }
    this.max = 0;
  }

  /** Pair k: item (an index into names) with its count. */
  put(k: number, item: number, count: number): void {
    this.keys[k] = count * RANKS + (RANKS - 1 - this.rank[item]);
    this.items[k] = item;
    this.counts[k] = count;
    if (count > this.max) this.max = count;
  }

  /** The top n of pairs [0, m), by count descending, then name. */
  top(m: number, n: number): TopEntry[] {
    return this.entries(this.pick(m, n));
  }

  /**
   * Picks the top n of pairs [0, m) into {@link picked} and
   * {@link pickedCounts}, best first; returns how many.
   */
  pick(m: number, n: number): number {
    const k = Math.min(m, n);
    if (this.picked.length < k) {
      this.picked = new Int32Array(Math.max(k, this.picked.length * 2));
      this.pickedCounts = new Float64Array(this.picked.length);
    }
    if (this.max >= KEYED_COUNT_LIMIT) {
      const entries: TopEntry[] = new Array(m);
      const itemOf = new Map<string, number>();
      for (let j = 0; j < m; j++) {
        entries[j] = [this.names[this.items[j]], this.counts[j]];
        itemOf.set(entries[j][0], this.items[j]);
      }
      const top = topOfEntries(entries, n);
      for (let j = 0; j < k; j++) {
        this.picked[j] = itemOf.get(top[j][0])!;
        this.pickedCounts[j] = top[j][1];
      }
      return k;
    }
    const keys = this.keys;
    if (m > k) selectLargest(keys, m, k);
    sortAscending(keys, k);
    for (let j = 0; j < k; j++) {
      const key = keys[k - 1 - j];
      const count = Math.floor(key / RANKS);
      this.picked[j] = this.byRank[RANKS - 1 - (key - count * RANKS)];
      this.pickedCounts[j] = count;
    }
    return k;
  }

  /** The first k picked, as entries. */
  entries(k: number): TopEntry[] {
    const out: TopEntry[] = new Array(k);
    for (let j = 0; j < k; j++) out[j] = [this.names[this.picked[j]], this.pickedCounts[j]];
    return out;
  }
}

/** Lists up to this long are sorted by insertion here rather than by the engine's typed array sort (a call into the runtime each). */
const SHORT_SORT = 64;

/** Sorts keys[0, n) ascending (distinct keys). */
function sortAscending(keys: Float64Array, n: number): void {
  if (n > SHORT_SORT) {
    keys.subarray(0, n).sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const x = keys[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > x) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = x;
  }
}

/**
 * Moves the k largest of keys[0, m) (distinct keys, k < m) to keys[0, k), in
 * no particular order: a min-heap of k kept at the front, each later key
 * that beats its least taking that one's place: O(m + r log k) for r such
 * replacements, so a month's page list of thousands of names gives its top
 * 50 without being sorted whole.
 */
function selectLargest(keys: Float64Array, m: number, k: number): void {
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(keys, i, keys[i], k);
  let least = keys[0];
  for (let j = k; j < m; j++) {
    const x = keys[j];
    if (x > least) {
      siftDown(keys, 0, x, k);
      least = keys[0];
    }
  }
}

/** Puts x at heap position i of the min-heap keys[0, k) and sifts it down. */
function siftDown(keys: Float64Array, i: number, x: number, k: number): void {
  for (;;) {
    let c = 2 * i + 1;
    if (c >= k) break;
    if (c + 1 < k && keys[c + 1] < keys[c]) c++;
    if (keys[c] >= x) break;
    keys[i] = keys[c];
    i = c;
  }
  keys[i] = x;
}

/** An empty slot of {@link Union}'s table (hashes are integers from 0). */
const NO_HASH = -1;
/**
 * Hashes of a union taken by the set at most: its table (two slots of 8
 * bytes a hash) stays within 2 MB. A larger union (a month of a big site,
 * read in one flush) is sorted instead, in the memory of its hashes alone.
 */
export const UNION_SET_MAX = 1 << 17;

/**
 * The distinct visitor hashes of several hours (the union of their sets),
 * by an open-addressing set over a table kept between calls: linear in the
 * hashes, where sorting them (what the sketch does anyway for an exact
 * list, and need not do for a large one) cost a sort more per day and month.
 */
class Union {
  private table = new Float64Array(1 << 12).fill(NO_HASH);
  /** Slots filled by the last call, cleared by the next. */
  private used = new Int32Array(1 << 11);

  /** The distinct hashes of hours[from..to], in no particular order (a new array). */
  of(vis: { start: Int32Array; values: Float64Array }, hours: Int32Array, from: number, to: number): Float64Array {
    const { start, values } = vis;
    // An hour's own set is distinct already.
    if (to - from === 1) return values.slice(start[hours[from]], start[hours[from] + 1]);
    let total = 0;
    for (let k = from; k < to; k++) total += start[hours[k] + 1] - start[hours[k]];
    if (total > UNION_SET_MAX) return sortedUnion(vis, hours, from, to, total);
    if (this.table.length < 2 * total) {
      let size = this.table.length;
      while (size < 2 * total) size *= 2;
      this.table = new Float64Array(size).fill(NO_HASH);
      this.used = new Int32Array(size >> 1);
    }
    const { table, used } = this;
    const mask = table.length - 1;
    const all = new Float64Array(total);
    let u = 0;
    for (let k = from; k < to; k++) {
      const h = hours[k];
      for (let i = start[h]; i < start[h + 1]; i++) {
        const v = values[i];
        // The hashes' low bits are already uniform: they place the slot.
        let slot = (v >>> 0) & mask;
        for (;;) {
          const t = table[slot];
          if (t === NO_HASH) {
            table[slot] = v;
            used[u] = slot;
            all[u++] = v;
            break;
          }
          if (t === v) break;
          slot = (slot + 1) & mask;
        }
      }
    }
    for (let i = 0; i < u; i++) table[used[i]] = NO_HASH;
    return u === total ? all : all.slice(0, u);
  }
}

/** The distinct hashes of hours[from..to], sorted: all of them copied, sorted and deduplicated in place. */
function sortedUnion(vis: { start: Int32Array; values: Float64Array }, hours: Int32Array, from: number, to: number, total: number): Float64Array {
  const { start, values } = vis;
  const all = new Float64Array(total);
  let o = 0;
  for (let k = from; k < to; k++) {
    const h = hours[k];
    all.set(values.subarray(start[h], start[h + 1]), o);
    o += start[h + 1] - start[h];
  }
  all.sort();
  let u = 0;
  for (let i = 0; i < total; i++) if (u === 0 || all[i] !== all[u - 1]) all[u++] = all[i];
  return u === total ? all : all.slice(0, u);
}

/** Sums of counts by item id, over a dense array; `top` reads them out and clears them. */
export class Tally {
  private readonly counts: Float64Array;
  private readonly touched: Int32Array;
  private n = 0;

  constructor(items: number) {
    this.counts = new Float64Array(items);
    this.touched = new Int32Array(items);
  }

  add(item: number, count: number): void {
    if (this.counts[item] === 0) this.touched[this.n++] = item;
    this.counts[item] += count;
  }

  /** Picks the top topN of the sums into the order's picked list (see {@link NameOrder.pick}), and clears them. */
  pick(order: NameOrder, topN: number): number {
    const { counts, touched } = this;
    const m = this.n;
    this.n = 0;
    order.start(m);
    for (let k = 0; k < m; k++) {
      const item = touched[k];
      order.put(k, item, counts[item]);
      counts[item] = 0;
    }
    return order.pick(m, topN);
  }
}

/**
 * The top entries summed over several hours (hours[from..to], or bucket
 * `from` alone when `hours` is null), with the hostless referrers added
 * unless they are the site's own domain: picked into the order's list.
 */
function sumTop(tally: Tally, g: Grouped, hostless: Grouped | null, from: number, to: number, hours: Int32Array | null, order: NameOrder, domain: string | null, topN: number): number {
  const names = order.names;
  for (let k = from; k < to; k++) {
    const h = hours === null ? k : hours[k];
    const pairs = g.pairs;
    for (let i = g.start[h]; i < g.start[h + 1]; i++) tally.add(pairs[2 * i], pairs[2 * i + 1]);
    if (hostless === null) continue;
    const own = hostless.pairs;
    for (let i = hostless.start[h]; i < hostless.start[h + 1]; i++) {
      if (names[own[2 * i]] !== domain) tally.add(own[2 * i], own[2 * i + 1]);
    }
  }
  return tally.pick(order, topN);
}

/** The top entries of one hour bucket b, picked into the order's list. */
function topOfHour(g: Grouped, b: number, order: NameOrder, topN: number): number {
  const from = g.start[b];
  const m = g.start[b + 1] - from;
  const pairs = g.pairs;
  order.start(m);
  for (let k = 0; k < m; k++) order.put(k, pairs[2 * (from + k)], pairs[2 * (from + k) + 1]);
  return order.pick(m, topN);
}

