/**
 * Configuration from the environment, as the original aggregated-import
 * design named it. The CLI reads it; flags override it; hosts get the same
 * mapping from `loadConfigFromEnv()`.
 */
import { invalidOption } from './errors.js';

/** What the environment configures. Undefined fields are left to the defaults. */
export interface EnvConfig {
  /** `DATABASE_URL` */
  databaseUrl?: string;
  /**
   * Aggregate during the import: `ANALYTICS_USE_AGGREGATED_IMPORT` and
   * `ANALYTICS_AGGREGATE_DURING_IMPORT` (both default true; either false turns it off,
   * and then raw page views are stored for a later `umami-aggregate migrate`).
   */
  aggregate?: boolean;
  /** `ANALYTICS_SKIP_RAW_DATA_STORAGE` (default true). */
  skipRawDataStorage?: boolean;
  /** `ANALYTICS_IMPORT_BATCH_SIZE`: rows per upsert statement (default 250). */
  batchSize?: number;
  /** `ANALYTICS_IMPORT_CHUNK_SIZE`: events per progress chunk (default 10000). */
  chunkSize?: number;
  /** `ANALYTICS_AGGREGATION_TIMEOUT` (seconds), as milliseconds: the import fails cleanly past it. */
  timeoutMs?: number;
}

/** The environment variables read, with what each means. */
export const ENV_VARIABLES = {
  DATABASE_URL: 'target database (sqlite:PATH, postgres://…, mysql://…)',
  ANALYTICS_USE_AGGREGATED_IMPORT: 'aggregate while importing (default true)',
  ANALYTICS_AGGREGATE_DURING_IMPORT: 'aggregate while importing (default true)',
  ANALYTICS_SKIP_RAW_DATA_STORAGE: 'do not write raw page views to page_views (default true)',
  ANALYTICS_IMPORT_BATCH_SIZE: 'rows per upsert statement (default 250)',
  ANALYTICS_IMPORT_CHUNK_SIZE: 'events per progress chunk (default 10000)',
  ANALYTICS_AGGREGATION_TIMEOUT: 'seconds before the import fails cleanly (default none)',
} as const;

function bool(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw invalidOption(name, 'true or false', v);
}

function int(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v.trim());
  if (!Number.isInteger(n) || n <= 0) throw invalidOption(name, 'a positive integer', v);
  return n;
}

/** Reads the import configuration from environment variables (throws UA_INVALID_OPTION on bad values). */
export function loadConfigFromEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const config: EnvConfig = {};
  if (env.DATABASE_URL?.trim()) config.databaseUrl = env.DATABASE_URL.trim();
  const use = bool(env, 'ANALYTICS_USE_AGGREGATED_IMPORT');
  const during = bool(env, 'ANALYTICS_AGGREGATE_DURING_IMPORT');
  if (use !== undefined || during !== undefined) config.aggregate = use !== false && during !== false;
  const skipRaw = bool(env, 'ANALYTICS_SKIP_RAW_DATA_STORAGE');
  if (skipRaw !== undefined) config.skipRawDataStorage = skipRaw;
  if (config.aggregate === false) {
    // Without aggregation the raw rows are the only thing kept.
    if (skipRaw === true) throw invalidOption('ANALYTICS_SKIP_RAW_DATA_STORAGE', 'false when the import does not aggregate (it would keep nothing)', env.ANALYTICS_SKIP_RAW_DATA_STORAGE);
    config.skipRawDataStorage = false;
  }
  const batch = int(env, 'ANALYTICS_IMPORT_BATCH_SIZE');
  if (batch !== undefined) config.batchSize = batch;
  const chunk = int(env, 'ANALYTICS_IMPORT_CHUNK_SIZE');
  if (chunk !== undefined) config.chunkSize = chunk;
  const timeout = int(env, 'ANALYTICS_AGGREGATION_TIMEOUT');
  if (timeout !== undefined) config.timeoutMs = timeout * 1000;
  return config;
}
