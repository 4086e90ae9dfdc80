/**
 * The import ledger: one row per import in `analytics_imports`, updated while
 * it runs so another process can watch it.
 */
import os from 'node:os';
import type { Knex } from 'knex';
import { dialectOf, nowText, readInt } from './dialect.js';

export type ImportStatus = 'pending' | 'running' | 'completed' | 'failed';
export type ImportMode = 'replace' | 'merge';

/** A row of `analytics_imports`. */
export interface ImportRecord {
  id: number;
  source: string;
  fingerprint: string | null;
  inputKey: string | null;
  format: string | null;
  umamiVersion: string | null;
  mode: ImportMode;
  status: ImportStatus;
  bytesTotal: number | null;
  bytesRead: number;
  events: number;
  pageViews: number;
  rejected: number;
  chunksProcessed: number;
  totalChunks: number | null;
  bucketsWritten: number;
  checkpoint: unknown;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

/** Fields an import updates as it goes. */
export interface LedgerUpdate {
  status?: ImportStatus;
  fingerprint?: string | null;
  format?: string | null;
  umamiVersion?: string | null;
  bytesTotal?: number | null;
  bytesRead?: number;
  events?: number;
  pageViews?: number;
  rejected?: number;
  chunksProcessed?: number;
  totalChunks?: number | null;
  bucketsWritten?: number;
  checkpoint?: unknown;
  rejections?: unknown;
  error?: string | null;
  finishedAt?: string | null;
}

const COLUMNS: Record<keyof LedgerUpdate, string> = {
  status: 'status',
  fingerprint: 'fingerprint',
  format: 'format',
  umamiVersion: 'umami_version',
  bytesTotal: 'bytes_total',
  bytesRead: 'bytes_read',
  events: 'events',
  pageViews: 'page_views',
  rejected: 'rejected',
  chunksProcessed: 'chunks_processed',
  totalChunks: 'total_chunks',
  bucketsWritten: 'buckets_written',
  checkpoint: 'checkpoint',
  rejections: 'rejections',
  error: 'error',
  finishedAt: 'finished_at',
};

export function ledgerRow(update: LedgerUpdate): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(update) as Array<[keyof LedgerUpdate, unknown]>) {
    if (v === undefined) continue;
    const col = COLUMNS[k];
    row[col] = (k === 'checkpoint' || k === 'rejections') && v !== null ? JSON.stringify(v) : k === 'error' && typeof v === 'string' ? v.slice(0, 4000) : v;
  }
  return row;
}

/** `host:pid` of this process: the owner of the imports it runs. */
export function processOwner(): string {
  return `${os.hostname()}:${process.pid}`;
}

export async function startImport(
  knex: Knex,
  fields: { source: string; mode: ImportMode; inputKey: string | null; bytesTotal: number | null; status?: ImportStatus },
): Promise<number> {
  const row = {
    source: fields.source.slice(0, 1000),
    mode: fields.mode,
    status: fields.status ?? 'running',
    input_key: fields.inputKey,
    owner: processOwner(),
    bytes_total: fields.bytesTotal,
    started_at: nowText(),
  };
  const query = knex('analytics_imports').insert(row);
  const result = (await (dialectOf(knex) === 'mysql' ? query : query.returning('id'))) as Array<number | { id: unknown }>;
  const first = result[0];
  return typeof first === 'object' && first !== null ? readInt(first.id) : readInt(first);
}

export async function updateImport(knex: Knex, id: number, update: LedgerUpdate): Promise<void> {
  const row = ledgerRow(update);
  if (Object.keys(row).length === 0) return;
  await knex('analytics_imports').where({ id }).update(row);
}

function toRecord(r: Record<string, unknown>): ImportRecord {
  const n = (v: unknown): number | null => (v === null || v === undefined ? null : readInt(v));
  const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
  const time = (v: unknown): string | null => (v instanceof Date ? v.toISOString().slice(0, 19).replace('T', ' ') : text(v));
  let checkpoint: unknown = null;
  if (typeof r.checkpoint === 'string') {
    try {
      checkpoint = JSON.parse(r.checkpoint);
    } catch {
      checkpoint = null;
    }
  }
  return {
    id: readInt(r.id),
    source: String(r.source),
    fingerprint: text(r.fingerprint),
    inputKey: text(r.input_key),
    format: text(r.format),
    umamiVersion: text(r.umami_version),
    mode: r.mode as ImportMode,
    status: r.status as ImportStatus,
    bytesTotal: n(r.bytes_total),
    bytesRead: n(r.bytes_read) ?? 0,
    events: n(r.events) ?? 0,
    pageViews: n(r.page_views) ?? 0,
    rejected: n(r.rejected) ?? 0,
    chunksProcessed: n(r.chunks_processed) ?? 0,
    totalChunks: n(r.total_chunks),
    bucketsWritten: n(r.buckets_written) ?? 0,
    checkpoint,
    error: text(r.error),
    startedAt: time(r.started_at) ?? '',
    finishedAt: time(r.finished_at),
  };
}

/** Imports, newest first. */
export async function listImports(knex: Knex, limit = 50): Promise<ImportRecord[]> {
  const rows = (await knex('analytics_imports').select('*').orderBy('id', 'desc').limit(limit)) as Array<Record<string, unknown>>;
  return rows.map(toRecord);
}

export async function getImport(knex: Knex, id: number): Promise<ImportRecord | null> {
  const row = (await knex('analytics_imports').where({ id }).first()) as Record<string, unknown> | undefined;
  return row ? toRecord(row) : null;
}

/** The last completed import with this fingerprint, if any. */
export async function findCompletedByFingerprint(knex: Knex, fingerprint: string): Promise<ImportRecord | null> {
  const row = (await knex('analytics_imports').where({ fingerprint, status: 'completed' }).orderBy('id', 'desc').first()) as
    | Record<string, unknown>
    | undefined;
  return row ? toRecord(row) : null;
}

/** The newest unfinished (failed or running) non-atomic import of this input, to resume. */
export async function findResumable(knex: Knex, inputKey: string): Promise<ImportRecord | null> {
  const row = (await knex('analytics_imports')
    .where({ input_key: inputKey })
    .whereIn('status', ['failed', 'running'])
    .whereNotNull('checkpoint')
    .orderBy('id', 'desc')
    .first()) as Record<string, unknown> | undefined;
  return row ? toRecord(row) : null;
}

/**
 * Imports left `running` by a process of this host that no longer exists
 * (killed, crashed) are marked failed, so the ledger tells the truth.
 */
export async function markInterrupted(knex: Knex): Promise<number> {
  const host = os.hostname();
  const rows = (await knex('analytics_imports').where({ status: 'running' }).select('id', 'owner')) as Array<{ id: unknown; owner: string | null }>;
  let marked = 0;
  for (const r of rows) {
    const [h, pid] = (r.owner ?? '').split(':');
    if (h !== host || !pid || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    await knex('analytics_imports')
      .where({ id: readInt(r.id), status: 'running' })
      .update({ status: 'failed', error: `interrupted: process ${pid} ended without finishing`, finished_at: nowText() });
    marked++;
  }
  return marked;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}
