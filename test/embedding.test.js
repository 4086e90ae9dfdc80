// Embedding: progress events and the ledger while an import runs, abort and
// timeout, the logger, configuration from the environment, raw page views,
// migrate and cleanup.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import knexFactory from 'knex';
import {
  aggregateRawPageViews,
  cleanupRawPageViews,
  createImportPipeline,
  getImport,
  loadConfigFromEnv,
} from '../dist/lib/index.js';
import { TARGETS, freshDatabase, onServer } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';
import { syntheticDump } from './helpers/synthetic.js';

const root = path.join(import.meta.dirname, '..');
const bin = path.join(root, 'dist', 'lib', 'cli', 'main.js');
const generatedDump = path.join(import.meta.dirname, 'fixtures', 'generated', 'umami-v2-mariadb.sql');
const expected = readJsonFile(path.join(import.meta.dirname, 'fixtures', 'generated', 'expected.json'));

/** The dump as a stream that trickles: `bytes` per tick, so an import takes a while. */
function trickle(buf, bytes = 16384, ms = 2) {
  let at = 0;
  return new Readable({
    read() {
      if (at >= buf.length) return this.push(null);
      const chunk = buf.subarray(at, at + bytes);
      at += bytes;
      setTimeout(() => this.push(chunk), ms);
    },
  });
}

t.test('progress events at least once per chunk, and a final one', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'progress');
  const importer = createImportPipeline({ knex, chunkSize: 500 });
  const seen = [];
  let started = null;
  importer.on('started', (s) => (started = s));
  importer.on('progress', (p) => seen.push(p));
  await pipeline(fs.createReadStream(generatedDump, { highWaterMark: 8192 }), importer);
  t.equal(started.importId, importer.summary.importId, "'started' names the import");
  const chunks = seen.filter((p) => !p.done).map((p) => p.chunksProcessed);
  t.same([...new Set(chunks)], [1, 2, 3, 4, 5, 6, 7, 8], '4000 events in chunks of 500: a progress event for every chunk');
  t.ok(chunks.every((c, i) => i === 0 || c >= chunks[i - 1]), 'in order');
  const last = seen.at(-1);
  t.match(last, { done: true, events: 4000, chunksProcessed: 8, totalChunks: 8, bucketsHeld: 0 });
  t.ok(last.bucketsWritten > 0 && last.bytesRead > 0 && last.rowsRead > 4000);
});

for (const target of ['postgres', 'mysql', 'sqlite']) {
  await onServer(t, target, `${target}: another connection sees chunks_processed move during the import`, async (t) => {
    const { knex, url } = await freshDatabase(t, target, 'ledger');
    const buf = fs.readFileSync(generatedDump);
    // SQLite's only writer is held by an atomic import for its whole length: there the ledger moves with --no-atomic.
    const atomic = target !== 'sqlite';
    // Chunks of 100 events.
    const importer = createImportPipeline({ knex, chunkSize: 100, bytesTotal: buf.length, atomic, checkpointEvents: atomic ? undefined : 100, force: true, mode: 'replace' });
    const watcher = target === 'sqlite' ? knexFactory({ client: 'better-sqlite3', connection: { filename: url.slice(7) }, useNullAsDefault: true }) : knex;
    t.teardown(() => (watcher !== knex ? watcher.destroy() : undefined));
    // The input in parts: its first MiB (the import is registered once it has read that much),
    // then 6 more; the next part goes in once the watcher has seen the ledger move (or after 5 s),
    // so what is observed does not depend on how fast this machine is.
    const head = (1 << 20) + 1;
    t.ok(buf.length > head + 60_000, 'the dump is longer than the first MiB');
    const cuts = [0, head, ...[1, 2, 3, 4, 5].map((k) => head + Math.floor(((buf.length - head) * k) / 6)), buf.length];
    const parts = cuts.length - 1;
    let sent = 0;
    let release = null;
    const source = new Readable({
      read() {
        if (sent === parts) return this.push(null);
        const part = buf.subarray(cuts[sent], cuts[sent + 1]);
        sent++;
        new Promise((r) => {
          release = r;
          setTimeout(r, 5000);
        }).then(() => this.push(part));
        if (sent === 1) release();
      },
    });
    const running = pipeline(source, importer);
    const states = new Set();
    let id = null;
    importer.on('started', (s) => (id = s.importId));
    let finished = false;
    running.finally(() => (finished = true));
    while (!finished) {
      await new Promise((r) => setTimeout(r, 20));
      if (!id) continue;
      const row = await getImport(watcher, id).catch(() => null);
      if (row?.status !== 'running') continue;
      const state = `${row.chunksProcessed}/${row.totalChunks}`;
      if (!states.has(state)) {
        states.add(state);
        release?.();
      }
    }
    await running;
    t.ok(states.size >= 3, `while running, the ledger showed ${[...states].join(', ')}`);
    const row = await getImport(knex, id);
    t.match(row, { status: 'completed', chunksProcessed: 40, totalChunks: 40, events: 4000 });
  });
}

t.test('an AbortSignal cancels the import; nothing is committed', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'abort');
  const controller = new AbortController();
  const importer = createImportPipeline({ knex, signal: controller.signal, chunkSize: 500 });
  importer.on('progress', (p) => p.chunksProcessed >= 2 && controller.abort());
  await t.rejects(pipeline(trickle(fs.readFileSync(generatedDump)), importer), { code: 'UA_ABORTED' });
  for (const table of ['analytics_hourly', 'analytics_daily', 'analytics_monthly', 'analytics_sites']) {
    t.equal(Number((await knex(table).count({ n: '*' }))[0].n), 0, `${table} empty`);
  }
  const row = await getImport(knex, 1);
  t.match(row, { status: 'failed', error: /UA_ABORTED/ });
  t.ok(row.chunksProcessed >= 2 && row.events >= 1000, `the failed import's ledger row says how far it got: ${row.events} events, ${row.chunksProcessed} chunks`);
});

t.test('a timeout fails the import cleanly', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'timeout');
  const importer = createImportPipeline({ knex, timeoutMs: 150 });
  await t.rejects(pipeline(trickle(fs.readFileSync(generatedDump), 4096, 10), importer), { code: 'UA_TIMEOUT' });
  t.equal(Number((await knex('analytics_daily').count({ n: '*' }))[0].n), 0, 'nothing committed');
});

t.test('a statement refused halfway into SQLite: the flush is undone whole, the earlier import kept', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'halfway');
  const siteA = '5e1f2d3c-0000-4000-a000-00000000000a';
  const siteB = '5e1f2d3c-0000-4000-a000-00000000000b';
  await pipeline(Readable.from([syntheticDump({ sessions: 300, seed: 1, site: siteA })]), createImportPipeline({ knex }));
  const tables = ['analytics_sites', 'analytics_hourly', 'analytics_daily', 'analytics_monthly'];
  const snapshot = async () => Object.fromEntries(await Promise.all(tables.map(async (table) => [table, await knex(table).select().orderBy('id')])));
  const before = await snapshot();
  t.ok(before.analytics_hourly.length > 100, `the first import wrote ${before.analytics_hourly.length} hour rows`);
  // Hour rows go in 32 to a statement: the 41st of the second import is the 9th of its second statement.
  await knex.raw(`CREATE TRIGGER refuse_41st BEFORE INSERT ON analytics_hourly
    WHEN (SELECT count(*) FROM analytics_hourly WHERE import_id = NEW.import_id) >= 40
    BEGIN SELECT RAISE(FAIL, 'refused by a test trigger'); END`);
  const second = createImportPipeline({ knex });
  await t.rejects(pipeline(Readable.from([syntheticDump({ sessions: 300, seed: 2, site: siteB })]), second), { code: 'UA_DATABASE', message: /refused by a test trigger/ });
  t.same(await snapshot(), before, 'every table as the first import left it: no row of the refused statement, nor of the ones before it');
  t.match(await getImport(knex, second.importId), { status: 'failed', error: /refused by a test trigger/ });
});

t.test('the logger hears each flush with row counts, duration and memory', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'logger');
  const lines = [];
  const logger = { info: (obj, msg) => lines.push({ ...obj, msg }), debug() {}, warn: (obj, msg) => lines.push({ ...obj, msg }) };
  await pipeline(fs.createReadStream(generatedDump), createImportPipeline({ knex, logger, maxBuckets: 400, spillDir: false }));
  const flushes = lines.filter((l) => l.msg === 'flushed aggregates');
  t.ok(flushes.length >= 3, `${flushes.length} flushes logged`);
  for (const f of flushes) t.match(f, { hourly: Number, daily: Number, monthly: Number, durationMs: Number, rssMb: Number, heapUsedMb: Number });
  t.ok(lines.some((l) => l.msg === 'import completed'));
});

t.test('options are checked once, with clear messages', async (t) => {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  t.teardown(() => knex.destroy());
  const cases = [
    [{ knex, batchSize: 0 }, /batchSize must be a positive integer/],
    [{ knex, mode: 'upsert' }, /mode must be 'replace' or 'merge'/],
    [{ knex, timezone: 'Nowhere/Land' }, /timezone must be an IANA time zone/],
    [{ knex, topN: -1 }, /topN/],
    [{ knex, resume: true }, /resume must be used with atomic: false/],
    [{ knex, aggregate: false }, /aggregate must be true unless raw page views are stored/],
    [{ knex, signal: 'stop' }, /signal must be an AbortSignal/],
    [{ knex, worker: 'yes' }, /worker must be a boolean/],
    [{ knex: {} }, /knex must be a Knex instance/],
  ];
  for (const [options, message] of cases) t.throws(() => createImportPipeline(options), { code: 'UA_INVALID_OPTION', message }, String(message));
});

t.test('loadConfigFromEnv maps the original variables', async (t) => {
  t.same(loadConfigFromEnv({}), {});
  t.same(
    loadConfigFromEnv({
      DATABASE_URL: 'postgres://x@h/db',
      ANALYTICS_USE_AGGREGATED_IMPORT: 'true',
      ANALYTICS_AGGREGATE_DURING_IMPORT: 'true',
      ANALYTICS_SKIP_RAW_DATA_STORAGE: 'false',
      ANALYTICS_IMPORT_BATCH_SIZE: '250',
      ANALYTICS_IMPORT_CHUNK_SIZE: '5000',
      ANALYTICS_AGGREGATION_TIMEOUT: '600',
    }),
    { databaseUrl: 'postgres://x@h/db', aggregate: true, skipRawDataStorage: false, batchSize: 250, chunkSize: 5000, timeoutMs: 600000 },
  );
  t.same(loadConfigFromEnv({ ANALYTICS_AGGREGATE_DURING_IMPORT: '0' }), { aggregate: false, skipRawDataStorage: false }, 'no aggregation: raw rows are kept');
  t.throws(() => loadConfigFromEnv({ ANALYTICS_IMPORT_BATCH_SIZE: 'lots' }), { code: 'UA_INVALID_OPTION', message: /ANALYTICS_IMPORT_BATCH_SIZE/ });
  t.throws(() => loadConfigFromEnv({ ANALYTICS_SKIP_RAW_DATA_STORAGE: 'maybe' }), { code: 'UA_INVALID_OPTION' });
});

function cli(args, env = {}, input) {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
    if (input) {
      // The child may exit (a timeout) while input still flows: a closed pipe is expected then.
      child.stdin.on('error', () => {});
      input.pipe(child.stdin);
    } else {
      child.stdin.end();
    }
  });
}

t.test('the CLI reads the environment; flags override it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-env-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'env.sqlite');
  const env = { DATABASE_URL: `sqlite:${db}`, ANALYTICS_SKIP_RAW_DATA_STORAGE: 'false', ANALYTICS_IMPORT_BATCH_SIZE: '100' };
  const r = await cli(['import', generatedDump, '--json'], env);
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).rawPageViews, 3433, 'raw storage from the environment, database from DATABASE_URL');
  const r2 = await cli(['import', generatedDump, '--json', '--no-raw', '--db', `sqlite:${path.join(dir, 'flag.sqlite')}`], env);
  t.equal(JSON.parse(r2.stdout).rawPageViews, 0, 'flags override the environment');
  const slow = new PassThrough();
  const feeder = trickle(fs.readFileSync(generatedDump), 2048, 20);
  feeder.pipe(slow);
  const started = Date.now();
  const r3 = await cli(['import', '-', '--db', `sqlite:${path.join(dir, 'slow.sqlite')}`], { ANALYTICS_AGGREGATION_TIMEOUT: '1' }, slow);
  feeder.destroy();
  t.not(r3.code, 0);
  t.match(r3.stderr, /UA_TIMEOUT/);
  // The input takes about 15 s to arrive at 2,048 bytes per 20 ms; stopped at the 1 s limit, well before that (CLI start-up included).
  const trickleMs = (fs.statSync(generatedDump).size / 2048) * 20;
  t.ok(Date.now() - started < trickleMs / 2, `stopped after about a second, long before the input's ${(trickleMs / 1000).toFixed(0)} s`);
});

t.test('the CLI writes raw page views only, committing checkpoints as it goes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-rawcp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'raw.sqlite');
  // Nothing is aggregated, so no bucket is ever held when a checkpoint comes due: this once spun forever.
  const r = await new Promise((resolve) => {
    execFile(process.execPath, [bin, 'import', generatedDump, '--db', `sqlite:${db}`, '--no-aggregate', '--no-atomic', '--checkpoint-events', '500', '--json'], { timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr }),
    );
  });
  t.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  t.equal(summary.rawPageViews, 3433);
  t.ok(summary.flushes >= Math.floor(summary.events / 500), `${summary.flushes} flushes for ${summary.events} events`);
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: db }, useNullAsDefault: true });
  t.teardown(() => knex.destroy());
  t.equal(Number((await knex('page_views').count({ n: '*' }))[0].n), 3433);
  t.equal(Number((await knex('analytics_hourly').count({ n: '*' }))[0].n), 0, 'nothing aggregated');
  t.same(await knex('analytics_imports').select('status'), [{ status: 'completed' }]);
});

for (const target of TARGETS) {
  await onServer(t, target, `${target}: raw page views, migrate and cleanup`, async (t) => {
    const { knex } = await freshDatabase(t, target, 'raw');
    // Raw only: aggregate later.
    const importer = createImportPipeline({ knex, skipRawDataStorage: false, aggregate: false });
    await pipeline(fs.createReadStream(generatedDump), importer);
    t.equal(importer.summary.rawPageViews, 3433);
    t.equal(Number((await knex('page_views').count({ n: '*' }))[0].n), 3433, "page_views holds the dump's page views");
    t.equal(Number((await knex('analytics_daily').count({ n: '*' }))[0].n), 0, 'nothing aggregated yet');
    t.equal(Number((await knex('page_views').where('aggregated', true).count({ n: '*' }))[0].n), 0);
    const m = await aggregateRawPageViews({ knex, pageSize: 700 });
    t.equal(m.pageViews, 3433);
    t.same(diffAggregates(expected, await readAggregates(knex)).slice(0, 10), [], 'migrate over the raw table reproduces a direct import');
    const before = await readAggregates(knex, { top: 50 });
    const c1 = await cleanupRawPageViews({ knex, before: '2024-07-01', batchSize: 300 });
    t.ok(c1.removed > 0 && c1.keptNotAggregated === 0, `cleanup removed ${c1.removed} rows before 2024-07-01`);
    const c2 = await cleanupRawPageViews({ knex });
    t.equal(c1.removed + c2.removed, 3433, 'then the rest');
    t.same(await readAggregates(knex, { top: 50 }), before, 'cleanup leaves the aggregates untouched');
  });

  await onServer(t, target, `${target}: raw storage alongside aggregates, and migrate --days`, async (t) => {
    const { knex } = await freshDatabase(t, target, 'rawagg');
    await pipeline(fs.createReadStream(generatedDump), createImportPipeline({ knex, skipRawDataStorage: false }));
    t.equal(Number((await knex('page_views').where('aggregated', true).count({ n: '*' }))[0].n), 3433, 'raw rows written and marked aggregated');
    t.same(diffAggregates(expected, await readAggregates(knex)).slice(0, 10), []);
    const now = Date.UTC(2025, 1, 20);
    const m = await aggregateRawPageViews({ knex, days: 40, pageSize: 500, now });
    t.equal(m.since, '2025-01-01 00:00:00', 'the window is widened to the start of its month');
    t.same(diffAggregates(expected, await readAggregates(knex)).slice(0, 10), [], 're-aggregating a window of whole months changes nothing');
  });
}

for (const target of TARGETS) {
  await onServer(t, target, `${target}: resolveSite mapping two websites onto one site: one row per bucket, with both websites' views, visitors and pages`, async (t) => {
    const dump = path.join(import.meta.dirname, 'fixtures', 'samples', 'umami-v2-mariadb.sql');
    const json = (v) => (typeof v === 'string' ? JSON.parse(v) : v);
    const key = (v) => (v instanceof Date ? v.toISOString() : String(v));
    const { knex: apart } = await freshDatabase(t, target, 'sites_apart');
    await pipeline(fs.createReadStream(dump), createImportPipeline({ knex: apart }));
    const { knex: together } = await freshDatabase(t, target, 'sites_together');
    const resolved = new Set();
    await pipeline(
      fs.createReadStream(dump),
      createImportPipeline({
        knex: together,
        resolveSite: (info) => {
          resolved.add(info.umamiWebsiteId);
          return 7;
        },
      }),
    );
    t.equal(resolved.size, 2, 'both websites were resolved');
    for (const [table, column] of [['analytics_hourly', 'hour_start'], ['analytics_daily', 'date'], ['analytics_monthly', 'year_month']]) {
      // Each bucket of the import with the websites apart: their sums, and their pages while both lists are whole (under 50).
      const want = new Map();
      for (const r of await apart(table).select(column, 'page_views', 'unique_visitors', 'top_pages')) {
        const w = want.get(key(r[column])) ?? { sites: 0, views: 0, visitors: 0, pages: new Map(), whole: true };
        const list = json(r.top_pages);
        w.sites++;
        w.views += Number(r.page_views);
        w.visitors += Number(r.unique_visitors);
        w.whole &&= list.length < 50;
        for (const e of list) w.pages.set(e.path, (w.pages.get(e.path) ?? 0) + e.page_views);
        want.set(key(r[column]), w);
      }
      const both = [...want.values()].filter((w) => w.sites === 2);
      t.ok(both.length > 0 && both.some((w) => w.whole), `${table}: ${both.length} buckets hold both websites`);
      const rows = await together(table).select('site_id', column, 'page_views', 'unique_visitors', 'top_pages');
      t.equal(rows.length, want.size, `${table}: one row per bucket`);
      let same = 0;
      for (const r of rows) {
        const w = want.get(key(r[column]));
        const pages = new Map(json(r.top_pages).map((e) => [e.path, e.page_views]));
        // Whole lists: the merged one holds every page (or the 50 first) with the sum of its views.
        const pagesSum = !w.whole || (pages.size === Math.min(50, w.pages.size) && [...pages].every(([p, n]) => w.pages.get(p) === n));
        if (Number(r.site_id) === 7 && Number(r.page_views) === w.views && Number(r.unique_visitors) === w.visitors && pagesSum) same++;
      }
      t.equal(same, rows.length, `${table}: every row sums both websites' page views and visitors, and their pages where whole`);
    }
  });
}
