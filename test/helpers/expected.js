// Reading the aggregate tables back into the shape of the samples'
// expected.json, and comparing the two bucket by bucket.
import fs from 'node:fs';

export function readJsonFile(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function parseList(v) {
  if (v === null || v === undefined) return [];
  if (typeof v === 'string') return JSON.parse(v);
  if (Buffer.isBuffer(v)) return JSON.parse(v.toString('utf8'));
  return v;
}

function text(v) {
  if (v instanceof Date) return v.toISOString().slice(0, 19).replace('T', ' ');
  return String(v);
}

const TABLES = {
  hour: { table: 'analytics_hourly', column: 'hour_start', bucket: (v) => `${text(v).replace(' ', 'T').slice(0, 19)}Z` },
  day: { table: 'analytics_daily', column: 'date', bucket: (v) => text(v).slice(0, 10) },
  month: { table: 'analytics_monthly', column: 'year_month', bucket: (v) => text(v) },
};

/** The aggregate tables' names: hourly, daily, monthly. */
export const AGGREGATE_TABLES = Object.values(TABLES).map((t) => t.table);

/** { hour: [...], day: [...], month: [...] } from the database, entries like expected.json. */
export async function readAggregates(knex, { top = 10 } = {}) {
  const sites = new Map((await knex('analytics_sites').select('id', 'umami_website_id')).map((r) => [Number(r.id), r.umami_website_id]));
  const out = {};
  for (const [g, spec] of Object.entries(TABLES)) {
    const client = knex.client.config.client;
    const col = client === 'pg' ? knex.raw(`${spec.column}::text as bucket`) : client === 'mysql2' ? knex.raw(`CAST(\`${spec.column}\` AS CHAR) as bucket`) : `${spec.column} as bucket`;
    const rows = await knex(spec.table).select('site_id', col, 'page_views', 'unique_visitors', 'top_pages', 'referrers');
    out[g] = rows
      .map((r) => ({
        site: sites.get(Number(r.site_id)),
        bucket: spec.bucket(r.bucket),
        page_views: Number(r.page_views),
        unique_visitors: Number(r.unique_visitors),
        top_pages: parseList(r.top_pages).slice(0, top).map((e) => [e.path, e.page_views]),
        referrers: parseList(r.referrers).slice(0, top).map((e) => [e.domain, e.page_views]),
      }))
      .sort((a, b) => (a.site + a.bucket < b.site + b.bucket ? -1 : a.site + a.bucket > b.site + b.bucket ? 1 : 0));
  }
  return out;
}

/**
 * Compares every bucket: page views, unique visitors, top-10 pages and
 * referrers. Returns a list of differences (empty when equal).
 */
export function diffAggregates(expected, actual, { fields = ['page_views', 'unique_visitors', 'top_pages', 'referrers'] } = {}) {
  const problems = [];
  for (const g of ['hour', 'day', 'month']) {
    const got = new Map(actual[g].map((e) => [`${e.site}|${e.bucket}`, e]));
    const want = new Map(expected[g].map((e) => [`${e.site}|${e.bucket}`, e]));
    for (const [key, e] of want) {
      const a = got.get(key);
      if (!a) {
        problems.push(`${g} ${key}: missing`);
        continue;
      }
      for (const f of fields) {
        if (JSON.stringify(e[f]) !== JSON.stringify(a[f])) problems.push(`${g} ${key} ${f}: expected ${JSON.stringify(e[f])}, got ${JSON.stringify(a[f])}`);
      }
    }
    for (const key of got.keys()) if (!want.has(key)) problems.push(`${g} ${key}: not expected`);
  }
  return problems;
}

/**
 * Checks the top lists a database stored, row by row as it reads them back: `pages` and
 * `referrers` (the lists' text), `valid` (the database's own check of both, true or false),
 * `firstPath` and `referrerCount` (what its JSON functions read: the first entry's path, the
 * number of referrers). `db` names the database in the messages; `exactText` asks for the text
 * JSON.stringify writes (not for jsonb, which stores its own form).
 */
export function checkStoredLists(t, rows, { db, exactText = true }) {
  t.ok(rows.length > 0, `${rows.length} rows`);
  t.same(rows.filter((r) => r.valid !== true).length, 0, `every top list is valid JSON to ${db}`);
  if (exactText) {
    const canonical = (s) => JSON.stringify(JSON.parse(s)) === s;
    t.same(rows.filter((r) => !canonical(r.pages) || !canonical(r.referrers)).length, 0, 'every list is the text JSON.stringify writes of it');
  }
  const first = rows.filter((r) => (JSON.parse(r.pages)[0]?.path ?? null) !== r.firstPath);
  t.same(first.slice(0, 3).map((r) => [r.pages.slice(0, 80), r.firstPath]), [], `${db} reads the first path JavaScript reads`);
  t.same(rows.filter((r) => JSON.parse(r.referrers).length !== Number(r.referrerCount)).length, 0, `${db} counts the referrers JavaScript counts`);
  t.ok(
    rows.some((r) => /[^\x00-\x7f]/.test(r.pages)),
    'names beyond ASCII among the lists (bytes and characters differ for them)',
  );
}
