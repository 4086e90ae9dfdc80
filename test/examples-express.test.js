// examples/express-upload: the app on a real HTTP server with a fresh SQLite
// database, fed real dumps over HTTP.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { createApp } from '../examples/express-upload/app.js';
import { cliAggregates, tempDir } from './helpers/cli.js';
import { freshDatabase } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const root = path.join(import.meta.dirname, '..');
const sample = path.join(root, 'test', 'fixtures', 'samples', 'umami-v2-mariadb.sql');
const expected = readJsonFile(path.join(root, 'test', 'fixtures', 'samples', 'umami-v2.expected.json'));
const generated = path.join(root, 'test', 'fixtures', 'generated', 'umami-v2-mariadb.sql');

/** The app on 127.0.0.1, a random port, over a fresh SQLite database. */
async function startApp(t, options = {}) {
  const { knex } = await freshDatabase(t, 'sqlite', 'express');
  const server = http.createServer(createApp({ knex, logger: { error: (obj) => t.comment(`server error: ${obj.err?.message}`) }, ...options }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { knex, base: `http://127.0.0.1:${server.address().port}` };
}

/** POSTs a file as a streamed body (chunked, no Content-Length). */
async function upload(base, file, query = '') {
  const res = await fetch(`${base}/imports${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: fs.createReadStream(file),
    duplex: 'half',
  });
  return { status: res.status, body: await res.json() };
}

async function getJson(url) {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}


async function rowCount(knex, table) {
  return Number((await knex(table).count({ n: '*' }))[0].n);
}

/** Reads a server-sent event stream to its end: [{ event, data }]. `onEvent` hears each as it comes. */
function readEvents(url, onEvent = () => {}) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        const events = [];
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
          let end;
          while ((end = text.indexOf('\n\n')) >= 0) {
            const block = text.slice(0, end);
            text = text.slice(end + 2);
            const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
            if (!fields.event) continue;
            const e = { event: fields.event, data: JSON.parse(fields.data) };
            events.push(e);
            onEvent(e);
          }
        });
        res.on('end', () => resolve({ headers: res.headers, events }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

t.test('a plain and a gzipped upload give the sample aggregates, as the CLI does', async (t) => {
  const dir = tempDir(t);
  const gz = path.join(dir, 'umami-v2-mariadb.sql.gz');
  fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(sample)));
  const fromCli = await cliAggregates(t, sample);
  t.same(diffAggregates(expected, fromCli), [], 'the CLI import matches the expected aggregates');

  for (const [label, file] of [['plain', sample], ['gzip', gz]]) {
    t.test(label, async (t) => {
      const { knex, base } = await startApp(t);
      const { status, body } = await upload(base, file, `?name=${path.basename(file)}`);
      t.equal(status, 201, JSON.stringify(body.error ?? ''));
      t.match(body.import, { events: 3006, pageViews: 2613, compression: label === 'gzip' ? 'gzip' : 'none', source: path.basename(file) });
      t.same(body.import.buckets, { hour: 1128, day: 571, month: 28 });
      const actual = await readAggregates(knex);
      t.same(diffAggregates(expected, actual), [], 'tables equal the expected aggregates');
      t.same(actual, fromCli, 'tables equal the CLI import of the same dump');

      const one = await getJson(`${base}/imports/${body.import.importId}`);
      t.equal(one.status, 200);
      t.match(one.body.import, { id: body.import.importId, status: 'completed', events: 3006, pageViews: 2613, error: null });
      t.notOk('progress' in one.body, 'no live progress for a finished import');
      const list = await getJson(`${base}/imports`);
      t.same(list.body.imports.map((i) => [i.id, i.status]), [[body.import.importId, 'completed']]);
    });
  }
});

t.test('unknown imports are 404', async (t) => {
  const { base } = await startApp(t);
  for (const p of ['/imports/999', '/imports/abc', '/imports/999/events', '/imports/0/events']) {
    const { status, body } = await getJson(base + p);
    t.equal(status, 404, p);
    t.equal(body.error.code, 'NOT_FOUND');
  }
  t.same((await getJson(`${base}/imports`)).body, { imports: [] }, 'an empty ledger before the first import');
});

t.test('bad dumps are 400 with the error code; nothing is committed', async (t) => {
  const { knex, base } = await startApp(t);
  const dir = tempDir(t);
  const ok = await upload(base, sample);
  t.equal(ok.status, 201);
  const before = await readAggregates(knex);

  // Bytes that are no dump (deterministic, and not starting with a compression magic number).
  const noise = path.join(dir, 'noise.bin');
  const blocks = Array.from({ length: 64 }, (_, i) => crypto.createHash('sha256').update(`block ${i}`).digest());
  fs.writeFileSync(noise, Buffer.concat([Buffer.from([0x00, 0x01]), ...blocks]));
  const random = await upload(base, noise);
  t.equal(random.status, 400);
  t.equal(random.body.error.code, 'UA_NOT_SQL_DUMP');
  t.type(random.body.error.message, 'string');
  t.notOk(JSON.stringify(random.body).includes('    at '), 'no stack trace');

  // A dump cut off inside a row of website_event.
  const cut = path.join(dir, 'cut.sql');
  fs.writeFileSync(cut, fs.readFileSync(sample).subarray(0, 600_000));
  const cutOff = await upload(base, cut);
  t.equal(cutOff.status, 400);
  t.match(cutOff.body.error, { code: 'UA_UNEXPECTED_END', message: /unexpected end/, context: { table: 'website_event', offset: 600000 } });

  t.same(await readAggregates(knex), before, 'the tables are as before the bad uploads');
  const { body } = await getJson(`${base}/imports`);
  t.same(body.imports.map((i) => i.status), ['failed', 'failed', 'completed'], 'the ledger records both bad uploads as failed');
  t.match(body.imports[0].error, /UA_UNEXPECTED_END/);
  t.match(body.imports[1].error, /UA_NOT_SQL_DUMP/);
});

t.test('a dump cut off after the import started is recorded as failed', async (t) => {
  const { knex, base } = await startApp(t);
  const dir = tempDir(t);
  // More than 1 MiB, so the import is in the ledger before the end is found missing.
  const cut = path.join(dir, 'cut.sql');
  fs.writeFileSync(cut, fs.readFileSync(generated).subarray(0, 1_200_000));
  const res = await upload(base, cut);
  t.equal(res.status, 400);
  t.equal(res.body.error.code, 'UA_UNEXPECTED_END');
  const { body } = await getJson(`${base}/imports`);
  t.equal(body.imports.length, 1);
  t.match(body.imports[0], { status: 'failed', error: /UA_UNEXPECTED_END/ });
  t.equal(await rowCount(knex, 'analytics_daily'), 0, 'nothing committed');
});

t.test('uploads over maxBytes are 413', async (t) => {
  const { knex, base } = await startApp(t, { maxBytes: 100_000 });

  // Streamed without a Content-Length: the byte counter stops it.
  const streamed = await upload(base, sample);
  t.equal(streamed.status, 413);
  t.match(streamed.body.error, { code: 'PAYLOAD_TOO_LARGE', message: /100000 bytes/ });
  t.equal(await rowCount(knex, 'analytics_daily'), 0, 'nothing committed');

  // With a Content-Length over the limit: refused before the body is sent.
  const req = http.request(`${base}/imports`, { method: 'POST', headers: { 'content-length': 5_000_000, 'content-type': 'application/sql' } });
  req.on('error', () => {}); // the server closes the connection after replying
  req.flushHeaders();
  const [res] = await once(req, 'response');
  let text = '';
  for await (const chunk of res) text += chunk;
  req.destroy();
  t.equal(res.statusCode, 413);
  t.equal(res.headers.connection, 'close');
  t.equal(JSON.parse(text).error.code, 'PAYLOAD_TOO_LARGE');

  // Under the limit still works.
  const { base: roomy } = await startApp(t, { maxBytes: 2_000_000 });
  t.equal((await upload(roomy, sample)).status, 201);
});

t.test('server-sent events follow a running import to its end', async (t) => {
  const { base } = await startApp(t, { importOptions: { chunkSize: 100 } });
  const dump = fs.readFileSync(generated);

  // Send the first 1.1 MiB (the import enters the ledger after 1 MiB) with a Content-Length…
  const req = http.request(`${base}/imports?name=generated.sql`, { method: 'POST', headers: { 'content-length': dump.length, 'content-type': 'application/sql' } });
  const response = once(req, 'response');
  const head = 1_150_000;
  req.write(dump.subarray(0, head));

  // …find the running import in the ledger…
  let id = null;
  for (let i = 0; i < 500 && id === null; i++) {
    const { body } = await getJson(`${base}/imports`);
    id = body.imports.find((r) => r.status === 'running')?.id ?? null;
    if (id === null) await sleep(10);
  }
  t.ok(id, 'a running import appears in the ledger');
  const live = await getJson(`${base}/imports/${id}`);
  t.match(live.body, { import: { id, status: 'running', bytesTotal: dump.length }, progress: { importId: id, done: false, bytesTotal: dump.length } });

  // …follow it, and send the rest slowly once the stream is open.
  let opened;
  const firstEvent = new Promise((resolve) => (opened = resolve));
  const following = readEvents(`${base}/imports/${id}/events`, opened);
  await firstEvent;
  for (let at = head; at < dump.length; at += 8192) {
    req.write(dump.subarray(at, at + 8192));
    await sleep(3);
  }
  req.end();

  const [res] = await response;
  let text = '';
  for await (const chunk of res) text += chunk;
  t.equal(res.statusCode, 201);
  t.match(JSON.parse(text).import, { importId: id, events: 4000 });

  const { headers, events } = await following;
  t.match(headers['content-type'], /^text\/event-stream/);
  const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
  const counts = progress.map((p) => p.events);
  t.ok(progress.length >= 4, `${progress.length} progress events`);
  t.ok(new Set(counts).size >= 3, `events counts ${counts.join(', ')}`);
  t.same(counts, counts.toSorted((a, b) => a - b), 'events counts never go down');
  t.ok(progress.every((p) => p.importId === id && p.bytesTotal === dump.length));
  t.match(progress.at(-1), { done: true, events: 4000 });
  t.equal(events.at(-1).event, 'done', 'the stream ends with done');
  t.match(events.at(-1).data.import, { importId: id, events: 4000 });
  t.equal(events.filter((e) => e.event === 'done').length, 1);

  // Once finished, the stream is the ledger row in one event.
  const after = await readEvents(`${base}/imports/${id}/events`);
  t.same(after.events.map((e) => e.event), ['done']);
  t.match(after.events[0].data.import, { id, status: 'completed', events: 4000 });
});

t.test('server-sent events report a failed import', async (t) => {
  const { base } = await startApp(t, { importOptions: { chunkSize: 100 } });
  const dump = fs.readFileSync(generated).subarray(0, 1_300_000); // cut off
  const req = http.request(`${base}/imports`, { method: 'POST', headers: { 'content-type': 'application/sql' } });
  const response = once(req, 'response');
  req.write(dump.subarray(0, 1_150_000));
  let id = null;
  for (let i = 0; i < 500 && id === null; i++) {
    id = (await getJson(`${base}/imports`)).body.imports.find((r) => r.status === 'running')?.id ?? null;
    if (id === null) await sleep(10);
  }
  let opened;
  const firstEvent = new Promise((resolve) => (opened = resolve));
  const following = readEvents(`${base}/imports/${id}/events`, opened);
  await firstEvent;
  req.end(dump.subarray(1_150_000));
  const [res] = await response;
  res.resume();
  t.equal(res.statusCode, 400);
  const { events } = await following;
  t.match(events.at(-1), { event: 'failed', data: { error: { code: 'UA_UNEXPECTED_END' } } });
  const after = await readEvents(`${base}/imports/${id}/events`);
  t.match(after.events, [{ event: 'failed', data: { import: { id, status: 'failed', error: /UA_UNEXPECTED_END/ } } }]);
});

t.test('a client that goes away mid-upload fails the import; nothing is committed', async (t) => {
  const { knex, base } = await startApp(t);
  const dump = fs.readFileSync(generated);
  const req = http.request(`${base}/imports`, { method: 'POST', headers: { 'content-length': dump.length, 'content-type': 'application/sql' } });
  req.on('error', () => {});
  req.write(dump.subarray(0, 1_150_000));
  let id = null;
  for (let i = 0; i < 500 && id === null; i++) {
    id = (await getJson(`${base}/imports`)).body.imports.find((r) => r.status === 'running')?.id ?? null;
    if (id === null) await sleep(10);
  }
  t.ok(id, 'the import is running');
  req.destroy();
  let row = null;
  for (let i = 0; i < 500 && row?.status !== 'failed'; i++) {
    row = (await getJson(`${base}/imports/${id}`)).body.import;
    if (row.status !== 'failed') await sleep(10);
  }
  t.match(row, { status: 'failed', error: /CLIENT_CLOSED/ });
  t.equal(await rowCount(knex, 'analytics_daily'), 0, 'nothing committed');
  const { events } = await readEvents(`${base}/imports/${id}/events`);
  t.same(events.map((e) => e.event), ['failed'], 'no longer followed as running');
});

t.test('server.js serves the app on $PORT with ./analytics.sqlite', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, [path.join(root, 'examples', 'express-upload', 'server.js')], { cwd: dir, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise((resolve) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve();
    });
    child.once('exit', resolve);
  });
  const base = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
  t.ok(base, out);
  const { status, body } = await upload(base, sample);
  t.equal(status, 201);
  t.equal(body.import.events, 3006);
  t.ok(fs.existsSync(path.join(dir, 'analytics.sqlite')), 'the database is ./analytics.sqlite');
  child.kill('SIGTERM');
  const [code] = await exited;
  t.equal(code, 0, 'SIGTERM closes the server and the database, and the process ends');
});
