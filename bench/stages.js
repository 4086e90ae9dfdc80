#!/usr/bin/env node
// The first stages in one thread, no database: a dump read from a file through the tokenizer, the
// packed event parser and the packer (what the worker thread does), and with --aggregate the
// aggregator taking each packed batch (what the main thread does while reading). CPU time and
// the aggregator's share are steadier than a whole import's wall time on a busy machine, so two
// builds compared by turns with this show a change of a few percent. With --rows (implies
// --aggregate), the last flush's plan is made and its rows' sketches and top lists built from it,
// 64 rows at a time, as the rows thread of an import into SQLite does. With --passes N, the file is
// read into memory first and the tokenizer, parser and packer run over it N times, each pass with
// new ones: the time of the stages alone, without the file's reads (the first pass with the code
// not yet optimised, as in an import; the later ones with it optimised).
//
//   node bench/stages.js FILE [--aggregate] [--rows [--rows-repeat N]] [--dist DIR]
//   node bench/stages.js FILE --passes N [--dist DIR]
//
// --dist         the built library to measure (default: this checkout's dist), e.g. another build's
// --rows-repeat  build the rows from the same plan N times: rowsMs is the first (code not yet
//                optimised, as on the rows thread), rowsBestMs the fastest of the N
// Prints JSON: {file, events, ms, cpuMs, aggregateMs, planMs, rowsMs, rowsBestMs?, rows}; with
// --passes, {file, events, passMs: [ms of each pass]}.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    aggregate: { type: 'boolean', default: false },
    rows: { type: 'boolean', default: false },
    'rows-repeat': { type: 'string', default: '1' },
    passes: { type: 'string' },
    dist: { type: 'string' },
  },
});
const USAGE = 'usage: node bench/stages.js FILE [--aggregate] [--rows [--rows-repeat N]] [--dist DIR]\n       node bench/stages.js FILE --passes N [--dist DIR]';
if (positionals.length !== 1 || (values.passes !== undefined && (values.aggregate || values.rows))) {
  console.error(USAGE);
  process.exit(2);
}
const passes = values.passes === undefined ? null : Number(values.passes);
if (passes !== null && !(Number.isInteger(passes) && passes >= 1)) {
  console.error(`--passes takes a whole number of at least 1, not ${values.passes}`);
  process.exit(2);
}
const rowsRepeat = Number(values['rows-repeat']);
if (!Number.isInteger(rowsRepeat) || rowsRepeat < 1) {
  console.error(`--rows-repeat takes a whole number of at least 1, not ${values['rows-repeat']}`);
  process.exit(2);
}
const file = positionals[0];
const dist = path.resolve(values.dist ?? new URL('../dist', import.meta.url).pathname);
const load = (module) => import(pathToFileURL(path.join(dist, 'lib', module)).href);
const { DumpTokenizer } = await load('dump/tokenizer.js');
const { EventParser } = await load('umami/parser.js');
const { EventPacker } = await load('umami/packed.js');
const { Aggregator } = await load('aggregate/aggregator.js');
const { planParts } = await load('aggregate/rows.js');

/** Events per packed batch, as on the worker thread. */
const BATCH_EVENTS = 16384;
const CHUNK = 1 << 20;

/**
 * The tokenizer, the packed event parser and the packer over `chunks` (with `aggregator`, taking
 * each batch as the main thread does); events read and the aggregator's share of the time.
 */
async function runStages(chunks, aggregator = null) {
  const parser = new EventParser({ packed: true });
  const tokenizer = new DumpTokenizer({ select: parser.select });
  const packer = new EventPacker(BATCH_EVENTS + 2048);
  let events = 0;
  let aggregateMs = 0;
  const take = () => {
    const batch = packer.take();
    if (batch === null) return;
    events += batch.count;
    if (aggregator === null) return;
    const t = performance.now();
    aggregator.addPacked(batch);
    aggregateMs += performance.now() - t;
  };
  const out = [];
  tokenizer.on('data', (rows) => {
    parser.parse(rows, out, packer);
    // As on the worker: the rows' arrays are built into again (a build without recycle() makes new ones).
    tokenizer.recycle?.(rows);
    for (const b of out) if (b.kind === 'websites') aggregator?.addWebsites(b.websites);
    out.length = 0;
    if (packer.count >= BATCH_EVENTS) take();
  });
  for (const chunk of chunks) await new Promise((resolve, reject) => tokenizer.write(chunk, (err) => (err ? reject(err) : resolve())));
  await new Promise((resolve, reject) => tokenizer.end((err) => (err ? reject(err) : resolve())));
  take();
  return { events, aggregateMs };
}

/** The file, CHUNK bytes at a time, each chunk read into a new buffer. */
function* fileChunks() {
  const fd = openSync(file, 'r');
  try {
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) return;
      yield chunk.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

if (passes !== null) {
  const data = readFileSync(file);
  const passMs = [];
  let events = 0;
  for (let p = 0; p < passes; p++) {
    const chunks = [];
    for (let at = 0; at < data.length; at += CHUNK) chunks.push(data.subarray(at, Math.min(data.length, at + CHUNK)));
    const started = performance.now();
    ({ events } = await runStages(chunks));
    passMs.push(Math.round(performance.now() - started));
  }
  console.log(JSON.stringify({ file, events, passMs }));
  process.exit(0);
}

const aggregator = values.aggregate || values.rows ? new Aggregator() : null;
const started = performance.now();
const cpu = process.cpuUsage();
const { events, aggregateMs } = await runStages(fileChunks(), aggregator);
const used = process.cpuUsage(cpu);
const result = { file, events, ms: Math.round(performance.now() - started), cpuMs: Math.round((used.user + used.system) / 1000), aggregateMs: aggregator ? Math.round(aggregateMs) : null };
if (values.rows) {
  let t = performance.now();
  const { plan } = aggregator.flush(true);
  result.planMs = Math.round(performance.now() - t);
  let rows = 0;
  for (let r = 0; r < rowsRepeat; r++) {
    t = performance.now();
    rows = 0;
    for (const part of planParts(plan, 64)) rows += part.rows;
    const ms = Math.round(performance.now() - t);
    if (r === 0) result.rowsMs = ms;
    if (rowsRepeat > 1) result.rowsBestMs = Math.min(result.rowsBestMs ?? Infinity, ms);
  }
  result.rows = rows;
}
console.log(JSON.stringify(result));
