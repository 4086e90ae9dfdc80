// Every dump variant real tools produce (test/fixtures/variants, made by
// build-variants.mjs with mariadb-dump and pg_dump): each gives its expected
// aggregates, or is refused with a message saying what to do.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execFile } from 'node:child_process';
import t from 'tap';
import { createImportPipeline } from '../dist/lib/index.js';
import { freshDatabase } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const dir = path.join(import.meta.dirname, 'fixtures', 'variants');
const manifest = readJsonFile(path.join(dir, 'variants.json'));
const bin = path.join(import.meta.dirname, '..', 'dist', 'lib', 'cli', 'main.js');

const VERSIONS = {
  'umami-v2-old-mariadb.sql': 'v2 (before 2.20)',
  'umami-v2-old-postgres.sql': 'v2 (before 2.20)',
  'umami-v1-postgres.sql': 'v1',
  'umami-v1-mariadb.sql': 'v1',
};

for (const entry of manifest) {
  const file = path.join(dir, entry.file);
  if (entry.refuse) {
    t.test(`${entry.file} is refused with ${entry.refuse}`, async (t) => {
      const { knex } = await freshDatabase(t, 'sqlite', 'refuse');
      await t.rejects(pipeline(fs.createReadStream(file), createImportPipeline({ knex })), { code: entry.refuse });
      const r = await new Promise((resolve) => execFile(process.execPath, [bin, 'import', file, '--db', `sqlite:${path.join(path.dirname(file), '..', '..', 'tmp-refuse.sqlite')}`], (err, stdout, stderr) => resolve({ code: err?.code, stderr })));
      fs.rmSync(path.join(dir, '..', '..', 'tmp-refuse.sqlite'), { force: true });
      t.not(r.code, 0);
      const how = entry.refuse === 'UA_PG_CUSTOM_FORMAT' ? /pg_restore -f - FILE \| umami-aggregate import -/ : /(zstd|xz|bzip2|lz4) -dc FILE \| umami-aggregate import -/;
      t.match(r.stderr, how, 'the message says how to pipe it in');
    });
    continue;
  }
  for (const auto of entry.options?.format ? [false, true] : [false]) {
    const options = { ...entry.options };
    if (auto) delete options.format;
    t.test(`${entry.file}${auto ? ' (format detected)' : ''} → ${entry.expected}`, async (t) => {
      const { knex } = await freshDatabase(t, 'sqlite', 'variant');
      const importer = createImportPipeline({ knex, source: entry.file, ...options });
      await pipeline(fs.createReadStream(file, { highWaterMark: 16384 }), importer);
      const s = importer.summary;
      t.equal(s.rejected, 0, 'no row rejected');
      if (VERSIONS[entry.file]) t.equal(s.umamiVersion, VERSIONS[entry.file], `detected Umami ${VERSIONS[entry.file]}`);
      const problems = diffAggregates(readJsonFile(path.join(dir, entry.expected)), await readAggregates(knex));
      t.same(problems.slice(0, 10), [], `every bucket as expected (${problems.length} differences)`);
    });
  }
}

t.test('a --skip-tz-utc dump read as UTC is off by the offset (the option matters)', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'tz');
  await pipeline(fs.createReadStream(path.join(dir, 'umami-v2-mariadb-skip-tz-utc.sql')), createImportPipeline({ knex }));
  const problems = diffAggregates(readJsonFile(path.join(dir, 'expected.json')), await readAggregates(knex));
  t.ok(problems.length > 0, 'without --source-timezone the hours differ');
});
