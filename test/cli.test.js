// The command line, run as a user runs it: a real process, real files.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import t from 'tap';
import knexFactory from 'knex';

const run = promisify(execFile);
const bin = path.join(import.meta.dirname, '..', 'dist', 'lib', 'cli', 'main.js');
const samples = path.join(import.meta.dirname, 'fixtures', 'samples');

async function cli(args, { cwd, input, env } = {}) {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { cwd, env: { ...process.env, DATABASE_URL: '', ...env }, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // a child that fails early closes its stdin
    if (input) child.stdin.end(input);
    else child.stdin.end();
  });
}

function tmp(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('import writes ./analytics.sqlite by default and prints a summary', async (t) => {
  const cwd = tmp(t);
  const r = await cli(['import', path.join(samples, 'umami-v2-mariadb.sql')], { cwd });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /3,006 events, 2,613 page views, 0 rejected/);
  t.match(r.stdout, /1,128 hourly, 571 daily, 28 monthly/);
  t.ok(fs.existsSync(path.join(cwd, 'analytics.sqlite')));
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(cwd, 'analytics.sqlite') }, useNullAsDefault: true });
  t.teardown(() => knex.destroy());
  const [{ n }] = await knex('analytics_daily').count({ n: '*' });
  t.equal(Number(n), 571);
  t.same(await knex.raw('pragma page_size'), [{ page_size: 16384 }], 'a new file has 16 KiB pages');
  t.same(await knex.raw('pragma journal_mode'), [{ journal_mode: 'wal' }], 'written with a rollback journal, then switched to WAL');
  t.notOk(fs.existsSync(path.join(cwd, 'analytics.sqlite-journal')), 'no rollback journal left behind');
});

t.test('an existing SQLite file keeps its page size', async (t) => {
  const cwd = tmp(t);
  const file = path.join(cwd, 'host.sqlite');
  const host = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
  await host.schema.createTable('host_table', (tb) => tb.integer('x'));
  await host('host_table').insert({ x: 1 });
  await host.destroy();
  const r = await cli(['import', path.join(samples, 'umami-v2-mariadb.sql'), '--db', `sqlite:${file}`], { cwd });
  t.equal(r.code, 0, r.stderr);
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
  t.teardown(() => knex.destroy());
  t.same(await knex.raw('pragma page_size'), [{ page_size: 4096 }]);
  t.same(await knex('host_table').select('x'), [{ x: 1 }], "the host's table is untouched");
  const [{ n }] = await knex('analytics_daily').count({ n: '*' });
  t.equal(Number(n), 571);
});

t.test('--no-worker, and Node options that a worker thread may not take, give the same tables', async (t) => {
  const cwd = tmp(t);
  const dump = path.join(samples, 'umami-v2-mariadb.sql');
  const tables = async (file) => {
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(cwd, file) }, useNullAsDefault: true });
    try {
      const out = {};
      for (const table of ['analytics_hourly', 'analytics_daily', 'analytics_monthly']) {
        out[table] = (await knex(table).select('site_id', 'page_views', 'unique_visitors', 'top_pages', 'referrers', 'visitors_sketch').orderBy('id')).map((r) => JSON.stringify({ ...r, visitors_sketch: r.visitors_sketch?.toString('hex') }));
      }
      return out;
    } finally {
      await knex.destroy();
    }
  };
  t.equal((await cli(['import', dump, '--db', 'sqlite:./a.db', '--quiet'], { cwd })).code, 0);
  const r = await cli(['import', dump, '--db', 'sqlite:./b.db', '--quiet', '--no-worker'], { cwd });
  t.equal(r.code, 0, r.stderr);
  // A V8 flag in execArgv is refused by worker threads when passed on explicitly; a module hook makes it so.
  const hook = path.join(cwd, 'hook.mjs');
  fs.writeFileSync(hook, '');
  const flagged = await new Promise((resolve) =>
    execFile(process.execPath, ['--max-semi-space-size=8', '--import', hook, bin, 'import', dump, '--db', 'sqlite:./c.db', '--quiet'], { cwd, env: { ...process.env, DATABASE_URL: '' } }, (err, _o, stderr) => resolve({ code: err ? err.code : 0, stderr })),
  );
  t.equal(flagged.code, 0, flagged.stderr);
  const a = await tables('a.db');
  t.ok(a.analytics_hourly.length > 1000);
  t.same(await tables('b.db'), a, '--no-worker: identical rows');
  t.same(await tables('c.db'), a, 'with --max-semi-space-size and --import: identical rows');
});

t.test('gzipped stdin, --json summary, --db and --timezone', async (t) => {
  const cwd = tmp(t);
  const gz = zlib.gzipSync(fs.readFileSync(path.join(samples, 'umami-v2-postgres.sql')));
  const r = await cli(['import', '-', '--json', '--db', 'sqlite:./x.db', '--timezone', 'America/New_York', '--top', '5'], { cwd, input: gz });
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  t.match(s, { compression: 'gzip', dialect: 'postgres', umamiVersion: 'v2', events: 3006, pageViews: 2613, source: 'stdin' });
  t.ok(fs.existsSync(path.join(cwd, 'x.db')));
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(cwd, 'x.db') }, useNullAsDefault: true });
  t.teardown(() => knex.destroy());
  const rows = await knex('analytics_monthly').select('top_pages');
  t.ok(rows.every((r) => JSON.parse(r.top_pages).length <= 5), '--top 5 respected');
});

t.test('failures: one line, a code, no stack trace, non-zero exit; nothing half-written', async (t) => {
  const cwd = tmp(t);
  fs.writeFileSync(path.join(cwd, 'random.bin'), Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919) % 256)));
  fs.writeFileSync(path.join(cwd, 'empty.sql'), '');
  fs.writeFileSync(path.join(cwd, 'cut.sql'), fs.readFileSync(path.join(samples, 'umami-v2-mariadb.sql')).subarray(0, 700000));
  fs.writeFileSync(path.join(cwd, 'other.sql'), 'CREATE TABLE `users` (`id` int);\nINSERT INTO `users` VALUES (1);\n');
  const cases = [
    [['import', 'random.bin'], /UA_NOT_SQL_DUMP/],
    [['import', 'empty.sql'], /UA_EMPTY_INPUT/],
    [['import', 'cut.sql'], /UA_UNEXPECTED_END: unexpected end of input inside .* in `website_event` at byte \d+/],
    [['import', 'other.sql'], /UA_NO_UMAMI_TABLES.*users/],
    [['import', 'missing.sql'], /UA_INPUT_UNREADABLE/],
    [['import', 'empty.sql', '--db', 'oracle://x'], /UA_UNSUPPORTED_DATABASE/],
    [['import', 'empty.sql', '--timezone', 'Mars/Base'], /UA_INVALID_OPTION.*timezone/],
    [['import'], /needs a file/],
    [['frobnicate'], /unknown command/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(args, { cwd });
    t.not(r.code, 0, `${args.join(' ')}: non-zero exit`);
    t.match(r.stderr, re, `${args.join(' ')}: message`);
    t.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('Run ')).length, 1, `${args.join(' ')}: one line`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(cwd, 'analytics.sqlite') }, useNullAsDefault: true });
  t.teardown(() => knex.destroy());
  for (const table of ['analytics_hourly', 'analytics_daily', 'analytics_monthly', 'analytics_sites']) {
    const [{ n }] = await knex(table).count({ n: '*' });
    t.equal(Number(n), 0, `${table} is empty after the failed imports`);
  }
  const failed = await knex('analytics_imports').where({ status: 'failed' }).count({ n: '*' });
  t.ok(Number(failed[0].n) >= 3, 'failed imports are in the ledger');
});

t.test('imports lists the ledger', async (t) => {
  const cwd = tmp(t);
  await cli(['import', path.join(samples, 'umami-v1-mariadb.sql')], { cwd });
  const r = await cli(['imports'], { cwd });
  t.equal(r.code, 0);
  t.match(r.stdout, /completed\s+replace/);
  const j = JSON.parse((await cli(['imports', '--json'], { cwd })).stdout);
  t.match(j[0], { status: 'completed', umamiVersion: 'v1', events: 2001, pageViews: 1745 });
});

t.test('PostgreSQL and MariaDB: statements sent while the next chunk is made, nothing on stderr, the same rows as SQLite', async (t) => {
  const { onServer, freshDatabase } = await import('./helpers/db.js');
  const { cliAggregates } = await import('./helpers/cli.js');
  const { readAggregates } = await import('./helpers/expected.js');
  const sample = path.join(samples, 'umami-v2-mariadb.sql');
  const want = await cliAggregates(t, sample);
  for (const kind of ['postgres', 'mysql']) {
    await onServer(t, kind, kind, async (t) => {
      const { knex, url } = await freshDatabase(t, kind, 'cli_chunks');
      // 150-row statements: several per table, pg's named statements and a short last one.
      for (const round of ['into empty tables', 'again, replacing its rows']) {
        const r = await cli(['import', sample, '--db', url, '--batch-size', '150', '--quiet']);
        t.equal(r.code, 0, `${round}: exit 0`);
        t.equal(r.stderr, '', `${round}: nothing on stderr (no driver warnings)`);
        t.same(await readAggregates(knex), want, `${round}: the rows of the SQLite import`);
      }
    });
  }
});

t.test('counts are grouped by thousands as en-US writes them', async (t) => {
  const { grouped } = await import('../dist/lib/cli/progress.js');
  const values = [0, 7, 42, 999, 1000, 1001, 65536, 999999, 1000000, 845572, 1209423, 2 ** 31, 2 ** 53 - 1, -1, -1000, -1234567, 1234.4, 1234.5];
  for (const v of values) t.equal(grouped(v), Math.round(v).toLocaleString('en-US'), String(v));
});
