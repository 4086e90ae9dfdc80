/**
 * Aggregate rows as the tables store them: top lists as JSON text, the
 * visitor sketch as bytes, the distinct count as a number; and rows whose
 * costly parts were made on another thread ({@link EncodedRow}).
 */
import { VisitorSketch } from '../aggregate/distinct.js';
import type { BucketRow } from '../aggregate/aggregator.js';
import type { TopEntry } from '../aggregate/toplist.js';
import { readInt, readJson } from './dialect.js';

/** Entries' JSON up to the count, per name (names repeat across buckets); at most this many kept. */
const ENTRY_HEADS_MAX = 1 << 16;

/** An entry's JSON up to its count: `{"path":"/x","page_views":`. */
function entryHead(key: 'path' | 'domain', name: string): string {
  return `{"${key}":${JSON.stringify(name)},"page_views":`;
}

/** `[{"path":"/x","page_views":12},…]`, built directly; `heads` keeps each name's {@link entryHead}. */
export function topJson(list: readonly TopEntry[], key: 'path' | 'domain', heads: Map<string, string>): string {
  let s = '[';
  for (let i = 0; i < list.length; i++) {
    const name = list[i][0];
    let head = heads.get(name);
    if (head === undefined) {
      head = entryHead(key, name);
      if (heads.size < ENTRY_HEADS_MAX) heads.set(name, head);
    }
    s += (i > 0 ? ',' : '') + head + list[i][1] + '}';
  }
  return s + ']';
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
  private readonly pathHeads = new Map<string, string>();
  private readonly referrerHeads = new Map<string, string>();

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
  private readonly heads: Array<string | undefined>;

  constructor(
    readonly names: readonly string[],
    readonly key: 'path' | 'domain',
  ) {
    this.heads = new Array(names.length);
  }

  /** The JSON of entries [from, to): as {@link topJson} writes it. */
  json(items: Int32Array, counts: Float64Array, from: number, to: number): string {
    let s = '[';
    for (let j = from; j < to; j++) {
      const item = items[j];
      let head = this.heads[item];
      if (head === undefined) head = this.heads[item] = entryHead(this.key, this.names[item]);
      s += (j > from ? ',' : '') + head + counts[j] + '}';
    }
    return s + ']';
  }

  entries(items: Int32Array, counts: Float64Array, from: number, to: number): TopEntry[] {
    const out: TopEntry[] = new Array(to - from);
    for (let j = from; j < to; j++) out[j - from] = [this.names[items[j]], counts[j]];
    return out;
  }
}

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
}
