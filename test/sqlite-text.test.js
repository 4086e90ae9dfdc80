// Top lists stored in SQLite are JSON text: of type text (SQLite's own JSON functions read them,
// not as a BLOB), the text JSON.stringify writes, whichever way they reached the database (rows
// made on the rows thread go as UTF-8 bytes bound to `CAST(? AS TEXT)`, merged rows as strings),
// into a UTF-8 or a UTF-16 database.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import t from 'tap';
import { cliImport, sqliteAggregates, tempDir } from './helpers/cli.js';
import { freshDatabase, importBuffer } from './helpers/db.js';
import { AGGREGATE_TABLES, checkStoredLists, diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');

const samples = path.join(import.meta.dirname, 'fixtures', 'samples');
const DUMP = path.join(samples, 'umami-v2-postgres.sql');
const expected = readJsonFile(path.join(samples, 'umami-v2.expected.json'));

/** Every row's top lists as SQLite sees them, and the file's text encoding. */
function storedLists(file) {
  const db = new Database(file, { readonly: true });
  try {
    const rows = [];
    for (const table of AGGREGATE_TABLES) {
      rows.push(
        ...db
          .prepare(
            `SELECT typeof(top_pages) AS pagesType, typeof(referrers) AS referrersType, json_valid(top_pages) AS pagesValid,
                    json_valid(referrers) AS referrersValid, top_pages AS pages, referrers, json_extract(top_pages, '$[0].path') AS firstPath,
                    json_array_length(referrers) AS referrerCount, page_views AS pageViews
             FROM ${table}`,
          )
          .all(),
      );
    }
    return { rows, encoding: db.pragma('encoding', { simple: true }) };
  } finally {
    db.close();
  }
}

/** The checks every stored list passes: of type text, and as checkStoredLists asks. */
function checkText(t, rows) {
  t.same(rows.filter((r) => r.pagesType !== 'text' || r.referrersType !== 'text').length, 0, 'every top list is of type text');
  checkStoredLists(
    t,
    rows.map((r) => ({ ...r, valid: r.pagesValid === 1 && r.referrersValid === 1 })),
    { db: "SQLite's json_valid, json_extract and json_array_length" },
  );
}

t.test('a new file, imported by the command line (rows made on the rows thread)', async (t) => {
  const file = path.join(tempDir(t), 'new.sqlite');
  await cliImport(DUMP, file);
  const { rows, encoding } = storedLists(file);
  t.equal(encoding, 'UTF-8');
  checkText(t, rows);
  const problems = diffAggregates(expected, await sqliteAggregates(file));
  t.same(problems.slice(0, 10), [], `every bucket equals expected.json (${problems.length} differences)`);
});

t.test('a UTF-16 file: its lists are the same text', async (t) => {
  const file = path.join(tempDir(t), 'utf16.sqlite');
  // The encoding of a database is set before its first table.
  const db = new Database(file);
  db.pragma("encoding = 'UTF-16le'");
  db.exec('CREATE TABLE made_utf16 (x INTEGER)');
  db.close();
  await cliImport(DUMP, file);
  const { rows, encoding } = storedLists(file);
  t.equal(encoding, 'UTF-16le', 'the file kept its encoding');
  checkText(t, rows);
  const problems = diffAggregates(expected, await sqliteAggregates(file));
  t.same(problems.slice(0, 10), [], `every bucket equals expected.json (${problems.length} differences)`);
});

t.test('rows merged with stored ones (written as strings) next to rows written as bytes', async (t) => {
  const file = path.join(tempDir(t), 'merged.sqlite');
  await cliImport(DUMP, file);
  const before = storedLists(file).rows;
  await cliImport(DUMP, file, '--mode', 'merge', '--force');
  const { rows } = storedLists(file);
  checkText(t, rows);
  t.equal(rows.length, before.length, 'the same buckets');
  t.equal(
    rows.reduce((s, r) => s + r.pageViews, 0),
    2 * before.reduce((s, r) => s + r.pageViews, 0),
    'every page view counted twice',
  );
  const merged = await sqliteAggregates(file);
  const doubled = expected.month.map((e) => ({ ...e, page_views: 2 * e.page_views, top_pages: e.top_pages.map(([p, n]) => [p, 2 * n]), referrers: e.referrers.map(([d, n]) => [d, 2 * n]) }));
  const problems = diffAggregates({ hour: [], day: [], month: doubled }, { hour: [], day: [], month: merged.month }, { fields: ['page_views', 'top_pages', 'referrers'] });
  t.same(problems.slice(0, 10), [], `each month holds twice the sample's counts (${problems.length} differences)`);
});

t.test('the library without a worker thread (rows made on the main thread)', async (t) => {
  const { knex, file } = await freshDatabase(t, 'sqlite', 'text');
  await importBuffer(knex, fs.readFileSync(DUMP), { source: 'umami-v2-postgres.sql', worker: false });
  checkText(t, storedLists(file).rows);
  const problems = diffAggregates(expected, await readAggregates(knex));
  t.same(problems.slice(0, 10), [], `every bucket equals expected.json (${problems.length} differences)`);
});

t.test('each row records its import and its time, bound once per statement into SQLite', async (t) => {
  const file = path.join(tempDir(t), 'shared.sqlite');
  /**
   * Per table: rows, and rows whose import or times are not as written (an updated row keeps its
   * created_at: updated_at is then the later, or the same second).
   */
  const check = (importId) => {
    const db = new Database(file, { readonly: true });
    try {
      return AGGREGATE_TABLES.map((table) =>
        db
          .prepare(
            `SELECT '${table}' AS name, count(*) AS rows,
                    sum(import_id IS NOT ? OR updated_at < created_at OR updated_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR site_id IS NULL) AS wrong
             FROM ${table}`,
          )
          .get(importId),
      );
    } finally {
      db.close();
    }
  };
  await cliImport(DUMP, file);
  const db = new Database(file, { readonly: true });
  const times = AGGREGATE_TABLES.map((table) => db.prepare(`SELECT count(DISTINCT created_at) AS created, sum(created_at IS NOT updated_at) AS differ FROM ${table}`).get());
  db.close();
  t.same(times, AGGREGATE_TABLES.map(() => ({ created: 1, differ: 0 })), 'inserted rows: one time, made and updated');
  // Statements of 32 rows and a last one of fewer: every table's count is not a multiple of 32.
  t.same(check(1), [
    { name: 'analytics_hourly', rows: expected.hour.length, wrong: 0 },
    { name: 'analytics_daily', rows: expected.day.length, wrong: 0 },
    { name: 'analytics_monthly', rows: expected.month.length, wrong: 0 },
  ]);
  t.ok(expected.hour.length % 32 !== 0 && expected.day.length % 32 !== 0 && expected.month.length % 32 !== 0, 'each table ends with a short statement');
  const problems = diffAggregates(expected, await sqliteAggregates(file));
  t.same(problems.slice(0, 10), [], `every bucket equals expected.json (${problems.length} differences)`);
  // Again in replace mode: the stored rows are updated by the second import.
  await cliImport(DUMP, file);
  t.same(check(2).map((r) => r.wrong), [0, 0, 0], 'every row records the second import');
});
