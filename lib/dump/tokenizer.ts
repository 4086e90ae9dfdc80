/**
 * Stage 1, the stream: Buffer chunks of a dump in (plain or gzip), batches of
 * rows out. Recognises the input from its first bytes, decompresses gzip in
 * the stream and hands the bytes to the {@link DumpScanner}.
 */
import { type Duplex, Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { UmamiAggregateError, invalidOption } from '../errors.js';
import { MAGIC_BYTES, SNIFF_BYTES, detectCompression, detectTextFormat, type TextFormat } from './detect.js';
import { DumpScanner, type RowBatch, type ScannerOptions } from './scanner.js';

export type InputFormat = 'auto' | 'sql' | 'json' | 'ndjson';

/**
 * Decompressed bytes are scanned this many at a time, one piece per turn of the event loop. zlib
 * hands back each chunk it made on this thread and only then starts the next one; between pieces
 * that hand-back is taken at once, so zlib keeps working while the scanner does, instead of
 * waiting for a whole chunk to be scanned.
 */
const INFLATED_PIECE = 128 << 10;
/** Decompressed chunks (512 KiB each) waiting to be scanned at most: zlib pauses at this many, ahead of the scanner. */
const INFLATED_AHEAD = 4;

/** The JSON reader and its packages, loaded on first use: an SQL import never needs them. */
let jsonModule: Promise<typeof import('./json.js')> | null = null;

export interface DumpTokenizerOptions extends ScannerOptions {
  /**
   * `auto` (default) recognises SQL, a JSON array of events (or `{ "data": [ … ] }`)
   * or NDJSON from the content.
   */
  format?: InputFormat;
}

/**
 * The tokenizer stream. Besides the batches it exposes counters that grow
 * as it reads: `bytesRead` (input bytes, compressed if the input is),
 * `bytesDecoded` (bytes after decompression) and `rowsRead`.
 */
export class DumpTokenizer extends Transform {
  bytesRead = 0;
  bytesDecoded = 0;
  compression: 'gzip' | 'none' | null = null;
  format: TextFormat | null = null;

  private readonly opts: DumpTokenizerOptions;
  private head: Buffer[] = [];
  private headLength = 0;
  private textHead: Buffer[] = [];
  private textHeadLength = 0;
  private source: DumpScanner | null = null;
  private json: (Duplex & { rowsRead: number }) | null = null;
  /** While the JSON reader loads: the decoded bytes that wait for it, and the load. */
  private jsonPending: Buffer[] | null = null;
  private jsonLoading: Promise<void> | null = null;
  private gunzip: zlib.Gunzip | null = null;
  /** Decompressed chunks not scanned yet (the first maybe in part), and whether their scan is scheduled. */
  private inflated: Buffer[] = [];
  private inflatedScheduled = false;
  /** The end of the gzip stream, when it comes before the last chunk is scanned. */
  private inflatedEnd: (() => void) | null = null;
  private failed = false;

  constructor(options: DumpTokenizerOptions = {}) {
    super({ readableObjectMode: true, readableHighWaterMark: 16 });
    validateTokenizerOptions(options);
    this.opts = options;
  }

  /**
   * Gives back a batch's rows once they have been read (see {@link DumpScanner.recycle}): later
   * rows of the same table are built in the same arrays. For a consumer that keeps nothing of a
   * batch's rows after reading them; it must not read them again.
   */
  recycle(batch: RowBatch): void {
    this.source?.recycle(batch);
  }

  get rowsRead(): number {
    return this.source?.rowsRead ?? this.json?.rowsRead ?? 0;
  }

  /** `mysql` or `postgres` once an SQL dump has shown which; null before or for JSON. */
  get dialect(): string | null {
    return this.source?.dialect ?? null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!Buffer.isBuffer(chunk)) chunk = Buffer.from(chunk as unknown as string);
    this.bytesRead += chunk.length;
    try {
      if (this.compression === null) {
        this.head.push(chunk);
        this.headLength += chunk.length;
        if (this.headLength < MAGIC_BYTES) return cb();
        chunk = this.openInput();
      }
      this.route(chunk, cb);
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (this.compression === null) {
        if (this.headLength === 0) {
          throw new UmamiAggregateError('UA_EMPTY_INPUT', 'the input is empty (0 bytes)', { offset: 0 });
        }
        this.route(this.openInput(), (err) => (err ? cb(err) : this.finish(cb)));
        return;
      }
      this.finish(cb);
    } catch (err) {
      cb(err as Error);
    }
  }

  private openInput(): Buffer {
    const first = Buffer.concat(this.head);
    this.head = [];
    this.compression = detectCompression(first);
    if (this.compression === 'gzip') {
      // Output chunks of 512 KiB: the scanner's per-chunk work is negligible at that size, and zlib
      // allocates one per chunk: with 1 MiB chunks, those that were read piled up to about 30 MB
      // more at the 1M-event import's peak before they were collected, at no gain in speed.
      const gunzip = zlib.createGunzip({ chunkSize: 1 << 19 });
      // Chunks are scanned a piece at a time (see INFLATED_PIECE), up to INFLATED_AHEAD of them
      // waiting: zlib decompresses on a thread of Node's pool while this thread scans. With each
      // whole chunk scanned as it came, zlib was one chunk ahead at most and each waited for the
      // other: the 1M-event gzipped import kept about three quarters of two cores busy.
      gunzip.on('data', (d: Buffer) => {
        if (this.failed) return;
        this.inflated.push(d);
        if (this.inflated.length >= INFLATED_AHEAD) gunzip.pause();
        this.scheduleInflated();
      });
      gunzip.on('error', (err) => {
        this.fail(new UmamiAggregateError('UA_CORRUPT_COMPRESSION', `the gzip input cannot be decompressed: ${err.message}`, { offset: this.bytesRead }, { cause: err }));
      });
      this.gunzip = gunzip;
    }
    return first;
  }

  private scheduleInflated(): void {
    if (this.inflatedScheduled) return;
    this.inflatedScheduled = true;
    setImmediate(this.scanInflated);
  }

  /** Scans the next piece of decompressed bytes; once none wait and the gzip stream has ended, ends. */
  private readonly scanInflated = (): void => {
    this.inflatedScheduled = false;
    if (this.failed || this.destroyed) return;
    const queue = this.inflated;
    if (queue.length > 0) {
      let piece = queue[0];
      if (piece.length > INFLATED_PIECE) {
        queue[0] = piece.subarray(INFLATED_PIECE);
        piece = piece.subarray(0, INFLATED_PIECE);
      } else queue.shift();
      try {
        this.decoded(piece);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      if (queue.length < INFLATED_AHEAD && this.gunzip?.isPaused()) this.gunzip.resume();
      if (queue.length > 0) {
        this.scheduleInflated();
        return;
      }
    }
    const end = this.inflatedEnd;
    this.inflatedEnd = null;
    end?.();
  };

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // zlib stops too (paused with chunks waiting, it would otherwise hold them and its state).
    this.inflated = [];
    this.gunzip?.destroy();
    cb(err);
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.destroy(err);
  }

  private route(chunk: Buffer, cb: TransformCallback): void {
    // Input waits while the JSON reader loads (what is decoded meanwhile is held for it).
    const next = (): void => {
      if (this.jsonLoading) this.jsonLoading.then(() => cb());
      else cb();
    };
    if (this.gunzip) {
      this.gunzip.write(chunk, next);
    } else {
      this.decoded(chunk);
      next();
    }
  }

  private finish(cb: TransformCallback): void {
    const done = (): void => {
      if (this.failed) return;
      try {
        if (this.source === null && this.json === null && this.jsonLoading === null) this.openSource(true);
        if (this.jsonLoading) {
          this.jsonLoading.then(done);
          return;
        }
        if (this.json) {
          this.json.once('end', () => cb());
          this.json.end();
          this.json.resume();
          return;
        }
        if (this.source === null) {
          throw new UmamiAggregateError('UA_EMPTY_INPUT', 'the input holds no data after decompression', { offset: 0 });
        }
        for (const b of this.source.end()) this.push(b);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    };
    if (this.gunzip) {
      this.gunzip.once('end', () => {
        if (this.inflated.length > 0 || this.inflatedScheduled) this.inflatedEnd = done;
        else done();
      });
      this.gunzip.end();
    } else {
      done();
    }
  }

  /** Decoded (decompressed) bytes: sniffed once, then scanned. */
  private decoded(chunk: Buffer): void {
    this.bytesDecoded += chunk.length;
    if (this.jsonPending) {
      this.jsonPending.push(chunk);
      return;
    }
    if (this.json) {
      this.json.write(chunk);
      return;
    }
    if (this.source === null) {
      this.textHead.push(chunk);
      this.textHeadLength += chunk.length;
      if (this.textHeadLength < SNIFF_BYTES) return;
      this.openSource(false);
      return;
    }
    for (const b of this.source.write(chunk)) this.push(b);
  }

  private openSource(atEnd: boolean): void {
    if (this.textHeadLength === 0 && atEnd) return;
    const head = Buffer.concat(this.textHead);
    this.textHead = [];
    const format = this.opts.format && this.opts.format !== 'auto' ? this.opts.format : detectTextFormat(head);
    this.format = format;
    if (format === 'sql') {
      this.source = new DumpScanner(this.opts);
      for (const b of this.source.write(head)) this.push(b);
      return;
    }
    this.jsonPending = [head];
    this.jsonLoading = (jsonModule ??= import('./json.js')).then(
      (m) => this.openJson(m.createJsonReader, format),
      (err: Error) => this.fail(err),
    );
  }

  private openJson(createJsonReader: (typeof import('./json.js'))['createJsonReader'], format: 'json' | 'ndjson'): void {
    const pending = this.jsonPending!;
    this.jsonPending = null;
    this.jsonLoading = null;
    if (this.failed) return;
    // The first of them is the head the format was recognised from.
    const json = createJsonReader(format, pending[0], { batchRows: this.opts.batchRows, maxValueBytes: this.opts.maxValueBytes });
    json.on('data', (b: RowBatch) => {
      if (!this.failed) this.push(b);
    });
    json.on('error', (err: Error) => {
      this.fail(
        err instanceof UmamiAggregateError
          ? err
          : new UmamiAggregateError('UA_INVALID_JSON', `the JSON input cannot be parsed: ${err.message}`, { table: 'website_event', offset: this.bytesDecoded }, { cause: err }),
      );
    });
    this.json = json;
    for (const chunk of pending) json.write(chunk);
  }
}

function validateTokenizerOptions(o: DumpTokenizerOptions): void {
  if (o.format !== undefined && !['auto', 'sql', 'json', 'ndjson'].includes(o.format)) {
    throw invalidOption('format', "one of 'auto', 'sql', 'json', 'ndjson'", o.format);
  }
  if (o.dialect !== undefined && !['auto', 'mysql', 'postgres'].includes(o.dialect)) {
    throw invalidOption('dialect', "one of 'auto', 'mysql', 'postgres'", o.dialect);
  }
  if (o.maxValueBytes !== undefined && !(Number.isInteger(o.maxValueBytes) && o.maxValueBytes > 0)) {
    throw invalidOption('maxValueBytes', 'a positive integer', o.maxValueBytes);
  }
  if (o.batchRows !== undefined && !(Number.isInteger(o.batchRows) && o.batchRows > 0)) {
    throw invalidOption('batchRows', 'a positive integer', o.batchRows);
  }
  if (o.select !== undefined && typeof o.select !== 'function') {
    throw invalidOption('select', 'a function', o.select);
  }
}

/** Stage 1: a Transform from dump bytes (plain or gzip) to {@link RowBatch}es. */
export function createDumpTokenizer(options: DumpTokenizerOptions = {}): DumpTokenizer {
  return new DumpTokenizer(options);
}
