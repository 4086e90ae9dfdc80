// `inputFile`: the import reads a file itself (on the parser's worker thread by default, which
// sends each chunk back to be hashed): the same rows, fingerprint and counts as the same file
// piped into the import; typed errors for a file that cannot be read.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { finished, pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import t from 'tap';
import { ParseThread, createImportPipeline } from '../dist/lib/index.js';
import { freshDatabase } from './helpers/db.js';
import { settled, until } from './helpers/wait.js';

const root = path.join(import.meta.dirname, '..');
const samples = path.join(import.meta.dirname, 'fixtures', 'samples');
const generated = path.join(import.meta.dirname, 'fixtures', 'generated');

/** The aggregate tables as comparable text (ids, import ids and times left out). */
async function tables(knex) {
  const out = {};
  for (const [table, column] of [['analytics_hourly', 'hour_start'], ['analytics_daily', 'date'], ['analytics_monthly', 'year_month']]) {
    const rows = await knex.raw(
      `SELECT s.umami_website_id AS w, a.${column} AS b, a.page_views, a.unique_visitors, a.top_pages, a.referrers, hex(a.visitors_sketch) AS sketch FROM ${table} a JOIN analytics_sites s ON s.id = a.site_id ORDER BY 1, 2`,
    );
    out[table] = rows.map((r) => Object.values(r).join('|'));
  }
  return out;
}

/** Imports a file into a fresh SQLite database, read by the import (file) or piped into it (pipe). */
async function importInto(t, file, how, options = {}) {
  const { knex } = await freshDatabase(t, 'sqlite', `file_${how}`);
  const importer = createImportPipeline({ knex, bytesTotal: fs.statSync(file).size, ...(how === 'file' ? { inputFile: file } : {}), ...options });
  if (how === 'file') await finished(importer.end());
  else await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), importer);
  return { summary: importer.summary, rows: await tables(knex), knex };
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-input-file-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

// A dump of 60,000 events (about 25 MB): more chunks than the worker lends out at a time.
const large = path.join(tmp, 'large.sql');
await promisify(execFile)(process.execPath, [path.join(root, 'bench', 'generate.js'), '--events', '60000', '--format', 'mariadb', '--out', large]);
const largeGz = path.join(tmp, 'large.sql.gz');
fs.writeFileSync(largeGz, zlib.gzipSync(fs.readFileSync(large), { level: 1 }));

const inputs = [
  ['a 1.5 MB mariadb-dump', path.join(generated, 'umami-v2-mariadb.sql')],
  ['a pg_dump', path.join(samples, 'umami-v2-postgres.sql')],
  ['a 25 MB mariadb-dump', large],
  ['the same, gzipped', largeGz],
];

for (const [label, file] of inputs) {
  for (const worker of [true, false]) {
    t.test(`${label}, ${worker ? 'on the worker thread' : 'on the calling thread'}: the same as the file piped in`, async (t) => {
      const piped = await importInto(t, file, 'pipe', { worker });
      const read = await importInto(t, file, 'file', { worker });
      t.ok(piped.summary.events > 1000, `${piped.summary.events} events`);
      for (const table of Object.keys(piped.rows)) t.same(read.rows[table], piped.rows[table], `${table}: ${piped.rows[table].length} identical rows`);
      t.equal(read.summary.events, piped.summary.events, 'events');
      t.equal(read.summary.pageViews, piped.summary.pageViews, 'page views');
      t.equal(read.summary.fingerprint, sha256(file), "the fingerprint is the file's SHA-256");
      t.equal(read.summary.bytesRead, fs.statSync(file).size, 'every byte read');
      const [ledger] = await read.knex('analytics_imports').select('status', 'fingerprint', 'input_key');
      const [pipedLedger] = await piped.knex('analytics_imports').select('input_key');
      t.equal(ledger.status, 'completed');
      t.equal(ledger.input_key, pipedLedger.input_key, 'the same key to recognise the input by when resuming');
    });
  }
}

t.test('NDJSON read from a file on the worker thread (the reader keeps its chunks: copies are hashed)', async (t) => {
  const lines = [];
  for (let i = 0; i < 30000; i++) {
    lines.push(JSON.stringify({ website_id: `w${i % 3}`, session_id: `s${i % 997}`, created_at: `2024-05-${String(1 + (i % 28)).padStart(2, '0')} ${String(i % 24).padStart(2, '0')}:00:00`, url_path: `/p${i % 50}`, referrer_domain: i % 4 ? 'x.org' : null, event_type: 1, hostname: 'w.com' }));
  }
  const file = path.join(tmp, 'events.ndjson');
  fs.writeFileSync(file, lines.join('\n'));
  t.ok(fs.statSync(file).size > 3 << 20, 'several chunks');
  const piped = await importInto(t, file, 'pipe', { format: 'ndjson' });
  const read = await importInto(t, file, 'file', { format: 'ndjson' });
  t.equal(read.summary.pageViews, 30000);
  for (const table of Object.keys(piped.rows)) t.same(read.rows[table], piped.rows[table], `${table} identical`);
  t.equal(read.summary.fingerprint, sha256(file));
});

t.test('a file that cannot be read: a typed error, and the import is marked failed', async (t) => {
  for (const worker of [true, false]) {
    const { knex } = await freshDatabase(t, 'sqlite', 'missing');
    const importer = createImportPipeline({ knex, inputFile: path.join(tmp, 'no-such-file.sql'), worker });
    await t.rejects(finished(importer.end()), { code: 'UA_INPUT_UNREADABLE', message: /no-such-file\.sql: ENOENT/ }, `worker ${worker}`);
    const rows = await knex('analytics_imports').select('status', 'error');
    t.equal(rows.length, 1);
    t.equal(rows[0].status, 'failed');
    t.match(rows[0].error, /^UA_INPUT_UNREADABLE/);
    t.equal((await knex('analytics_hourly').count({ n: '*' }))[0].n, 0, 'no rows');
  }
});

t.test('input written to a pipeline that reads a file is refused', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'both');
  const importer = createImportPipeline({ knex, inputFile: path.join(generated, 'umami-v2-mariadb.sql') });
  await t.rejects(pipeline(fs.createReadStream(path.join(generated, 'umami-v2-mariadb.sql')), importer), { code: 'UA_INVALID_OPTION' });
  t.throws(() => createImportPipeline({ knex, inputFile: '' }), { code: 'UA_INVALID_OPTION' });
});

t.test('the file is closed once the import completes, fails or is stopped', { skip: !fs.existsSync('/proc/self/fd') && 'needs /proc/self/fd' }, async (t) => {
  const openOn = (file) => fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;
  const truncated = path.join(tmp, 'truncated.sql');
  fs.writeFileSync(truncated, fs.readFileSync(large).subarray(0, 6 << 20));
  const cases = [
    ['completes', large, {}, null],
    ['fails on bad input', truncated, {}, 'UA_UNEXPECTED_END'],
    ['is stopped by its timeout', large, { timeoutMs: 300 }, 'UA_TIMEOUT'],
  ];
  for (const [what, file, options, code] of cases) {
    const { knex } = await freshDatabase(t, 'sqlite', 'fd');
    const importer = createImportPipeline({ knex, inputFile: file, ...options });
    let sawOpen = 0;
    const timer = setInterval(() => (sawOpen = Math.max(sawOpen, openOn(file))), 20);
    const done = finished(importer.end());
    if (code) await t.rejects(done, { code }, `${what}: ${code}`);
    else await done;
    clearInterval(timer);
    t.ok(sawOpen >= 1, `${what}: the file was open during the import`);
    // A worker's descriptor is closed as it exits, a moment after the stream ends.
    t.ok(await until(() => openOn(file) === 0), `${what}: no descriptor of it is left open`);
  }
});

t.test('a parse thread started before the pipeline exists: the same rows and fingerprint, its reading bounded until then', async (t) => {
  // More events than the batches a thread holds for a reader (16, of 4,096 events or a few more each).
  const file = path.join(tmp, 'larger.sql');
  await promisify(execFile)(process.execPath, [path.join(root, 'bench', 'generate.js'), '--events', '200000', '--format', 'mariadb', '--out', file]);
  const piped = await importInto(t, file, 'pipe');
  const { knex } = await freshDatabase(t, 'sqlite', 'prestarted');
  const thread = new ParseThread({ file, hashFile: true }).start();
  // The pipeline comes late: meanwhile the thread reads, then waits with a few batches.
  t.ok(await until(() => thread.stats.events > 0), 'events parsed before the pipeline was made');
  const { value: held, stable } = await settled(() => thread.stats.events, { quiet: 500 });
  t.ok(stable, `then it stops, at ${held} events (none more for 500 ms)`);
  t.ok(held < piped.summary.events / 2, `of ${piped.summary.events}: the rest waits for a reader`);
  const importer = createImportPipeline({ knex, inputFile: file, bytesTotal: fs.statSync(file).size, parseThread: thread });
  await finished(importer.end());
  const rows = await tables(knex);
  for (const table of Object.keys(piped.rows)) t.same(rows[table], piped.rows[table], `${table}: ${piped.rows[table].length} identical rows`);
  t.equal(importer.summary.events, piped.summary.events, 'events');
  t.equal(importer.summary.fingerprint, sha256(file), "the fingerprint is the file's SHA-256, hashed by the thread");
  t.equal(thread.fileDigest(), sha256(file));
  t.equal(importer.summary.bytesRead, fs.statSync(file).size, 'every byte read');
});

t.test('a parse thread that has read a whole small file before the pipeline is made', async (t) => {
  const file = path.join(generated, 'umami-v2-mariadb.sql');
  const piped = await importInto(t, file, 'pipe');
  const { knex } = await freshDatabase(t, 'sqlite', 'prestarted_small');
  const thread = new ParseThread({ file, hashFile: true }).start();
  await until(() => thread.fileDigest() !== null);
  t.equal(thread.fileDigest(), sha256(file), 'read and hashed to the end, waiting with its batches');
  const importer = createImportPipeline({ knex, inputFile: file, parseThread: thread });
  await finished(importer.end());
  const rows = await tables(knex);
  for (const table of Object.keys(piped.rows)) t.same(rows[table], piped.rows[table], `${table} identical`);
  t.equal(importer.summary.fingerprint, sha256(file));
});

t.test('a parse thread started on bad input: the error waits on the stream, and the import fails with it', async (t) => {
  const truncated = path.join(tmp, 'truncated-early.sql');
  fs.writeFileSync(truncated, fs.readFileSync(large).subarray(0, 2 << 20));
  const cases = [
    ['a truncated dump', truncated, 'UA_UNEXPECTED_END'],
    ['a missing file', path.join(tmp, 'no-such-file.sql'), 'UA_INPUT_UNREADABLE'],
  ];
  for (const [what, file, code] of cases) {
    const { knex } = await freshDatabase(t, 'sqlite', 'prestarted_bad');
    const thread = new ParseThread({ file, hashFile: true }).start();
    // The worker fails before anyone listens: no uncaught error.
    t.ok(await until(() => thread.destroyed), `${what}: the thread stopped`);
    const importer = createImportPipeline({ knex, inputFile: file, parseThread: thread });
    await t.rejects(finished(importer.end()), { code }, `${what}: ${code}`);
    const rows = await knex('analytics_imports').select('status', 'error');
    t.equal(rows.length, 1);
    t.equal(rows[0].status, 'failed', `${what}: the import is marked failed`);
    t.equal((await knex('analytics_hourly').count({ n: '*' }))[0].n, 0, 'no rows');
  }
});

t.test('a parse thread that does not read the pipeline input as the pipeline would is refused', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'prestarted_refused');
  const file = path.join(generated, 'umami-v2-mariadb.sql');
  const other = path.join(samples, 'umami-v2-postgres.sql');
  const threads = [];
  const make = (options) => {
    const thread = new ParseThread(options);
    threads.push(thread);
    return thread;
  };
  t.teardown(() => threads.forEach((th) => th.destroy()));
  const refused = (options, what) => t.throws(() => createImportPipeline({ knex, inputFile: file, ...options }), { code: 'UA_INVALID_OPTION' }, what);
  refused({ parseThread: {} }, 'not a ParseThread');
  refused({ parseThread: make({ file: other, hashFile: true }) }, 'another file');
  refused({ parseThread: make({ file, hashFile: true }), inputFile: undefined }, 'no inputFile');
  refused({ parseThread: make({ file }) }, 'a thread that does not hash the file, and no fingerprint');
  refused({ parseThread: make({ file, hashFile: true }), worker: false }, 'worker: false');
  refused({ parseThread: make({ file, hashFile: true }), skipRawDataStorage: false }, 'raw page views (read on this thread)');
  refused({ parseThread: make({ file, hashFile: true, maxRejected: 5 }), maxRejected: 6 }, "options other than the thread's own");
  t.throws(() => new ParseThread({ hashFile: true }), /give file/, 'hashFile without a file');
  t.throws(() => new ParseThread().start(), /give file/, 'start() without a file');
});
