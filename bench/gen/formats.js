// How mariadb-dump and pg_dump print Umami rows: identifiers, timestamps, string escapes,
// extended INSERT statements split like mariadb-dump's net_buffer_length, COPY text rows, and
// the dump templates (the sample dumps' structure with placeholders where data goes).

import { readFileSync } from 'node:fs';
import { Rng, hash } from './random.js';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex8 = (x) => HEX[x >>> 24] + HEX[(x >>> 16) & 255] + HEX[(x >>> 8) & 255] + HEX[x & 255];
const hex4 = (x) => HEX[(x >>> 8) & 255] + HEX[x & 255];

/** A version-4 UUID string from 128 bits given as four 32-bit words (version/variant forced). */
export function uuidV4(a, b, c, d) {
  return `${hex8(a)}-${hex4(b >>> 16)}-${hex4((b & 0x0fff) | 0x4000)}-${hex4(((c >>> 16) & 0x3fff) | 0x8000)}-${hex4(c)}${hex8(d)}`;
}

const TWO_TO_48 = 2 ** 48;

/** Row identifiers. Streams keep the id families independent. */
export const ID_STREAMS = { event: 0x1d01, session: 0x1d02, visit: 0x1d03, website: 0x1d04, user: 0x1d05 };

/**
 * UUIDs derived from (stream, index). With `sorted`, the first 48 bits grow with the index so
 * that index order is primary-key order, as mariadb-dump reads rows out of an InnoDB clustered
 * index; otherwise they are fully random, like a PostgreSQL heap in insertion order.
 */
export class Ids {
  constructor(seed, { sorted }) {
    this.seed = seed;
    this.sorted = sorted;
    this.rng = new Rng();
  }

  uuid(stream, index, count = 0, sub = 0) {
    const rng = this.rng.reseed(hash(this.seed, stream, index, sub));
    let a = rng.u32();
    let b = rng.u32();
    const c = rng.u32();
    const d = rng.u32();
    if (this.sorted && count > 0) {
      const step = TWO_TO_48 / count;
      const prefix = Math.floor(index * step) + (a % Math.max(1, Math.floor(step) - 1));
      a = Math.floor(prefix / 65536) >>> 0;
      b = (((prefix % 65536) << 16) | (b & 0xffff)) >>> 0;
    }
    return uuidV4(a, b, c, d);
  }
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
/** PostgreSQL prints fractional seconds without trailing zeros. */
const MILLIS = Array.from({ length: 1000 }, (_, ms) => (ms === 0 ? '' : `.${String(ms).padStart(3, '0').replace(/0+$/, '')}`));

/** 'YYYY-MM-DD HH:MM:SS' in UTC, with a table of day prefixes for the timeline's range. */
export class Clock {
  constructor(timeline) {
    this.start = timeline.start;
    this.days = Array.from({ length: timeline.days }, (_, d) =>
      new Date((timeline.start + d * 86400) * 1000).toISOString().slice(0, 11).replace('T', ' '));
  }

  format(t) {
    const day = Math.floor((t - this.start) / 86400);
    if (day < 0 || day >= this.days.length) return new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ');
    let rest = t - this.start - day * 86400;
    const h = Math.floor(rest / 3600);
    rest -= h * 3600;
    const m = Math.floor(rest / 60);
    return `${this.days[day]}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[rest - m * 60]}`;
  }
}

/**
 * mariadb-dump's default net_buffer_length: 1 MB - 1025, rounded down to the option's 1024-byte
 * block size. A statement takes rows while its length stays below it.
 */
const NET_BUFFER_LENGTH = 1022 * 1024;

const MYSQL_ESCAPES = { '\0': '\\0', '\n': '\\n', '\r': '\\r', '\\': '\\\\', "'": "\\'", '"': '\\"', '\x1a': '\\Z' };
const MYSQL_SPECIAL = /[\0\n\r\\'"\x1a]/g;

/** mariadb-dump output: quoted strings with mysql_real_escape_string escapes, NULL bare. */
export class MariaDbFormat {
  name = 'mariadb';
  templateFile = new URL('../templates/umami-v2-mariadb.sql', import.meta.url);
  sortedIds = true;

  constructor(clock) {
    this.clock = clock;
  }

  escape(text) {
    return text.replace(MYSQL_SPECIAL, (c) => MYSQL_ESCAPES[c]);
  }

  /** A field from an escaped string (or null). */
  value(escaped) {
    return escaped === null ? 'NULL' : `'${escaped}'`;
  }

  timestamp(t) {
    return `'${this.clock.format(t)}'`;
  }

  row(fields) {
    return `(${fields.join(',')})`;
  }

  /** A website_event row in the v2.20 column order, from escaped strings; `websiteId` is a field already. */
  eventRow(ev, eventId, websiteId, sessionId, visitId) {
    const v = (x) => (x === null ? 'NULL' : `'${x}'`);
    return `('${eventId}',${websiteId},'${sessionId}','${this.clock.format(ev.time)}',${v(ev.urlPath)},${v(ev.urlQuery)},${
      v(ev.referrerPath)},${v(ev.referrerQuery)},${v(ev.referrerDomain)},${v(ev.pageTitle)},${ev.eventType},${
      v(ev.eventName)},'${visitId}',${v(ev.tag)},${v(ev.fbclid)},${v(ev.gclid)},${v(ev.li_fat_id)},${v(ev.msclkid)},${
      v(ev.ttclid)},${v(ev.twclid)},${v(ev.utmCampaign)},${v(ev.utmContent)},${v(ev.utmMedium)},${v(ev.utmSource)},${
      v(ev.utmTerm)},${v(ev.hostname)})`;
  }

  /** Writes rows as extended INSERTs, one row per line, a new statement near net_buffer_length. */
  rowSink(out, table) {
    const head = `INSERT INTO \`${table}\` VALUES\n`;
    let length = 0;
    let open = false;
    return {
      add(row) {
        const rowLength = Buffer.byteLength(row) + 2;
        if (open && length + rowLength < NET_BUFFER_LENGTH) {
          length += rowLength;
          out.write(',\n');
        } else {
          if (open) out.write(';\n');
          out.write(head);
          length = rowLength + head.length + 4;
          open = true;
        }
        out.write(row);
      },
      end() {
        if (open) out.write(';\n');
      },
    };
  }
}

const COPY_ESCAPES = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
const COPY_SPECIAL = /[\\\b\f\n\r\t\v]/g;

/** pg_dump output: COPY text rows, TAB-separated, `\N` for NULL, timestamptz with offset. */
export class PgDumpFormat {
  name = 'pgdump';
  templateFile = new URL('../templates/umami-v2-pgdump.sql', import.meta.url);
  sortedIds = false;

  constructor(clock) {
    this.clock = clock;
  }

  escape(text) {
    return text.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c]);
  }

  /** A field from an escaped string (or null). */
  value(escaped) {
    return escaped === null ? '\\N' : escaped;
  }

  timestamp(t, ms) {
    return `${this.clock.format(t)}${MILLIS[ms]}+00`;
  }

  row(fields) {
    return fields.join('\t');
  }

  /** A website_event row in the v2.20 column order, from escaped strings. */
  eventRow(ev, eventId, websiteId, sessionId, visitId) {
    const v = (x) => (x === null ? '\\N' : x);
    return `${eventId}\t${websiteId}\t${sessionId}\t${this.timestamp(ev.time, ev.ms)}\t${v(ev.urlPath)}\t${
      v(ev.urlQuery)}\t${v(ev.referrerPath)}\t${v(ev.referrerQuery)}\t${v(ev.referrerDomain)}\t${v(ev.pageTitle)}\t${
      ev.eventType}\t${v(ev.eventName)}\t${visitId}\t${v(ev.tag)}\t${v(ev.fbclid)}\t${v(ev.gclid)}\t${
      v(ev.li_fat_id)}\t${v(ev.msclkid)}\t${v(ev.ttclid)}\t${v(ev.twclid)}\t${v(ev.utmCampaign)}\t${
      v(ev.utmContent)}\t${v(ev.utmMedium)}\t${v(ev.utmSource)}\t${v(ev.utmTerm)}\t${v(ev.hostname)}`;
  }

  rowSink(out) {
    return {
      add(row) {
        out.write(row);
        out.write('\n');
      },
      end() {},
    };
  }
}

export const FORMATS = { mariadb: MariaDbFormat, pgdump: PgDumpFormat };

/**
 * The template's pieces in order: {text}, {value: name} for `{{name}}`, and {table} for a
 * line holding only `{{data:table}}` (replaced, newline included, by the table's rows).
 */
export function templateParts(file) {
  const text = readFileSync(file, 'utf8');
  const parts = [];
  const placeholder = /\{\{data:(\w+)\}\}\n|\{\{(\w+)\}\}/g;
  let last = 0;
  for (const m of text.matchAll(placeholder)) {
    parts.push({ text: text.slice(last, m.index) });
    parts.push(m[1] ? { table: m[1] } : { value: m[2] });
    last = m.index + m[0].length;
  }
  parts.push({ text: text.slice(last) });
  return parts;
}
