// Aggregates over an atomic import's limits (memoryLimitMb, maxBuckets) are spilled to run files
// in a temporary folder and written once, at the end: the same tables as an import without a
// limit, on every target; the folder is gone after the import, whether it completed or failed.
// Not atomic (or with spillDir: false), partial flushes go to the database as before.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import t from 'tap';
import { createImportPipeline } from '../dist/lib/index.js';
import { TARGETS, freshDatabase, onServer } from './helpers/db.js';
import { bin } from './helpers/cli.js';
import { readAggregates } from './helpers/expected.js';
import { RowFile, RunReader, RunWriter } from '../dist/lib/aggregate/spill.js';
import { VisitorSketch } from '../dist/lib/index.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const DUMPS = [
  ['v2 mariadb-dump', path.join(fixtures, 'generated', 'umami-v2-mariadb.sql')],
  ['v1 mariadb-dump (referrers without a hostname)', path.join(fixtures, 'samples', 'umami-v1-mariadb.sql')],
  ['v2 pg_dump, New York time', path.join(fixtures, 'generated', 'umami-v2-postgres-ny.sql'), { timezone: 'America/New_York' }],
];

async function importFile(knex, file, options = {}) {
  const importer = createImportPipeline({ knex, inputFile: file, ...options });
  await finished(importer.end());
  return importer.summary;
}

for (const target of TARGETS) {
  onServer(t, target, `${target}: an import over maxBuckets spills and writes the tables of an import without a limit`, async (t) => {
    for (const [label, file, extra = {}] of DUMPS) {
      const plain = await freshDatabase(t, target, 'spill_plain');
      await importFile(plain.knex, file, extra);
      const want = await readAggregates(plain.knex, { top: 50 });
      const spillDir = t.testdir();
      const spilled = await freshDatabase(t, target, 'spill_runs');
      const summary = await importFile(spilled.knex, file, { ...extra, maxBuckets: 40, spillDir });
      const got = await readAggregates(spilled.knex, { top: 50 });
      t.ok(want.hour.length > 200, `${label}: ${want.hour.length} hours, ${want.day.length} days, ${want.month.length} months`);
      t.same(got, want, `${label}: every bucket the same`);
      t.same(summary.buckets, { hour: want.hour.length, day: want.day.length, month: want.month.length }, `${label}: the summary counts each bucket once`);
      t.equal(summary.flushes, 1, `${label}: one flush`);
      t.ok(summary.spills >= 10, `${label}: after ${summary.spills} spills`);
      t.same(fs.readdirSync(spillDir), [], `${label}: the spill folder is removed`);
    }
  });
}

t.test('spills happen: run files appear in spillDir while the import reads', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'spill_seen');
  const spillDir = t.testdir();
  const seen = new Set();
  const importer = createImportPipeline({ knex, inputFile: DUMPS[0][1], maxBuckets: 40, spillDir, chunkSize: 200 });
  importer.on('progress', () => {
    for (const folder of fs.readdirSync(spillDir)) for (const f of fs.readdirSync(path.join(spillDir, folder))) seen.add(f);
  });
  await finished(importer.end());
  t.ok([...seen].filter((f) => f.startsWith('run-')).length >= 3, `run files seen: ${[...seen].sort().join(', ')}`);
  t.same(fs.readdirSync(spillDir), [], 'and removed at the end');
});

t.test('a failed import removes its spill folder and commits nothing', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'spill_fail');
  const spillDir = t.testdir();
  const controller = new AbortController();
  let runs = 0;
  const importer = createImportPipeline({ knex, inputFile: DUMPS[0][1], maxBuckets: 40, spillDir, chunkSize: 200, signal: controller.signal });
  importer.on('progress', () => {
    runs = 0;
    for (const folder of fs.readdirSync(spillDir)) runs += fs.readdirSync(path.join(spillDir, folder)).length;
    if (runs >= 2) controller.abort();
  });
  await t.rejects(finished(importer.end()), { code: 'UA_ABORTED' });
  t.ok(runs >= 2, `aborted with ${runs} run files written`);
  t.same(fs.readdirSync(spillDir), [], 'the folder is removed');
  t.equal((await knex('analytics_hourly').count({ n: '*' }))[0].n, 0, 'no aggregate row committed');
});

t.test('a spill folder that cannot be made: a typed error, nothing committed', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'spill_nowhere');
  const missing = path.join(t.testdir(), 'not', 'there');
  const importer = createImportPipeline({ knex, inputFile: DUMPS[0][1], maxBuckets: 40, spillDir: missing });
  await t.rejects(finished(importer.end()), { code: 'UA_SPILL_FAILED', message: /cannot make a folder in .*not.there: ENOENT/ });
  t.equal((await knex('analytics_hourly').count({ n: '*' }))[0].n, 0, 'no aggregate row committed');
});

t.test('the CLI spills to TMPDIR; one that cannot be used: one line with the code, exit 1', async (t) => {
  const dir = t.testdir();
  const run = (env, args) =>
    new Promise((resolve) => {
      execFile(process.execPath, [bin, 'import', DUMPS[0][1], '--db', `sqlite:${path.join(dir, `${args.length}.sqlite`)}`, '--quiet', ...args], { env: { ...process.env, DATABASE_URL: '', ...env } }, (err, stdout, stderr) =>
        resolve({ code: err ? err.code : 0, stdout, stderr }),
      );
    });
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp);
  const ok = await run({ TMPDIR: tmp }, ['--max-buckets', '40']);
  t.equal(ok.code, 0, ok.stderr);
  t.same(fs.readdirSync(tmp), [], 'nothing left in TMPDIR');
  const bad = await run({ TMPDIR: path.join(dir, 'missing') }, ['--max-buckets', '40', '--json']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^umami-aggregate: error UA_SPILL_FAILED: cannot make a folder in .*missing: ENOENT\n$/, 'one line, no stack trace');
});

t.test('not atomic, or spillDir: false: partial flushes into the database, the same tables', async (t) => {
  const file = DUMPS[0][1];
  const plain = await freshDatabase(t, 'sqlite', 'flush_plain');
  await importFile(plain.knex, file);
  const want = await readAggregates(plain.knex, { top: 50 });
  for (const [label, options] of [
    ['spillDir: false', { spillDir: false }],
    ['atomic: false', { atomic: false, spillDir: t.testdir() }],
  ]) {
    const { knex } = await freshDatabase(t, 'sqlite', 'flush_partial');
    const { flushes } = await importFile(knex, file, { maxBuckets: 400, ...options });
    t.ok(flushes >= 3, `${label}: ${flushes} flushes`);
    const got = await readAggregates(knex, { top: 50 });
    // Partial flushes merge visitor sketches; page views and top lists stay exact.
    t.same(
      got.hour.map((r) => [r.site, r.bucket, r.page_views, r.top_pages]),
      want.hour.map((r) => [r.site, r.bucket, r.page_views, r.top_pages]),
      `${label}: hours the same`,
    );
    t.same(
      got.month.map((r) => [r.site, r.bucket, r.page_views]),
      want.month.map((r) => [r.site, r.bucket, r.page_views]),
      `${label}: months' page views the same`,
    );
    if (options.spillDir) t.same(fs.readdirSync(options.spillDir), [], `${label}: nothing spilled`);
  }
  t.throws(() => createImportPipeline({ knex: plain.knex, spillDir: 3 }), { code: 'UA_INVALID_OPTION' });
});

t.test('days and months kept for later: rows and their sketches come back as written, as bytes', async (t) => {
  const dir = t.testdir();
  const file = new RowFile(path.join(dir, 'days.bin'));
  const rows = [];
  // Exact sketches, HyperLogLog ones (over 2048 visitors) and names beyond ASCII; more than one
  // block of 1 MiB in all, and one row larger than a block.
  for (let i = 0; i < 300; i++) {
    const n = i % 3 === 0 ? 5000 + i : 1 + i;
    const hashes = Array.from({ length: n }, (_, k) => (k * 7919 + i * 104729) % 2 ** 53);
    const sketch = VisitorSketch.fromHashes(Float64Array.from(new Set(hashes)).sort());
    const name = i === 150 ? '/' + 'é'.repeat(700_000) : `/pfad-${i}/ü`;
    const value = ['site-' + (i % 4), `2024-01-${String(1 + (i % 28)).padStart(2, '0')}`, i * 3, [[name, i + 1]], [['example.com', 2]]];
    rows.push({ value, bytes: Buffer.from(sketch.serialize()), count: sketch.estimate() });
    file.write(value, sketch.serialize());
  }
  file.end();
  t.ok(fs.statSync(path.join(dir, 'days.bin')).size > 1 << 20, 'more than one block');
  const values = [];
  const sameBytes = [];
  const counts = [];
  for (const [value, blob] of file.read()) {
    const k = values.length;
    values.push(value);
    sameBytes.push(Buffer.compare(blob, rows[k].bytes) === 0);
    counts.push(VisitorSketch.deserialize(blob).estimate());
  }
  t.same(values, rows.map((r) => r.value), 'every row, once, in order');
  t.ok(sameBytes.every(Boolean), 'every sketch: the same bytes');
  t.same(counts, rows.map((r) => r.count), 'every sketch: the same count');
  // A file cut short: a typed error, not rows made of what is missing.
  fs.truncateSync(path.join(dir, 'days.bin'), fs.statSync(path.join(dir, 'days.bin')).size - 10);
  t.throws(() => [...file.read()], { code: 'UA_SPILL_FAILED' });
});

t.test('a run reads back as written, across blocks and past a record larger than one; a run cut short is UA_SPILL_FAILED', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'run.bin');
  const writer = new RunWriter(file);
  const want = [];
  for (let k = 0; k < 40; k++) {
    // Record 20 holds 40,000 hashes (320 KB, more than a read block of 256 KiB).
    const hashes = Float64Array.from({ length: k === 20 ? 40_000 : 100 + k }, (_, i) => i * 9973 + k);
    const pages = Int32Array.from({ length: 2 * (k + 1) }, (_, i) => i + k);
    const refs = Int32Array.from([k, 1]);
    const hostless = k % 3 === 0 ? Int32Array.from([7, k]) : new Int32Array(0);
    writer.record(k % 2, k * 3_600_000, 19_700 + k, k * 5, hashes, pages, refs, hostless);
    want.push([k % 2 === 0 ? 'a' : 'b', k * 3_600_000, 19_700 + k, k * 5, [...hashes], [...pages], [...refs], [...hostless]]);
  }
  writer.close();
  // Closed again (an error path closes what may be closed already): nothing written, nothing closed twice.
  const size = fs.statSync(file).size;
  t.doesNotThrow(() => writer.close(), 'a second close does nothing');
  t.equal(fs.statSync(file).size, size, 'and writes nothing');
  const read = (run) => {
    const r = new RunReader(run);
    const got = [];
    while (r.next()) {
      got.push([
        r.site, r.start, r.day, r.views,
        [...r.f64.subarray(r.hashAt, r.hashAt + r.hashCount)],
        [...r.i32.subarray(2 * r.pageAt, 2 * r.refAt)],
        [...r.i32.subarray(2 * r.refAt, 2 * r.hostlessAt)],
        [...r.i32.subarray(2 * r.hostlessAt, 2 * r.pairsEnd)],
      ]);
    }
    return got;
  };
  t.same(read({ file, sites: ['a', 'b'], level: 0 }), want, 'every record, in order');
  fs.truncateSync(file, fs.statSync(file).size - 8);
  t.throws(() => read({ file, sites: ['a', 'b'], level: 0 }), { code: 'UA_SPILL_FAILED' });
});
