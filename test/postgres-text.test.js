// Top lists stored in PostgreSQL are json: the rows an import makes bind their JSON as UTF-8 bytes
// to `CAST(? AS json)` (pg sends a Buffer in the binary format, which for json is its text), merged
// rows as strings. Either way the stored text is exactly what JSON.stringify writes, and the
// server's own json operators read what JavaScript reads. A host's jsonb column takes them too.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { migrate } from '../dist/lib/index.js';
import { freshDatabase, importBuffer, onServer } from './helpers/db.js';
import { AGGREGATE_TABLES, checkStoredLists, diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const samples = path.join(import.meta.dirname, 'fixtures', 'samples');
const DUMP = path.join(samples, 'umami-v2-postgres.sql');
const expected = readJsonFile(path.join(samples, 'umami-v2.expected.json'));

/** Every row's top lists as the server sees them (as text, whatever the column's type). */
async function storedLists(knex) {
  const rows = [];
  for (const table of AGGREGATE_TABLES) {
    const result = await knex.raw(
      `SELECT pg_typeof(top_pages)::text AS type, top_pages::text AS pages, referrers::text AS referrers,
              json_typeof(top_pages::json) AS pagesKind, json_typeof(referrers::json) AS referrersKind, (top_pages::json)->0->>'path' AS "firstPath",
              json_array_length(referrers::json) AS "referrerCount", page_views AS "pageViews"
       FROM ${table}`,
    );
    rows.push(...result.rows);
  }
  return rows;
}

function checkLists(t, rows, { exactText }) {
  checkStoredLists(
    t,
    rows.map((r) => ({ ...r, valid: r.pageskind === 'array' && r.referrerskind === 'array' })),
    { db: "the server's json_typeof, ->0->>'path' and json_array_length", exactText },
  );
}

/** Imports the sample into `knex` and checks its lists (in columns of `type`) and buckets; returns the rows read back. */
async function importAndCheck(t, knex, type, exactText) {
  await importBuffer(knex, fs.readFileSync(DUMP), { source: 'umami-v2-postgres.sql' });
  const rows = await storedLists(knex);
  t.same([...new Set(rows.map((r) => r.type))], [type], `the columns are ${type}`);
  checkLists(t, rows, { exactText });
  const problems = diffAggregates(expected, await readAggregates(knex));
  t.same(problems.slice(0, 10), [], `every bucket equals expected.json (${problems.length} differences)`);
  return rows;
}

onServer(t, 'postgres', 'top lists are json, stored as the text JSON.stringify writes, also when merged', async (t) => {
  const { knex } = await freshDatabase(t, 'postgres', 'text');
  const rows = await importAndCheck(t, knex, 'json', true);

  // Rows merged with the stored ones are written as strings.
  await importBuffer(knex, fs.readFileSync(DUMP), { source: 'umami-v2-postgres.sql', mode: 'merge', force: true });
  const merged = await storedLists(knex);
  checkLists(t, merged, { exactText: true });
  t.equal(
    merged.reduce((s, r) => s + Number(r.pageViews), 0),
    2 * rows.reduce((s, r) => s + Number(r.pageViews), 0),
    'every page view counted twice after the merge',
  );
});

onServer(t, 'postgres', "a host's tables with jsonb top lists take the lists too", async (t) => {
  const { knex } = await freshDatabase(t, 'postgres', 'jsonb');
  await migrate(knex);
  for (const table of AGGREGATE_TABLES) await knex.raw(`ALTER TABLE ${table} ALTER COLUMN top_pages TYPE jsonb, ALTER COLUMN referrers TYPE jsonb`);
  await importAndCheck(t, knex, 'jsonb', false);
});

onServer(t, 'postgres', 'each row records its import and its time, bound once per statement ($1–$3)', async (t) => {
  const { knex } = await freshDatabase(t, 'postgres', 'shared');
  const { importId } = await importBuffer(knex, fs.readFileSync(DUMP), { source: 'umami-v2-postgres.sql' });
  const counts = { analytics_hourly: expected.hour.length, analytics_daily: expected.day.length, analytics_monthly: expected.month.length };
  for (const table of AGGREGATE_TABLES) {
    const { rows } = await knex.raw(
      `SELECT count(*)::int AS rows, count(DISTINCT created_at)::int AS times, sum((import_id IS DISTINCT FROM ?)::int)::int AS "otherImport",
              sum((created_at IS DISTINCT FROM updated_at)::int)::int AS "timesDiffer" FROM ${table}`,
      [importId],
    );
    t.same(rows[0], { rows: counts[table], times: 1, otherImport: 0, timesDiffer: 0 }, table);
  }
  const problems = diffAggregates(expected, await readAggregates(knex));
  t.same(problems.slice(0, 10), [], `every bucket equals expected.json (${problems.length} differences)`);
});
