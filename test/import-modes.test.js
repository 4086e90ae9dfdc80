// Replace and merge, repeated imports, and bounded memory (--max-buckets),
// against SQLite, PostgreSQL and MariaDB.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { createImportPipeline } from '../dist/lib/index.js';
import { MYSQL_URL, TARGETS, freshDatabase, importBuffer, onServer } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';
import { syntheticDump } from './helpers/synthetic.js';

const samples = path.join(import.meta.dirname, 'fixtures', 'samples');
const generated = path.join(import.meta.dirname, 'fixtures', 'generated');

async function importFile(knex, file, options = {}) {
  const importer = createImportPipeline({ knex, source: path.basename(file), ...options });
  await pipeline(fs.createReadStream(file), importer);
  return importer.summary;
}

/** Every aggregate column that does not name the import or the time of writing. */
async function tableState(knex) {
  const state = {};
  for (const table of ['analytics_sites', 'analytics_hourly', 'analytics_daily', 'analytics_monthly']) {
    const cols = table === 'analytics_sites' ? ['id', 'umami_website_id', 'name', 'domain'] : ['id', 'site_id', 'page_views', 'unique_visitors', 'top_pages', 'referrers', 'visitors_sketch'];
    const rows = await knex(table).select(cols).orderBy('id');
    state[table] = rows.map((r) => JSON.stringify(Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)))));
  }
  state.buckets = await readAggregates(knex, { top: 50 });
  return state;
}

/** A mariadb-dump text with only the website_event rows (one per line) that keep() accepts. */
function keepRows(text, keep) {
  const out = [];
  let rows = null;
  for (const line of text.split('\n')) {
    if (line === 'INSERT INTO `website_event` VALUES') {
      rows = [];
      continue;
    }
    if (rows) {
      const row = line.replace(/[,;]$/, '');
      if (keep(row)) rows.push(row);
      if (line.endsWith(';')) {
        if (rows.length > 0) out.push('INSERT INTO `website_event` VALUES', rows.join(',\n') + ';');
        rows = null;
      }
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

const v2 = path.join(samples, 'umami-v2-mariadb.sql');
const v2expected = readJsonFile(path.join(samples, 'umami-v2.expected.json'));

for (const target of TARGETS) {
  await onServer(t, target, `${target}: the same dump twice in replace mode equals one import`, async (t) => {
    const { knex } = await freshDatabase(t, target, 'twice');
    await importFile(knex, v2);
    const once = await tableState(knex);
    const second = await importFile(knex, v2);
    t.equal(second.importId, 2);
    t.same(await tableState(knex), once, 'every table as after one import');
    const ids = await knex('analytics_daily').distinct('import_id');
    t.same(ids.map((r) => Number(r.import_id)), [2], 'every row records the import that last wrote it');
  });

  await onServer(t, target, `${target}: replace keeps buckets the import does not hold`, async (t) => {
    const { knex } = await freshDatabase(t, target, 'keep');
    await importFile(knex, v2);
    // A later dump holding only part of the history (Umami's retention dropped the rest).
    const text = fs.readFileSync(v2, 'utf8');
    const recent = keepRows(text, (line) => !/^\('[^']*','[^']*','[^']*','2024-0[1-9]/.test(line));
    t.ok(recent.length < text.length, 'the later dump is smaller');
    await importBuffer(knex, Buffer.from(recent));
    const problems = diffAggregates(v2expected, await readAggregates(knex));
    t.same(problems, [], 'old buckets are kept, re-imported ones replaced by identical numbers');
  });

  await onServer(t, target, `${target}: merge mode adds; a merged input is refused the second time`, async (t) => {
    const { knex } = await freshDatabase(t, target, 'merge');
    await importFile(knex, v2, { mode: 'merge' });
    await t.rejects(importFile(knex, v2, { mode: 'merge' }), { code: 'UA_ALREADY_IMPORTED' }, 'the same input again is refused');
    t.same(diffAggregates(v2expected, await readAggregates(knex)), [], 'the refused import left nothing behind');
    await importFile(knex, v2, { mode: 'merge', force: true });
    const doubled = await readAggregates(knex);
    const month = doubled.month.find((m) => m.site === v2expected.month[0].site && m.bucket === v2expected.month[0].bucket);
    t.equal(month.page_views, 2 * v2expected.month[0].page_views, 'with force, page views add up');
    t.equal(month.unique_visitors, v2expected.month[0].unique_visitors, 'the same visitors are not counted twice');
  });

  await onServer(t, target, `${target}: --max-buckets 100 on a sample gives exact numbers, spilled or flushed`, async (t) => {
    const spilled = await freshDatabase(t, target, 'maxb');
    const s = await importFile(spilled.knex, v2, { maxBuckets: 100 });
    t.ok(s.spills > 10 && s.flushes === 1, `spilled ${s.spills} times, one flush`);
    t.same(diffAggregates(v2expected, await readAggregates(spilled.knex)), [], 'spilled: every bucket exact');
    const flushed = await freshDatabase(t, target, 'maxb_flush');
    const f = await importFile(flushed.knex, v2, { maxBuckets: 100, spillDir: false });
    t.ok(f.flushes > 10 && f.spills === 0, `spillDir: false: ${f.flushes} flushes`);
    t.same(diffAggregates(v2expected, await readAggregates(flushed.knex)), [], 'flushed: every bucket exact');
  });
}

t.test('--max-buckets with thousands of visitors per bucket: spilled, all exact; flushed, exact under 2000, within 2% above', async (t) => {
  const dump = syntheticDump({ sessions: 60000, views: 2, days: 20 });
  const exact = await freshDatabase(t, 'sqlite', 'exact');
  await importBuffer(exact.knex, dump);
  const a = await readAggregates(exact.knex);
  t.equal(a.month[0].unique_visitors, 60000, 'one import without flushes: the month has exactly 60000 visitors');
  const spilled = await freshDatabase(t, 'sqlite', 'spilled');
  const sp = await importBuffer(spilled.knex, dump, { maxBuckets: 100 });
  t.ok(sp.spills >= 4, `${sp.spills} spills`);
  t.same(await readAggregates(spilled.knex), a, 'spilled: every bucket as without a limit, visitors above 2000 too');
  const bounded = await freshDatabase(t, 'sqlite', 'bounded');
  const s = await importBuffer(bounded.knex, dump, { maxBuckets: 100, spillDir: false });
  t.ok(s.flushes >= 4, `${s.flushes} flushes`);
  const b = await readAggregates(bounded.knex);
  let big = 0;
  let worst = 0;
  for (const g of ['hour', 'day', 'month']) {
    const other = new Map(b[g].map((e) => [e.bucket, e]));
    for (const e of a[g]) {
      const f = other.get(e.bucket);
      if (f.page_views !== e.page_views) t.fail(`${g} ${e.bucket}: page views ${f.page_views} != ${e.page_views}`);
      if (JSON.stringify(f.top_pages) !== JSON.stringify(e.top_pages)) t.fail(`${g} ${e.bucket}: top pages differ`);
      if (JSON.stringify(f.referrers) !== JSON.stringify(e.referrers)) t.fail(`${g} ${e.bucket}: referrers differ`);
      if (e.unique_visitors < 2000) {
        if (f.unique_visitors !== e.unique_visitors) t.fail(`${g} ${e.bucket}: ${f.unique_visitors} visitors, exactly ${e.unique_visitors}`);
      } else {
        big++;
        const err = Math.abs(f.unique_visitors - e.unique_visitors) / e.unique_visitors;
        worst = Math.max(worst, err);
        if (err > 0.02) t.fail(`${g} ${e.bucket}: ${f.unique_visitors} visitors, ${e.unique_visitors} exactly (${(err * 100).toFixed(2)}%)`);
      }
    }
  }
  t.ok(big > 0, `${big} buckets above 2000 visitors, worst error ${(worst * 100).toFixed(2)}%`);
});

// A dataset split into two dumps by the real mariadb-dump (--where) and merged equals the whole.
await onServer(t, 'mysql', 'two halves dumped by mariadb-dump --where, merged, equal the whole', async (t) => {
  const { knex, url } = await freshDatabase(t, 'mysql', 'split');
  const db = new URL(url).pathname.slice(1);
  const client = ['-h127.0.0.1', '-uroot'];
  execFileSync('mariadb', [...client, db], { input: fs.readFileSync(path.join(generated, 'umami-v2-mariadb.sql')) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-split-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const halves = [0, 1].map((k) => {
    const file = path.join(dir, `half-${k}.sql`);
    const meta = execFileSync('mariadb-dump', [...client, db, 'website', 'session']);
    const events = execFileSync('mariadb-dump', [...client, `--where=MOD(CRC32(event_id), 2) = ${k}`, db, 'website_event']);
    fs.writeFileSync(file, Buffer.concat([meta, events]));
    return file;
  });
  const whole = readJsonFile(path.join(generated, 'expected.json'));
  const merged = await freshDatabase(t, 'sqlite', 'merged');
  const a = await importFile(merged.knex, halves[0], { mode: 'merge' });
  const b = await importFile(merged.knex, halves[1], { mode: 'merge' });
  t.ok(a.events > 1000 && b.events > 1000, `halves of ${a.events} and ${b.events} events`);
  t.same(diffAggregates(whole, await readAggregates(merged.knex)).slice(0, 10), [], 'merged halves equal the whole dump');
  void knex;
  void MYSQL_URL;
});
