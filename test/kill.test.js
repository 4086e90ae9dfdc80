// kill -9 at random moments. Atomic: the tables are exactly as before the
// import started, and a rerun gives the exact result. Not atomic: --resume
// after every kill ends with the same result as an uninterrupted import.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { TARGETS, freshDatabase, onServer } from './helpers/db.js';
import { random } from './helpers/synthetic.js';

const root = path.join(import.meta.dirname, '..');
const bin = path.join(root, 'dist', 'lib', 'cli', 'main.js');
const sample = path.join(import.meta.dirname, 'fixtures', 'samples', 'umami-v2-mariadb.sql');
const KILLS = 20;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-kill-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const big = path.join(dir, 'big.sql');
execFileSync(process.execPath, [path.join(root, 'bench', 'generate.js'), '--events', '50000', '--format', 'mariadb', '--seed', '3', '--out', big]);

function run(args) {
  const child = spawn(process.execPath, [bin, ...args, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return { child, exited };
}

async function runToEnd(args) {
  const r = await run(args).exited;
  if (r.code !== 0) throw new Error(`import failed: ${r.stderr}`);
  return r;
}

/** Starts an import and kills it with SIGKILL after `ms`; tells whether it was still running. */
async function killAfter(args, ms) {
  const { child, exited } = run(args);
  await new Promise((r) => setTimeout(r, ms));
  const killed = child.kill('SIGKILL');
  const r = await exited;
  return { killed: killed && r.signal === 'SIGKILL', ...r };
}

/** The aggregate tables by website uuid and bucket (ids from sequences are not rolled back by the servers). */
async function state(knex) {
  const sites = new Map((await knex('analytics_sites').select('id', 'umami_website_id', 'name', 'domain')).map((r) => [Number(r.id), r]));
  const out = { analytics_sites: [...sites.values()].map((r) => `${r.umami_website_id}|${r.name}|${r.domain}`).sort() };
  for (const [table, column] of [['analytics_hourly', 'hour_start'], ['analytics_daily', 'date'], ['analytics_monthly', 'year_month']]) {
    const client = knex.client.config.client;
    const bucket = client === 'pg' ? knex.raw(`${column}::text as bucket`) : client === 'mysql2' ? knex.raw(`CAST(\`${column}\` AS CHAR) as bucket`) : `${column} as bucket`;
    const rows = await knex(table).select('site_id', bucket, 'page_views', 'unique_visitors', 'top_pages', 'referrers', 'visitors_sketch');
    out[table] = rows
      .map((r) => [sites.get(Number(r.site_id)).umami_website_id, r.bucket, r.page_views, r.unique_visitors, r.top_pages, r.referrers, r.visitors_sketch]
        .map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))).join('|'))
      .sort();
  }
  return out;
}

function differs(a, b) {
  for (const k of Object.keys(a)) if (a[k].length !== b[k].length || a[k].some((x, i) => x !== b[k][i])) return `${k}: ${a[k].length} rows vs ${b[k].length}`;
  return null;
}

async function timeOf(args) {
  const started = Date.now();
  await runToEnd(args);
  return Date.now() - started;
}

for (const target of TARGETS) {
  await onServer(t, target, `${target}: kill -9 an atomic import ${KILLS} times`, async (t) => {
    const db = await freshDatabase(t, target, 'kill');
    const ref = await freshDatabase(t, target, 'killref');
    // The reference: the sample, then the big dump, both uninterrupted.
    await runToEnd(['import', sample, '--db', ref.url]);
    const full = await timeOf(['import', big, '--db', ref.url]);
    const expected = await state(ref.knex);

    await runToEnd(['import', sample, '--db', db.url]);
    const before = await state(db.knex);
    const rnd = random(target.length * 7919);
    let kills = 0;
    let committed = 0;
    let baseline = before;
    let window = full;
    const lastId = async () => Number((await db.knex('analytics_imports').max({ id: 'id' }))[0].id ?? 0);
    for (let attempt = 0; kills < KILLS && attempt < 2 * KILLS; attempt++) {
      const ms = Math.floor(50 + rnd() * window * 0.95);
      const previous = await lastId();
      const r = await killAfter(['import', big, '--db', db.url], ms);
      if (!r.killed) {
        // Faster than the reference run: the import finished; draw the next moments from a shorter window.
        if (r.code !== 0) t.fail(`the import failed: ${r.stderr}`);
        t.same(differs(expected, await state(db.knex)), null, `finished before the kill at ${ms} ms: the full result`);
        committed++;
        baseline = await state(db.knex);
        window = Math.max(100, ms - 50);
        continue;
      }
      kills++;
      const now = await state(db.knex);
      // The killed import's own ledger row, if it got as far as writing one.
      const [last] = await db.knex('analytics_imports').where('id', '>', previous).orderBy('id', 'desc').limit(1).select('status');
      if (last?.status === 'completed') {
        // Killed after its commit, while the process was closing: the import is whole.
        committed++;
        const diff = differs(expected, now);
        if (diff) t.fail(`killed at ${ms} ms after the commit, yet the tables are not the full result: ${diff}`);
        baseline = now;
      } else {
        const diff = differs(baseline, now);
        if (diff) t.fail(`after the kill at ${ms} ms the tables changed: ${diff}`);
      }
    }
    t.equal(kills, KILLS, `${KILLS} imports killed at random moments within ${full} ms (${KILLS - committed} before the commit: the tables were exactly as before; ${committed} after it: the full result)`);
    await runToEnd(['import', big, '--db', db.url]);
    t.same(differs(expected, await state(db.knex)), null, 'a rerun gives the exact result');
    const ledger = await db.knex('analytics_imports').select('status').orderBy('id');
    t.equal(ledger.filter((r) => r.status === 'running').length, 0, 'no import is left running in the ledger: the killed ones are marked failed');
    t.equal(ledger.filter((r) => r.status === 'completed').length, 2 + committed, 'completed imports: the sample, the rerun and those killed after their commit');
  });

  await onServer(t, target, `${target}: kill -9 a --no-atomic import at ${KILLS} random moments, --resume each time`, async (t) => {
    const db = await freshDatabase(t, target, 'resume');
    const ref = await freshDatabase(t, target, 'resumeref');
    const args = ['--no-atomic', '--checkpoint-events', '6000'];
    await runToEnd(['import', sample, '--db', ref.url]);
    const full = await timeOf(['import', big, '--db', ref.url, ...args]);
    const expected = await state(ref.knex);

    await runToEnd(['import', sample, '--db', db.url]);
    const rnd = random(target.length * 104729);
    let kills = 0;
    let fromCheckpoint = 0;
    let window = full;
    for (let attempt = 0; kills < KILLS && attempt < 2 * KILLS; attempt++) {
      // A new import of the same dump, killed at a random moment, then resumed to the end.
      const ms = Math.floor(50 + rnd() * window * 0.9);
      const r = await killAfter(['import', big, '--db', db.url, ...args], ms);
      if (!r.killed) {
        if (r.code !== 0) t.fail(`the import failed: ${r.stderr}`);
        window = Math.max(100, ms - 50);
        continue;
      }
      kills++;
      const [last] = await db.knex('analytics_imports').orderBy('id', 'desc').limit(1).select('checkpoint');
      if (last?.checkpoint) fromCheckpoint++;
      await runToEnd(['import', big, '--db', db.url, ...args, '--resume']);
      const diff = differs(expected, await state(db.knex));
      if (diff) t.fail(`killed at ${ms} ms and resumed: ${diff}`);
    }
    t.equal(kills, KILLS, `${KILLS} kills within ${full} ms (${fromCheckpoint} after a checkpoint); each resumed import ended equal to an uninterrupted one`);
    const running = await db.knex('analytics_imports').where({ status: 'running' }).count({ n: '*' });
    t.equal(Number(running[0].n), 0, 'no import is left running in the ledger');
  });
}
