// The last flush's rows built on a second thread: the same rows as on the main thread, encoded
// as the tables store them; asked for again, stopped early, failed, or stopped, each with a clear end.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { Aggregator, ParseThread, collectRows, createAggregator, createDumpTokenizer, createEventParser, createImportPipeline } from '../dist/lib/index.js';
import { freshDatabase, onServer } from './helpers/db.js';
import { RowsThread } from '../dist/lib/worker/rows-thread.js';
import { partBuffers, planBuckets, planBucketsInterleaved, planParts, planPartsInOrder } from '../dist/lib/aggregate/rows.js';
import { EncodedRow, topJson } from '../dist/lib/store/encode.js';

const samples = path.join(import.meta.dirname, 'fixtures', 'samples');

/** An aggregator holding a sample dump's events (flushed by the caller). */
async function aggregated(file, options = {}) {
  const a = new Aggregator({ timezone: 'Europe/Berlin', topN: 10, ...options });
  const parser = createEventParser();
  await pipeline(
    fs.createReadStream(path.join(samples, file)),
    createDumpTokenizer({ select: parser.parser.select }),
    parser,
    new Writable({
      objectMode: true,
      write(b, _enc, cb) {
        if (b.kind === 'websites') a.addWebsites(b.websites);
        else if (b.kind === 'events') a.add(b.events);
        cb();
      },
    }),
  );
  return a;
}

/** The bucket batches an aggregator stream makes of the v2 sample dump. */
async function streamBatches(stream) {
  const parser = createEventParser();
  const batches = [];
  await pipeline(
    fs.createReadStream(path.join(samples, 'umami-v2-mariadb.sql')),
    createDumpTokenizer({ select: parser.parser.select }),
    parser,
    stream,
    new Writable({
      objectMode: true,
      write(b, _enc, cb) {
        if (b.kind === 'buckets') batches.push(b);
        cb();
      },
    }),
  );
  return batches;
}

/** A row as comparable text: what the tables store of it. */
function stored(r) {
  return [r.websiteId, r.bucket, r.pageViews, r.visitors.estimate(), r.visitors.serialize().toString('hex'), JSON.stringify(r.topPages), JSON.stringify(r.referrers)].join('|');
}

async function readAll(iterable) {
  const chunks = [];
  for await (const c of iterable) chunks.push(c);
  return chunks;
}

function byGranularity(chunks) {
  const out = { hour: [], day: [], month: [] };
  for (const c of chunks) out[c.granularity].push(...c.rows);
  return out;
}

// v1 has referrers without a hostname (the site's own domain left out at flush); v2 the usual.
for (const file of ['umami-v2-mariadb.sql', 'umami-v1-mariadb.sql']) {
  t.test(`${file}: rows built on the thread are the rows built here, encoded as stored`, async (t) => {
    const expected = collectRows((await aggregated(file)).flush(true));
    const batch = (await aggregated(file)).flush(true);
    t.ok(batch.plan, 'a flush of the tables carries its plan');
    const rows = new RowsThread();
    t.teardown(() => rows.stop());
    const chunks = await readAll(rows.buildRows(batch.plan, 7));
    t.ok(
      chunks.every((c) => c.rows.length >= 1 && c.rows.length <= 7),
      'chunks of at most the size asked for',
    );
    // Interleaved: the days' and months' chunks come among the hours' (not after them).
    const firstDay = chunks.findIndex((c) => c.granularity === 'day');
    const firstMonth = chunks.findIndex((c) => c.granularity === 'month');
    const lastHour = chunks.findLastIndex((c) => c.granularity === 'hour');
    t.ok(firstDay >= 0 && firstDay < lastHour && firstMonth < lastHour, `days and months among the hours: first day chunk ${firstDay}, first month chunk ${firstMonth}, last hour chunk ${lastHour} of ${chunks.length}`);
    t.ok(
      chunks.every((c, i) => c.rows.length === 7 || !chunks.slice(i + 1).some((d) => d.granularity === c.granularity)),
      "each granularity's chunks are full but its last",
    );
    t.equal(batch.plan.visitors.values.byteLength, 0, "the plan's arrays moved to the thread");
    const got = byGranularity(chunks);
    const heads = { paths: new Map(), referrers: new Map() };
    for (const g of ['hour', 'day', 'month']) {
      t.ok(expected[g].length > 0, `${expected[g].length} ${g} rows`);
      t.same(got[g].map(stored), expected[g].map(stored), `${g}: identical rows`);
      t.ok(
        got[g].every((r) => r instanceof EncodedRow),
        `${g}: encoded rows`,
      );
      t.same(
        got[g].map((r) => [r.topPagesJson, r.referrersJson, r.uniqueVisitors, r.sketchBytes.toString('hex')]),
        expected[g].map((r) => [topJson(r.topPages, 'path', heads.paths), topJson(r.referrers, 'domain', heads.referrers), r.visitors.estimate(), r.visitors.serialize().toString('hex')]),
        `${g}: the values written are those made here`,
      );
    }

    // Asked for again (a retried write): the worker kept the plan. Chunks larger than its messages.
    const large = await readAll(rows.buildRows(batch.plan, 1000));
    const sizes = [];
    for (const g of ['hour', 'day', 'month']) for (let n = expected[g].length; n > 0; n -= 1000) sizes.push([g, Math.min(n, 1000)]);
    t.same(
      large.map((c) => [c.granularity, c.rows.length]),
      sizes,
      `chunks of 1000 rows, each of one granularity: ${JSON.stringify(sizes)}`,
    );
    const again = byGranularity(large);
    for (const g of ['hour', 'day', 'month']) t.same(again[g].map(stored), expected[g].map(stored), `asked for again: the same ${g} rows`);
  });
}

t.test('interleaved order: each granularity in its own order, spread evenly over the whole', async (t) => {
  const site = (id, hour, day, month) => ({ id, hour: { id, domain: null, buckets: hour }, day: { id, domain: null, buckets: day }, month: { id, domain: null, buckets: month } });
  const sites = [site('a', [0, 1, 2, 3], [20], [30]), site('b', [], [], []), site('c', [4, 5, 6, 7, 8, 9], [21, 22], [])];
  const plan = {
    counts: { hour: 10, day: 3, month: 1 },
    order: { hour: sites.map((s) => s.hour), day: sites.map((s) => s.day), month: sites.map((s) => s.month) },
  };
  const seq = [...planBucketsInterleaved(plan)];
  // The next row is of the granularity least far through its rows: (taken + 1/2) / total, ties to the coarser.
  t.equal(seq.map((x) => x.granularity[0]).join(''), 'hhdhhhdmhhhdhh', 'hours, days and months spread by their share');
  for (const g of ['hour', 'day', 'month']) {
    t.same(
      seq.filter((x) => x.granularity === g).map((x) => [x.site.id, x.b]),
      [...planBuckets(plan)].filter((x) => x.granularity === g).map((x) => [x.site.id, x.b]),
      `${g}: the same buckets in the same order as granularity after granularity`,
    );
  }
  t.same([...planBucketsInterleaved({ counts: { hour: 0, day: 0, month: 0 }, order: { hour: [], day: [], month: [] } })], [], 'an empty plan: no buckets');
  // The buckets listed are the truth: counts that disagree neither drop nor invent rows.
  t.same(
    [...planBucketsInterleaved({ ...plan, counts: { hour: 99, day: 0, month: 5 } })].map((x) => [x.granularity, x.site.id, x.b]),
    seq.map((x) => [x.granularity, x.site.id, x.b]),
    'counts that disagree with the buckets listed change nothing',
  );
});

t.test('a reader that stops early, then asks again, gets every row', async (t) => {
  const expected = collectRows((await aggregated('umami-v2-mariadb.sql')).flush(true));
  const batch = (await aggregated('umami-v2-mariadb.sql')).flush(true);
  const rows = new RowsThread();
  t.teardown(() => rows.stop());
  let first = null;
  for await (const c of rows.buildRows(batch.plan, 3)) {
    first = c;
    break;
  }
  t.equal(first.rows.length, 3);
  const all = byGranularity(await readAll(rows.buildRows(batch.plan, 50)));
  for (const g of ['hour', 'day', 'month']) t.same(all[g].map(stored), expected[g].map(stored), `${g}: all ${expected[g].length} rows`);
});

t.test('a worker allowed one message ahead, or a few bytes, still sends every row (the reader tells it of each message before waiting)', async (t) => {
  const expected = collectRows((await aggregated('umami-v2-mariadb.sql')).flush(true));
  for (const limits of [{ messagesAhead: 1 }, { messagesAhead: 3 }, { bytesAhead: 1 }]) {
    const batch = (await aggregated('umami-v2-mariadb.sql')).flush(true);
    const rows = new RowsThread(limits);
    t.teardown(() => rows.stop());
    const got = byGranularity(await readAll(rows.buildRows(batch.plan, 32)));
    for (const g of ['hour', 'day', 'month']) t.same(got[g].map(stored), expected[g].map(stored), `${JSON.stringify(limits)}: ${g}: ${expected[g].length} rows`);
  }
});

t.test('one request at a time; a failure in the worker and a stop end the reading with an error', async (t) => {
  const batch = (await aggregated('umami-v2-mariadb.sql')).flush(true);
  const rows = new RowsThread();
  t.teardown(() => rows.stop());
  const a = rows.buildRows(batch.plan, 10)[Symbol.asyncIterator]();
  await a.next();
  await t.rejects(readAll(rows.buildRows(batch.plan, 10)), /another request/, 'a second reader at once is refused');
  await a.return();

  // A plan the worker cannot read: its error comes back as the reader's.
  const broken = { ...(await aggregated('umami-v2-mariadb.sql')).flush(true).plan, order: null };
  const other = new RowsThread();
  t.teardown(() => other.stop());
  // Revived from the worker as a plain Error (a TypeError thrown here would stay one).
  const err = await readAll(other.buildRows(broken, 10)).then(
    () => null,
    (e) => e,
  );
  t.match(err?.message, /Cannot read properties of null/, "the worker's error");
  t.equal(err?.constructor, Error, 'revived from the worker');
  // A plan whose arrays moved to the first thread cannot go to a second.
  await t.rejects(readAll(other.buildRows(batch.plan, 10)), /moved to another thread already/, 'a plan moved away is refused');

  const it = rows.buildRows(batch.plan, 1)[Symbol.asyncIterator]();
  await it.next();
  rows.stop();
  await t.rejects(it.next(), /stopped/, 'stopped while reading');
  await t.rejects(readAll(rows.buildRows(batch.plan, 1)), /stopped/, 'stopped before reading');
});

t.test('the aggregator stream hands its last flush to buildRows; chunks() then refuses', async (t) => {
  const expected = collectRows((await aggregated('umami-v2-mariadb.sql')).flush(true));
  const rows = new RowsThread();
  t.teardown(() => rows.stop());
  const batches = await streamBatches(createAggregator({ timezone: 'Europe/Berlin', topN: 10, buildRows: (plan, size) => rows.buildRows(plan, size) }));
  t.equal(batches.length, 1);
  const [batch] = batches;
  t.throws(() => [...batch.chunks(10)], /built elsewhere/);
  const got = byGranularity(await readAll(batch.chunksAsync(10)));
  for (const g of ['hour', 'day', 'month']) t.same(got[g].map(stored), expected[g].map(stored), `${g}: identical rows`);
});

t.test("names sent ahead of their plan: the worker orders them first, and the plan goes without them; names of other arrays are not used", async (t) => {
  for (const file of ['umami-v2-mariadb.sql', 'umami-v1-mariadb.sql']) {
    const expected = collectRows((await aggregated(file)).flush(true));
    for (const [how, copy] of [
      ['the same arrays', false],
      ['copies of them', true],
    ]) {
      const a = await aggregated(file);
      const names = a.nextPlanNames();
      t.ok(names.paths.length > 0 && names.refNames.length > 0, `${file}: ${names.paths.length} paths, ${names.refNames.length} referrer names`);
      const rows = new RowsThread();
      t.teardown(() => rows.stop());
      // Sent ahead; with copies, the plan's own arrays differ, and it goes with its own names.
      rows.prepare(copy ? [...names.paths].reverse() : names.paths, copy ? [...names.refNames].reverse() : names.refNames);
      const batch = a.flush(true);
      t.equal(batch.plan.paths === names.paths, true, "the plan holds the names' arrays as they were");
      const got = byGranularity(await readAll(rows.buildRows(batch.plan, 7)));
      for (const g of ['hour', 'day', 'month']) t.same(got[g].map(stored), expected[g].map(stored), `${file}, ${how}: ${g}: identical rows`);
      // Asked for again (a retried write): the same rows from the plan the worker kept.
      const again = byGranularity(await readAll(rows.buildRows(batch.plan, 64)));
      t.same(again.day.map(stored), expected.day.map(stored), `${file}, ${how}: asked for again, the same rows`);
    }
  }
  // An aggregator whose last flush merges spilled runs has no names to send ahead.
  const spilling = await aggregated('umami-v2-mariadb.sql', { spillDir: t.testdir() });
  t.not(spilling.nextPlanNames(), null, 'before a spill: names ahead');
  t.ok(spilling.spill(), 'spilled to a run file');
  t.equal(spilling.nextPlanNames(), null, 'spilled: no names ahead');
  spilling.disposeSpills();
});

t.test('the aggregator stream sends its last plan\'s names to prepareRows before it groups the tables', async (t) => {
  const rows = new RowsThread();
  t.teardown(() => rows.stop());
  const stream = createAggregator({ timezone: 'Europe/Berlin', topN: 10, buildRows: (plan, size) => rows.buildRows(plan, size) });
  const calls = [];
  stream.prepareRows = (paths, refNames) => {
    calls.push({ paths, refNames });
    rows.prepare(paths, refNames);
  };
  const batches = await streamBatches(stream);
  t.equal(calls.length, 1, 'called once');
  t.equal(calls[0].paths, batches[0].plan.paths, "with the plan's path names");
  t.equal(calls[0].refNames, batches[0].plan.refNames, "and its referrer names");
  const expected = collectRows((await aggregated('umami-v2-mariadb.sql')).flush(true));
  const got = byGranularity(await readAll(batches[0].chunksAsync(10)));
  for (const g of ['hour', 'day', 'month']) t.same(got[g].map(stored), expected[g].map(stored), `${g}: identical rows`);
});

/** A ParseThread that has parsed a sample dump, its worker kept or not, and what takeWorker() gave once it was done with its input. */
async function parsedThread(retain) {
  const thread = new ParseThread();
  if (retain) thread.retainWorker();
  // Its input parsed ('finish'), before the stream ends and is destroyed.
  let taken;
  thread.once('finish', () => (taken = thread.takeWorker()));
  const batches = [];
  await pipeline(
    fs.createReadStream(path.join(samples, 'umami-v2-mariadb.sql')),
    thread,
    new Writable({
      objectMode: true,
      write(b, _enc, cb) {
        batches.push(b);
        cb();
      },
    }),
  );
  return { thread, batches, taken };
}

const exited = (worker) => new Promise((resolve) => worker.once('exit', () => resolve(true)));

t.test("rows built on a parse thread's worker, handed over once its input is parsed, are the rows built here", async (t) => {
  const expected = collectRows((await aggregated('umami-v2-mariadb.sql')).flush(true));
  const { thread, batches, taken: worker } = await parsedThread(true);
  t.ok(
    batches.some((b) => b.kind === 'packed' && b.count > 0),
    'the thread parsed the dump',
  );
  t.ok(worker, 'a retained worker is handed over once the input is parsed');
  t.equal(thread.takeWorker(), null, 'once only');
  // The stream ended and was destroyed: a worker handed over goes on.
  t.ok(thread.destroyed, 'the stream is done');
  const stopped = exited(worker);
  const rows = new RowsThread({ worker, messagesAhead: 2 });
  t.teardown(() => rows.stop());
  for (const size of [5, 64]) {
    const batch = (await aggregated('umami-v2-mariadb.sql')).flush(true);
    const got = byGranularity(await readAll(rows.buildRows(batch.plan, size)));
    for (const g of ['hour', 'day', 'month']) t.same(got[g].map(stored), expected[g].map(stored), `chunks of ${size}: ${g}: ${expected[g].length} identical rows`);
  }
  rows.stop();
  t.equal(await stopped, true, 'the RowsThread stops the worker it was given');
  // Given a worker that has stopped, a RowsThread fails each request at once (no wait for rows that never come).
  const late = new RowsThread({ worker });
  const batch = (await aggregated('umami-v2-mariadb.sql')).flush(true);
  await t.rejects(readAll(late.buildRows(batch.plan, 5)), /stopped/, 'a stopped worker: the request fails');
});

t.test('a parse thread hands over no worker unless retained and parsed; one not taken stops with the stream', async (t) => {
  const plain = await parsedThread(false);
  t.equal(plain.taken, null, 'not retained: none (it stopped when the input was parsed)');

  const early = new ParseThread().retainWorker();
  t.equal(early.takeWorker(), null, 'retained, input not parsed yet: none');
  early.destroy();

  // Retained and never taken: the worker stops with the stream, and the process is not held open.
  const script = `import fs from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ParseThread } from ${JSON.stringify(new URL('../dist/lib/index.js', import.meta.url).href)};
const thread = new ParseThread().retainWorker();
let exited = false;
let onExit;
const exit = new Promise((r) => (onExit = r));
process.on('worker', (w) => w.once('exit', () => { exited = true; onExit(); }));
await pipeline(fs.createReadStream(${JSON.stringify(path.join(samples, 'umami-v2-mariadb.sql'))}), thread, new Writable({ objectMode: true, write(b, e, cb) { cb(); } }));
// A worker's exit is reported a moment after it is told to stop, later on a busy machine: wait for it, up to 10 s (unref'd, so the wait itself holds nothing open).
await Promise.race([exit, new Promise((r) => setTimeout(r, 10_000).unref())]);
console.log(thread.destroyed, exited, thread.takeWorker());`;
  // A file, not -e: the worker inherits the process's options, and --input-type is refused where a module is loaded from a file.
  const file = path.join(t.testdir(), 'retained.mjs');
  fs.writeFileSync(file, script);
  const r = await new Promise((resolve) => {
    execFile(process.execPath, [file], { timeout: 20_000 }, (err, stdout) => resolve({ err, stdout }));
  });
  t.equal(r.err, null, 'exited by itself');
  t.equal(r.stdout.trim(), 'true true null', 'the stream ended, its worker stopped, none to take after');
});

t.test('a RowsThread made and never used does not keep the process alive', async (t) => {
  const script = `import { RowsThread } from ${JSON.stringify(new URL('../dist/lib/worker/rows-thread.js', import.meta.url).href)};
new RowsThread();
setTimeout(() => console.log('still here'), 50);`;
  const r = await new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => resolve({ err, stdout }));
  });
  t.equal(r.err, null, 'exited by itself');
  t.equal(r.stdout.trim(), 'still here');
});

for (const target of ['sqlite', 'postgres']) {
  await onServer(t, target, `an import into ${target} from a file: ${target === 'sqlite' ? "the parse thread's worker makes the last rows" : 'no thread makes rows'}, and the tables are those of an import on one thread`, async (t) => {
    const file = path.join(samples, 'umami-v2-mariadb.sql');
    const tables = async (knex) => {
      const out = {};
      for (const [g, col] of [['hourly', 'hour_start'], ['daily', 'date'], ['monthly', 'year_month']]) {
        const rows = await knex(`analytics_${g}`).select('site_id', col, 'page_views', 'unique_visitors', 'top_pages', 'referrers', 'visitors_sketch').orderBy(['site_id', col]);
        out[g] = rows.map((r) => JSON.stringify([r.site_id, String(r[col]), Number(r.page_views), Number(r.unique_visitors), typeof r.top_pages === 'string' ? JSON.parse(r.top_pages) : r.top_pages, typeof r.referrers === 'string' ? JSON.parse(r.referrers) : r.referrers, Buffer.from(r.visitors_sketch).toString('hex')]));
      }
      return out;
    };
    const started = [];
    // What each worker is told: the parse thread's is sent a port to serve rows on once its input is parsed.
    const told = [];
    const onWorker = (w) => {
      started.push(w);
      const post = w.postMessage.bind(w);
      w.postMessage = (m, transfer) => {
        told.push(m?.t);
        return post(m, transfer);
      };
    };
    process.on('worker', onWorker);
    t.teardown(() => process.off('worker', onWorker));
    const threaded = await freshDatabase(t, target, 'rows_threaded');
    // The file is read by the parse thread itself: nothing is written to the pipeline.
    await pipeline(Readable.from([]), createImportPipeline({ knex: threaded.knex, inputFile: file, timezone: 'Europe/Berlin' }));
    t.equal(started.length, 1, 'one thread started: the parse thread');
    t.equal(told.filter((x) => x === 'rows').length, target === 'sqlite' ? 1 : 0, target === 'sqlite' ? 'its worker then makes the last rows' : 'its worker makes no rows');
    const single = await freshDatabase(t, target, 'rows_single');
    await pipeline(fs.createReadStream(file), createImportPipeline({ knex: single.knex, worker: false, timezone: 'Europe/Berlin' }));
    const a = await tables(threaded.knex);
    const b = await tables(single.knex);
    for (const g of ['hourly', 'daily', 'monthly']) {
      t.ok(a[g].length > 0);
      t.same(a[g], b[g], `${g}: ${a[g].length} identical rows`);
    }
  });
}

t.test('parts keep their values while the next ones are made (one writer serves them all)', async (t) => {
  const plan = (await aggregated('umami-v2-mariadb.sql')).flush(true).plan;
  /** Every array of a part, copied: what it held when it was made. */
  const snapshot = (part) => partBuffers(part).map((b) => Buffer.from(b).toString('hex'));
  const check = (t, parts) => {
    const taken = [];
    for (const part of parts) taken.push({ part, then: snapshot(part) });
    t.ok(taken.length > 20, `${taken.length} parts`);
    // Compared once all were made: a part written over by a later one differs from its copy.
    t.same(taken.map(({ part }) => snapshot(part)), taken.map(({ then }) => then), 'each part as it was made');
    const buffers = taken.flatMap(({ part }) => partBuffers(part));
    t.equal(new Set(buffers).size, buffers.length, 'no two parts share an array');
  };
  t.test('planParts', async (t) => check(t, planParts(plan, 16)));
  t.test('planPartsInOrder', async (t) => check(t, [...planPartsInOrder(plan, 16)].map((o) => o.part)));
});
