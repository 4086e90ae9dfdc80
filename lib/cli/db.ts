/**
 * Database URLs of the CLI → a Knex instance.
 *   sqlite:./analytics.sqlite  sqlite:/abs/path.db  (the default: sqlite:./analytics.sqlite)
 *   postgres://user@host:5432/db  mysql://root@127.0.0.1:3306/db  (mariadb:// too)
 */
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { UmamiAggregateError } from '../errors.js';

export const DEFAULT_DB = 'sqlite:./analytics.sqlite';

/** Knex logs connection errors with stacks; the CLI reports them itself, once. */
const quietLog = { warn() {}, error() {}, deprecate() {}, debug() {} };

export function knexConfigFor(url: string): Knex.Config {
  const config = baseConfig(url);
  return { ...config, log: quietLog, acquireConnectionTimeout: 15000, pool: { ...config.pool, propagateCreateError: true } };
}

function baseConfig(url: string): Knex.Config {
  const m = /^([a-z0-9+]+):(.*)$/i.exec(url.trim());
  const scheme = m?.[1].toLowerCase();
  if (scheme === 'sqlite' || scheme === 'sqlite3' || scheme === 'file') {
    let file = m![2];
    if (file.startsWith('//')) file = file.slice(2);
    if (file === '' || file === ':memory:') {
      throw new UmamiAggregateError('UA_UNSUPPORTED_DATABASE', `the SQLite URL ${url} names no file; use sqlite:./analytics.sqlite or sqlite:/abs/path.db`);
    }
    return {
      client: 'better-sqlite3',
      connection: { filename: path.resolve(file) },
      useNullAsDefault: true,
      pool: {
        afterCreate(conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          try {
            // A new file gets 16 KiB pages (rows carry ~1 KB of top lists: fewer pages to write and
            // commit); a file that exists keeps its own, since page_size only applies before the first table.
            conn.pragma('page_size = 16384');
            conn.pragma('journal_mode = WAL');
            conn.pragma('synchronous = NORMAL');
            conn.pragma('busy_timeout = 10000');
            done(null, conn);
          } catch (err) {
            done(err as Error, conn);
          }
        },
      },
    };
  }
  if (scheme === 'postgres' || scheme === 'postgresql' || scheme === 'pg') {
    return { client: 'pg', connection: url.replace(/^pg:/i, 'postgres:'), pool: { min: 0, max: 4 } };
  }
  if (scheme === 'mysql' || scheme === 'mariadb' || scheme === 'mysql2') {
    return {
      client: 'mysql2',
      connection: { uri: url.replace(/^(mariadb|mysql2):/i, 'mysql:'), supportBigNumbers: true, dateStrings: true, charset: 'utf8mb4' } as Knex.MySql2ConnectionConfig,
      pool: { min: 0, max: 4 },
    };
  }
  throw new UmamiAggregateError(
    'UA_UNSUPPORTED_DATABASE',
    `cannot write to ${redact(url)}: use sqlite:PATH, postgres://… or mysql://…`,
  );
}

export function openDatabase(url: string): Knex {
  return knexFactory(knexConfigFor(url));
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@/]*@/, '$1:***@');
}
