#!/usr/bin/env node
// Every bucket of an import against SQL: restores FILE into PostgreSQL and builds the aggregates
// with GROUP BY (bench/traditional.js --keep), imports FILE with the CLI into another PostgreSQL
// database, and compares every hourly, daily and monthly bucket: page views, unique visitors and
// the top-10 pages and referrers.
//
//   node bench/verify.js FILE
import { execFile } from 'node:child_process';
import path from 'node:path';
import knexFactory from 'knex';

const here = path.dirname(new URL(import.meta.url).pathname);
const file = process.argv[2];
if (!file) throw new Error('usage: node bench/verify.js FILE');
const quiet = { warn() {}, error() {}, deprecate() {}, debug() {} };
const BASE = 'postgres://postgres@127.0.0.1:5432';

function sh(command, args) {
  return new Promise((resolve, reject) => execFile(command, args, { maxBuffer: 1 << 26, timeout: 3_600_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
}

const target = `ua_bench_verify_${process.pid}`;
const admin = knexFactory({ client: 'pg', connection: `${BASE}/test`, log: quiet });
await admin.raw(`DROP DATABASE IF EXISTS ${target}`);
await admin.raw(`CREATE DATABASE ${target}`);
const sql = knexFactory({ client: 'pg', connection: `${BASE}/ua_bench_traditional`, log: quiet });
const ours = knexFactory({ client: 'pg', connection: `${BASE}/${target}`, log: quiet });
try {
  const traditional = JSON.parse(await sh(process.execPath, [path.join(here, 'traditional.js'), file, '--target', 'pg', '--keep']));
  const started = Date.now();
  await sh(process.execPath, [path.join(here, '..', 'dist', 'lib', 'cli', 'main.js'), 'import', file, '--db', `${BASE}/${target}`, '--quiet']);
  const importMs = Date.now() - started;
  const report = { file, events: traditional.events, importMs, restoreAndGroupByMs: traditional.totalMs };
  const BUCKET = { hour: ["to_char(hour_start, 'YYYY-MM-DD HH24:MI:SS')", "to_char(bucket, 'YYYY-MM-DD HH24:MI:SS')"], day: ["to_char(date, 'YYYY-MM-DD')", "to_char(bucket, 'YYYY-MM-DD')"], month: ['year_month', "to_char(bucket, 'YYYY-MM')"] };
  const TABLE = { hour: 'analytics_hourly', day: 'analytics_daily', month: 'analytics_monthly' };
  for (const g of ['hour', 'day', 'month']) {
    const mine = new Map(
      (await ours.raw(`SELECT s.umami_website_id AS site, ${BUCKET[g][0]} AS bucket, page_views, unique_visitors, top_pages, referrers FROM ${TABLE[g]} a JOIN analytics_sites s ON s.id = a.site_id`)).rows.map((r) => [`${r.site} ${r.bucket}`, r]),
    );
    const stats = (await sql.raw(`SELECT website_id::text AS site, ${BUCKET[g][1]} AS bucket, page_views, unique_visitors FROM agg_${g}_stats`)).rows;
    const tops = {};
    for (const [name, column] of [['pages', 'url_path'], ['referrers', 'referrer_domain']]) {
      tops[name] = new Map();
      for (const r of (await sql.raw(`SELECT website_id::text AS site, ${BUCKET[g][1]} AS bucket, ${column} AS name, page_views FROM agg_${g}_top_${name}`)).rows) {
        const k = `${r.site} ${r.bucket}`;
        if (!tops[name].has(k)) tops[name].set(k, []);
        tops[name].get(k).push([r.name, Number(r.page_views)]);
      }
    }
    let views = 0;
    let visitors = 0;
    let topLists = 0;
    for (const s of stats) {
      const k = `${s.site} ${s.bucket}`;
      const m = mine.get(k);
      if (!m) continue;
      if (Number(m.page_views) === Number(s.page_views)) views++;
      if (Number(m.unique_visitors) === Number(s.unique_visitors)) visitors++;
      // Ties may be ordered by another collation in SQL: compare the counts in order, and the names as sets per count.
      let same = true;
      for (const [name, key] of [['pages', 'path'], ['referrers', 'domain']]) {
        const want = (tops[name].get(k) ?? []).sort((a, b) => b[1] - a[1]);
        const got = (m[name === 'pages' ? 'top_pages' : 'referrers'] ?? []).slice(0, 10).map((e) => [e[key], e.page_views]);
        if (want.length !== got.length || want.some((w, i) => w[1] !== got[i][1])) same = false;
        const last = want.at(-1)?.[1];
        const names = (list) => list.filter((e) => e[1] !== last).map((e) => `${e[0]}\u0000${e[1]}`).sort().join();
        if (names(want) !== names(got)) same = false;
      }
      if (same) topLists++;
    }
    report[g] = { buckets: stats.length, written: mine.size, pageViewsEqual: views, visitorsEqual: visitors, topListsEqual: topLists };
  }
  console.log(JSON.stringify(report, null, 2));
} finally {
  await sql.destroy();
  await ours.destroy();
  await admin.raw(`DROP DATABASE IF EXISTS ${target} WITH (FORCE)`);
  await admin.raw('DROP DATABASE IF EXISTS ua_bench_traditional WITH (FORCE)');
  await admin.destroy();
}
