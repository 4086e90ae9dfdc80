/**
 * umami-aggregate: stream an Umami database dump into hourly, daily and
 * monthly aggregates. Four composable stages and the pipeline that wires them.
 */
export { createDumpTokenizer, DumpTokenizer } from './dump/tokenizer.js';
export type { DumpTokenizerOptions, InputFormat } from './dump/tokenizer.js';
export { DumpScanner } from './dump/scanner.js';
export type { Row, RowBatch, ScannerOptions, TableInfo, ValueConverter } from './dump/scanner.js';
export { Interner } from './dump/interner.js';
export type { Dialect } from './dump/statements.js';

export { createEventParser, EventParser, EventParserStream } from './umami/parser.js';
export type {
  EventBatch,
  EventParserOptions,
  ParsedBatch,
  RejectedExample,
  RejectionSummary,
  RejectReason,
  UmamiEvent,
  UmamiWebsite,
  WebsiteBatch,
} from './umami/parser.js';

export { createAggregator, Aggregator, AggregatorStream, bucketBatchOf, collectRows } from './aggregate/aggregator.js';
export type { AggregatorOptions, BucketBatch, BucketChunk, BucketRow, FlushPlan, Granularity } from './aggregate/aggregator.js';
export { VisitorSketch, EXACT_LIMIT, hash53 } from './aggregate/distinct.js';
export type { TopEntry } from './aggregate/toplist.js';

export { ParseThread } from './worker/parse-thread.js';
export { RowsThread } from './worker/rows-thread.js';
export type { RowsThreadOptions } from './worker/rows-thread.js';
export type { ParseStats, ParseThreadOptions } from './worker/parse-thread.js';
export { EventPacker, packedBytes } from './umami/packed.js';
export type { PackedEventBatch } from './umami/packed.js';

export { createUpserter, Upserter, BucketWriter } from './store/upserter.js';
export type { FlushInfo, UpserterOptions } from './store/upserter.js';
export { migrate, MIGRATIONS_TABLE } from './store/migrations.js';
export { listImports, getImport } from './store/ledger.js';
export type { ImportMode, ImportRecord, ImportStatus } from './store/ledger.js';
export type { ResolveSite, SiteInfo } from './store/sites.js';

export { createImportPipeline, ImportPipeline } from './pipeline.js';
export type { Checkpoint, ImportOptions, ImportProgress, ImportSummary, Logger } from './pipeline.js';
export { aggregateRawPageViews, cleanupRawPageViews } from './store/raw.js';
export type { AggregateRawOptions, AggregateRawSummary, CleanupOptions, CleanupSummary } from './store/raw.js';
export { loadConfigFromEnv, ENV_VARIABLES } from './config.js';
export type { EnvConfig } from './config.js';

export { ERROR_CODES, INPUT_ERROR_CODES, UmamiAggregateError, isUmamiAggregateError } from './errors.js';
export type { ErrorCode, ErrorContext } from './errors.js';
