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
