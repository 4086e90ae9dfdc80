#!/usr/bin/env node
// Checks the dump generator against the real tools. For each server: generate a small dump,
// restore it with the real client into a scratch database, compare row counts and monthly page
// views / distinct sessions with FILE.truth.json, dump the database again with mariadb-dump /
// pg_dump and compare with the generated file, then drop the scratch database.
//
//   node bench/check-generator.js [--events 20000] [--seed 1] [--gzip]
//
// The re-dump must be byte-identical for MariaDB (apart from the Host and "Dump completed"
// comment lines); for PostgreSQL it must hold the same lines (heap order may differ slightly).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { isGzip, mariadb, postgres, run } from './servers.js';

const DATABASE = 'ua_bench_check';
const here = (path) => fileURLToPath(new URL(path, import.meta.url));

const MONTHLY_SQL = {
  mariadb: `SET time_zone = '+00:00';
    SELECT website_id, DATE_FORMAT(created_at, '%Y-%m'), COUNT(*), COUNT(DISTINCT session_id)
    FROM website_event WHERE event_type = 1 GROUP BY 1, 2`,
  pg: `SELECT website_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), count(*), count(DISTINCT session_id)
    FROM website_event WHERE event_type = 1 GROUP BY 1, 2`,
};

/** Lines of a dump that legitimately differ between two dumps of the same data. */
const VOLATILE = /^(-- Host: |-- Dump completed on |-- Dumped (from|by) |\\(un)?restrict )/;

function compareDumps(generated, redumped, { ordered }) {
  const clean = (text) => text.split('\n').filter((line) => !VOLATILE.test(line));
  let a = clean(generated);
  let b = clean(redumped);
  const identical = a.length === b.length && a.every((line, i) => line === b[i]);
  if (identical || ordered) return { identical, sameLines: identical, firstDifference: identical ? null : firstDifference(a, b) };
  a = a.sort();
  b = b.sort();
  const sameLines = a.length === b.length && a.every((line, i) => line === b[i]);
  return { identical, sameLines, firstDifference: sameLines ? null : firstDifference(a, b) };
}

function firstDifference(a, b) {
  const i = a.findIndex((line, k) => line !== b[k]);
  return { line: i + 1, generated: a[i]?.slice(0, 300), redumped: b[i]?.slice(0, 300) };
}

async function check(server, { events, seed, gzip }) {
  const file = here(`./data/check-${server.format}.sql${gzip ? '.gz' : ''}`);
  await run(process.execPath, [here('./generate.js'), '--events', String(events), '--seed', String(seed),
    '--format', server.format, ...(gzip ? ['--gzip'] : []), '--out', file]);
  const truth = JSON.parse(readFileSync(`${file}.truth.json`, 'utf8'));

  await server.createDatabase(DATABASE);
  try {
    const started = performance.now();
    await server.restore(file, DATABASE);
    const restoreMs = Math.round(performance.now() - started);

    const [[eventCount, pageViews]] = await server.query(
      'SELECT COUNT(*), SUM(CASE WHEN event_type = 1 THEN 1 ELSE 0 END) FROM website_event', DATABASE);
    const [[sessionCount]] = await server.query('SELECT COUNT(*) FROM session', DATABASE);
    const monthly = new Map((await server.query(MONTHLY_SQL[server.name], DATABASE))
      .map(([site, bucket, views, visitors]) => [`${site} ${bucket}`, [Number(views), Number(visitors)]]));
    const monthlyMismatches = truth.monthly.filter(({ site, bucket, page_views, unique_visitors }) => {
      const got = monthly.get(`${site} ${bucket}`);
      return !got || got[0] !== page_views || got[1] !== unique_visitors;
    });

    const generated = isGzip(file) ? gunzipSync(readFileSync(file)).toString() : readFileSync(file, 'utf8');
    const redump = compareDumps(generated, await server.dump(DATABASE), { ordered: server.name === 'mariadb' });

    const ok = Number(eventCount) === truth.events && Number(pageViews) === truth.pageViews
      && Number(sessionCount) === truth.sessions && monthly.size === truth.monthly.length
      && monthlyMismatches.length === 0 && redump.sameLines;
    return {
      server: server.name, version: await server.version(), file, restoreMs, ok,
      events: { restored: Number(eventCount), truth: truth.events },
      pageViews: { restored: Number(pageViews), truth: truth.pageViews },
      sessions: { restored: Number(sessionCount), truth: truth.sessions },
      monthlyBuckets: { restored: monthly.size, truth: truth.monthly.length, mismatches: monthlyMismatches.length },
      redump,
    };
  } finally {
    await server.dropDatabase(DATABASE);
  }
}

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    seed: { type: 'string', default: '1' },
    gzip: { type: 'boolean', default: false },
  },
});
const options = { events: Number(values.events), seed: Number(values.seed), gzip: values.gzip };
const results = [];
for (const server of [mariadb, postgres]) results.push(await check(server, options));
console.log(JSON.stringify(results, null, 2));
if (!results.every((r) => r.ok)) process.exitCode = 1;
