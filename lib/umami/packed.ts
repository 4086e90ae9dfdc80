/**
 * Events packed into columns: what the event parser's worker thread sends
 * to the aggregator. Typed arrays move between threads without copying, and
 * names (websites, paths, referrers) travel once: a packer gives each name an
 * id that holds across its batches, and a batch carries only the names first
 * used in it. A batch of thousands of events is a handful of objects.
 *
 * Only what the aggregator reads is packed: the visitor (a 53-bit hash of
 * the session id), the time, the event type, the path, the referrer as the
 * aggregator counts it, and the row's byte offset.
 */
import { hash53 } from '../aggregate/distinct.js';
import { Interner } from '../dump/interner.js';
import type { UmamiEvent } from './parser.js';

/** How an event's referrer is counted. */
export const REF_NONE = 0;
/** Counted: the referrer is not the event's own hostname. */
export const REF_COUNTED = 1;
/** The event has no hostname (Umami v1): counted unless it is the site's own domain. */
export const REF_HOSTLESS = 2;

/**
 * How a page view's referrer is counted (Umami's rule): not at all when it
 * has none or it is the event's own hostname; when the event has no hostname,
 * later, unless it is the site's domain.
 */
export function refKindOf(referrerDomain: string | null, hostname: string | null): number {
  if (referrerDomain === null || referrerDomain === '' || referrerDomain === hostname) return REF_NONE;
  return hostname === null ? REF_HOSTLESS : REF_COUNTED;
}

/**
 * The interners (made with `ids: true`) whose indices a packer takes for
 * names: the parser reads an event table's website ids, paths, and both its
 * referrer domains and hostnames (one interner, so equal names are equal
 * indices) through them.
 */
export interface PackedNames {
  site: Interner;
  path: Interner;
  host: Interner;
}

/** A name from a {@link PackedNames} interner: its index, or its string when not kept. */
export type NameRef = string | number;

/**
 * {@link refKindOf} for names of the `host` interner: equal names are
 * equal indices, or equal strings; an index and a string (a value that came
 * through the scanner's slow path) are compared by text.
 */
export function refKindOfName(ref: NameRef | null, hostname: NameRef | null, hosts: readonly string[]): number {
  if (ref === null) return REF_NONE;
  const text = typeof ref === 'number' ? hosts[ref] : ref;
  if (text === '') return REF_NONE;
  if (hostname === null) return REF_HOSTLESS;
  if (ref === hostname) return REF_NONE;
  if (typeof ref === typeof hostname) return REF_COUNTED;
  return text === (typeof hostname === 'number' ? hosts[hostname] : hostname) ? REF_NONE : REF_COUNTED;
}

export interface PackedEventBatch {
  kind: 'packed';
  count: number;
  /**
   * The packer that made the batch: its name ids hold across its batches,
   * which a consumer takes in order. Without it, the batch stands alone
   * (its name lists start at id 0 and hold every name it uses).
   */
  source?: number;
  /** The packer's ids start over with this batch (its first, and after many names). */
  reset?: boolean;
  /** Website ids (as {@link UmamiEvent.websiteId}) first used in this batch: `sites[k]` has id `siteBase + k`. */
  sites: string[];
  siteBase?: number;
  /** URL paths first used in this batch, from id `pathBase`. */
  paths: string[];
  pathBase?: number;
  /** Referrer domains first used in this batch, from id `refBase` (`ref` holds ids where `refKind` is not REF_NONE). */
  refs: string[];
  refBase?: number;
  /** Website id of each event. */
  site: Int32Array;
  /** {@link hash53} of the session id. */
  visitor: Float64Array;
  /** UTC epoch milliseconds. */
  time: Float64Array;
  eventType: Uint8Array;
  /** Path id of each page view (-1 for other events). */
  path: Int32Array;
  ref: Int32Array;
  refKind: Uint8Array;
  /** Byte offset of the row in the decompressed input. */
  offset: Float64Array;
  /**
   * Set by a producer that takes the batch's memory back: the consumer calls
   * it once it has read the batch for the last time (the typed arrays are
   * then no longer readable), and the producer packs a later batch into the
   * same memory. A consumer that never calls it only costs allocations.
   */
  release?: () => void;
}

/** Bytes of one event in a batch's memory: three doubles, three int32s, two bytes. */
const EVENT_BYTES = 3 * 8 + 3 * 4 + 2;

/** The bytes a batch of `events` events takes in one buffer (see {@link EventPacker.take}). */
export function packedBytes(events: number): number {
  return events * EVENT_BYTES;
}

/** Names a packer has given ids since it last started over; at most this many of a kind. */
const PACKER_NAMES_MAX = 1 << 18;

/** A packer's ids of one kind of name, kept across batches. */
class PackerNames {
  /** Ids given since the last reset. */
  size = 0;
  /** Names given ids since the last take. */
  readonly fresh: string[] = [];
  private readonly byName = new Map<string, number>();
  /** The interner whose indices `byIndex` maps, and its map (-1: no id yet). */
  private interner: Interner | null = null;
  private byIndex: Int32Array = new Int32Array(0);

  id(name: string): number {
    let id = this.byName.get(name);
    if (id === undefined) {
      id = this.give(name);
      this.byName.set(name, id);
    }
    return id;
  }

  /** The id of the name kept at index n of the interner. */
  interned(from: Interner, n: number): number {
    let map = this.byIndex;
    if (from !== this.interner || n >= map.length) map = this.mapFor(from, n);
    let id = map[n];
    if (id < 0) id = map[n] = this.give(from.names[n]);
    return id;
  }

  private mapFor(from: Interner, n: number): Int32Array {
    const map = new Int32Array(Math.max(1024, 2 ** Math.ceil(Math.log2(n + 1)))).fill(-1);
    if (from === this.interner) map.set(this.byIndex);
    this.interner = from;
    return (this.byIndex = map);
  }

  private give(name: string): number {
    this.fresh.push(name);
    return this.size++;
  }

  /** The names given ids since the last take, and the id of the first. */
  take(): { names: string[]; base: number } {
    // Copied out, the one list kept: a new empty list holds small integers until a name comes,
    // and that change of kind threw away the optimised parser each time.
    const names = this.fresh.slice();
    this.fresh.length = 0;
    return { names, base: this.size - names.length };
  }

  reset(): void {
    this.size = 0;
    this.fresh.length = 0;
    this.byName.clear();
    this.byIndex.fill(-1);
  }
}

/** Collects events into a {@link PackedEventBatch}; `take()` hands it over and starts a new one. */
export class EventPacker {
  private capacity: number;
  private n = 0;
  /** This packer, for the consumer of its batches (random: packers on other threads make batches too). */
  readonly source = Math.floor(Math.random() * 2 ** 48);
  private startOver = true;
  private readonly sites = new PackerNames();
  private readonly paths = new PackerNames();
  private readonly refs = new PackerNames();
  private site!: Int32Array;
  private visitor!: Float64Array;
  private time!: Float64Array;
  private eventType!: Uint8Array;
  private path!: Int32Array;
  private ref!: Int32Array;
  private refKind!: Uint8Array;
  private offset!: Float64Array;

  /** Names of a kind after which the ids start over (the consumer keeps them all until then). */
  private readonly namesMax: number;
  /** Batch buffers {@link take} allocated (not given one to pack into). */
  buffersAllocated = 0;

  constructor(capacity = 16384, options: { namesMax?: number } = {}) {
    this.capacity = capacity;
    this.namesMax = options.namesMax ?? PACKER_NAMES_MAX;
    this.allocate(capacity);
  }

  get count(): number {
    return this.n;
  }

  private allocate(capacity: number): void {
    this.site = new Int32Array(capacity);
    this.visitor = new Float64Array(capacity);
    this.time = new Float64Array(capacity);
    this.eventType = new Uint8Array(capacity);
    this.path = new Int32Array(capacity);
    this.ref = new Int32Array(capacity);
    this.refKind = new Uint8Array(capacity);
    this.offset = new Float64Array(capacity);
  }

  private grow(): void {
    const old = { site: this.site, visitor: this.visitor, time: this.time, eventType: this.eventType, path: this.path, ref: this.ref, refKind: this.refKind, offset: this.offset };
    this.capacity *= 2;
    this.allocate(this.capacity);
    this.site.set(old.site);
    this.visitor.set(old.visitor);
    this.time.set(old.time);
    this.eventType.set(old.eventType);
    this.path.set(old.path);
    this.ref.set(old.ref);
    this.refKind.set(old.refKind);
    this.offset.set(old.offset);
  }

  add(events: readonly UmamiEvent[]): void {
    for (let k = 0; k < events.length; k++) {
      const e = events[k];
      this.push(e.websiteId, hash53(e.sessionId), e.createdAt, e.eventType, e.urlPath, e.referrerDomain, e.hostname, e.offset);
    }
  }

  /**
   * One event, given by its fields (what {@link add} reads from an event
   * object); `visitor` is {@link hash53} of the session id.
   */
  push(websiteId: string, visitor: number, createdAt: number, eventType: number, urlPath: string, referrerDomain: string | null, hostname: string | null, offset: number): void {
    const i = this.append(this.sites.id(websiteId), visitor, createdAt, eventType, offset);
    if (i < 0) return;
    this.path[i] = this.paths.id(urlPath);
    const kind = refKindOf(referrerDomain, hostname);
    this.refKind[i] = kind;
    if (kind !== REF_NONE) this.ref[i] = this.refs.id(referrerDomain!);
  }

  /**
   * One event of an event table read through `names` (see
   * {@link PackedNames}): as {@link push}, with names given as interner
   * indices or strings, and the hostname not yet compared with the referrer.
   */
  pushNamed(names: PackedNames, websiteId: NameRef, visitor: number, createdAt: number, eventType: number, urlPath: NameRef, referrerDomain: NameRef | null, hostname: NameRef | null, offset: number): void {
    const site = typeof websiteId === 'number' ? this.sites.interned(names.site, websiteId) : this.sites.id(websiteId);
    const i = this.append(site, visitor, createdAt, eventType, offset);
    if (i < 0) return;
    this.path[i] = typeof urlPath === 'number' ? this.paths.interned(names.path, urlPath) : this.paths.id(urlPath);
    const kind = refKindOfName(referrerDomain, hostname, names.host.names);
    this.refKind[i] = kind;
    if (kind !== REF_NONE) this.ref[i] = typeof referrerDomain === 'number' ? this.refs.interned(names.host, referrerDomain) : this.refs.id(referrerDomain!);
  }

  /** Adds an event's row; its index when it is a page view (whose path and referrer are set next), else -1. */
  private append(site: number, visitor: number, createdAt: number, eventType: number, offset: number): number {
    if (this.n === this.capacity) this.grow();
    const i = this.n++;
    this.site[i] = site;
    this.visitor[i] = visitor;
    this.time[i] = createdAt;
    this.eventType[i] = eventType;
    this.offset[i] = offset;
    if (eventType === 1) return i;
    this.path[i] = -1;
    this.refKind[i] = REF_NONE;
    return -1;
  }

  /**
   * The batch so far (null when empty); the packer starts over. Its columns
   * are copied into one buffer: `memory` when given and large enough (one a
   * consumer released, say), else a new one of {@link packedBytes} of
   * `room` events (at least the batch's), so that it can be packed into again.
   */
  take(memory?: ArrayBuffer, room = 0): PackedEventBatch | null {
    const n = this.n;
    if (n === 0) return null;
    const sites = this.sites.take();
    const paths = this.paths.take();
    const refs = this.refs.take();
    let buffer = memory;
    if (buffer === undefined || buffer.byteLength < packedBytes(n)) {
      buffer = new ArrayBuffer(packedBytes(Math.max(n, room)));
      this.buffersAllocated++;
    }
    // Each column at a fixed place in the buffer (by the events it has room for): doubles first, so all are aligned.
    const c = Math.floor(buffer.byteLength / EVENT_BYTES);
    const visitor = new Float64Array(buffer, 0, n);
    const time = new Float64Array(buffer, 8 * c, n);
    const offset = new Float64Array(buffer, 16 * c, n);
    const site = new Int32Array(buffer, 24 * c, n);
    const path = new Int32Array(buffer, 28 * c, n);
    const ref = new Int32Array(buffer, 32 * c, n);
    const eventType = new Uint8Array(buffer, 36 * c, n);
    const refKind = new Uint8Array(buffer, 37 * c, n);
    visitor.set(this.visitor.subarray(0, n));
    time.set(this.time.subarray(0, n));
    offset.set(this.offset.subarray(0, n));
    site.set(this.site.subarray(0, n));
    path.set(this.path.subarray(0, n));
    ref.set(this.ref.subarray(0, n));
    eventType.set(this.eventType.subarray(0, n));
    refKind.set(this.refKind.subarray(0, n));
    const batch: PackedEventBatch = {
      kind: 'packed',
      count: n,
      source: this.source,
      reset: this.startOver,
      sites: sites.names,
      siteBase: sites.base,
      paths: paths.names,
      pathBase: paths.base,
      refs: refs.names,
      refBase: refs.base,
      site,
      visitor,
      time,
      eventType,
      path,
      ref,
      refKind,
      offset,
    };
    this.n = 0;
    // The consumer keeps every name of a run of batches: a run ends once it holds many.
    this.startOver = Math.max(this.sites.size, this.paths.size, this.refs.size) > this.namesMax;
    if (this.startOver) {
      this.sites.reset();
      this.paths.reset();
      this.refs.reset();
    }
    return batch;
  }
}

/** The memory of a batch's typed arrays (each buffer once), for postMessage's transfer list. */
export function transferablesOf(b: PackedEventBatch): ArrayBuffer[] {
  return [...new Set([b.site, b.visitor, b.time, b.eventType, b.path, b.ref, b.refKind, b.offset].map((a) => a.buffer as ArrayBuffer))];
}
