// Running the built CLI from tests, as a user runs it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { readAggregates } from './expected.js';

export const bin = path.join(import.meta.dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');

/** A temporary directory removed at the end of the test. */
export function tempDir(t, prefix = 'ua-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The command line's import of `file` into the SQLite file `db`, with more arguments (no progress, the environment's own settings left out). */
export function cliImport(file, db, ...args) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANALYTICS_') && k !== 'DATABASE_URL'));
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [bin, 'import', file, '--db', `sqlite:${db}`, '--quiet', ...args], { env }, (err, _stdout, stderr) => (err ? reject(new Error(stderr)) : resolve())),
  );
}

/** The aggregates in the SQLite file `db`, as {@link readAggregates} reads them. */
export async function sqliteAggregates(db) {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: db }, useNullAsDefault: true });
  try {
    return await readAggregates(knex);
  } finally {
    await knex.destroy();
  }
}

/** The aggregates of the same dump imported by the command line into another SQLite file. */
export async function cliAggregates(t, file) {
  const db = path.join(tempDir(t), 'cli.sqlite');
  await cliImport(file, db);
  return sqliteAggregates(db);
}
