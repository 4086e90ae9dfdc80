/**
 * What the threads of an import say to each other: the messages between a
 * {@link ParseThread} and its worker, the counters they carry, errors as
 * they cross a thread, and the flow limits. A module of its own so the
 * workers load it without the main thread's stream classes.
 */
import { UmamiAggregateError, isUmamiAggregateError, type ErrorCode, type ErrorContext } from '../errors.js';
import type { DumpTokenizer, InputFormat } from '../dump/tokenizer.js';
import type { EventParser, RejectionSummary } from '../umami/parser.js';
import type { RowsPort } from './rows-service.js';

export const CHUNKS_IN_FLIGHT = 4;
export const BATCHES_IN_FLIGHT = 8;

/** What stages 1 and 2 have counted so far. */
export interface ParseStats {
  format: 'sql' | 'json' | 'ndjson' | null;
  compression: 'gzip' | 'none' | null;
  dialect: string | null;
  bytesDecoded: number;
  rowsRead: number;
  umamiVersion: string;
  events: number;
  pageViews: number;
  rejectedCount: number;
  rejected: RejectionSummary;
  /**
   * Buffers the worker allocated for packed batches. Batches whose consumer
   * releases them (as the aggregator stream does) are packed into again, so
   * this stays at a few for the whole input; otherwise it is one per batch.
   */
  packedBuffers?: number;
}

/** The counters of a tokenizer and its parser. */
export function parseStatsOf(tokenizer: DumpTokenizer, parser: EventParser): ParseStats {
  return {
    format: tokenizer.format,
    compression: tokenizer.compression,
    dialect: tokenizer.dialect,
    bytesDecoded: tokenizer.bytesDecoded,
    rowsRead: tokenizer.rowsRead,
    umamiVersion: parser.detector.version,
    events: parser.events,
    pageViews: parser.pageViews,
    rejectedCount: parser.rejectedCount,
    rejected: parser.rejected,
  };
}

export interface ParseThreadOptions {
  /**
   * Read this file on the worker thread instead of chunks written to the
   * stream (end the stream without writing). Each chunk read is emitted as
   * `input` on this thread once parsed (for hashing; a listener must not keep
   * it: its memory goes back to the worker).
   */
  file?: string;
  /** With `file`: compute the file's SHA-256 as it is read (see {@link ParseThread.fileDigest}). */
  hashFile?: boolean;
  format?: InputFormat;
  maxValueBytes?: number;
  sourceTimezone?: string;
  maxRejected?: number;
}

/** Messages from the worker. */
export type WorkerMessage =
  | { t: 'consumed'; stats: ParseStats; buffer: ArrayBuffer | null }
  | { t: 'input'; data: Uint8Array; stats: ParseStats }
  | { t: 'batch'; batch: unknown; stats: ParseStats }
  | { t: 'done'; stats: ParseStats }
  | { t: 'error'; error: SerializedError };

/** Messages to the worker. */
export type MainMessage =
  | { t: 'chunk'; data: Uint8Array }
  | { t: 'end' }
  | { t: 'ack'; n: number }
  | { t: 'file'; fd: number; file: string }
  | { t: 'returned'; buffer: ArrayBuffer | null }
  | { t: 'recycle'; buffer: ArrayBuffer }
  /** The input is parsed: serve rows from now on (see {@link ParseThread.takeWorker}). */
  | RowsPort;

export interface SerializedError {
  typed: boolean;
  code?: string;
  message: string;
  context?: ErrorContext;
}

export function serializeError(err: unknown): SerializedError {
  if (isUmamiAggregateError(err)) return { typed: true, code: err.code, message: err.message, context: err.context };
  return { typed: false, message: err instanceof Error ? err.message : String(err) };
}

export function reviveError(e: SerializedError): Error {
  if (e.typed) return new UmamiAggregateError(e.code as ErrorCode, e.message, e.context ?? {});
  return new Error(e.message);
}

export const EMPTY_STATS: ParseStats = {
  format: null,
  compression: null,
  dialect: null,
  bytesDecoded: 0,
  rowsRead: 0,
  umamiVersion: 'unknown',
  events: 0,
  pageViews: 0,
  rejectedCount: 0,
  rejected: {},
};
