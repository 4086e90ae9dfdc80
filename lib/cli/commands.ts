/**
 * The CLI's commands. Every failure becomes one line on stderr, never a stack trace.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { finished, pipeline } from 'node:stream/promises';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Knex } from 'knex';
import { UmamiAggregateError, inputUnreadable, isUmamiAggregateError } from '../errors.js';
import { loadConfigFromEnv } from '../config.js';
// Knex, the drivers and the pipeline load when a command needs them (`await import`): an import's
// parse thread starts reading the file first.
import type { ImportOptions, ImportSummary, Logger } from '../pipeline.js';
import { listImports } from '../store/ledger.js';
import { migrate } from '../store/migrations.js';
import { DEFAULT_DB, isSqliteUrl, redact } from './url.js';
import { hashFileInWorker } from './fingerprint.js';
import { capYoungGeneration, prepareYoungGeneration } from './heap.js';
import { ProgressBar, grouped as n } from './progress.js';
import { ParseThread } from '../worker/parse-thread.js';

const USAGE = `Usage:
  umami-aggregate import <file|-> [options]   aggregate an Umami dump (plain or gzipped) into the database
  umami-aggregate imports [--db URL] [--json] list imports, newest first
  umami-aggregate init [--db URL]             create or update the tables
  umami-aggregate migrate [--days N]          aggregate the raw page_views table (the last N days, or all)
  umami-aggregate cleanup --type page_views [--before DATE]
                                              delete raw page views that are already aggregated

Import options:
  --db URL               sqlite:PATH, postgres://…, mysql://… (default: $DATABASE_URL or ${DEFAULT_DB})
  --timezone TZ          zone of days, months and local hours (default UTC)
  --top N                entries kept in top_pages and referrers (default 50)
  --batch-size N         rows per INSERT statement (default 250)
  --mode replace|merge   replace the buckets the dump holds (default) or add to them
  --no-atomic            commit per flush instead of one transaction
  --max-buckets N        spill (or with --no-atomic flush) aggregates when N hour buckets are held
  --memory-limit MB      spill (or with --no-atomic flush) aggregates when they take half of MB
                         (default 96); spilled aggregates go to a folder in $TMPDIR until the end
  --checkpoint-events N  with --no-atomic: commit a checkpoint at least every N events (default 100000)
  --resume               continue an interrupted --no-atomic import of the same input
  --force                merge an input even if it was imported before
  --source-timezone TZ   zone of timestamps in dumps made with --skip-tz-utc (default UTC)
  --max-rejected N       fail when more rows than N are rejected (default 1000)
  --format F             auto (default), sql, json or ndjson
  --chunk-size N         events per progress chunk (default 10000)
  --timeout SECONDS      fail the import cleanly when it takes longer
  --raw                  also write each page view to the page_views table
  --no-aggregate         only write raw page views (aggregate later with migrate)
  --no-worker            read and parse the dump on the main thread (default: a worker thread)
  --json                 print the summary as JSON
  --quiet                no progress bar and no summary
  --verbose              log each flush (rows, duration, memory) on stderr

Environment: DATABASE_URL, ANALYTICS_USE_AGGREGATED_IMPORT, ANALYTICS_AGGREGATE_DURING_IMPORT,
ANALYTICS_SKIP_RAW_DATA_STORAGE, ANALYTICS_IMPORT_BATCH_SIZE, ANALYTICS_IMPORT_CHUNK_SIZE,
ANALYTICS_AGGREGATION_TIMEOUT (seconds); flags override them.
`;

interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };

/** A command line that cannot be understood: exit 2, with a pointer to --help. */
class UsageError extends UmamiAggregateError {
  constructor(message: string) {
    super('UA_USAGE', `${message} (see umami-aggregate --help)`);
  }
}

function version(): string {
  const require = createRequire(import.meta.url);
  for (const p of ['../../../package.json', '../../package.json']) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

/** Runs the CLI with these arguments; resolves to the exit code. */
export async function run(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'import':
        return await importCommand(rest, io);
      case 'imports':
        return await importsCommand(rest, io);
      case 'init':
        return await initCommand(rest, io);
      case 'migrate':
        return await migrateCommand(rest, io);
      case 'cleanup':
        return await cleanupCommand(rest, io);
      case '--version':
      case '-v':
        io.stdout.write(`${version()}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    return report(err, io);
  }
}

function report(err: unknown, io: Io): number {
  if (isUmamiAggregateError(err)) {
    io.stderr.write(`umami-aggregate: error ${err.code}: ${err.message}\n`);
    return err.code === 'UA_INVALID_OPTION' || err.code === 'UA_USAGE' ? 2 : err.code === 'UA_ABORTED' ? 130 : 1;
  }
  const e = err as { message?: string; code?: string };
  const msg = (e?.message ?? String(err)).split('\n')[0];
  const dbCode = e?.code && /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|28P01|3D000|ER_)/.test(e.code) ? 'UA_DATABASE' : null;
  io.stderr.write(`umami-aggregate: error${dbCode ? ` ${dbCode}` : ''}: ${msg}\n`);
  return 1;
}

function parse(args: string[], options: ParseArgsConfig['options']): { values: Record<string, unknown>; positionals: string[] } {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}

function intOption(v: unknown, name: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function databaseUrl(values: Record<string, unknown>, io: Io): string {
  return (values.db as string | undefined) || loadConfigFromEnv(io.env).databaseUrl || DEFAULT_DB;
}

/** A readable logger for --verbose: `12:00:01 flushed aggregates hourly=120 daily=10 …` on stderr. */
function stderrLogger(out: NodeJS.WritableStream): Logger {
  const line = (level: string) => (obj: object, msg?: string): void => {
    const fields = Object.entries(obj)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ');
    out.write(`${new Date().toISOString().slice(11, 19)} ${level === 'info' ? '' : `${level}: `}${msg ?? ''} ${fields}\n`);
  };
  return { info: line('info'), debug: line('debug'), warn: line('warn'), error: line('error') };
}

async function withDatabase<T>(url: string, fn: (knex: Knex) => Promise<T>): Promise<T> {
  const { openDatabase, settleJournal } = await import('./db.js');
  const knex = openDatabase(url);
  try {
    return await fn(knex);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (!isUmamiAggregateError(err) && e?.code && /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|28P01|28000|3D000|ER_ACCESS_DENIED_ERROR|ER_BAD_DB_ERROR|SQLITE_CANTOPEN)$/.test(e.code)) {
      throw new UmamiAggregateError('UA_DATABASE', `cannot connect to ${redact(url)}: ${(e.message ?? e.code).split('\n')[0]}`, { dbCode: e.code }, { cause: err });
    }
    throw err;
  } finally {
    await settleJournal(knex);
    await knex.destroy().catch(() => {});
  }
}

const IMPORT_OPTIONS = {
  db: { type: 'string' },
  timezone: { type: 'string' },
  top: { type: 'string' },
  'batch-size': { type: 'string' },
  mode: { type: 'string' },
  'no-atomic': { type: 'boolean' },
  'max-buckets': { type: 'string' },
  'memory-limit': { type: 'string' },
  'checkpoint-events': { type: 'string' },
  resume: { type: 'boolean' },
  force: { type: 'boolean' },
  'source-timezone': { type: 'string' },
  'max-rejected': { type: 'string' },
  format: { type: 'string' },
  'chunk-size': { type: 'string' },
  timeout: { type: 'string' },
  raw: { type: 'boolean' },
  'no-raw': { type: 'boolean' },
  'no-aggregate': { type: 'boolean' },
  'no-worker': { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  verbose: { type: 'boolean' },
} as const;

async function importCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, IMPORT_OPTIONS);
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'import needs a file (or - for stdin)' : 'import takes one file');
  const file = positionals[0];
  const mode = values.mode as string | undefined;
  if (mode !== undefined && mode !== 'replace' && mode !== 'merge') throw new UsageError(`--mode must be replace or merge, got ${JSON.stringify(mode)}`);
  const format = values.format as string | undefined;
  if (format !== undefined && !['auto', 'sql', 'json', 'ndjson'].includes(format)) throw new UsageError(`--format must be auto, sql, json or ndjson`);

  // stdin is piped into the import; a file is read by the import itself (on the parser's thread).
  let input: NodeJS.ReadableStream | null = null;
  let bytesTotal: number | undefined;
  if (file === '-') {
    input = io.stdin;
  } else {
    try {
      const st = fs.statSync(file);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      bytesTotal = st.size;
      fs.accessSync(file, fs.constants.R_OK);
    } catch (err) {
      throw inputUnreadable(file, err);
    }
  }

  if (values.resume && !values['no-atomic']) throw new UsageError('--resume continues an import made with --no-atomic; add --no-atomic');
  // A merge that commits as it goes must recognise a repeated input before the first commit.
  let fingerprint: string | Promise<string> | undefined;
  if (mode === 'merge' && values['no-atomic'] && !values.force) {
    if (file === '-') throw new UsageError('--mode merge --no-atomic from stdin cannot check for a repeated input; import a file, or add --force');
    fingerprint = await hashFileInWorker(file);
  }
  // Otherwise the import hashes the input as it passes (on the main thread, which waits for the parser's thread).
  const env = loadConfigFromEnv(io.env);
  const url = databaseUrl(values, io);
  const timeout = intOption(values.timeout, '--timeout');
  let skipRawDataStorage = env.skipRawDataStorage;
  if (values.raw) skipRawDataStorage = false;
  if (values['no-raw']) skipRawDataStorage = true;
  let aggregate = env.aggregate;
  if (values['no-aggregate']) {
    aggregate = false;
    skipRawDataStorage = false;
  }
  const sourceTimezone = values['source-timezone'] as string | undefined;
  const maxRejected = intOption(values['max-rejected'], '--max-rejected', 0);
  // Into SQLite, rows are written as they are made and die young: the young generation need not grow.
  const sqlite = isSqliteUrl(url);
  if (sqlite) prepareYoungGeneration();
  // A file is read and parsed on the parse thread from here on, while Knex and the pipeline load,
  // the database is opened and the import registered: the first bytes are scanned about 60 ms sooner.
  const parseThread =
    file !== '-' && !values['no-worker'] && skipRawDataStorage !== false
      ? new ParseThread({ file, hashFile: fingerprint === undefined, format: format as ImportOptions['format'], sourceTimezone, maxRejected }).start()
      : undefined;
  let adopted = false;
  try {
    return await withDatabase(url, async (knex) => {
      const { createImportPipeline } = await import('../pipeline.js');
      if (sqlite) capYoungGeneration();
      const options: ImportOptions = {
        knex,
        source: file === '-' ? 'stdin' : file,
        bytesTotal,
        inputFile: file === '-' ? undefined : file,
        timezone: values.timezone as string | undefined,
        topN: intOption(values.top, '--top'),
        batchSize: intOption(values['batch-size'], '--batch-size') ?? env.batchSize,
        chunkSize: intOption(values['chunk-size'], '--chunk-size') ?? env.chunkSize,
        timeoutMs: timeout !== undefined ? timeout * 1000 : env.timeoutMs,
        skipRawDataStorage,
        aggregate,
        logger: values.verbose ? stderrLogger(io.stderr) : undefined,
        mode: mode as ImportOptions['mode'],
        atomic: values['no-atomic'] ? false : undefined,
        maxBuckets: intOption(values['max-buckets'], '--max-buckets'),
        memoryLimitMb: intOption(values['memory-limit'], '--memory-limit', 16),
        checkpointEvents: intOption(values['checkpoint-events'], '--checkpoint-events'),
        resume: values.resume ? true : undefined,
        force: values.force ? true : undefined,
        fingerprint,
        sourceTimezone,
        maxRejected,
        format: format as ImportOptions['format'],
        worker: values['no-worker'] ? false : undefined,
        parseThread,
      };
      const importer = createImportPipeline(options);
      adopted = true;
      const showBar = !values.quiet && !values.json && !values.verbose && io.stderr.isTTY === true;
      const startedAt = Date.now();
      const bar = showBar
        ? new ProgressBar(io.stderr, () => {
            const s = importer.summary;
            return { bytesRead: s.bytesRead, bytesTotal: bytesTotal ?? null, events: s.events, startedAt };
          })
        : null;
      bar?.start();
      const abort = (): void => {
        importer.destroy(new UmamiAggregateError('UA_ABORTED', 'the import was interrupted; nothing of it was committed'));
      };
      process.once('SIGINT', abort);
      process.once('SIGTERM', abort);
      try {
        if (input) await pipeline(input, importer);
        else await finished(importer.end());
      } finally {
        bar?.stop();
        process.removeListener('SIGINT', abort);
        process.removeListener('SIGTERM', abort);
      }
      const summary = importer.summary;
      if (values.json) io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else if (!values.quiet) io.stdout.write(formatSummary(summary, redact(url)));
      return 0;
    });
  } finally {
    // Not handed to an import (the database could not be opened, an option was refused): stopped here.
    if (!adopted) parseThread?.destroy();
  }
}

export function formatSummary(s: ImportSummary, target: string): string {
  const secs = s.durationMs / 1000;
  const mbs = s.bytesRead / 1048576;
  const kind = s.format === 'sql' ? `${s.dialect === 'postgres' ? 'pg_dump' : 'mysqldump'}${s.compression === 'gzip' ? ', gzip' : ''}` : `${s.format}${s.compression === 'gzip' ? ', gzip' : ''}`;
  const lines = [
    `Imported ${s.source} (${kind}, Umami ${s.umamiVersion}) into ${target} [import #${s.importId}, ${s.mode}]`,
    `  ${n(s.rowsRead)} rows read, ${n(s.events)} events, ${n(s.pageViews)} page views, ${n(s.rejected)} rejected`,
    `  ${n(s.bucketsWritten)} buckets written: ${n(s.buckets.hour)} hourly, ${n(s.buckets.day)} daily, ${n(s.buckets.month)} monthly`,
    `  ${mbs.toFixed(1)} MB in ${secs.toFixed(2)} s (${(mbs / Math.max(secs, 0.001)).toFixed(1)} MB/s)`,
  ];
  if (s.rawPageViews > 0) lines.push(`  ${n(s.rawPageViews)} raw page views written to page_views`);
  if (s.resumedFrom !== null) lines.push(`  resumed: events before byte ${n(s.resumedFrom)} were committed by the interrupted run`);
  for (const [reason, r] of Object.entries(s.rejections)) {
    if (!r) continue;
    const ex = r.examples.map((e) => `\`${e.table}\` at byte ${e.offset}: ${e.detail}`).join('; ');
    lines.push(`  rejected (${reason.replace(/_/g, ' ')}): ${n(r.count)}, e.g. ${ex}`);
  }
  return lines.join('\n') + '\n';
}

async function importsCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { db: { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' } });
  if (positionals.length > 0) throw new UsageError('imports takes no arguments');
  const limit = intOption(values.limit, '--limit') ?? 50;
  return withDatabase(databaseUrl(values, io), async (knex) => {
    await migrate(knex);
    const rows = await listImports(knex, limit);
    if (values.json) {
      io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write('no imports yet\n');
      return 0;
    }
    const header = ['id', 'status', 'mode', 'started', 'events', 'page views', 'rejected', 'progress', 'source'];
    const table = rows.map((r) => [
      String(r.id),
      r.status,
      r.mode,
      r.startedAt,
      n(r.events),
      n(r.pageViews),
      n(r.rejected),
      r.totalChunks ? `${r.chunksProcessed}/${r.totalChunks}` : r.bytesTotal ? `${Math.round((100 * r.bytesRead) / r.bytesTotal)}%` : '',
      r.source + (r.error ? `  (${r.error.split('\n')[0].slice(0, 80)})` : ''),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
    io.stdout.write(`${line(header)}\n${table.map(line).join('\n')}\n`);
    return 0;
  });
}

async function initCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { db: { type: 'string' } });
  if (positionals.length > 0) throw new UsageError('init takes no arguments');
  const url = databaseUrl(values, io);
  return withDatabase(url, async (knex) => {
    await migrate(knex);
    io.stdout.write(`tables are up to date in ${redact(url)}\n`);
    return 0;
  });
}


async function migrateCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    db: { type: 'string' },
    days: { type: 'string' },
    timezone: { type: 'string' },
    top: { type: 'string' },
    'batch-size': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length > 0) throw new UsageError('migrate takes no arguments');
  const env = loadConfigFromEnv(io.env);
  return withDatabase(databaseUrl(values, io), async (knex) => {
    const { aggregateRawPageViews } = await import('../store/raw.js');
    const s = await aggregateRawPageViews({
      knex,
      days: intOption(values.days, '--days'),
      timezone: values.timezone as string | undefined,
      topN: intOption(values.top, '--top'),
      batchSize: intOption(values['batch-size'], '--batch-size') ?? env.batchSize,
    });
    if (values.json) io.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    else io.stdout.write(`Aggregated ${n(s.pageViews)} raw page views${s.since ? ` since ${s.since} UTC` : ''} into ${n(s.bucketsWritten)} buckets [import #${s.importId}] in ${(s.durationMs / 1000).toFixed(2)} s\n`);
    return 0;
  });
}

async function cleanupCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    db: { type: 'string' },
    type: { type: 'string' },
    before: { type: 'string' },
    'batch-size': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length > 0) throw new UsageError('cleanup takes no arguments');
  if (values.type !== 'page_views') throw new UsageError('cleanup needs --type page_views (the only raw data kept)');
  return withDatabase(databaseUrl(values, io), async (knex) => {
    const { cleanupRawPageViews } = await import('../store/raw.js');
    const s = await cleanupRawPageViews({ knex, before: values.before as string | undefined, batchSize: intOption(values['batch-size'], '--batch-size') });
    if (values.json) io.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    else io.stdout.write(`Removed ${n(s.removed)} aggregated raw page views${s.before ? ` created before ${s.before} UTC` : ''}; kept ${n(s.keptNotAggregated)} not aggregated yet\n`);
    return 0;
  });
}
