/**
 * JSON events in, row batches out, for installs whose events are not in
 * MySQL or PostgreSQL: a JSON array of `website_event` objects as Umami's API
 * returns them (camelCase keys; also `{ "data": [ … ] }`), parsed with
 * stream-json, and NDJSON as ClickHouse `JSONEachRow` exports Umami's
 * `website_event` (snake_case keys), split into lines with split2.
 */
import { Duplex, Transform, type TransformCallback, pipeline } from 'node:stream';
import split2 from 'split2';
import { chain } from 'stream-chain';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { UmamiAggregateError } from '../errors.js';
import type { Row, RowBatch } from './scanner.js';

/** The `website_event` columns read from JSON objects. */
export const JSON_COLUMNS = ['event_id', 'website_id', 'session_id', 'visit_id', 'created_at', 'url_path', 'referrer_domain', 'event_type', 'event_name', 'hostname'];

const KEYS: Record<string, number> = {};
JSON_COLUMNS.forEach((c, i) => {
  KEYS[c] = i;
  KEYS[c.replace(/_([a-z])/g, (_, l: string) => l.toUpperCase())] = i; // camelCase
});
KEYS.id = KEYS.event_id;

function toRow(o: unknown): Row | null {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return null;
  const row: Row = new Array(JSON_COLUMNS.length).fill(null);
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    const i = KEYS[k];
    if (i === undefined || v === null || v === undefined) continue;
    row[i] = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  }
  return row;
}

export interface JsonReaderOptions {
  batchRows?: number;
  /** Longest NDJSON line in bytes. */
  maxValueBytes?: number;
}

/** Collects objects into RowBatches of `website_event`. */
class ObjectsToRows extends Transform {
  private rows: Row[] = [];
  private offsets: number[] = [];
  private readonly batchRows: number;
  private readonly position: () => number;
  rowsRead = 0;

  constructor(batchRows: number, position: () => number) {
    super({ objectMode: true });
    this.batchRows = batchRows;
    this.position = position;
  }

  override _transform(item: { value?: unknown; offset?: number } | unknown, _enc: BufferEncoding, cb: TransformCallback): void {
    const value = item && typeof item === 'object' && 'value' in (item as object) ? (item as { value: unknown }).value : item;
    const offset = item && typeof item === 'object' && typeof (item as { offset?: unknown }).offset === 'number' ? (item as { offset: number }).offset : this.position();
    this.rowsRead++;
    const row = toRow(value);
    // Something that is not an object still counts as a row, with no values: the parser rejects it.
    this.rows.push(row ?? []);
    this.offsets.push(offset);
    if (this.rows.length >= this.batchRows) this.emitBatch();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.emitBatch();
    cb();
  }

  private emitBatch(): void {
    if (this.rows.length === 0) return;
    const batch: RowBatch = {
      table: 'website_event',
      schema: null,
      columns: JSON_COLUMNS,
      types: JSON_COLUMNS.map(() => ''),
      dialect: 'json',
      timeZone: null,
      rows: this.rows,
      offsets: this.offsets,
    };
    this.rows = [];
    this.offsets = [];
    this.push(batch);
  }
}

/** One Duplex over a chain of streams; an error anywhere destroys it. */
function join(first: Transform, middle: Duplex, last: Transform): Duplex {
  const duplex = Duplex.from({ writable: first, readable: last });
  pipeline(first, middle, last, (err) => {
    if (err) duplex.destroy(err);
  });
  return duplex;
}

/**
 * A Duplex: decoded bytes in, RowBatches out. `head` is the beginning of the
 * input, used to tell a top-level array from a `{ "data": [ … ] }` wrapper.
 */
export function createJsonReader(format: 'json' | 'ndjson', head: Buffer, options: JsonReaderOptions = {}): Duplex & { rowsRead: number } {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const collect = new ObjectsToRows(options.batchRows ?? 2048, () => bytes);
  let reader: Duplex;
  if (format === 'ndjson') {
    let lineStart = 0;
    const lines = split2(
      (line: string) => {
        const offset = lineStart;
        lineStart += Buffer.byteLength(line) + 1;
        if (line.trim() === '') return undefined;
        try {
          return { value: JSON.parse(line) as unknown, offset };
        } catch (err) {
          throw new UmamiAggregateError('UA_INVALID_JSON', `invalid JSON on the line at byte ${offset}: ${(err as Error).message}`, { table: 'website_event', offset });
        }
      },
      { maxLength: options.maxValueBytes ?? 16 * 1024 * 1024 },
    );
    reader = join(counter, lines, collect);
  } else {
    const text = head.toString('utf8', 0, Math.min(head.length, 4096)).replace(/^\uFEFF/, '').trimStart();
    const wrapped = text.startsWith('{');
    const tokens = wrapped
      ? chain([parser(), pick({ filter: 'data' }), streamArray()])
      : chain([parser(), streamArray()]);
    reader = join(counter, tokens as unknown as Duplex, collect);
  }
  return Object.defineProperty(reader, 'rowsRead', { get: () => collect.rowsRead }) as Duplex & { rowsRead: number };
}
