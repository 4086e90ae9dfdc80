/**
 * Events packed into columns: what the event parser's worker thread sends
 * to the aggregator. Typed arrays move between threads without copying, and
 * the strings travel once per batch in small dictionaries, so a batch of
 * thousands of events is a handful of objects instead of thousands.
 *
 * Only what the aggregator reads is packed: the visitor (a 53-bit hash of
 * the session id), the time, the event type, the path, the referrer as the
 * aggregator counts it, and the row's byte offset.
 */
import { hash53 } from '../aggregate/distinct.js';
import { Names } from '../aggregate/names.js';
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

export interface PackedEventBatch {
  kind: 'packed';
  count: number;
  /** Website ids (as {@link UmamiEvent.websiteId}) of this batch; `site` indexes it. */
  sites: string[];
  /** URL paths of this batch; `path` indexes it. */
  paths: string[];
  /** Referrer domains of this batch; `ref` indexes it (when `refKind` is not REF_NONE). */
  refs: string[];
  site: Int32Array;
  /** {@link hash53} of the session id. */
  visitor: Float64Array;
  /** UTC epoch milliseconds. */
  time: Float64Array;
  eventType: Uint8Array;
  path: Int32Array;
  ref: Int32Array;
  refKind: Uint8Array;
  /** Byte offset of the row in the decompressed input. */
  offset: Float64Array;
}

/** Collects events into a {@link PackedEventBatch}; `take()` hands it over and starts a new one. */
export class EventPacker {
  private capacity: number;
  private n = 0;
  private sites = new Names();
  private paths = new Names();
  private refs = new Names();
  private site!: Int32Array;
  private visitor!: Float64Array;
  private time!: Float64Array;
  private eventType!: Uint8Array;
  private path!: Int32Array;
  private ref!: Int32Array;
  private refKind!: Uint8Array;
  private offset!: Float64Array;

  constructor(capacity = 16384) {
    this.capacity = capacity;
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
    if (this.n === this.capacity) this.grow();
    const i = this.n++;
    this.site[i] = this.sites.id(websiteId);
    this.visitor[i] = visitor;
    this.time[i] = createdAt;
    this.eventType[i] = eventType;
    this.offset[i] = offset;
    if (eventType !== 1) {
      this.path[i] = -1;
      this.refKind[i] = REF_NONE;
      return;
    }
    this.path[i] = this.paths.id(urlPath);
    const kind = refKindOf(referrerDomain, hostname);
    this.refKind[i] = kind;
    if (kind !== REF_NONE) this.ref[i] = this.refs.id(referrerDomain!);
  }

  /** The batch so far (null when empty); the packer starts over. */
  take(): PackedEventBatch | null {
    const n = this.n;
    if (n === 0) return null;
    const batch: PackedEventBatch = {
      kind: 'packed',
      count: n,
      sites: this.sites.names,
      paths: this.paths.names,
      refs: this.refs.names,
      site: this.site.slice(0, n),
      visitor: this.visitor.slice(0, n),
      time: this.time.slice(0, n),
      eventType: this.eventType.slice(0, n),
      path: this.path.slice(0, n),
      ref: this.ref.slice(0, n),
      refKind: this.refKind.slice(0, n),
      offset: this.offset.slice(0, n),
    };
    this.n = 0;
    this.sites = new Names();
    this.paths = new Names();
    this.refs = new Names();
    return batch;
  }
}

/** The typed arrays of a batch, for postMessage's transfer list. */
export function transferablesOf(b: PackedEventBatch): ArrayBuffer[] {
  return [b.site, b.visitor, b.time, b.eventType, b.path, b.ref, b.refKind, b.offset].map((a) => a.buffer as ArrayBuffer);
}
