// Top lists stored in MySQL/MariaDB are JSON text in a utf8mb4 `longtext` column with a binary
// collation and no CHECK (json_valid(…)) (MariaDB's JSON alias, whose check parsed every list
// again on each insert): every list stored is valid JSON to the server's own JSON_VALID, the text
// JSON.stringify writes, and read the same by JSON_EXTRACT and JSON_LENGTH as by JavaScript.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { freshDatabase, importBuffer, onServer } from './helpers/db.js';
import { AGGREGATE_TABLES, checkStoredLists, diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const samples = path.join(import.meta.dirname, 'fixtures', 'samples');
const DUMP = path.join(samples, 'umami-v2-mariadb.sql');
const expected = readJsonFile(path.join(samples, 'umami-v2.expected.json'));

/** Every row's top lists as the server sees them. */
async function storedLists(knex) {
  const rows = [];
  for (const table of AGGREGATE_TABLES) {
    const [result] = await knex.raw(
      `SELECT JSON_VALID(top_pages) AS pagesValid, JSON_VALID(referrers) AS referrersValid, top_pages AS pages, referrers,
              JSON_UNQUOTE(JSON_EXTRACT(top_pages, '$[0].path')) AS firstPath, JSON_LENGTH(referrers) AS referrerCount,
              page_views AS pageViews
       FROM ${table}`,
    );
    rows.push(...result);
  }
  return rows;
}

function checkText(t, rows) {
  checkStoredLists(
    t,
    rows.map((r) => ({ ...r, valid: Number(r.pagesValid) === 1 && Number(r.referrersValid) === 1 })),
    { db: "the server's JSON_VALID, JSON_EXTRACT and JSON_LENGTH" },
  );
}

onServer(t, 'mysql', 'top lists are utf8mb4 JSON text without a CHECK, valid to the server', async (t) => {
  const { knex } = await freshDatabase(t, 'mysql', 'text');
  await importBuffer(knex, fs.readFileSync(DUMP), { source: 'umami-v2-mariadb.sql' });
  const [columns] = await knex.raw(
    `SELECT TABLE_NAME AS tableName, COLUMN_NAME AS name, DATA_TYPE AS type, CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation
     FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IN ('top_pages', 'referrers') AND TABLE_NAME LIKE 'analytics\\_%'
     ORDER BY TABLE_NAME, COLUMN_NAME`,
  );
  t.equal(columns.length, 6, 'two list columns in each of the three tables');
  t.same(
    columns.filter((c) => c.type !== 'longtext' || c.charset !== 'utf8mb4' || c.collation !== 'utf8mb4_bin'),
    [],
    'each is longtext, utf8mb4, binary collation',
  );
  const [checks] = await knex.raw(`SELECT CONSTRAINT_NAME AS name FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()`);
  t.same(checks, [], 'no CHECK constraints');
  const rows = await storedLists(knex);
  checkText(t, rows);
  const problems = diffAggregates(expected, await readAggregates(knex));
  t.same(problems.slice(0, 10), [], `every bucket equals expected.json (${problems.length} differences)`);

  // Merged rows (read back from the text, merged, written again) stay the same kind of text.
  await importBuffer(knex, fs.readFileSync(DUMP), { source: 'umami-v2-mariadb.sql', mode: 'merge', force: true });
  const merged = await storedLists(knex);
  checkText(t, merged);
  t.equal(
    merged.reduce((s, r) => s + Number(r.pageViews), 0),
    2 * rows.reduce((s, r) => s + Number(r.pageViews), 0),
    'every page view counted twice after the merge',
  );
});
