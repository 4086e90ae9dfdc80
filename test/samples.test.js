// The real mariadb-dump / pg_dump samples of Umami v1, v2 and v3 give exactly
// their expected aggregates (every hourly, daily and monthly bucket) on
// SQLite, PostgreSQL and MariaDB.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { createImportPipeline } from '../dist/lib/index.js';
import { TARGETS, freshDatabase, onServer } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const dir = path.join(import.meta.dirname, 'fixtures', 'samples');
const SAMPLES = [
  { file: 'umami-v2-mariadb.sql', expected: 'umami-v2.expected.json', version: 'v2', dialect: 'mysql' },
  { file: 'umami-v2-postgres.sql', expected: 'umami-v2.expected.json', version: 'v2', dialect: 'postgres' },
  { file: 'umami-v3-postgres-inserts.sql', expected: 'umami-v3.expected.json', version: 'v3', dialect: 'postgres' },
  { file: 'umami-v1-mariadb.sql', expected: 'umami-v1.expected.json', version: 'v1', dialect: 'mysql' },
];

for (const target of TARGETS) {
  for (const sample of SAMPLES) {
    await onServer(t, target, `${sample.file} into ${target}`, async (t) => {
      const { knex } = await freshDatabase(t, target, sample.version);
      const importer = createImportPipeline({ knex, source: sample.file });
      await pipeline(fs.createReadStream(path.join(dir, sample.file), { highWaterMark: 64 * 1024 }), importer);
      const expected = readJsonFile(path.join(dir, sample.expected));
      const summary = importer.summary;
      t.equal(summary.umamiVersion, sample.version, 'schema version detected');
      t.equal(summary.dialect, sample.dialect, 'dump dialect detected');
      t.equal(summary.rejected, 0, 'no row rejected');
      const pageViews = expected.month.reduce((s, e) => s + e.page_views, 0);
      t.equal(summary.pageViews, pageViews, 'page views in the summary');
      t.same(summary.buckets, { hour: expected.hour.length, day: expected.day.length, month: expected.month.length }, 'buckets written');
      const actual = await readAggregates(knex);
      const problems = diffAggregates(expected, actual);
      t.same(problems.slice(0, 10), [], `every bucket equals expected.json (${problems.length} differences)`);
      const sites = await knex('analytics_sites').select('umami_website_id', 'name', 'domain').orderBy('umami_website_id');
      t.equal(sites.length, new Set(expected.month.map((e) => e.site)).size, 'one site per Umami website');
      t.ok(sites.every((s) => s.name && s.domain), 'sites carry name and domain from the website rows');
      const [ledger] = await knex('analytics_imports').select('status', 'events', 'page_views', 'umami_version');
      t.match(ledger, { status: 'completed', umami_version: sample.version }, 'ledger row completed');
      t.equal(Number(ledger.page_views), pageViews, 'ledger page views');
    });
  }
}
