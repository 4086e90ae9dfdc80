#!/usr/bin/env node
// The benchmark suite (`npm run bench`): imports generated dumps with the CLI, process start to
// exit, and measures in the same run the byte-scan floor over the same file (and `gzip -dc` of a
// gzipped one), by turns with the imports of that file, so the ratios hold whatever the machine's
// speed that day.
//
//   node bench/run.js [--events 1000000] [--targets sqlite,postgres,mariadb] [--10m] [--traditional] [--repeat N]
//
// Each scenario prints wall time, CPU time (user + system), MB/s, events/s and the peak RSS of the importing process, and
// checks the monthly page views and visitors against the generator's truth file. The run starts
// with the machine (CPU, memory, Node, kernel, the servers' versions) and a check of how steady
// its two cores are (bench/steady.js alone and two at once, at the start and again at the end).
// Results go to stdout as JSON lines and a Markdown table; bench/RESULTS.md records a run.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import knexFactory from 'knex';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.join(here, '..');
const data = path.join(here, 'data');
const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');

const USAGE = 'usage: node bench/run.js [--events 1000000] [--targets sqlite,postgres,mariadb] [--10m] [--traditional] [--repeat N]';
let values;
try {
  ({ values } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      targets: { type: 'string', default: 'sqlite,postgres,mariadb' },
      '10m': { type: 'boolean', default: false },
      traditional: { type: 'boolean', default: false },
      repeat: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) {
  console.error(`--repeat takes a whole number of at least 1, not ${values.repeat}\n${USAGE}`);
  process.exit(2);
}

function sh(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 1 << 26, ...options }, (err, stdout, stderr) => (err ? reject(new Error(`${command} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

/**
 * Runs a command under /usr/bin/time; returns wall ms, peak RSS in MB, CPU seconds (user + system,
 * every thread of the process) and stdout. CPU time is the work done, whatever the machine's load:
 * on a shared 2-core host it moves less than the wall time between runs of one build.
 */
function measured(command, args, { stdout = 'pipe' } = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', command, ...args], { stdio: ['ignore', stdout, 'pipe'] });
    const out = [];
    const err = [];
    child.stdout?.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const stderr = Buffer.concat(err).toString().trim().split('\n');
      const [rssKb, user, system] = (stderr.at(-1) ?? '').split(' ').map(Number);
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(0, -1).join('\n')}`));
      resolve({ ms, rssMb: rssKb / 1024, cpuSec: user + system, stdout: Buffer.concat(out).toString() });
    });
  });
}

async function ensureDump(events, format, gzip) {
  mkdirSync(data, { recursive: true });
  const label = events >= 1e6 ? `${events / 1e6}m` : `${events / 1e3}k`;
  const file = path.join(data, `umami-${label}-${format}.sql${gzip ? '.gz' : ''}`);
  if (!existsSync(file)) {
    process.stderr.write(`generating ${file}\n`);
    await sh(process.execPath, [path.join(here, 'generate.js'), '--events', String(events), '--format', format, ...(gzip ? ['--gzip'] : []), '--out', file]);
  }
  return file;
}

const quiet = { warn() {}, error() {}, deprecate() {}, debug() {} };
const SERVER = {
  postgres: { admin: 'postgres://postgres@127.0.0.1:5432/test', url: (db) => `postgres://postgres@127.0.0.1:5432/${db}`, client: 'pg' },
  mariadb: { admin: 'mysql://root@127.0.0.1:3306/test', url: (db) => `mysql://root@127.0.0.1:3306/${db}`, client: 'mysql2' },
};

/** A fresh target database; returns its URL. */
async function freshTarget(target) {
  if (target === 'sqlite') {
    const file = path.join(os.tmpdir(), `ua-bench-${process.pid}.sqlite`);
    for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) rmSync(f, { force: true });
    return { url: `sqlite:${file}`, cleanup: () => [file, `${file}-wal`, `${file}-shm`, `${file}-journal`].forEach((f) => rmSync(f, { force: true })) };
  }
  const s = SERVER[target];
  const db = `ua_bench_run_${process.pid}`;
  const admin = knexFactory({ client: s.client, connection: s.admin, log: quiet });
  const q = (sql) => admin.raw(target === 'postgres' ? sql.replace(/`/g, '"') : sql);
  await q(`DROP DATABASE IF EXISTS \`${db}\``);
  await q(`CREATE DATABASE \`${db}\``);
  await admin.destroy();
  return {
    url: s.url(db),
    cleanup: async () => {
      const a = knexFactory({ client: s.client, connection: s.admin, log: quiet });
      await a.raw(target === 'postgres' ? `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)` : `DROP DATABASE IF EXISTS \`${db}\``);
      await a.destroy();
    },
  };
}

/** Monthly page views and visitors from the summary's database against the generator's truth. */
async function checkTruth(url, truthFile) {
  if (!existsSync(truthFile)) return 'no truth file';
  const truth = JSON.parse(readFileSync(truthFile, 'utf8'));
  const config = url.startsWith('sqlite:')
    ? { client: 'better-sqlite3', connection: { filename: url.slice(7) }, useNullAsDefault: true }
    : { client: url.startsWith('postgres') ? 'pg' : 'mysql2', connection: url };
  const knex = knexFactory({ ...config, log: quiet });
  try {
    const rows = await knex('analytics_monthly as m').join('analytics_sites as s', 's.id', 'm.site_id').select('s.umami_website_id as site', 'm.year_month as bucket', 'm.page_views', 'm.unique_visitors');
    const got = new Map(rows.map((r) => [`${r.site} ${r.bucket}`, r]));
    let views = 0;
    let exactVisitors = 0;
    let worst = 0;
    for (const m of truth.monthly) {
      const r = got.get(`${m.site} ${m.bucket}`);
      if (!r) continue;
      if (Number(r.page_views) === m.page_views) views++;
      const err = Math.abs(Number(r.unique_visitors) / m.unique_visitors - 1);
      if (err === 0) exactVisitors++;
      worst = Math.max(worst, err);
    }
    const n = truth.monthly.length;
    if (views === n && exactVisitors === n && rows.length === n) return `exact (${n} site-months)`;
    return `page views ${views === n ? 'exact' : `${n - views} of ${n} differ`}; visitors exact in ${exactVisitors} of ${n} site-months, worst ${(worst * 100).toFixed(2)}% off`;
  } finally {
    await knex.destroy();
  }
}

async function importOnce(file, target) {
  const t = await freshTarget(target);
  try {
    const r = await measured(process.execPath, [cli, 'import', file, '--db', t.url, '--json']);
    const summary = JSON.parse(r.stdout);
    const check = await checkTruth(t.url, file.replace(/\.gz$/, '') + '.truth.json');
    return { ...r, summary, check };
  } finally {
    await t.cleanup();
  }
}

async function floorOnce(file) {
  const r = await measured(process.execPath, [path.join(here, 'scan-floor.js'), file]);
  return { ...r, floor: JSON.parse(r.stdout) };
}

function gzipOnce(file) {
  return measured('sh', ['-c', `gzip -dc '${file}' > /dev/null`]);
}

/**
 * The baseline (byte-scan floor or gzip -dc) and the imports of one file into each target, run by
 * turns, `repeat` rounds: best of each, and every round's runs (`rounds`). Measured side by side, a
 * slow minute of a shared machine falls on all of them rather than on one.
 */
async function byTurns(file, baseline, targets) {
  const best = { base: null, rounds: [] };
  for (let i = 0; i < repeat; i++) {
    const round = { base: await baseline(file) };
    if (!best.base || round.base.ms < best.base.ms) best.base = round.base;
    for (const target of targets) {
      const r = await importOnce(file, target);
      round[target] = r;
      if (!best[target] || r.ms < best[target].ms) best[target] = r;
    }
    best.rounds.push(round);
  }
  return best;
}

/**
 * The ratio of `of` to `to` within each round (runs seconds apart, so a host that is slow for a
 * while slows both), as `lowest–highest (median m)`; null for a single round.
 */
function pairedRatios(rounds, of, to) {
  if (rounds.length < 2) return null;
  const r = rounds.map((round) => round[of].ms / round[to].ms).sort((a, b) => a - b);
  const mid = r.length >> 1;
  const median = r.length % 2 ? r[mid] : (r[mid - 1] + r[mid]) / 2;
  return `${r[0].toFixed(2)}–${r[r.length - 1].toFixed(2)}× (median ${median.toFixed(2)})`;
}

/** The CPU, memory, Node, kernel and (when reachable) the target servers' versions, for the record. */
async function machine() {
  const cpus = os.cpus();
  const out = { cpu: cpus[0]?.model.trim() ?? 'unknown', cores: cpus.length, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, kernel: `${os.type()} ${os.release()}` };
  try {
    // Family, model and stepping tell apart CPUs that share a model name (such as "Intel(R) Xeon(R) Processor").
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name) => new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm').exec(info)?.[1].trim();
    out.cpu += ` (family ${field('cpu family')}, model ${field('model')}, stepping ${field('stepping')})`;
  } catch {
    // Not Linux: the model name alone.
  }
  for (const target of targets.filter((t) => SERVER[t])) {
    const s = SERVER[target];
    const knex = knexFactory({ client: s.client, connection: s.admin, log: quiet, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 5000 });
    try {
      const result = await knex.raw(target === 'postgres' ? 'SHOW server_version' : 'SELECT VERSION() AS v');
      out[target] = target === 'postgres' ? result.rows[0].server_version : result[0][0].v;
    } catch (err) {
      out[target] = `unreachable (${err.message.split('\n')[0]})`;
    } finally {
      await knex.destroy();
    }
  }
  return out;
}

/** bench/steady.js alone, then two copies at once: how steady the host's two cores are (see there). */
async function steadiness() {
  const once = async () => JSON.parse(await sh(process.execPath, [path.join(here, 'steady.js')])).ms;
  const alone = await once();
  const together = (await Promise.all([once(), once()])).sort((a, b) => a - b);
  return { aloneMs: alone, togetherMs: together };
}

const steadyText = (s) => `one loop alone ${s.aloneMs} ms, two at once ${s.togetherMs[0]} and ${s.togetherMs[1]} ms`;

const results = [];
function report(row) {
  results.push(row);
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

const events = Number(values.events);
const targets = values.targets.split(',');
const host = await machine();
process.stdout.write(`${JSON.stringify({ machine: host })}\n`);
const steadyAtStart = await steadiness();
process.stdout.write(`${JSON.stringify({ steadiness: 'start', ...steadyAtStart })}\n`);
const mariadb = await ensureDump(events, 'mariadb', false);
const pgdump = await ensureDump(events, 'pgdump', false);
const gz = await ensureDump(events, 'mariadb', true);
const mb = (file) => statSync(file).size / 1048576;

const turns = { mariadb: await byTurns(mariadb, floorOnce, targets), pgdump: await byTurns(pgdump, floorOnce, ['sqlite']), gzip: await byTurns(gz, gzipOnce, ['sqlite']) };
const cpu = (r) => +r.cpuSec.toFixed(2);
report({ scenario: 'byte-scan floor, mariadb-dump', wallMs: Math.round(turns.mariadb.base.ms), cpuSec: cpu(turns.mariadb.base), rssMb: Math.round(turns.mariadb.base.rssMb) });
report({ scenario: 'byte-scan floor, pg_dump', wallMs: Math.round(turns.pgdump.base.ms), cpuSec: cpu(turns.pgdump.base), rssMb: Math.round(turns.pgdump.base.rssMb) });
report({ scenario: 'gzip -dc', wallMs: Math.round(turns.gzip.base.ms), cpuSec: cpu(turns.gzip.base) });

const sqliteTimes = {};
for (const [label, file, best] of [
  ['mariadb-dump', mariadb, turns.mariadb],
  ['pg_dump', pgdump, turns.pgdump],
  ['mariadb-dump, gzip', gz, turns.gzip],
]) {
  const floor = best.base.ms;
  for (const target of label === 'mariadb-dump' ? targets : ['sqlite']) {
    const r = best[target];
    if (target === 'sqlite') sqliteTimes[label] = r.ms;
    report({
      scenario: `${events.toLocaleString('en-US')} events, ${label} → ${target}`,
      wallMs: Math.round(r.ms),
      cpuSec: cpu(r),
      mbPerSec: +(mb(file) / (r.ms / 1000)).toFixed(1),
      eventsPerSec: Math.round(r.summary.events / (r.ms / 1000)),
      rssMb: Math.round(r.rssMb),
      ratio: target === 'sqlite' ? `${(r.ms / floor).toFixed(2)}× ${label.includes('gzip') ? 'gzip -dc' : 'floor'}` : `${(r.ms / sqliteTimes[label]).toFixed(2)}× SQLite`,
      check: r.check,
      ...(best.rounds.length > 1 ? { pairedRatios: pairedRatios(best.rounds, target, target === 'sqlite' ? 'base' : 'sqlite') } : {}),
    });
  }
}

if (values['10m']) {
  const big = await ensureDump(events * 10, 'mariadb', false);
  const { base: floor, sqlite: r, rounds } = await byTurns(big, floorOnce, ['sqlite']);
  report({
    scenario: `${(events * 10).toLocaleString('en-US')} events, mariadb-dump → sqlite`,
    wallMs: Math.round(r.ms),
    cpuSec: cpu(r),
    mbPerSec: +(mb(big) / (r.ms / 1000)).toFixed(1),
    eventsPerSec: Math.round(r.summary.events / (r.ms / 1000)),
    rssMb: Math.round(r.rssMb),
    ratio: `${(r.ms / floor.ms).toFixed(2)}× floor, ${(r.ms / sqliteTimes['mariadb-dump']).toFixed(1)}× the ${events.toLocaleString('en-US')} time`,
    check: r.check,
    flushes: r.summary.flushes,
    spills: r.summary.spills,
    ...(rounds.length > 1 ? { pairedRatios: pairedRatios(rounds, 'sqlite', 'base') } : {}),
  });
}

if (values.traditional) {
  for (const target of ['pg', 'mariadb']) {
    const file = target === 'pg' ? pgdump : mariadb;
    const out = await sh(process.execPath, [path.join(here, 'traditional.js'), file, '--target', target], { timeout: 3_600_000 });
    const t = JSON.parse(out);
    const ours = target === 'pg' ? sqliteTimes['pg_dump'] : sqliteTimes['mariadb-dump'];
    report({
      scenario: `restore + GROUP BY on ${target === 'pg' ? 'PostgreSQL' : 'MariaDB'} (${target === 'pg' ? 'pg_dump' : 'mariadb-dump'})`,
      wallMs: t.totalMs,
      restoreMs: t.restoreMs,
      aggregateMs: t.aggregateMs,
      ratio: `${(t.totalMs / ours).toFixed(1)}× the SQLite import`,
    });
  }
}

const steadyAtEnd = await steadiness();
process.stdout.write(`${JSON.stringify({ steadiness: 'end', ...steadyAtEnd })}\n`);

const paired = results.some((r) => r.pairedRatios);
const servers = targets.filter((t) => host[t]).map((t) => `${t === 'postgres' ? 'PostgreSQL' : 'MariaDB'} ${host[t]}`);
console.log(`\n${host.cores} × ${host.cpu}, ${host.memoryGb} GB, Node ${host.node}, ${host.kernel}${servers.length ? `; ${servers.join(', ')}` : ''}.`);
console.log(`CPU check (bench/steady.js): at the start ${steadyText(steadyAtStart)}; at the end ${steadyText(steadyAtEnd)}.`);
console.log(`\n| scenario | wall | CPU | MB/s | events/s | peak RSS | ratio |${paired ? ' ratio within each round |' : ''} check |`);
console.log(`|---|---:|---:|---:|---:|---:|---|${paired ? '---|' : ''}---|`);
for (const r of results) {
  console.log(`| ${r.scenario} | ${(r.wallMs / 1000).toFixed(2)} s | ${r.cpuSec !== undefined ? `${r.cpuSec.toFixed(2)} s` : ''} | ${r.mbPerSec ?? ''} | ${r.eventsPerSec?.toLocaleString('en-US') ?? ''} | ${r.rssMb ? `${r.rssMb} MB` : ''} | ${r.ratio ?? ''} |${paired ? ` ${r.pairedRatios ?? ''} |` : ''} ${r.check ?? ''} |`);
}
