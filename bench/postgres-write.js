#!/usr/bin/env node
// PostgreSQL's share of an import's last flush, alone: the aggregate rows an import wrote (read
// back from its database) inserted again into a new database on the same server, migrated as an
// import migrates it, in one transaction, hours then days then months, as the library writes
// them for a server. The statement forms are compared by turns:
//   insert   INSERT INTO … VALUES (…), … of 250 rows, a named prepared statement, the values as
//            parameters, with `SET LOCAL default_toast_compression = lz4` where the server offers
//            lz4 (what the library writes)
//   pglz     the same with the server's default compression (pglz unless set otherwise)
//   copy     COPY … FROM STDIN of 250 rows, the rows as COPY text (sketches as `\x` hex), sent
//            by a copy-in query object of this script's own, with lz4 as `insert`
//
//   node bench/postgres-write.js URL [--runs 4] [--rows 250]
//
// URL: a PostgreSQL database an import wrote, e.g. after `node dist/lib/cli/main.js import
// bench/data/umami-1m-pgdump.sql --db postgres://postgres@127.0.0.1:5432/w1m`. The new database
// (dropped after each run) needs CREATEDB. Prints one JSON line per run and a summary: wall ms of
// the inserts and the commit, and the server process's CPU ms over the same span (read from
// /proc, so with the server on this machine; null otherwise).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { openDatabase } from '../dist/lib/cli/db.js';
import { Dialect } from '../dist/lib/store/dialect.js';
import { AGGREGATE_TABLES, migrate } from '../dist/lib/store/migrations.js';

const require = createRequire(import.meta.url);
const pg = require('pg');

const USAGE = 'usage: node bench/postgres-write.js URL [--runs 4] [--rows 250]';
const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '4' }, rows: { type: 'string', default: '250' } } });
const runs = Number(values.runs);
const per = Number(values.rows);
if (positionals.length !== 1 || !(Number.isInteger(runs) && runs > 0) || !(Number.isInteger(per) && per > 0 && per <= 6000)) {
  console.error(USAGE);
  process.exit(2);
}
const sourceUrl = new URL(positionals[0]);

const FORMS = ['insert', 'pglz', 'copy'];
const TABLES = [AGGREGATE_TABLES.hour, AGGREGATE_TABLES.day, AGGREGATE_TABLES.month];
const columnsOf = (t) => ['site_id', t.column, 'page_views', 'unique_visitors', 'top_pages', 'referrers', 'visitors_sketch', 'import_id', 'created_at', 'updated_at'];
// Read as the library sends them: buckets and times as text, JSON as text, sketches as bytes.
const selectOf = (t) => `SELECT site_id, ${t.column}::text, page_views, unique_visitors, top_pages::text, referrers::text, visitors_sketch, import_id, created_at::text, updated_at::text FROM ${t.table} ORDER BY id`;

/** Stops with one line on stderr (a server that cannot be reached, a database no import wrote). */
function fail(what, err) {
  console.error(`postgres-write: ${what}: ${err.message.split('\n')[0]}`);
  process.exit(1);
}

const source = new pg.Client({ connectionString: sourceUrl.href });
const rows = [];
let sites;
try {
  await source.connect();
  for (const t of TABLES) rows.push((await source.query({ text: selectOf(t), rowMode: 'array' })).rows);
  sites = (await source.query({ text: 'SELECT id, umami_website_id, created_at::text, updated_at::text FROM analytics_sites ORDER BY id', rowMode: 'array' })).rows;
  await source.end();
} catch (err) {
  fail(`reading the aggregate rows of ${sourceUrl.pathname.slice(1)}`, err);
}
if (rows[0].length === 0) {
  console.error(`no hourly rows in ${sourceUrl.pathname.slice(1)}: import a dump into it first`);
  process.exit(1);
}

/** A value as a field of COPY's text format. */
function copyField(v) {
  if (v === null || v === undefined) return '\\N';
  if (Buffer.isBuffer(v)) return `\\\\x${v.toString('hex')}`;
  const s = String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s;
}

/** `COPY … FROM STDIN` with the given data, as node-postgres runs a query object of this shape. */
class CopyIn {
  constructor(text, data) {
    this.text = text;
    this.data = data;
    this.callback = null;
    this.command = null;
  }

  submit(connection) {
    connection.query(this.text);
  }

  handleCopyInResponse(connection) {
    connection.sendCopyFromChunk(this.data);
    connection.endCopyFrom();
  }

  handleCommandComplete(msg) {
    this.command = msg.text;
  }

  handleReadyForQuery() {
    this.callback(null, this.command);
  }

  handleError(err) {
    this.callback(err);
  }

  handleEmptyQuery() {}
  handleRowDescription() {}
  handleDataRow() {}
  handlePortalSuspended() {}
  handleCopyData() {}
}

function copyIn(client, text, data) {
  return new Promise((resolve, reject) => {
    const q = new CopyIn(text, data);
    q.callback = (err, command) => (err ? reject(err) : resolve(command));
    client.query(q);
  });
}

const dialect = new Dialect('postgres');

/** The library's INSERT of n rows, its `?` placeholders numbered as node-postgres takes them. */
function insertText(t, n) {
  let k = 0;
  return dialect.insert(t.table, columnsOf(t), n).replace(/\?/g, () => `$${++k}`);
}

/** The server process's user + system CPU ms (the server on this machine), or null. */
function serverCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

const admin = new pg.Client({ connectionString: sourceUrl.href });
await admin.connect();
const target = `ua_postgres_write_${process.pid}`;
const targetUrl = new URL(sourceUrl.href);
targetUrl.pathname = `/${target}`;

async function run(form) {
  await admin.query(`DROP DATABASE IF EXISTS ${target}`);
  await admin.query(`CREATE DATABASE ${target}`);
  const knex = openDatabase(targetUrl.href);
  try {
    await migrate(knex);
    await knex.destroy();
  } catch (err) {
    await knex.destroy();
    throw err;
  }
  const client = new pg.Client({ connectionString: targetUrl.href });
  await client.connect();
  try {
    for (const s of sites) await client.query('INSERT INTO analytics_sites (id, umami_website_id, created_at, updated_at) VALUES ($1, $2, $3, $4)', s);
    const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const lz4 = (await client.query("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")).rows.length > 0;
    const cpu0 = serverCpuMs(pid);
    const started = process.hrtime.bigint();
    await client.query('BEGIN');
    if (lz4 && form !== 'pglz') await client.query("SET LOCAL default_toast_compression = 'lz4'");
    for (let g = 0; g < TABLES.length; g++) {
      const t = TABLES[g];
      const all = rows[g];
      const copyText = `COPY ${t.table} (${columnsOf(t).join(', ')}) FROM STDIN`;
      for (let i = 0; i < all.length; i += per) {
        const part = all.slice(i, i + per);
        if (form === 'copy') {
          let text = '';
          for (const r of part) text += `${r.map(copyField).join('\t')}\n`;
          await copyIn(client, copyText, Buffer.from(text, 'utf8'));
        } else {
          const name = part.length === per ? `ua_write_${g}` : '';
          await client.query({ name, text: insertText(t, part.length), values: part.flat() });
        }
      }
    }
    await client.query('COMMIT');
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const cpu1 = serverCpuMs(pid);
    const check = (await client.query(`SELECT count(*)::int AS n, sum(page_views)::float8 AS views FROM ${TABLES[0].table}`)).rows[0];
    return { form, lz4: lz4 && form !== 'pglz', ms: Math.round(ms), serverCpuMs: cpu0 === null || cpu1 === null ? null : Math.round(cpu1 - cpu0), hourRows: check.n, hourViews: check.views };
  } finally {
    await client.end();
  }
}

const results = [];
try {
  for (let i = 0; i < runs; i++) {
    for (const form of FORMS) {
      const r = await run(form);
      console.log(JSON.stringify(r));
      results.push(r);
    }
  }
} catch (err) {
  await admin.query(`DROP DATABASE IF EXISTS ${target}`).catch(() => {});
  fail(`writing into ${target}`, err);
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${target}`).catch(() => {});
  await admin.end();
}
const expected = rows[0].length;
for (const r of results) if (r.hourRows !== expected) throw new Error(`${r.form} wrote ${r.hourRows} hourly rows, not ${expected}`);
const range = (xs) => (xs.some((x) => x === null) ? 'n/a' : `${Math.min(...xs)}–${Math.max(...xs)}`);
console.log(`${rows[0].length + rows[1].length + rows[2].length} rows, ${per} a statement, ${runs} runs each by turns:`);
for (const form of FORMS) {
  const mine = results.filter((r) => r.form === form);
  console.log(`  ${form}: ${range(mine.map((r) => r.ms))} ms, server CPU ${range(mine.map((r) => r.serverCpuMs))} ms`);
}
