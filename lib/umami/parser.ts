/**
 * Stage 2: rows of Umami tables in, typed events and website records out.
 * Columns are found by name; a row that cannot be read (wrong number of
 * values, a bad timestamp or event type) is rejected and counted, not fatal.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { UmamiAggregateError, invalidOption } from '../errors.js';
import { TimeZone, parseFixedOffset } from '../aggregate/timezone.js';
import type { RowBatch, TableInfo, ValueConverter } from '../dump/scanner.js';
import { SchemaDetector, roleOf, type TableRole } from './schema.js';
import { parseTimestamp, parseTimestampBytes } from './time.js';
import { hash53, hash53Bytes } from '../aggregate/distinct.js';
import { Interner } from '../dump/interner.js';
import type { EventPacker, NameRef, PackedNames } from './packed.js';

/** One Umami event (a page view or a custom event). */
export interface UmamiEvent {
  /**
   * The website as the dump names it: the website uuid (v2, v3), or the
   * integer `website_id` as text (v1; {@link UmamiWebsite.id} maps it).
   */
  websiteId: string;
  /** The session (visitor) id; distinct values are unique visitors. */
  sessionId: string;
  /** The visit id (v2 ≥ 2.? only), when asked for with `fields: ['visitId']`. */
  visitId: string | null;
  /** UTC instant in epoch milliseconds. */
  createdAt: number;
  /** 1 page view, 2 custom event (Umami's event_type). */
  eventType: number;
  /** Page path without query string. */
  urlPath: string;
  /** Referring host, or null. */
  referrerDomain: string | null;
  /** Host name the event was recorded on (v2 ≥ 2.20 on the event, older v2 from its session), or null. */
  hostname: string | null;
  /** Custom event name, when asked for with `fields: ['eventName']`. */
  eventName: string | null;
  /** Byte offset of the row in the (decompressed) input. */
  offset: number;
}

/** A website of the dump. */
export interface UmamiWebsite {
  /** The value events carry in {@link UmamiEvent.websiteId}. */
  id: string;
  /** The website's uuid (equal to `id` except in v1 dumps). */
  uuid: string;
  name: string | null;
  domain: string | null;
}

export interface EventBatch {
  kind: 'events';
  events: UmamiEvent[];
}

export interface WebsiteBatch {
  kind: 'websites';
  websites: UmamiWebsite[];
}

/** What the event parser emits: events, and websites as they are read. */
export type ParsedBatch = EventBatch | WebsiteBatch;

export type RejectReason = 'column_count' | 'bad_timestamp' | 'bad_event_type' | 'missing_value';

export interface RejectedExample {
  table: string;
  offset: number;
  detail: string;
}

/** Rejected rows per reason, with the first few examples. */
export type RejectionSummary = Partial<Record<RejectReason, { count: number; examples: RejectedExample[] }>>;

export interface EventParserOptions {
  /**
   * Zone of timestamps that carry no offset and were not declared UTC by the
   * dump (MySQL dumps made with --skip-tz-utc). Default `UTC`.
   */
  sourceTimezone?: string;
  /** More rejected rows than this fail the import (UA_TOO_MANY_REJECTED). Default 1000. */
  maxRejected?: number;
  /** Optional event fields to decode: `visitId`, `eventName`. */
  fields?: Array<'visitId' | 'eventName'>;
  /**
   * For {@link EventParser.parse} with an {@link EventPacker} only: session
   * ids are hashed and timestamps parsed straight from the dump's bytes, so
   * no string is made for either. parse() then requires a packer.
   */
  packed?: boolean;
}

const EXAMPLES = 5;

/** A row value in a column given no converter: a string, NULL, or not decoded. */
type Text = string | null | undefined;

/** A packed parser's reading of event_type: the value of one digit; NaN otherwise (then read as text). */
function eventTypeBytes(b: Uint8Array, start: number, end: number): number {
  const d = b[start] - 0x30;
  return end - start === 1 && d >= 0 && d <= 9 ? d : NaN;
}

/** Columns with few distinct values, decoded once per value. */
const REPEATING = new Set(['website_id', 'url_path', 'referrer_domain', 'hostname', 'event_type', 'event_name']);

type Handler = (batch: RowBatch, out: ParsedBatch[], packer: EventPacker | null) => void;

/** The pure core of stage 2. */
export class EventParser {
  /** With `packed`: the interners of event tables' names. */
  private readonly names: PackedNames | null;
  readonly detector = new SchemaDetector();
  readonly rejected: RejectionSummary = {};
  rejectedCount = 0;
  events = 0;
  pageViews = 0;

  private readonly sourceZone: TimeZone;
  private readonly maxRejected: number;
  private readonly wantVisit: boolean;
  private readonly wantName: boolean;
  private readonly packed: boolean;
  private readonly handlers = new WeakMap<readonly string[], Handler | null>();
  /** Older v2 keeps the hostname on the session: session id → hostname. */
  private readonly sessionHosts = new Map<string, string>();
  private readonly hostNames = new Map<string, string>();

  constructor(options: EventParserOptions = {}) {
    if (options.maxRejected !== undefined && !(Number.isInteger(options.maxRejected) && options.maxRejected >= 0)) {
      throw invalidOption('maxRejected', 'a non-negative integer', options.maxRejected);
    }
    if (options.fields !== undefined && (!Array.isArray(options.fields) || options.fields.some((f) => f !== 'visitId' && f !== 'eventName'))) {
      throw invalidOption('fields', "an array of 'visitId', 'eventName'", options.fields);
    }
    this.sourceZone = TimeZone.of(options.sourceTimezone ?? 'UTC', 'sourceTimezone');
    this.maxRejected = options.maxRejected ?? 1000;
    this.wantVisit = options.fields?.includes('visitId') ?? false;
    this.wantName = options.fields?.includes('eventName') ?? false;
    this.packed = options.packed === true;
    this.names = this.packed ? { site: new Interner({ ids: true }), path: new Interner({ ids: true }), host: new Interner({ ids: true }) } : null;
  }

  /**
   * Where a packed parser reads an event table's names as interner indices
   * (see {@link PackedNames}): a v2 `website_event` with its own hostname.
   */
  private namesFor(role: TableRole | null, columns: readonly string[]): PackedNames | null {
    return this.names !== null && role === 'website_event' && columns.includes('hostname') ? this.names : null;
  }

  /**
   * For the tokenizer: which columns of a table to decode (false: skip the
   * table); columns whose values repeat are interned.
   */
  readonly select = (info: TableInfo): boolean | Array<boolean | 'intern' | Interner | ValueConverter> => {
    const role = roleOf(info.table, info.columns);
    if (role === null) return false;
    const wanted = new Set(this.columnsFor(role, info.columns));
    const numeric = new Map<string, ValueConverter>();
    if (this.packed && (role === 'website_event' || role === 'pageview' || role === 'event')) {
      const zone = this.zoneOf(info, 'created_at');
      numeric.set('created_at', (b, start, end) => parseTimestampBytes(b, start, end, zone));
      // Older v2 finds an event's hostname by its session id as a string.
      if (role !== 'website_event' || info.columns.includes('hostname')) numeric.set('session_id', hash53Bytes);
      // A one-digit event type as its number: no string to intern and read back for each row.
      if (role === 'website_event') numeric.set('event_type', eventTypeBytes);
    }
    const names = this.namesFor(role, info.columns);
    const sel = info.columns.map((c) => {
      if (!wanted.has(c)) return false;
      if (names !== null) {
        if (c === 'website_id') return names.site;
        if (c === 'url_path') return names.path;
        if (c === 'referrer_domain' || c === 'hostname') return names.host;
      }
      return numeric.get(c) ?? (REPEATING.has(c) ? 'intern' : true);
    });
    // A table none of whose columns is wanted (the sessions of a v2 ≥ 2.20 or v3 dump) is skipped:
    // its rows are counted, not built (its CREATE TABLE still tells the schema detector of it).
    return sel.some((m) => m !== false) ? sel : false;
  };

  private columnsFor(role: TableRole, columns: readonly string[]): string[] {
    switch (role) {
      case 'website':
        return ['website_id', 'website_uuid', 'name', 'domain'];
      case 'session':
        return columns.includes('hostname') ? ['session_id', 'hostname'] : [];
      case 'website_event': {
        const c = ['website_id', 'session_id', 'created_at', 'url_path', 'referrer_domain', 'event_type', 'hostname'];
        if (this.wantVisit) c.push('visit_id');
        if (this.wantName) c.push('event_name');
        return c;
      }
      case 'pageview':
        return ['website_id', 'session_id', 'created_at', 'url', 'referrer'];
      case 'event':
        return this.wantName ? ['website_id', 'session_id', 'created_at', 'url', 'event_name'] : ['website_id', 'session_id', 'created_at', 'url'];
    }
  }

  /**
   * Parses one batch of rows, appending what it yields to out. Given a
   * packer, events go into it instead (no event objects are made); websites
   * still go to out.
   */
  parse(batch: RowBatch, out: ParsedBatch[], packer: EventPacker | null = null): void {
    this.detector.see(batch.table, batch.columns);
    if (batch.rows.length === 0) return;
    if (this.packed && packer === null) throw invalidOption('packed', 'false when parse() is given no EventPacker', true);
    let handler = this.handlers.get(batch.columns);
    if (handler === undefined) {
      handler = this.makeHandler(batch);
      this.handlers.set(batch.columns, handler);
    }
    if (handler) handler(batch, out, packer);
  }

  /** Throws UA_NO_UMAMI_TABLES when the input held no Umami event table. */
  finish(): void {
    if (!this.detector.hasEventTable) {
      const seen = [...this.detector.tables.keys()];
      throw new UmamiAggregateError(
        'UA_NO_UMAMI_TABLES',
        seen.length === 0
          ? 'the dump holds no tables at all; is it an Umami database dump?'
          : `the dump holds no Umami tables (website_event, or pageview for Umami v1); tables seen: ${seen.slice(0, 12).join(', ')}${seen.length > 12 ? ', …' : ''}`,
      );
    }
  }

  private reject(reason: RejectReason, table: string, offset: number, detail: string): void {
    this.rejectedCount++;
    let r = this.rejected[reason];
    if (!r) r = this.rejected[reason] = { count: 0, examples: [] };
    r.count++;
    if (r.examples.length < EXAMPLES) r.examples.push({ table, offset, detail });
    if (this.rejectedCount > this.maxRejected) {
      throw new UmamiAggregateError(
        'UA_TOO_MANY_REJECTED',
        `more than ${this.maxRejected} rows rejected (last: ${reason.replace(/_/g, ' ')} in \`${table}\` at byte ${offset}: ${detail})`,
        { table, offset, rejected: this.rejected },
      );
    }
  }

  /** The zone of offset-less timestamps in a table. */
  private zoneOf(info: TableInfo, column: string): TimeZone {
    if (info.dialect === 'mysql' && info.timeZone !== null) {
      const k = info.columns.indexOf(column);
      const type = info.types[k] ?? '';
      // mysqldump converts TIMESTAMP columns to the session zone it set; DATETIME is never converted.
      if (type === '' || type.startsWith('timestamp')) {
        if (parseFixedOffset(info.timeZone) !== null) return TimeZone.of(info.timeZone);
        try {
          return TimeZone.of(info.timeZone);
        } catch {
          return this.sourceZone;
        }
      }
    }
    return this.sourceZone;
  }

  private intern(host: string): string {
    const seen = this.hostNames.get(host);
    if (seen !== undefined) return seen;
    this.hostNames.set(host, host);
    return host;
  }

  private makeHandler(info: RowBatch): Handler | null {
    const role = roleOf(info.table, info.columns);
    const cols = info.columns;
    const ix = (name: string): number => cols.indexOf(name);
    const width = cols.length;
    const table = info.table;
    switch (role) {
      case 'website': {
        const v1 = ix('website_uuid') >= 0;
        const iId = ix('website_id');
        const iUuid = v1 ? ix('website_uuid') : iId;
        const iName = ix('name');
        const iDomain = ix('domain');
        if (iId < 0) return null;
        return (batch, out) => {
          const websites: UmamiWebsite[] = [];
          for (let r = 0; r < batch.rows.length; r++) {
            const row = batch.rows[r];
            if (row.length !== width) {
              this.reject('column_count', table, batch.offsets[r], `${row.length} values for ${width} columns`);
              continue;
            }
            const id = row[iId] as Text;
            const uuid = row[iUuid] as Text;
            if (id == null || uuid == null) {
              this.reject('missing_value', table, batch.offsets[r], 'website_id is NULL');
              continue;
            }
            websites.push({ id, uuid, name: iName >= 0 ? ((row[iName] as Text) ?? null) : null, domain: iDomain >= 0 ? ((row[iDomain] as Text) ?? null) : null });
          }
          if (websites.length > 0) out.push({ kind: 'websites', websites });
        };
      }
      case 'session': {
        const iId = ix('session_id');
        const iHost = ix('hostname');
        if (iId < 0 || iHost < 0) return null;
        return (batch) => {
          for (const row of batch.rows) {
            const id = row[iId] as Text;
            const host = row[iHost] as Text;
            if (row.length === width && id != null && host != null && host !== '') this.sessionHosts.set(id, this.intern(host));
          }
        };
      }
      case 'website_event':
        return this.eventHandler(info);
      case 'pageview':
      case 'event':
        return this.eventHandler(info, role === 'pageview' ? 1 : 2);
      default:
        return null;
    }
  }

  /**
   * Rows of an event table: `website_event` (v2, v3) or, when `v1EventType`
   * is given, v1's `pageview` (1) or `event` (2), whose `url` carries the
   * query string and whose `referrer` is a full URL.
   */
  private eventHandler(info: RowBatch, v1EventType?: number): Handler | null {
    const cols = info.columns;
    const width = cols.length;
    const table = info.table;
    const v1 = v1EventType !== undefined;
    const iSite = cols.indexOf('website_id');
    const iSession = cols.indexOf('session_id');
    const iTime = cols.indexOf('created_at');
    const iPath = cols.indexOf(v1 ? 'url' : 'url_path');
    const iRef = cols.indexOf(v1 ? 'referrer' : 'referrer_domain');
    const iType = v1 ? -1 : cols.indexOf('event_type');
    const iHost = v1 ? -1 : cols.indexOf('hostname');
    const iVisit = this.wantVisit && !v1 ? cols.indexOf('visit_id') : -1;
    const iName = this.wantName ? cols.indexOf('event_name') : -1;
    if (iSite < 0 || iSession < 0 || iTime < 0) return null;
    const zone = this.zoneOf(info, 'created_at');
    // Older v2 keeps the hostname on the session; v1 has none (the website's domain is left out later).
    const sessionHosts = v1 ? null : this.sessionHosts;
    // Names as interner indices (a packed parser, modern v2): they go to the packer as they are.
    const names = v1 ? null : this.namesFor('website_event', cols);
    const hosts = names !== null ? names.host.names : null;
    return (batch, out, packer) => {
      const rows = batch.rows;
      const offsets = batch.offsets;
      const events: UmamiEvent[] = [];
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r];
        if (row.length !== width) {
          this.reject('column_count', table, offsets[r], `${row.length} values for ${width} columns`);
          continue;
        }
        // Strings, except the session id and time when the scanner read them as numbers (packed), and names read as indices.
        const websiteId = row[iSite] as Text | number;
        const sessionId = row[iSession];
        const time = row[iTime];
        if (websiteId == null || sessionId == null || time == null) {
          this.reject('missing_value', table, offsets[r], `${websiteId == null ? 'website_id' : sessionId == null ? 'session_id' : 'created_at'} is NULL`);
          continue;
        }
        const createdAt = typeof time === 'number' ? time : parseTimestamp(time, zone);
        if (createdAt !== createdAt) {
          this.reject('bad_timestamp', table, offsets[r], `created_at ${JSON.stringify(String(time).slice(0, 40))}`);
          continue;
        }
        let eventType = v1EventType ?? 1;
        if (iType >= 0) {
          const t = row[iType] as Text | number;
          eventType = typeof t === 'number' ? (Number.isInteger(t) ? t : -1) : t == null ? -1 : t.length === 1 ? t.charCodeAt(0) - 48 : /^\d+$/.test(t) ? Number(t) : -1;
          if (eventType < 0 || eventType > 9) {
            this.reject('bad_event_type', table, offsets[r], `event_type ${JSON.stringify(t)}`);
            continue;
          }
        }
        if (hosts !== null) {
          let host = (row[iHost] as NameRef | null | undefined) ?? null;
          if (host === '' || (typeof host === 'number' && hosts[host] === '')) host = null;
          const path = (row[iPath] as NameRef | null | undefined) ?? '';
          const ref = (row[iRef] as NameRef | null | undefined) ?? null;
          packer!.pushNamed(names!, websiteId, typeof sessionId === 'number' ? sessionId : hash53(sessionId as string), createdAt, eventType, path, ref, host, offsets[r]);
        } else {
          let hostname: string | null = iHost >= 0 ? ((row[iHost] as Text) ?? null) : (sessionHosts?.get(sessionId as string) ?? null);
          if (hostname === '') hostname = null;
          const path = iPath >= 0 ? ((row[iPath] as Text) ?? '') : '';
          const ref = iRef >= 0 ? ((row[iRef] as Text) ?? null) : null;
          const urlPath = v1 ? pathOfUrl(path) : path;
          const referrerDomain = v1 && ref ? hostOfUrl(ref) : ref;
          if (packer !== null) {
            packer.push(websiteId as string, typeof sessionId === 'number' ? sessionId : hash53(sessionId), createdAt, eventType, urlPath, referrerDomain, hostname, offsets[r]);
          } else {
            events.push({
              websiteId: websiteId as string,
              sessionId: sessionId as string,
              visitId: iVisit >= 0 ? ((row[iVisit] as Text) ?? null) : null,
              createdAt,
              eventType,
              urlPath,
              referrerDomain,
              hostname,
              eventName: iName >= 0 ? ((row[iName] as Text) ?? null) : null,
              offset: offsets[r],
            });
          }
        }
        this.events++;
        if (eventType === 1) this.pageViews++;
      }
      if (events.length > 0) out.push({ kind: 'events', events });
    };
  }
}

/** The path of a URL or path, without query string or fragment. */
export function pathOfUrl(url: string): string {
  let start = 0;
  const scheme = url.indexOf('://');
  if (scheme > 0 && scheme < 12) {
    const slash = url.indexOf('/', scheme + 3);
    if (slash < 0) return '/';
    start = slash;
  }
  let end = url.length;
  const q = url.indexOf('?', start);
  if (q >= 0) end = q;
  const h = url.indexOf('#', start);
  if (h >= 0 && h < end) end = h;
  return start === 0 && end === url.length ? url : url.slice(start, end);
}

/** The host of a referrer URL (`https://user@t.co:443/x` → `t.co`), lower case; null if none. */
export function hostOfUrl(url: string): string | null {
  let start = url.indexOf('://');
  start = start < 0 ? (url.startsWith('//') ? 2 : 0) : start + 3;
  let end = url.length;
  for (let k = start; k < url.length; k++) {
    const c = url.charCodeAt(k);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) {
      end = k;
      break;
    }
  }
  let host = url.slice(start, end);
  const at = host.lastIndexOf('@');
  if (at >= 0) host = host.slice(at + 1);
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    host = close > 0 ? host.slice(0, close + 1) : host;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  host = host.toLowerCase();
  return host === '' ? null : host;
}

/** Stage 2 as a stream: {@link RowBatch}es in, {@link ParsedBatch}es out. */
export class EventParserStream extends Transform {
  readonly parser: EventParser;

  constructor(options: EventParserOptions = {}) {
    super({ objectMode: true, highWaterMark: 16 });
    this.parser = new EventParser(options);
  }

  override _transform(batch: RowBatch, _enc: BufferEncoding, cb: TransformCallback): void {
    const out: ParsedBatch[] = [];
    try {
      this.parser.parse(batch, out);
    } catch (err) {
      return cb(err as Error);
    }
    for (const b of out) this.push(b);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.parser.finish();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

/** Stage 2: a Transform from row batches to event and website batches. */
export function createEventParser(options: EventParserOptions = {}): EventParserStream {
  return new EventParserStream(options);
}
