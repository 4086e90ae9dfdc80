#!/usr/bin/env node
// The traditional baseline: restore the dump into a scratch database with the real client, then
// build hourly, daily and monthly aggregate tables with SQL GROUP BY (CREATE TABLE ... AS SELECT).
//
//   node bench/traditional.js FILE --target pg|mariadb [--keep]
//
// Per grain (hour, day, month, UTC) three tables: page views and distinct sessions per site and
// bucket, and the top 10 pages and referrers per site and bucket (GROUP BY site, bucket, url_path
// / referrer_domain, ranked with ROW_NUMBER()). Referrers leave out NULL, '' and the event's own
// hostname, as Umami does. For MariaDB the InnoDB buffer pool is raised to 4 GB for the run (as
// in the reference figures) and put back afterwards; whether that worked is reported.
// Prints JSON with restoreMs, aggregateMs, totalMs and per-query times; if FILE.truth.json exists
// the monthly table is checked against it. The scratch database is dropped unless --keep.

import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { TARGETS } from './servers.js';

const DATABASE = 'ua_bench_traditional';
const BUFFER_POOL_BYTES = 4294967296;
const GRAINS = ['hour', 'day', 'month'];
const TOP = 10;

/** Per target: the UTC bucket of created_at, session setup, and the month label for checking. */
const DIALECTS = {
  mariadb: {
    setup: "SET time_zone = '+00:00';",
    bucket: {
      hour: "DATE_FORMAT(created_at, '%Y-%m-%d %H:00:00')",
      day: "DATE_FORMAT(created_at, '%Y-%m-%d')",
      month: "DATE_FORMAT(created_at, '%Y-%m')",
    },
    monthLabel: 'bucket',
  },
  pg: {
    setup: "SET TIME ZONE 'UTC';",
    bucket: {
      hour: "date_trunc('hour', created_at)",
      day: "date_trunc('day', created_at)::date",
      month: "date_trunc('month', created_at)::date",
    },
    monthLabel: "to_char(bucket, 'YYYY-MM')",
  },
};

function aggregateStatements(dialect) {
  const statements = [];
  for (const grain of GRAINS) {
    const bucket = dialect.bucket[grain];
    statements.push({
      name: `${grain}_stats`,
      sql: `CREATE TABLE agg_${grain}_stats AS
        SELECT website_id, ${bucket} AS bucket, COUNT(*) AS page_views, COUNT(DISTINCT session_id) AS unique_visitors
        FROM website_event WHERE event_type = 1
        GROUP BY website_id, ${bucket}`,
    });
    for (const [name, column, filter] of [
      ['pages', 'url_path', ''],
      ['referrers', 'referrer_domain', "AND referrer_domain IS NOT NULL AND referrer_domain <> '' AND referrer_domain <> hostname"],
    ]) {
      statements.push({
        name: `${grain}_top_${name}`,
        sql: `CREATE TABLE agg_${grain}_top_${name} AS
          SELECT website_id, bucket, ${column}, page_views FROM (
            SELECT website_id, ${bucket} AS bucket, ${column}, COUNT(*) AS page_views,
              ROW_NUMBER() OVER (PARTITION BY website_id, ${bucket} ORDER BY COUNT(*) DESC, ${column}) AS place
            FROM website_event WHERE event_type = 1 ${filter}
            GROUP BY website_id, ${bucket}, ${column}
          ) ranked WHERE place <= ${TOP}`,
      });
    }
  }
  return statements;
}

async function timed(fn) {
  const started = performance.now();
  const value = await fn();
  return [Math.round(performance.now() - started), value];
}

/** Raises the InnoDB buffer pool and waits for the online resize; returns what happened. */
async function raiseBufferPool(server) {
  const [[before]] = await server.query('SELECT @@innodb_buffer_pool_size');
  const report = { requested: BUFFER_POOL_BYTES, before: Number(before) };
  try {
    await server.query(`SET GLOBAL innodb_buffer_pool_size = ${BUFFER_POOL_BYTES}`);
    await waitForResize(server);
    const [[after]] = await server.query('SELECT @@innodb_buffer_pool_size');
    report.after = Number(after);
    report.ok = report.after === BUFFER_POOL_BYTES;
  } catch (error) {
    report.ok = false;
    report.error = error.message;
  }
  return report;
}

async function restoreBufferPool(server, report) {
  if (report.after === undefined || report.after === report.before) return;
  await server.query(`SET GLOBAL innodb_buffer_pool_size = ${report.before}`);
  await waitForResize(server);
  const [[now]] = await server.query('SELECT @@innodb_buffer_pool_size');
  report.restored = Number(now) === report.before;
}

async function waitForResize(server) {
  for (let i = 0; i < 600; i++) {
    const rows = await server.query("SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'");
    const status = rows[0]?.[1] ?? '';
    if (status === '' || /completed|finished/i.test(status)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error('buffer pool resize did not finish');
}

function checkAgainstTruth(truthFile, monthly) {
  if (!existsSync(truthFile)) return undefined;
  const truth = JSON.parse(readFileSync(truthFile, 'utf8'));
  const got = new Map(monthly.map(([site, month, views, visitors]) => [`${site} ${month}`, `${views} ${visitors}`]));
  const mismatches = truth.monthly.filter((m) => got.get(`${m.site} ${m.bucket}`) !== `${m.page_views} ${m.unique_visitors}`);
  return { buckets: truth.monthly.length, restoredBuckets: monthly.length, mismatches: mismatches.length,
    ok: mismatches.length === 0 && monthly.length === truth.monthly.length };
}

async function traditional(file, targetName, { keep }) {
  const server = TARGETS[targetName];
  const dialect = DIALECTS[targetName];
  const result = { target: targetName, file, serverVersion: await server.version() };
  const bufferPool = targetName === 'mariadb' ? await raiseBufferPool(server) : undefined;
  if (bufferPool) result.bufferPool = bufferPool;
  try {
    await server.createDatabase(DATABASE);
    const [restoreMs] = await timed(() => server.restore(file, DATABASE));
    result.restoreMs = restoreMs;
    const [[events]] = await server.query('SELECT COUNT(*) FROM website_event', DATABASE);
    result.events = Number(events);

    result.queries = [];
    for (const { name, sql } of aggregateStatements(dialect)) {
      const [ms] = await timed(() => server.query(`${dialect.setup} ${sql}`, DATABASE));
      const [[rows]] = await server.query(`SELECT COUNT(*) FROM agg_${name}`, DATABASE);
      result.queries.push({ name, ms, rows: Number(rows) });
    }
    result.aggregateMs = result.queries.reduce((sum, q) => sum + q.ms, 0);
    result.totalMs = result.restoreMs + result.aggregateMs;

    const monthly = await server.query(
      `${dialect.setup} SELECT website_id, ${dialect.monthLabel}, page_views, unique_visitors FROM agg_month_stats`, DATABASE);
    const truthFile = `${file}.truth.json`;
    const check = checkAgainstTruth(truthFile, monthly);
    if (check) result.truthCheck = check;
  } finally {
    if (!keep) await server.dropDatabase(DATABASE);
    if (bufferPool) await restoreBufferPool(server, bufferPool);
  }
  return result;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { target: { type: 'string' }, keep: { type: 'boolean', default: false } },
});
if (positionals.length !== 1 || !(values.target in TARGETS)) {
  console.error('usage: node bench/traditional.js FILE --target pg|mariadb [--keep]');
  process.exit(2);
}
console.log(JSON.stringify(await traditional(positionals[0], values.target, { keep: values.keep }), null, 2));
