/**
 * Aggregate rows as the tables store them: top lists as JSON text, the
 * visitor sketch as bytes, the distinct count as a number; and rows whose
 * costly parts were made on another thread ({@link EncodedRow}).
 */
import { VisitorSketch } from '../aggregate/distinct.js';
import type { BucketChunk, BucketRow } from '../aggregate/aggregator.js';
import { type FlushPlan, type PlanPart, type PlanShared, bucketLabel, planPartsInOrder } from '../aggregate/rows.js';
import type { TopEntry } from '../aggregate/toplist.js';
import { readInt, readJson } from './dialect.js';

/** Entries' JSON up to the count, per name (names repeat across buckets); at most this many kept. */
const ENTRY_HEADS_MAX = 1 << 16;

/** An entry's JSON up to its count: `{"path":"/x","page_views":`. */
function entryHead(key: 'path' | 'domain', name: string): string {
  return `{"${key}":${JSON.stringify(name)},"page_views":`;
}

/**
 * `[{"path":"/x","page_views":12},…]`: the stored text of a top list, as
 * JSON.stringify writes it; `heads` keeps each name's {@link entryHead} bytes
 * for the lists after. Written as bytes and read back as one flat string.
 */
export function topJson(list: readonly TopEntry[], key: 'path' | 'domain', heads: Map<string, Uint8Array>): string {
  textWriter.entries(list, key, heads);
  return textWriter.text();
}

/** The stored values of a row that its own fields do not hold as they are. */
export interface EncodedValues {
  uniqueVisitors: number;
  topPagesJson: string;
  referrersJson: string;
  sketchBytes: Buffer;
}

/** Encodes rows as the tables store them, keeping each name's entry head for the rows after. */
export class RowEncoder {
  private readonly pathHeads = new Map<string, Uint8Array>();
  private readonly referrerHeads = new Map<string, Uint8Array>();

  /** An {@link EncodedRow} as it came; any other row encoded here. */
  encode(row: BucketRow): EncodedValues {
    if (row instanceof EncodedRow) return row;
    return {
      uniqueVisitors: row.visitors.estimate(),
      topPagesJson: topJson(row.topPages, 'path', this.pathHeads),
      referrersJson: topJson(row.referrers, 'domain', this.referrerHeads),
      sketchBytes: row.visitors.serialize(),
    };
  }
}

/** About how many bytes a row's values take in a statement (an upper bound, to keep MySQL statements under their limit). */
export function rowBytes(row: BucketRow): number {
  if (row instanceof EncodedRow) return 200 + 2 * row.sketchBytes.length + 64 * row.entryCount;
  return 200 + (row.visitors.isExact ? 16 * row.visitors.estimate() : 24_000) + 64 * (row.topPages.length + row.referrers.length);
}

/** A top list stored as {@link topJson} wrote it. */
export function readTop(v: unknown, key: 'path' | 'domain'): TopEntry[] {
  const list = readJson<Array<Record<string, unknown>>>(v, []);
  if (!Array.isArray(list)) return [];
  return list.map((e) => [String(e[key]), readInt(e.page_views)] as TopEntry);
}

/** A plan's names of one kind (paths or referrer domains), each with its {@link entryHead} made once. */
export class TopNames {
  private readonly heads: Array<Uint8Array | undefined>;

  constructor(
    readonly names: readonly string[],
    readonly key: 'path' | 'domain',
  ) {
    this.heads = new Array(names.length);
  }

  /** Name `item`'s {@link entryHead}, as UTF-8 bytes. */
  head(item: number): Uint8Array {
    return (this.heads[item] ??= Buffer.from(entryHead(this.key, this.names[item]), 'utf8'));
  }

  /** The JSON of entries [from, to): as {@link topJson} writes it. */
  json(items: Int32Array, counts: Float64Array, from: number, to: number): string {
    textWriter.list(this, items, counts, from, to);
    return textWriter.text();
  }

  entries(items: Int32Array, counts: Float64Array, from: number, to: number): TopEntry[] {
    const out: TopEntry[] = new Array(to - from);
    for (let j = from; j < to; j++) out[j - from] = [this.names[items[j]], counts[j]];
    return out;
  }
}

/**
 * Top lists' JSON written as UTF-8 bytes. The string read back from the
 * bytes is flat, where one built by concatenation is a rope that the driver
 * flattens before it binds it (about a third of SQLite's insert time in the
 * 1M-event import).
 */
export class TopJsonWriter {
  private bytes = Buffer.allocUnsafe(1 << 16);
  private n = 0;

  /** Bytes of the list written last. */
  get length(): number {
    return this.n;
  }

  /** Writes the JSON of entries [from, to) of items (indices into the names) and counts, read by {@link text}. */
  list(names: TopNames, items: Int32Array, counts: Float64Array, from: number, to: number): void {
    // Each list starts the buffer again: a write that threw half-way leaves nothing behind.
    this.n = 0;
    this.write(names, items, counts, from, to);
  }

  /**
   * Writes the JSON of entries [from, to) after the lists written since the last {@link reset}
   * and returns a view of its bytes: the lists of several rows side by side, for statements that
   * bind them as they are (SQLite's `CAST(? AS TEXT)`, see the dialect's placeholders), with no
   * string made of them. A view stays as it was when the buffer grows (it keeps the old one);
   * {@link reset} only once the statements the views were bound to have run.
   */
  append(names: TopNames, items: Int32Array, counts: Float64Array, from: number, to: number): Buffer {
    const start = this.n;
    this.write(names, items, counts, from, to);
    return this.bytes.subarray(start, this.n);
  }

  /** Forgets what was written: the next list is written at the start again. */
  reset(): void {
    this.n = 0;
  }

  private write(names: TopNames, items: Int32Array, counts: Float64Array, from: number, to: number): void {
    this.room(2);
    this.bytes[this.n++] = 0x5b; // [
    for (let j = from; j < to; j++) this.entry(names.head(items[j]), counts[j], j > from);
    this.bytes[this.n++] = 0x5d; // ]
  }

  /** Writes the JSON of entries, keeping each name's head bytes in `heads` (see {@link topJson}). */
  entries(list: readonly TopEntry[], key: 'path' | 'domain', heads: Map<string, Uint8Array>): void {
    this.n = 0;
    this.room(2);
    this.bytes[this.n++] = 0x5b; // [
    for (let j = 0; j < list.length; j++) {
      const name = list[j][0];
      let head = heads.get(name);
      if (head === undefined) {
        head = Buffer.from(entryHead(key, name), 'utf8');
        if (heads.size < ENTRY_HEADS_MAX) heads.set(name, head);
      }
      this.entry(head, list[j][1], j > 0);
    }
    this.bytes[this.n++] = 0x5d; // ]
  }

  /** The bytes written, as a string; starts again. */
  text(): string {
    const s = this.bytes.toString('utf8', 0, this.n);
    this.n = 0;
    return s;
  }

  private entry(head: Uint8Array, count: number, comma: boolean): void {
    this.room(head.length + 26);
    const b = this.bytes;
    let n = this.n;
    if (comma) b[n++] = 0x2c; // ,
    // A long head is copied natively (about twice as fast as a loop over heads of ~45 bytes).
    if (head.length > 24) {
      b.set(head, n);
      n += head.length;
    } else for (let i = 0; i < head.length; i++) b[n++] = head[i];
    this.n = n;
    this.number(count);
    this.bytes[this.n++] = 0x7d; // }
  }

  /** A count as String(count) writes it (digits, for the whole numbers counts are). */
  private number(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) {
      const s = String(v);
      this.room(s.length + 2);
      for (let i = 0; i < s.length; i++) this.bytes[this.n++] = s.charCodeAt(i);
      return;
    }
    const b = this.bytes;
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let at = this.n + digits;
    this.n = at;
    do {
      const q = Math.floor(v / 10);
      b[--at] = 0x30 + (v - q * 10);
      v = q;
    } while (v > 0);
  }

  private room(more: number): void {
    if (this.n + more <= this.bytes.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.n + more));
    this.bytes.copy(next, 0, 0, this.n);
    this.bytes = next;
  }
}

/** The writer this thread makes its rows' JSON strings with (one at a time). */
const textWriter = new TopJsonWriter();

/** A row's top list as picked where it was made: entries [from, to) of items and counts. */
export interface PickedTop {
  names: TopNames;
  items: Int32Array;
  counts: Float64Array;
  from: number;
  to: number;
}

/**
 * A row whose sketch and top lists were made on another thread: its sketch
 * as bytes, its top lists as picked (name indices and counts). Written as it
 * is, its values go to the database as they came (the JSON made here); its
 * sketch and lists are decoded only if asked for (a row merged with a stored one).
 */
export class EncodedRow implements BucketRow, EncodedValues {
  private sketch: VisitorSketch | null = null;

  constructor(
    readonly websiteId: string,
    readonly bucket: string,
    readonly pageViews: number,
    /** The sketch's estimate: the unique_visitors column. */
    readonly uniqueVisitors: number,
    readonly sketchBytes: Buffer,
    private readonly pages: PickedTop,
    private readonly refs: PickedTop,
  ) {}

  get visitors(): VisitorSketch {
    return (this.sketch ??= VisitorSketch.deserialize(this.sketchBytes));
  }

  get topPages(): TopEntry[] {
    const p = this.pages;
    return p.names.entries(p.items, p.counts, p.from, p.to);
  }

  get referrers(): TopEntry[] {
    const r = this.refs;
    return r.names.entries(r.items, r.counts, r.from, r.to);
  }

  /** Entries in the top lists (a statement's size is reckoned from them). */
  get entryCount(): number {
    return this.pages.to - this.pages.from + (this.refs.to - this.refs.from);
  }

  get topPagesJson(): string {
    const p = this.pages;
    return p.names.json(p.items, p.counts, p.from, p.to);
  }

  get referrersJson(): string {
    const r = this.refs;
    return r.names.json(r.items, r.counts, r.from, r.to);
  }

  /** {@link topPagesJson} as bytes appended to `out` (see {@link TopJsonWriter.append}). */
  topPagesBytes(out: TopJsonWriter): Buffer {
    const p = this.pages;
    return out.append(p.names, p.items, p.counts, p.from, p.to);
  }

  /** {@link referrersJson} as bytes appended to `out`. */
  referrersBytes(out: TopJsonWriter): Buffer {
    const r = this.refs;
    return out.append(r.names, r.items, r.counts, r.from, r.to);
  }
}

/**
 * Row i of a part of a plan's rows (see {@link planParts}): the sketch and top lists as the part
 * holds them (`sketches`: the part's sketch bytes as a Buffer), the rest given.
 */
export function encodedRowOf(websiteId: string, bucket: string, pageViews: number, part: PlanPart, sketches: Buffer, i: number, pathNames: TopNames, refNames: TopNames): EncodedRow {
  const { pages, referrers } = part;
  return new EncodedRow(
    websiteId,
    bucket,
    pageViews,
    part.uniqueVisitors[i],
    sketches.subarray(i > 0 ? part.sketchEnds[i - 1] : 0, part.sketchEnds[i]),
    { names: pathNames, items: pages.items, counts: pages.counts, from: i > 0 ? pages.ends[i - 1] : 0, to: pages.ends[i] },
    { names: refNames, items: referrers.items, counts: referrers.counts, from: i > 0 ? referrers.ends[i - 1] : 0, to: referrers.ends[i] },
  );
}

/**
 * The plan's rows, `size` at a time, each chunk of one granularity, in {@link planBuckets}'
 * order, made on this thread as {@link EncodedRow}s: the sketches serialised and the top lists
 * picked into typed arrays as the rows thread makes them, their JSON written from each name's
 * head made once per plan, with no entry arrays and no name lookups in between.
 */
export function* encodedChunks(plan: FlushPlan, size: number, shared: PlanShared | null = null): Generator<BucketChunk> {
  const pathNames = new TopNames(plan.paths, 'path');
  const refNames = new TopNames(plan.refNames, 'domain');
  for (const { granularity, sites, buckets, part } of planPartsInOrder(plan, size, shared)) {
    const sketches = Buffer.from(part.sketches.buffer, part.sketches.byteOffset, part.sketches.byteLength);
    const rows: BucketRow[] = [];
    for (let i = 0; i < part.rows; i++) {
      const b = buckets[i];
      rows.push(encodedRowOf(sites[i].id, bucketLabel(plan, granularity, b), plan.views[b], part, sketches, i, pathNames, refNames));
    }
    yield { granularity, rows };
  }
}
