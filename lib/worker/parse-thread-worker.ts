/**
 * The worker side of {@link ParseThread}: runs the tokenizer and the event
 * parser over the chunks it is sent and posts packed event batches back. The
 * parser writes events straight into the packer: no event objects are made.
 */
import fs from 'node:fs';
import { Writable, pipeline } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { DumpTokenizer } from '../dump/tokenizer.js';
import { inputUnreadable } from '../errors.js';
import { EventParser, type ParsedBatch } from '../umami/parser.js';
import type { RowBatch } from '../dump/scanner.js';
import { EventPacker, type PackedEventBatch, packedBytes, transferablesOf } from '../umami/packed.js';
import { serveRows } from './rows-service.js';
import { BATCHES_IN_FLIGHT, type MainMessage, type ParseStats, type ParseThreadOptions, type WorkerMessage, parseStatsOf, serializeError } from './protocol.js';

/**
 * Events per packed batch (a batch also ends before websites, and at the end).
 * Small enough that the main thread aggregates one in a few milliseconds and
 * comes back soon to send the next chunk: larger batches left this thread
 * waiting for input.
 */
const PACKED_EVENTS = 4096;
/**
 * Events a batch's memory has room for: a batch is sent once it holds PACKED_EVENTS, and the
 * rows of one tokenizer batch may take it past that.
 */
const PACKED_ROOM = PACKED_EVENTS + 2048;
/** Events wait at most this long for a batch to fill (slow input still reports progress). */
const PACKED_WAIT_MS = 50;

/** Bytes read from a file at a time. */
const FILE_CHUNK_BYTES = 1 << 20;
/** File chunks at most with the main thread (being hashed) at a time. */
const FILE_CHUNKS_OUT = 8;

const port = parentPort!;

const options = workerData as ParseThreadOptions;
let failed = false;

function fail(err: unknown): void {
  if (failed) return;
  failed = true;
  port.postMessage({ t: 'error', error: serializeError(err) } satisfies WorkerMessage);
}

try {
  const parser = new EventParser({ sourceTimezone: options.sourceTimezone, maxRejected: options.maxRejected, packed: true });
  const tokenizer = new DumpTokenizer({ select: parser.select, maxValueBytes: options.maxValueBytes, format: options.format });

  let outstanding = 0;
  let resume: (() => void) | null = null;
  const packer = new EventPacker(PACKED_ROOM);
  const stats = (): ParseStats => ({ ...parseStatsOf(tokenizer, parser), packedBuffers: packer.buffersAllocated });
  // Batch memory the main thread has released, packed into again: a few buffers serve the whole input.
  const batchPool: ArrayBuffer[] = [];
  const BATCH_BYTES = packedBytes(PACKED_ROOM);

  const post = (batch: ParsedBatch | PackedEventBatch, transfer: ArrayBuffer[] = []): void => {
    outstanding++;
    port.postMessage({ t: 'batch', batch, stats: stats() } satisfies WorkerMessage, transfer);
  };
  let timer: NodeJS.Timeout | null = null;
  const sendPacked = (): void => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    const memory = batchPool.pop();
    const b = packer.take(memory, PACKED_ROOM);
    // A batch larger than the pooled memory got its own: the pooled one waits for the next.
    if (memory !== undefined && b?.visitor.buffer !== memory) batchPool.push(memory);
    if (b) post(b, transferablesOf(b));
  };
  /** Calls cb now, or once the main thread has taken enough batches. */
  const whenRoom = (cb: () => void): void => {
    if (outstanding < BATCHES_IN_FLIGHT) cb();
    else resume = cb;
  };

  const out: ParsedBatch[] = [];
  const sink = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(rows: RowBatch, _enc, cb) {
      try {
        parser.parse(rows, out, packer);
      } catch (err) {
        return cb(err as Error);
      }
      // The parser keeps nothing of the rows (events are packed, websites copied): their arrays are built into again.
      tokenizer.recycle(rows);
      if (out.length > 0) {
        // Websites go after the events read before them.
        sendPacked();
        for (const b of out) post(b);
        out.length = 0;
      } else if (packer.count < PACKED_EVENTS) {
        if (packer.count > 0) timer ??= setTimeout(sendPacked, PACKED_WAIT_MS);
        return cb();
      } else {
        sendPacked();
      }
      whenRoom(() => cb());
    },
    final(cb) {
      try {
        parser.finish();
      } catch (err) {
        return cb(err as Error);
      }
      sendPacked();
      cb();
    },
  });

  pipeline(tokenizer, sink, (err) => {
    if (err) fail(err);
    else port.postMessage({ t: 'done', stats: stats() } satisfies WorkerMessage);
  });

  /**
   * Writes input bytes to the tokenizer; `consumed` gets their buffer back once they are read, or
   * null when the tokenizer may keep them. Once an SQL scanner reads the input, a chunk is copied
   * from (never kept) by the time it is consumed; before (sniffing) and for JSON, it stays.
   */
  const consume = (data: Uint8Array, consumed: (buffer: ArrayBuffer | null) => void): void => {
    const reusable = tokenizer.format === 'sql';
    tokenizer.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => {
      if (failed || err) return;
      consumed(reusable ? (data.buffer as ArrayBuffer) : null);
    });
  };

  // Reading a file on this thread (opened and closed by the main thread, which outlives this one):
  // the next chunk is read on a thread of Node's pool while this one scans the last; chunks go to
  // the main thread once consumed (to be hashed there) and come back to be read into again; at
  // most FILE_CHUNKS_OUT are away at a time.
  const filePool: ArrayBuffer[] = [];
  let fileOut = 0;
  let fileWaiting: (() => void) | null = null;
  const readFile = (fd: number, file: string): void => {
    let position = 0;
    let reading = false;
    let atEnd = false;
    let ended = false;
    let scanning = false;
    let ahead: Uint8Array | null = null;
    const startRead = (): void => {
      if (reading || atEnd || ahead !== null) return;
      if (fileOut >= FILE_CHUNKS_OUT) {
        fileWaiting = pump;
        return;
      }
      reading = true;
      const buffer = filePool.pop() ?? new ArrayBuffer(FILE_CHUNK_BYTES);
      fs.read(fd, new Uint8Array(buffer), 0, FILE_CHUNK_BYTES, position, (err, n) => {
        reading = false;
        if (failed) return;
        if (err) return fail(inputUnreadable(file, err));
        if (n === 0) atEnd = true;
        else {
          position += n;
          ahead = new Uint8Array(buffer, 0, n);
        }
        pump();
      });
    };
    const pump = (): void => {
      if (failed) return;
      if (!scanning && ahead !== null) {
        const read = ahead;
        ahead = null;
        scanning = true;
        // The next chunk is read while this one is scanned.
        startRead();
        consume(read, (reusable) => {
          // The buffer itself goes back to be hashed, or a copy of the bytes the tokenizer keeps.
          const data = reusable !== null ? read : read.slice();
          fileOut++;
          port.postMessage({ t: 'input', data, stats: stats() } satisfies WorkerMessage, [data.buffer as ArrayBuffer]);
          scanning = false;
          pump();
        });
        return;
      }
      startRead();
      if (!scanning && !reading && atEnd && !ended) {
        ended = true;
        tokenizer.end();
      }
    };
    pump();
  };

  port.on('message', (m: MainMessage) => {
    if (failed) return;
    switch (m.t) {
      case 'file':
        readFile(m.fd, m.file);
        return;
      case 'returned': {
        fileOut--;
        if (m.buffer && m.buffer.byteLength === FILE_CHUNK_BYTES) filePool.push(m.buffer);
        const next = fileWaiting;
        fileWaiting = null;
        next?.();
        return;
      }
      case 'recycle':
        if (m.buffer.byteLength === BATCH_BYTES && batchPool.length < BATCHES_IN_FLIGHT) batchPool.push(m.buffer);
        return;
      case 'chunk':
        consume(m.data, (buffer) => port.postMessage({ t: 'consumed', stats: stats(), buffer } satisfies WorkerMessage, buffer ? [buffer] : []));
        return;
      case 'end':
        tokenizer.end();
        return;
      case 'rows':
        // The input is parsed: this thread builds the last flush's rows now, where a thread started
        // for them would first load Node and this library (about 90 ms in the 1M-event import). The
        // buffers kept for reading and packing go.
        filePool.length = 0;
        batchPool.length = 0;
        serveRows(m.port, m.limits);
        return;
      case 'ack': {
        outstanding -= m.n;
        const next = resume;
        if (next && outstanding < BATCHES_IN_FLIGHT) {
          resume = null;
          next();
        }
        return;
      }
    }
  });
} catch (err) {
  fail(err);
}
