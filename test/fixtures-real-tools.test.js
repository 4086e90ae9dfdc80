// Fixtures made by the project's own script with the real dump tools: the
// committed ones, and (when the servers are up) freshly made ones whose
// expected numbers come from GROUP BY queries on both servers.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import t from 'tap';
import { createImportPipeline } from '../dist/lib/index.js';
import { freshDatabase, onServer } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const generated = path.join(import.meta.dirname, 'fixtures', 'generated');

async function importInto(knex, file, options = {}) {
  const importer = createImportPipeline({ knex, source: file, ...options });
  await pipeline(fs.createReadStream(file), importer);
  return importer.summary;
}

const CASES = [
  // pg_dump taken with PGTZ=America/New_York or Asia/Kolkata prints other offsets; the UTC buckets are the same.
  { dump: 'umami-v2-mariadb.sql', expected: 'expected.json', timezone: 'UTC' },
  { dump: 'umami-v2-postgres.sql', expected: 'expected.json', timezone: 'UTC' },
  { dump: 'umami-v2-postgres-ny.sql', expected: 'expected.json', timezone: 'UTC' },
  { dump: 'umami-v2-postgres-kolkata.sql', expected: 'expected.json', timezone: 'UTC' },
  // Local calendar days and months, local hours as UTC instants (DST fall-back hour twice; +05:30 hours).
  { dump: 'umami-v2-postgres-ny.sql', expected: 'expected-new-york.json', timezone: 'America/New_York' },
  { dump: 'umami-v2-mariadb.sql', expected: 'expected-new-york.json', timezone: 'America/New_York' },
  { dump: 'umami-v2-postgres.sql', expected: 'expected-kolkata.json', timezone: 'Asia/Kolkata' },
  { dump: 'umami-v2-mariadb.sql', expected: 'expected-kolkata.json', timezone: 'Asia/Kolkata' },
];

for (const c of CASES) {
  t.test(`${c.dump} with timezone ${c.timezone} → ${c.expected}`, async (t) => {
    const { knex } = await freshDatabase(t, 'sqlite', 'fx');
    const summary = await importInto(knex, path.join(generated, c.dump), { timezone: c.timezone });
    t.equal(summary.rejected, 0);
    const problems = diffAggregates(readJsonFile(path.join(generated, c.expected)), await readAggregates(knex));
    t.same(problems.slice(0, 10), [], `every bucket as expected (${problems.length} differences)`);
  });
}

t.test('the New York fall-back hour is two buckets', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'dst');
  await importInto(knex, path.join(generated, 'umami-v2-postgres-ny.sql'), { timezone: 'America/New_York' });
  const rows = await knex('analytics_hourly').whereIn('hour_start', ['2024-11-03 05:00:00', '2024-11-03 06:00:00']).select('site_id', 'hour_start');
  const bySite = new Map();
  for (const r of rows) bySite.set(r.site_id, (bySite.get(r.site_id) ?? 0) + 1);
  t.ok([...bySite.values()].includes(2), 'a site has both 01:00 local hours as separate rows');
});

const run = promisify(execFile);

// Needs both servers and both dump tools: builds a new database, dumps it, and checks the import
// against GROUP BY numbers computed on that database.
await onServer(t, 'postgres', 'fresh fixtures from mariadb-dump and pg_dump', async (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-fixtures-'));
  const database = `ua_fixture_t${process.pid}`;
  t.teardown(async () => {
    fs.rmSync(out, { recursive: true, force: true });
    // The script leaves its database on both servers.
    await run('mariadb', ['-h127.0.0.1', '-uroot', '-e', `DROP DATABASE IF EXISTS ${database}`]).catch(() => {});
    await run('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`]).catch(() => {});
  });
  const { stdout } = await run(process.execPath, [
    path.join(import.meta.dirname, 'fixtures', 'build-fixtures.mjs'),
    '--out', out, '--events', '1500', '--seed', '7', '--database', database,
  ], { timeout: 120000 });
  t.match(stdout, /MariaDB and PostgreSQL agree/);
  for (const [dump, expected, timezone] of [
    ['umami-v2-mariadb.sql', 'expected.json', 'UTC'],
    ['umami-v2-postgres.sql', 'expected.json', 'UTC'],
    ['umami-v2-postgres-ny.sql', 'expected.json', 'UTC'],
    ['umami-v2-postgres-ny.sql', 'expected-new-york.json', 'America/New_York'],
  ]) {
    const { knex } = await freshDatabase(t, 'sqlite', 'fresh');
    await importInto(knex, path.join(out, dump), { timezone });
    const problems = diffAggregates(readJsonFile(path.join(out, expected)), await readAggregates(knex));
    t.same(problems.slice(0, 10), [], `${dump} (${timezone}): every bucket as the GROUP BY queries say`);
  }
});
