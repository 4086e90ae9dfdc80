/**
 * Database URLs of the CLI → a Knex instance.
 *   sqlite:./analytics.sqlite  sqlite:/abs/path.db  (the default: sqlite:./analytics.sqlite)
 *   postgres://user@host:5432/db  mysql://root@127.0.0.1:3306/db  (mariadb:// too)
 */
import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { UmamiAggregateError } from '../errors.js';
import { isSqliteScheme, redact, schemeOf } from './url.js';

export { DEFAULT_DB, redact } from './url.js';

/** Knex logs connection errors with stacks; the CLI reports them itself, once. */
const quietLog = { warn() {}, error() {}, deprecate() {}, debug() {} };

/** A file that holds nothing yet (absent or empty): no reader can have it open in WAL mode. */
function isNew(file: string): boolean {
  try {
    return fs.statSync(file).size === 0;
  } catch {
    return true;
  }
}

/**
 * The Knex config of a URL, and for a new SQLite file a flag set once a
 * connection has opened it in rollback-journal mode (see {@link openDatabase}).
 */
function configFor(url: string): { config: Knex.Config; rollbackMode: { opened: boolean } | null } {
  const { config, rollbackMode } = baseConfig(url);
  return { config: { ...config, log: quietLog, acquireConnectionTimeout: 15000, pool: { ...config.pool, propagateCreateError: true } }, rollbackMode };
}

function baseConfig(url: string): { config: Knex.Config; rollbackMode: { opened: boolean } | null } {
  const parsed = schemeOf(url);
  const scheme = parsed?.scheme;
  if (parsed !== null && isSqliteScheme(scheme)) {
    let file = parsed.rest;
    if (file.startsWith('//')) file = file.slice(2);
    if (file === '' || file === ':memory:') {
      throw new UmamiAggregateError('UA_UNSUPPORTED_DATABASE', `the SQLite URL ${url} names no file; use sqlite:./analytics.sqlite or sqlite:/abs/path.db`);
    }
    const filename = path.resolve(file);
    // A new file is written with a rollback journal first: one import's transaction then goes
    // into the file once, where WAL writes it to the log and copies it into the file at the
    // checkpoint (about half the time of a 57 MB commit). The command switches it to WAL when it is done.
    const rollbackMode = isNew(filename) ? { opened: false } : null;
    const config: Knex.Config = {
      client: 'better-sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      pool: {
        afterCreate(conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          try {
            // A new file gets 16 KiB pages (rows carry ~1 KB of top lists: fewer pages to write and
            // commit); a file that exists keeps its own, since page_size only applies before the first table.
            // First: the pragmas below may wait for another process's lock.
            conn.pragma('busy_timeout = 10000');
            conn.pragma('page_size = 16384');
            if (rollbackMode !== null && !rollbackMode.opened) {
              conn.pragma('journal_mode = DELETE');
              conn.pragma('synchronous = FULL');
              // A new file holds nothing to read back (but what a --no-atomic import's own flushes
              // wrote, which the system's file cache still holds): a small page cache is enough.
              conn.pragma('cache_size = -2048');
              rollbackMode.opened = true;
            } else {
              try {
                conn.pragma('journal_mode = WAL');
              } catch {
                // Another process holds the file in rollback mode (its first import, still running):
                // this connection works in that mode, and waits for the writer like any other.
              }
              conn.pragma('synchronous = NORMAL');
            }
            done(null, conn);
          } catch (err) {
            done(err as Error, conn);
          }
        },
      },
    };
    return { config, rollbackMode };
  }
  if (scheme === 'postgres' || scheme === 'postgresql' || scheme === 'pg') {
    return { config: { client: 'pg', connection: url.replace(/^pg:/i, 'postgres:'), pool: { min: 0, max: 4 } }, rollbackMode: null };
  }
  if (scheme === 'mysql' || scheme === 'mariadb' || scheme === 'mysql2') {
    return {
      config: {
        client: 'mysql2',
        connection: { uri: url.replace(/^(mariadb|mysql2):/i, 'mysql:'), supportBigNumbers: true, dateStrings: true, charset: 'utf8mb4' } as Knex.MySql2ConnectionConfig,
        pool: { min: 0, max: 4 },
      },
      rollbackMode: null,
    };
  }
  throw new UmamiAggregateError(
    'UA_UNSUPPORTED_DATABASE',
    `cannot write to ${redact(url)}: use sqlite:PATH, postgres://… or mysql://…`,
  );
}

const rollbackModes = new WeakMap<Knex, { opened: boolean }>();

/**
 * A Knex instance for a database URL. A new SQLite file is opened in
 * rollback-journal mode; call {@link settleJournal} before destroying the
 * instance to switch it to WAL, the mode every later command opens it in.
 */
export function openDatabase(url: string): Knex {
  const { config, rollbackMode } = configFor(url);
  const knex = knexFactory(config);
  if (rollbackMode !== null) rollbackModes.set(knex, rollbackMode);
  return knex;
}

/**
 * A SQLite file this instance made in rollback-journal mode, switched to WAL
 * (readers then no longer wait for a writer). Best effort: a file another
 * connection holds keeps its mode until a later command opens it.
 */
export async function settleJournal(knex: Knex): Promise<void> {
  if (rollbackModes.get(knex)?.opened !== true) return;
  try {
    await knex.raw('PRAGMA journal_mode = WAL');
    await knex.raw('PRAGMA synchronous = NORMAL');
  } catch {
    // Left in rollback mode: still a sound database.
  }
}
