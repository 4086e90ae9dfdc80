#!/usr/bin/env node
// SQLite's share of an import's last flush, alone: the aggregate rows an import wrote (read back
// from its file) inserted again into a new file opened as the CLI opens one (its pragmas) and
// migrated as an import migrates it, in one transaction, 32 rows to a statement, hours, days and months interleaved as the import writes
// them. The statement forms are compared by turns:
//   abort     INSERT INTO …          (a statement journal: each page the statement changes that
//                                     the transaction changed before is copied to a temporary file)
//   fail      INSERT OR FAIL INTO …  (what the library writes: no statement journal)
//   memory    INSERT INTO …, temp_store = MEMORY (the statement journal kept in memory)
//
//   node bench/sqlite-write.js DB [--runs 4]
//
// DB: a SQLite file an import wrote, e.g. `node dist/lib/cli/main.js import
// bench/data/umami-1m-mariadb.sql --db sqlite:/tmp/1m.db`. Prints one JSON line per run and a
// summary: wall ms, and the process's user and system CPU ms, of the inserts and the commit.
import { rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../dist/lib/cli/db.js';
import { AGGREGATE_TABLES, migrate } from '../dist/lib/store/migrations.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '4' } } });
if (positionals.length !== 1) {
  console.error('usage: node bench/sqlite-write.js DB [--runs 4]');
  process.exit(2);
}
const runs = Number(values.runs);
const source = new Database(positionals[0], { readonly: true, fileMustExist: true });
const TABLES = [AGGREGATE_TABLES.hour, AGGREGATE_TABLES.day, AGGREGATE_TABLES.month];
const columnsOf = (t) => ['site_id', t.column, 'page_views', 'unique_visitors', 'top_pages', 'referrers', 'visitors_sketch', 'import_id', 'created_at', 'updated_at'];
const rows = TABLES.map((t) => source.prepare(`SELECT ${columnsOf(t).join(', ')} FROM ${t.table} ORDER BY id`).raw().all());
const sites = source.prepare('SELECT id, umami_website_id, created_at, updated_at FROM analytics_sites ORDER BY id').raw().all();
source.close();

// Each granularity spread over the whole: the next row is of the granularity least far through its rows.
const order = [];
{
  const at = [0, 0, 0];
  const total = rows[0].length + rows[1].length + rows[2].length;
  for (let k = 0; k < total; k++) {
    let g = -1;
    let least = 2;
    for (let i = 0; i < 3; i++) {
      if (at[i] < rows[i].length && at[i] / rows[i].length < least) {
        least = at[i] / rows[i].length;
        g = i;
      }
    }
    order.push(g);
    at[g]++;
  }
}

const ROWS = 32;
async function run(form) {
  const file = path.join(os.tmpdir(), `ua-sqlite-write-${process.pid}.db`);
  for (const f of [file, `${file}-journal`]) rmSync(f, { force: true });
  const knex = openDatabase(`sqlite:${file}`);
  await migrate(knex);
  const db = await knex.client.acquireConnection();
  if (form === 'memory') db.pragma('temp_store = MEMORY');
  const addSite = db.prepare('INSERT INTO analytics_sites (id, umami_website_id, created_at, updated_at) VALUES (?, ?, ?, ?)');
  for (const s of sites) addSite.run(s);
  const verb = form === 'fail' ? 'INSERT OR FAIL INTO' : 'INSERT INTO';
  const statements = TABLES.map((t) => {
    const one = `(${columnsOf(t).map(() => '?').join(', ')})`;
    const head = `${verb} ${t.table} (${columnsOf(t).join(', ')}) VALUES `;
    return { many: db.prepare(head + new Array(ROWS).fill(one).join(', ')), one: db.prepare(head + one) };
  });
  const pending = [[], [], []];
  const write = (g) => {
    if (pending[g].length === ROWS) statements[g].many.run(pending[g].flat());
    else for (const r of pending[g]) statements[g].one.run(r);
    pending[g] = [];
  };
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  db.exec('BEGIN');
  const at = [0, 0, 0];
  for (const g of order) {
    pending[g].push(rows[g][at[g]++]);
    if (pending[g].length === ROWS) write(g);
  }
  for (let g = 0; g < 3; g++) if (pending[g].length > 0) write(g);
  db.exec('COMMIT');
  const used = process.cpuUsage(cpu);
  const result = { form, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6), userMs: Math.round(used.user / 1000), sysMs: Math.round(used.system / 1000), rows: order.length, bytes: statSync(file).size };
  await knex.client.releaseConnection(db);
  await knex.destroy();
  rmSync(file, { force: true });
  return result;
}

const forms = ['abort', 'fail', 'memory'];
const results = Object.fromEntries(forms.map((f) => [f, []]));
for (let r = 0; r < runs; r++) {
  for (const form of forms) {
    const result = await run(form);
    results[form].push(result);
    console.log(JSON.stringify(result));
  }
}
for (const form of forms) {
  const list = results[form];
  const range = (k) => `${Math.min(...list.map((x) => x[k]))}–${Math.max(...list.map((x) => x[k]))}`;
  console.log(`${form.padEnd(6)} ${range('ms')} ms (user ${range('userMs')}, system ${range('sysMs')}), ${list[0].rows} rows, ${(list[0].bytes / 1e6).toFixed(1)} MB`);
}
