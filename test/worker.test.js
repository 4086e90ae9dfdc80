// Stages 1 and 2 on a worker thread: the same aggregates as on the main thread, typed errors
// from the worker, bounded memory when the consumer is slow, clean teardown.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { settled, until } from './helpers/wait.js';
import { Aggregator, ParseThread, collectRows, createAggregator, createEventParser, createDumpTokenizer } from '../dist/lib/index.js';

const samples = path.join(import.meta.dirname, 'fixtures', 'samples');
const generated = path.join(import.meta.dirname, 'fixtures', 'generated');

/** Every row of a dump's aggregates, as comparable text, through the given first stages. */
async function aggregate(stages, input) {
  const a = new Aggregator({ timezone: 'Europe/Berlin', topN: 10 });
  let batches = 0;
  await pipeline(
    input,
    ...stages,
    new Writable({
      objectMode: true,
      write(b, _enc, cb) {
        batches++;
        if (b.kind === 'websites') a.addWebsites(b.websites);
        else if (b.kind === 'packed') a.addPacked(b);
        else if (b.kind === 'events') a.add(b.events);
        cb();
      },
    }),
  );
  const rows = collectRows(a.flush(true));
  const view = {};
  for (const g of ['hour', 'day', 'month']) {
    view[g] = rows[g].map((r) => [r.websiteId, r.bucket, r.pageViews, r.visitors.serialize().toString('hex'), JSON.stringify(r.topPages), JSON.stringify(r.referrers)].join('|'));
  }
  return { view, events: a.events, pageViews: a.pageViews, batches };
}

function onMainThread() {
  const parser = createEventParser();
  return [createDumpTokenizer({ select: parser.parser.select }), parser];
}

for (const file of ['umami-v2-mariadb.sql', 'umami-v2-postgres.sql', 'umami-v3-postgres-inserts.sql', 'umami-v1-mariadb.sql']) {
  t.test(`${file}: the worker thread gives the same aggregates as the main thread`, async (t) => {
    const full = path.join(samples, file);
    const main = await aggregate(onMainThread(), fs.createReadStream(full, { highWaterMark: 65536 }));
    const thread = new ParseThread();
    // Read while the worker runs (a stopped worker reports no limits).
    const limits = thread.worker.resourceLimits;
    const worker = await aggregate([thread], fs.createReadStream(full, { highWaterMark: 65536 }));
    t.equal(limits.maxYoungGenerationSizeMb, 16, 'the worker runs with a capped young generation');
    t.ok(main.events > 1000, `${main.events} events`);
    t.equal(worker.events, main.events);
    t.equal(worker.pageViews, main.pageViews);
    for (const g of ['hour', 'day', 'month']) t.same(worker.view[g], main.view[g], `${g}: ${main.view[g].length} identical rows`);
    t.equal(thread.stats.events, main.events, 'the thread counts the events it parsed');
    t.equal(thread.stats.format, 'sql');
    t.equal(thread.bytesRead, fs.statSync(full).size);
  });
}

t.test('batches the aggregator stream has read go back to the worker, which packs into them again', async (t) => {
  const dump = fs.readFileSync(path.join(generated, 'umami-v2-mariadb.sql'));
  const copies = 40;
  const input = () => Readable.from((function* () {
    for (let i = 0; i < copies; i++) yield dump;
  })());
  /** Aggregates through an aggregator stream; `seen` gets each packed batch on its way there. */
  const run = async (first, seen) => {
    const rows = { hour: [], day: [], month: [] };
    await pipeline(
      input(),
      ...first,
      new Transform({
        objectMode: true,
        transform(b, _enc, cb) {
          if (b.kind === 'packed') seen?.push(b);
          cb(null, b);
        },
      }),
      createAggregator({ timezone: 'Europe/Berlin', topN: 10 }),
      new Writable({
        objectMode: true,
        write(b, _enc, cb) {
          if (b.kind === 'buckets') for (const [g, list] of Object.entries(collectRows(b))) rows[g].push(...list);
          cb();
        },
      }),
    );
    const view = {};
    for (const g of ['hour', 'day', 'month']) view[g] = rows[g].map((r) => [r.websiteId, r.bucket, r.pageViews, r.visitors.serialize().toString('hex'), JSON.stringify(r.topPages)].join('|'));
    return view;
  };
  const batches = [];
  const thread = new ParseThread();
  const viaThread = await run([thread], batches);
  const main = await run(onMainThread());
  for (const g of ['hour', 'day', 'month']) t.same(viaThread[g], main[g], `${g}: ${main[g].length} rows as on the main thread`);
  t.ok(batches.length >= copies, `${batches.length} packed batches`);
  t.ok(batches.every((b) => b.visitor.byteLength === 0 && b.release === undefined), 'each was released: its memory moved back to the worker');
  t.ok(thread.stats.packedBuffers > 0 && thread.stats.packedBuffers <= batches.length / 4, `the worker allocated ${thread.stats.packedBuffers} batch buffers for them`);

  // A consumer that does not release: one buffer per batch, and the batches stay readable.
  const kept = [];
  const plain = new ParseThread();
  await pipeline(input(), plain, new Writable({ objectMode: true, write: (b, _enc, cb) => (b.kind === 'packed' && kept.push(b), cb()) }));
  t.equal(plain.stats.packedBuffers, kept.length, `not released: ${kept.length} buffers for ${kept.length} batches`);
  t.ok(kept.every((b) => b.visitor.length === b.count && typeof b.release === 'function'), 'and every batch still holds its events');

  // A consumer of its own that releases each batch after reading it, and calls release a second time.
  let events = 0;
  let views = 0;
  const own = new ParseThread();
  await pipeline(
    input(),
    own,
    new Writable({
      objectMode: true,
      write(b, _enc, cb) {
        if (b.kind === 'packed') {
          events += b.count;
          for (let k = 0; k < b.count; k++) if (b.eventType[k] === 1) views++;
          const release = b.release;
          release();
          release();
          b.release?.();
        }
        cb();
      },
    }),
  );
  t.equal(events, own.stats.events, `released by hand: all ${events} events read`);
  t.equal(views, own.stats.pageViews, `and the ${views} page views among them`);
  t.ok(own.stats.packedBuffers <= kept.length / 4, `${own.stats.packedBuffers} buffers; a second release() does nothing`);
});

t.test('gzip, small chunks and JSON through the worker thread', async (t) => {
  const dump = fs.readFileSync(path.join(generated, 'umami-v2-mariadb.sql'));
  const main = await aggregate(onMainThread(), Readable.from([dump]));
  // gzip in 1000-byte pieces: every chunk buffer goes to the worker and back to the pool.
  const gz = zlib.gzipSync(dump);
  const pieces = [];
  for (let i = 0; i < gz.length; i += 1000) pieces.push(gz.subarray(i, i + 1000));
  const thread = new ParseThread();
  const viaGzip = await aggregate([thread], Readable.from(pieces));
  for (const g of ['hour', 'day', 'month']) t.same(viaGzip.view[g], main.view[g], `gzip: ${g} identical`);
  t.equal(thread.stats.compression, 'gzip');
  t.equal(thread.stats.bytesDecoded, dump.length);

  // Plain input in 7-byte pieces, each a slice of one shared buffer (as pooled network chunks are):
  // the worker gets copies, the caller's memory is left alone.
  const tiny = [];
  for (let i = 0; i < dump.length; i += 7) tiny.push(dump.subarray(i, i + 7));
  const before = Buffer.from(dump);
  const viaTiny = await aggregate([new ParseThread()], Readable.from(tiny));
  for (const g of ['hour', 'day', 'month']) t.same(viaTiny.view[g], main.view[g], `7-byte pieces: ${g} identical`);
  t.ok(dump.equals(before), "the caller's buffer is untouched");

  const ndjson = ['{"website_id":"w1","session_id":"s1","created_at":"2024-05-01 10:00:00","url_path":"/a","referrer_domain":"x.org","event_type":1,"hostname":"w.com"}', '{"website_id":"w1","session_id":"s2","created_at":"2024-05-01 10:30:00","url_path":"/b","referrer_domain":null,"event_type":1,"hostname":"w.com"}'].join('\n');
  const json = await aggregate([new ParseThread({ format: 'ndjson' })], Readable.from([Buffer.from(ndjson)]));
  t.equal(json.pageViews, 2, 'NDJSON parsed on the worker thread');
  t.same(json.view.month.length, 1);
});

t.test('an error in the worker arrives as the same typed error, with its place', async (t) => {
  const dump = fs.readFileSync(path.join(samples, 'umami-v2-mariadb.sql'));
  const cut = dump.subarray(0, dump.indexOf("'", dump.indexOf('INSERT INTO `website_event`')) + 5);
  const errorOf = async (stages) => {
    try {
      await aggregate(stages, Readable.from([cut]));
    } catch (err) {
      return err;
    }
    return null;
  };
  const main = await errorOf(onMainThread());
  const worker = await errorOf([new ParseThread()]);
  t.equal(main?.code, 'UA_UNEXPECTED_END');
  t.equal(worker?.code, main.code);
  t.equal(worker.name, 'UmamiAggregateError');
  t.equal(worker.message, main.message, worker.message);
  t.same(worker.context, main.context);

  let err = null;
  await aggregate([new ParseThread()], Readable.from([Buffer.alloc(4096, 0x07)])).catch((e) => (err = e));
  t.equal(err?.code, 'UA_NOT_SQL_DUMP', 'random bytes');
});

t.test('a slow consumer stops the reading: the worker holds a few batches, not the input', async (t) => {
  const dump = fs.readFileSync(path.join(generated, 'umami-v2-mariadb.sql'));
  const copies = 300; // concatenated dumps: about 450 MB offered, as fast as it is taken
  const thread = new ParseThread();
  const input = Readable.from((function* () {
    for (let i = 0; i < copies; i++) yield dump;
  })());
  input.pipe(thread);
  await until(() => thread.bytesRead > 0);
  const { value: held, stable } = await settled(() => thread.bytesRead, { quiet: 500 });
  t.ok(held > 0 && held < 100e6, `taken ${(held / 1e6).toFixed(1)} MB of ${((copies * dump.length) / 1e6).toFixed(0)} MB offered, with nothing read from it`);
  t.ok(stable, 'and no more for 500 ms');
  // Reading resumes the flow.
  let events = 0;
  thread.on('data', (b) => b.kind === 'packed' && (events += b.count));
  t.ok(await until(() => thread.bytesRead > held), 'reading resumes it');
  t.ok(await until(() => events > 0), 'and its events come out');
  input.unpipe(thread);
  input.destroy();
  thread.destroy();
  await new Promise((r) => thread.on('close', r));
  t.ok(thread.destroyed, 'destroyed mid-input: the worker is terminated and nothing hangs');
});

t.test('a ParseThread made and never used does not keep the process alive', async (t) => {
  const script = `import { ParseThread } from ${JSON.stringify(new URL('../dist/lib/index.js', import.meta.url).href)};
const thread = new ParseThread();
thread.on('error', () => {});
setTimeout(() => console.log('still here'), 50);`;
  const started = Date.now();
  const r = await new Promise((resolve) => {
    const child = execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => resolve({ err, stdout, ms: Date.now() - started }));
    void child;
  });
  t.equal(r.err, null, 'exited by itself');
  t.equal(r.stdout.trim(), 'still here');
});
