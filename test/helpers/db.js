// Real databases for tests: a fresh SQLite file, or a fresh database on the
// local PostgreSQL / MariaDB servers. A test that needs a server that is not
// reachable is skipped with a message on a developer's machine and fails
// under CI=true.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import knexFactory from 'knex';
import { createImportPipeline } from '../../dist/lib/index.js';

export const PG_URL = process.env.UA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.UA_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const TARGETS = ['sqlite', 'postgres', 'mysql'];

const quiet = { warn() {}, error() {}, deprecate() {}, debug() {} };

function serverConfig(kind, database) {
  const base = new URL(kind === 'postgres' ? PG_URL : MYSQL_URL);
  if (database) base.pathname = `/${database}`;
  return kind === 'postgres'
    ? { client: 'pg', connection: base.toString(), pool: { min: 0, max: 6, propagateCreateError: true }, log: quiet, acquireConnectionTimeout: 10000 }
    : { client: 'mysql2', connection: { uri: base.toString(), supportBigNumbers: true, dateStrings: true, charset: 'utf8mb4' }, pool: { min: 0, max: 6, propagateCreateError: true }, log: quiet, acquireConnectionTimeout: 10000 };
}

async function probe(kind) {
  const knex = knexFactory(serverConfig(kind));
  try {
    await knex.raw('select 1');
    return true;
  } catch (err) {
    return err;
  } finally {
    await knex.destroy();
  }
}

// Probed once, before any test is declared, so declaring server tests never waits.
const reachable = new Map([
  ['sqlite', true],
  ['postgres', await probe('postgres')],
  ['mysql', await probe('mysql')],
]);

/** Whether the server answers (true), or the error it gave. */
export function serverAvailable(kind) {
  return reachable.get(kind);
}

/**
 * Declares a subtest that needs this database: skipped with a message when
 * the server is not reachable on a developer's machine, failed under CI=true.
 */
export function onServer(t, kind, name, fn) {
  const ok = reachable.get(kind);
  if (ok === true) return t.test(name, fn);
  const why = `${kind} server not reachable (${ok?.code ?? ok?.message ?? ok})`;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    return t.test(name, async (st) => st.fail(`${why}; CI needs it`));
  }
  return t.test(name, { skip: `${why}: start it to run this test` }, () => {});
}

let counter = 0;

/** A fresh, empty database of this kind; dropped (or deleted) at teardown. Returns { knex, url }. */
export async function freshDatabase(t, kind, label = 't') {
  const name = `ua_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 30)}_${process.pid}_${++counter}`;
  if (kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-test-'));
    const file = path.join(dir, `${name}.sqlite`);
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true, log: quiet });
    t.teardown(async () => {
      await knex.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    return { knex, url: `sqlite:${file}`, file };
  }
  const admin = knexFactory(serverConfig(kind));
  await admin.raw(kind === 'postgres' ? `DROP DATABASE IF EXISTS ${name}` : `DROP DATABASE IF EXISTS \`${name}\``);
  await admin.raw(kind === 'postgres' ? `CREATE DATABASE ${name}` : `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const knex = knexFactory(serverConfig(kind, name));
  const url = (() => {
    const u = new URL(kind === 'postgres' ? PG_URL : MYSQL_URL);
    u.pathname = `/${name}`;
    return u.toString();
  })();
  t.teardown(async () => {
    await knex.destroy();
    await admin.raw(kind === 'postgres' ? `DROP DATABASE IF EXISTS ${name} WITH (FORCE)` : `DROP DATABASE IF EXISTS \`${name}\``).catch(() => {});
    await admin.destroy();
  });
  return { knex, url };
}

/** Imports a dump held in memory into `knex` with createImportPipeline; returns the import's summary. */
export async function importBuffer(knex, buf, options = {}) {
  const importer = createImportPipeline({ knex, ...options });
  await pipeline(Readable.from([buf]), importer);
  return importer.summary;
}
