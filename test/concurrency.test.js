// Concurrent importers in merge mode, committing per flush, on the same
// tables: no count is lost (four on PostgreSQL and MariaDB, two on SQLite).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { migrate } from '../dist/lib/index.js';
import { freshDatabase, onServer } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const bin = path.join(import.meta.dirname, '..', 'dist', 'lib', 'cli', 'main.js');
const generated = path.join(import.meta.dirname, 'fixtures', 'generated');
const expected = readJsonFile(path.join(generated, 'expected.json'));

function cli(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

/** The fixture database split into `parts` dumps by the real mariadb-dump (--where on a hash of event_id). */
async function splitDumps(t, parts) {
  const { url } = await freshDatabase(t, 'mysql', 'source');
  const db = new URL(url).pathname.slice(1);
  const client = ['-h127.0.0.1', '-uroot'];
  execFileSync('mariadb', [...client, db], { input: fs.readFileSync(path.join(generated, 'umami-v2-mariadb.sql')) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-parts-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const meta = execFileSync('mariadb-dump', [...client, db, 'website', 'session']);
  return Array.from({ length: parts }, (_, k) => {
    const file = path.join(dir, `part-${k}.sql`);
    const events = execFileSync('mariadb-dump', [...client, `--where=MOD(CRC32(event_id), ${parts}) = ${k}`, db, 'website_event']);
    fs.writeFileSync(file, Buffer.concat([meta, events]));
    return file;
  });
}

const ARGS = ['--mode', 'merge', '--no-atomic', '--checkpoint-events', '50', '--max-buckets', '40', '--json'];

for (const [target, importers] of [['postgres', 4], ['mysql', 4], ['sqlite', 2]]) {
  await onServer(t, 'mysql', `${importers} concurrent merge importers on ${target}`, async (t) => {
    const parts = await splitDumps(t, importers);
    const { knex, url } = await freshDatabase(t, target, 'conc');
    const results = await Promise.all(parts.map((file) => cli(['import', file, '--db', url, ...ARGS])));
    for (const r of results) t.equal(r.code, 0, r.stderr || 'importer finished');
    const summaries = results.filter((r) => r.code === 0).map((r) => JSON.parse(r.stdout));
    const events = summaries.reduce((n, s) => n + s.events, 0);
    const flushes = summaries.reduce((n, s) => n + s.flushes, 0);
    const retries = summaries.reduce((n, s) => n + s.retries, 0);
    t.equal(events, 4000, `${importers} inputs, ${events} events, ${flushes} committed flushes, ${retries} transactions retried after a conflict`);
    const problems = diffAggregates(expected, await readAggregates(knex));
    t.same(problems.slice(0, 10), [], `the tables hold exactly the sums of the inputs (${problems.length} differences)`);
    const ledger = await knex('analytics_imports').select('status');
    t.same(ledger.map((r) => r.status), Array(importers).fill('completed'));
  });
}

for (const target of ['sqlite', 'mysql']) {
  await onServer(t, target, `${target}: a lock table left with two rows by processes that created it at once does not block migrations`, async (t) => {
    const { knex } = await freshDatabase(t, target, 'locks');
    // What two processes racing through knex's first migration can leave: two unlocked lock rows.
    await knex.schema.createTable('umami_aggregate_migrations_lock', (tb) => {
      tb.increments('index').primary();
      tb.integer('is_locked');
    });
    await knex('umami_aggregate_migrations_lock').insert([{ is_locked: 0 }, { is_locked: 0 }]);
    await t.resolves(migrate(knex), 'migrations run');
    t.ok(await knex.schema.hasTable('analytics_hourly'));
    t.equal((await knex('umami_aggregate_migrations_lock').select('index')).length, 1, 'one lock row left');
  });
}
