/**
 * Spilled aggregates: run files of hour buckets, and the readers that merge them.
 *
 * When the aggregates of an import reach their memory limit, the aggregator
 * can write its hour buckets to a run file and go on with empty tables
 * (keeping its names), instead of writing partial rows to the database that
 * later flushes must read back and merge. A run holds, per hour bucket and in
 * order of website id, then hour: the hour's page views, its visitors'
 * hashes and its (name id, count) pairs of pages, referrers and referrers
 * without a hostname. Days and months are not written: they are rolled up
 * from the hours when the runs are merged.
 *
 * Record layout, in 8-byte units: a header of 8 doubles (website index in
 * the run's sorted website list, hour start in ms, local day number, page
 * views, visitor count, page pairs, referrer pairs, hostless referrer pairs),
 * then one double per visitor hash, then one pair of 32-bit integers (name
 * id, count) per entry.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UmamiAggregateError } from '../errors.js';
import { monthOfDay } from './timezone.js';

const HEADER_UNITS = 8;
const HEADER_BYTES = HEADER_UNITS * 8;
/** Bytes a writer collects before writing. */
const BLOCK_BYTES = 1 << 20;
/** Bytes a run reader reads at a time (a merge reads every run at once). */
const READ_BYTES = 1 << 18;

function spillError(what: string, file: string, err: unknown): UmamiAggregateError {
  const code = (err as { code?: string }).code ?? (err as Error).message;
  return new UmamiAggregateError('UA_SPILL_FAILED', `cannot ${what} ${file}: ${code}`, { file });
}

/** Spill folders in use, removed if the process exits before their owners remove them. */
const liveFolders = new Set<string>();
let exitHook: (() => void) | null = null;

/** A new folder for one aggregator's runs, inside `parent` (removed at exit unless removed before). */
export function makeSpillFolder(parent: string): string {
  let folder: string;
  try {
    folder = fs.mkdtempSync(path.join(parent, 'umami-aggregate-'));
  } catch (err) {
    throw spillError('make a folder in', parent, err);
  }
  liveFolders.add(folder);
  if (exitHook === null) {
    exitHook = () => {
      for (const f of liveFolders) removeFolder(f);
    };
    process.on('exit', exitHook);
  }
  return folder;
}

/** Removes a spill folder and what is in it (best effort: nothing happens when it is gone or cannot go). */
export function removeSpillFolder(folder: string): void {
  removeFolder(folder);
  liveFolders.delete(folder);
  if (liveFolders.size === 0) {
    // No spilling import is left in this thread: no buffers are kept for the next run.
    spareBuffers.clear();
    if (exitHook !== null) {
      process.off('exit', exitHook);
      exitHook = null;
    }
  }
}

/**
 * Buffers of runs closed, lent to the next runs, by size: a spilled import
 * writes and reads runs of 1 MiB and 256 KiB buffers again and again, and
 * as garbage they waited for a full collection (about 20 MB of them by the
 * middle of a 10M-event import, while the heap itself stayed flat). At most
 * {@link SPARE_BUFFERS} of a size are kept, and none once no spill folder
 * of this thread is left.
 */
const spareBuffers = new Map<number, ArrayBuffer[]>();
const SPARE_BUFFERS = 16;

function lendBuffer(size: number): ArrayBuffer {
  return spareBuffers.get(size)?.pop() ?? new ArrayBuffer(size);
}

/** Takes back a buffer of one of the sizes lent ({@link BLOCK_BYTES}, {@link READ_BYTES}); others are left to the collector. */
function returnBuffer(buffer: ArrayBuffer): void {
  const size = buffer.byteLength;
  if ((size !== BLOCK_BYTES && size !== READ_BYTES) || liveFolders.size === 0) return;
  let list = spareBuffers.get(size);
  if (list === undefined) spareBuffers.set(size, (list = []));
  if (list.length < SPARE_BUFFERS && !list.includes(buffer)) list.push(buffer);
}

function removeFolder(folder: string): void {
  try {
    fs.rmSync(folder, { recursive: true, force: true });
  } catch {
    // Left for the system's temporary-file cleaning; the import's result does not depend on it.
  }
}

function writeAll(fd: number, bytes: Uint8Array, file: string): void {
  let at = 0;
  try {
    while (at < bytes.length) at += fs.writeSync(fd, bytes, at, bytes.length - at);
  } catch (err) {
    throw spillError('write', file, err);
  }
}

/**
 * A file read forward in blocks: {@link have} makes bytes from {@link pos}
 * on available in {@link buffer}, moving what is held to the front (or into
 * a larger buffer for more than it holds) and reading more as needed.
 */
class BlockReader {
  buffer: ArrayBuffer;
  /** Where the caller's next bytes start, and the end of those held. */
  pos = 0;
  length = 0;
  private ended = false;

  constructor(
    private readonly fd: number,
    private readonly file: string,
    size: number,
  ) {
    this.buffer = lendBuffer(size);
  }

  /** Whether `bytes` bytes from pos are held (false: the file ends first). */
  have(bytes: number): boolean {
    if (this.length - this.pos >= bytes) return true;
    const rest = this.length - this.pos;
    if (bytes > this.buffer.byteLength) {
      const bigger = new ArrayBuffer(Math.max(bytes, 2 * this.buffer.byteLength));
      new Uint8Array(bigger).set(new Uint8Array(this.buffer, this.pos, rest));
      this.buffer = bigger;
    } else {
      new Uint8Array(this.buffer).copyWithin(0, this.pos, this.length);
    }
    this.pos = 0;
    this.length = rest;
    const view = new Uint8Array(this.buffer);
    while (this.length < bytes && !this.ended) {
      let n: number;
      try {
        n = fs.readSync(this.fd, view, this.length, view.length - this.length, null);
      } catch (err) {
        throw spillError('read', this.file, err);
      }
      if (n === 0) this.ended = true;
      this.length += n;
    }
    return this.length >= bytes;
  }

  /** Bytes held past pos. */
  get held(): number {
    return this.length - this.pos;
  }
}

/** Writes the records of one run, in the order given. */
export class RunWriter {
  private buffer = lendBuffer(BLOCK_BYTES);
  private f64 = new Float64Array(this.buffer);
  private i32 = new Int32Array(this.buffer);
  /** Bytes collected, not written yet. */
  private at = 0;
  private readonly fd: number;
  private closed = false;
  /** Bytes written. */
  bytes = 0;

  constructor(readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'wx');
    } catch (err) {
      throw spillError('create', file, err);
    }
  }

  record(site: number, start: number, day: number, views: number, hashes: Float64Array, pages: Int32Array, refs: Int32Array, hostless: Int32Array): void {
    const units = HEADER_UNITS + hashes.length + (pages.length + refs.length + hostless.length) / 2;
    const bytes = units * 8;
    if (this.at + bytes > this.buffer.byteLength) {
      this.write();
      if (bytes > this.buffer.byteLength) {
        this.buffer = new ArrayBuffer(bytes);
        this.f64 = new Float64Array(this.buffer);
        this.i32 = new Int32Array(this.buffer);
      }
    }
    const f64 = this.f64;
    let u = this.at / 8;
    f64[u++] = site;
    f64[u++] = start;
    f64[u++] = day;
    f64[u++] = views;
    f64[u++] = hashes.length;
    f64[u++] = pages.length / 2;
    f64[u++] = refs.length / 2;
    f64[u++] = hostless.length / 2;
    f64.set(hashes, u);
    u += hashes.length;
    let w = u * 2;
    this.i32.set(pages, w);
    w += pages.length;
    this.i32.set(refs, w);
    w += refs.length;
    this.i32.set(hostless, w);
    w += hostless.length;
    this.at = w * 4;
  }

  /** The current record of a reader, under website index `site` of this run. */
  copy(r: RunReader, site: number): void {
    const { f64, i32 } = r;
    this.record(site, r.start, r.day, r.views, f64.subarray(r.hashAt, r.hashAt + r.hashCount), i32.subarray(2 * r.pageAt, 2 * r.refAt), i32.subarray(2 * r.refAt, 2 * r.hostlessAt), i32.subarray(2 * r.hostlessAt, 2 * r.pairsEnd));
  }

  private write(): void {
    if (this.at === 0) return;
    writeAll(this.fd, new Uint8Array(this.buffer, 0, this.at), this.file);
    this.bytes += this.at;
    this.at = 0;
  }

  /** Writes what is held and closes the file; again, nothing (its descriptor may be another file's by then). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.write();
    } finally {
      fs.closeSync(this.fd);
      returnBuffer(this.buffer);
    }
  }
}

/** A run as its aggregator keeps it: the file and its websites, in the order records name them. */
export interface Run {
  file: string;
  sites: string[];
  /** 0 for a spill; one more than the runs merged into it. */
  level: number;
}

/**
 * Reads a run's records one at a time: after {@link next} returns true, the
 * fields and the arrays' views describe the current record until the next call.
 */
export class RunReader {
  /** The buffer the current record is in, as doubles and as 32-bit integers. */
  f64: Float64Array;
  i32: Int32Array;
  private fd: number | null;
  private readonly block: BlockReader;
  site = '';
  start = 0;
  day = 0;
  views = 0;
  /** The record's visitor hashes: f64[hashAt, hashAt + hashCount). */
  hashAt = 0;
  hashCount = 0;
  /**
   * Its (name id, count) pairs, i32[2k] and i32[2k + 1]: pages from k =
   * pageAt, then referrers from refAt, then hostless referrers from
   * hostlessAt to pairsEnd.
   */
  pageAt = 0;
  refAt = 0;
  hostlessAt = 0;
  pairsEnd = 0;

  constructor(private readonly run: Run) {
    try {
      this.fd = fs.openSync(run.file, 'r');
    } catch (err) {
      throw spillError('open', run.file, err);
    }
    this.block = new BlockReader(this.fd, run.file, READ_BYTES);
    this.f64 = new Float64Array(this.block.buffer);
    this.i32 = new Int32Array(this.block.buffer);
  }

  /** Moves to the next record; false (and the file closed) after the last. */
  next(): boolean {
    const block = this.block;
    if (this.fd === null) return false;
    if (!block.have(HEADER_BYTES)) {
      if (block.held !== 0) throw new UmamiAggregateError('UA_SPILL_FAILED', `the run ${this.run.file} ends inside a record`, { file: this.run.file });
      this.close();
      return false;
    }
    let u = block.pos / 8;
    const nv = this.f64[u + 4];
    const pairs = this.f64[u + 5] + this.f64[u + 6] + this.f64[u + 7];
    const bytes = (HEADER_UNITS + nv + pairs) * 8;
    if (!block.have(bytes)) throw new UmamiAggregateError('UA_SPILL_FAILED', `the run ${this.run.file} ends inside a record`, { file: this.run.file });
    // have() may have moved the record to the front, or into a larger buffer.
    if (block.buffer !== this.f64.buffer) {
      this.f64 = new Float64Array(block.buffer);
      this.i32 = new Int32Array(block.buffer);
    }
    u = block.pos / 8;
    const f64 = this.f64;
    this.site = this.run.sites[f64[u]];
    this.start = f64[u + 1];
    this.day = f64[u + 2];
    this.views = f64[u + 3];
    const np = f64[u + 5];
    const nr = f64[u + 6];
    const nh = f64[u + 7];
    u += HEADER_UNITS;
    this.hashAt = u;
    this.hashCount = nv;
    this.pageAt = u + nv;
    this.refAt = this.pageAt + np;
    this.hostlessAt = this.refAt + nr;
    this.pairsEnd = this.hostlessAt + nh;
    block.pos += bytes;
    return true;
  }

  close(): void {
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
    returnBuffer(this.block.buffer);
  }
}

/**
 * The records of several runs in one order (website id, then hour start),
 * by turns: `next()` gives the reader holding the next record, which stays
 * current until `next()` is called again; null after the last. Records of
 * one hour come in their runs' order.
 */
export class RunMerger {
  private readonly live: RunReader[] = [];
  private last: RunReader | null = null;
  private site: string | null = null;
  private start = NaN;
  /** Whether the current record is its hour's first (another website or hour start than the one before). */
  firstOfHour = false;
  /**
   * The local day of the current record's hour: its first record's. Two runs
   * may have put an hour that a DST change splits across midnight on
   * different days (each took the day of its own first event there).
   */
  day = 0;

  constructor(runs: readonly Run[]) {
    try {
      for (const run of runs) {
        const r = new RunReader(run);
        try {
          if (r.next()) this.live.push(r);
        } catch (err) {
          r.close();
          throw err;
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  next(): RunReader | null {
    const last = this.last;
    if (last !== null && !last.next()) this.live.splice(this.live.indexOf(last), 1);
    let best: RunReader | null = null;
    for (const r of this.live) {
      if (best === null || r.site < best.site || (r.site === best.site && r.start < best.start)) best = r;
    }
    this.last = best;
    if (best !== null) {
      this.firstOfHour = best.site !== this.site || best.start !== this.start;
      if (this.firstOfHour) {
        this.site = best.site;
        this.start = best.start;
        this.day = best.day;
      }
    }
    return best;
  }

  close(): void {
    for (const r of this.live) r.close();
    this.live.length = 0;
    this.last = null;
  }
}

/** The runs' records in one run in `file` (of this level); the runs' files removed. */
export function mergeRuns(runs: readonly Run[], file: string, level: number): Run {
  const sites = [...new Set(runs.flatMap((r) => r.sites))].sort();
  const index = new Map(sites.map((id, k) => [id, k]));
  const merger = new RunMerger(runs);
  let writer: RunWriter | null = null;
  try {
    writer = new RunWriter(file);
    for (let r = merger.next(); r !== null; r = merger.next()) writer.copy(r, index.get(r.site)!);
  } finally {
    merger.close();
    writer?.close();
  }
  for (const run of runs) fs.rmSync(run.file, { force: true });
  return { file, sites, level };
}

/** Rows per granularity the runs make: distinct hours, days and months of each website. */
export function countMerged(runs: readonly Run[]): { hour: number; day: number; month: number } {
  const counts = { hour: 0, day: 0, month: 0 };
  const merger = new RunMerger(runs);
  try {
    let site: string | null = null;
    const days = new Set<number>();
    const months = new Set<number>();
    for (let r = merger.next(); r !== null; r = merger.next()) {
      if (!merger.firstOfHour) continue;
      if (r.site !== site) {
        counts.day += days.size;
        counts.month += months.size;
        days.clear();
        months.clear();
        site = r.site;
      }
      counts.hour++;
      if (!days.has(merger.day)) {
        days.add(merger.day);
        months.add(monthOfDay(merger.day));
      }
    }
    counts.day += days.size;
    counts.month += months.size;
  } finally {
    merger.close();
  }
  return counts;
}

/**
 * Rows kept for later in a file: each a JSON value and a binary part (a
 * visitor sketch), written in order and read back in order. Record layout:
 * the JSON's byte length and the binary part's (two 32-bit integers), then
 * the JSON's UTF-8 bytes, then the binary part. The binary part is never
 * turned into text: a sketch of 16 KB goes in and comes out as bytes.
 */
export class RowFile {
  private block = Buffer.allocUnsafe(BLOCK_BYTES);
  /** Bytes collected, not written yet. */
  private at = 0;
  private fd: number | null;

  constructor(readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'w');
    } catch (err) {
      throw spillError('create', file, err);
    }
  }

  write(value: unknown, blob: Uint8Array): void {
    const json = JSON.stringify(value);
    const jsonBytes = Buffer.byteLength(json);
    const size = 8 + jsonBytes + blob.length;
    if (this.at + size > this.block.length) this.writeHeld();
    if (size > this.block.length) this.block = Buffer.allocUnsafe(size);
    const b = this.block;
    b.writeUInt32LE(jsonBytes, this.at);
    b.writeUInt32LE(blob.length, this.at + 4);
    b.write(json, this.at + 8, jsonBytes, 'utf8');
    b.set(blob, this.at + 8 + jsonBytes);
    this.at += size;
  }

  private writeHeld(): void {
    if (this.at === 0 || this.fd === null) return;
    writeAll(this.fd, this.block.subarray(0, this.at), this.file);
    this.at = 0;
  }

  /** Closes the file for writing. */
  end(): void {
    this.writeHeld();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  /** The rows written, in order: each value with its binary part (valid until the next row is read). */
  *read(): Generator<[unknown, Buffer]> {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (err) {
      throw spillError('open', this.file, err);
    }
    try {
      const block = new BlockReader(fd, this.file, BLOCK_BYTES);
      while (block.have(8)) {
        const buf = Buffer.from(block.buffer);
        const jsonBytes = buf.readUInt32LE(block.pos);
        const blobBytes = buf.readUInt32LE(block.pos + 4);
        if (!block.have(8 + jsonBytes + blobBytes)) break;
        // have() may have moved the row to the front, or into a larger buffer.
        const row = Buffer.from(block.buffer, block.pos + 8, jsonBytes + blobBytes);
        block.pos += 8 + jsonBytes + blobBytes;
        yield [JSON.parse(row.toString('utf8', 0, jsonBytes)) as unknown, row.subarray(jsonBytes)];
      }
      if (block.held > 0) throw spillError('read', this.file, new Error('a row ends early'));
    } finally {
      fs.closeSync(fd);
    }
  }
}
