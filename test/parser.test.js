// Stage 2: Umami rows to typed events; columns by name; timestamps with offsets.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventParser } from '../dist/lib/index.js';
import { parseTimestamp, parseTimestampBytes } from '../dist/lib/umami/time.js';
import { TimeZone } from '../dist/lib/aggregate/timezone.js';
import { hash53, hash53Bytes } from '../dist/lib/aggregate/distinct.js';
import { DumpScanner } from '../dist/lib/dump/scanner.js';
import { EventPacker, packedBytes, transferablesOf } from '../dist/lib/umami/packed.js';

const utc = TimeZone.of('UTC');
const samplesDir = path.join(import.meta.dirname, 'fixtures', 'samples');

t.test('timestamps: MySQL wall clock, pg offsets, microseconds, ISO', async (t) => {
  t.equal(parseTimestamp('2024-01-09 02:43:19', utc), Date.UTC(2024, 0, 9, 2, 43, 19));
  t.equal(parseTimestamp('2024-01-08 21:43:19-05', utc), Date.UTC(2024, 0, 9, 2, 43, 19), '-05');
  t.equal(parseTimestamp('2024-01-09 08:13:19.853794+05:30', utc), Date.UTC(2024, 0, 9, 2, 43, 19, 853), '+05:30 with microseconds');
  t.equal(parseTimestamp('1900-01-01 05:53:28+05:53:28', utc), Date.UTC(1900, 0, 1, 0, 0, 0), '+05:53:28');
  t.equal(parseTimestamp('2024-01-09T02:43:19.000Z', utc), Date.UTC(2024, 0, 9, 2, 43, 19), 'ISO Z');
  t.equal(parseTimestamp('2024-02-29 12:00:00', utc), Date.UTC(2024, 1, 29, 12), 'leap day');
  t.equal(parseTimestamp('2024-03-10 02:30:00', TimeZone.of('America/New_York')), Date.UTC(2024, 2, 10, 7, 30), 'in a source zone (gap hour)');
  t.equal(parseTimestamp('2024-07-01 12:00:00', TimeZone.of('America/New_York')), Date.UTC(2024, 6, 1, 16), 'EDT');
  // The usual shape is read at fixed places: a wrong byte at any of them is no time either.
  const shaped = ['20x4-01-09 02:43:19', '2024-0a-09 02:43:19', '2024-01-9x 02:43:19', '2024-01-09x02:43:19', '2024-01-09 0:43:19', '2024-01-09 02:4x:19', '2024-01-09 02:43:1x', '2024/01/09 02:43:19', '2024-01-09 02:43:19x', '2024-01-09 02:60:00', '2024-01-32 00:00:00'];
  for (const bad of [...shaped, '0000-00-00 00:00:00', 'infinity', '-infinity', '2023-02-29 00:00:00', '2024-13-01 00:00:00', 'yesterday', '2024-01-01 25:00:00', '']) {
    t.ok(Number.isNaN(parseTimestamp(bad, utc)), `rejects ${JSON.stringify(bad)}`);
  }
  // Cut short in a zone with rules: NaN (a row to reject), not a RangeError from the zone's lookup.
  const ny = TimeZone.of('America/New_York');
  for (const cut of ['2024-10-16 03:0', '2024-10-16 03:', '2024-10-16 03:03:', '2024-10-16 03:03:0', '2024-10-16 0']) {
    t.ok(Number.isNaN(parseTimestamp(cut, ny)), `rejects ${JSON.stringify(cut)} in America/New_York`);
  }
  // Years a Date cannot hold: NaN too, in any zone.
  for (const far of ['275760-09-13 00:00:00', '999999999999999-01-01 00:00:00', '-300000-01-01 00:00:00', '275761-01-01 00:00:00+00']) {
    t.ok(Number.isNaN(parseTimestamp(far, ny)) && Number.isNaN(parseTimestamp(far, utc)), `rejects ${JSON.stringify(far)}`);
  }
  t.equal(parseTimestamp('99999-01-01 00:00:00', utc), Date.UTC(99999, 0, 1), 'a five-digit year a Date holds is a time');
});

t.test('timestamps: every day of the month table (1970 to 2169) and of the years around it, as Date.UTC has them', async (t) => {
  const pad = (v, n = 2) => String(v).padStart(n, '0');
  const wrong = [];
  let days = 0;
  let rejected = 0;
  for (const [from, to] of [[1960, 1975], [2090, 2105], [2160, 2180]]) {
    for (let y = from; y <= to; y++) {
      for (let mo = 1; mo <= 12; mo++) {
        const length = new Date(Date.UTC(y, mo, 0)).getUTCDate();
        for (let d = 1; d <= 32; d++) {
          const text = `${y}-${pad(mo)}-${pad(d)} 23:59:58.5`;
          const got = parseTimestamp(text, utc);
          const want = d <= length ? Date.UTC(y, mo - 1, d, 23, 59, 58, 500) : NaN;
          if (!Object.is(got, want)) wrong.push(`${text}: ${got}, want ${want}`);
          else if (d <= length) days++;
          else rejected++;
        }
      }
    }
  }
  t.same(wrong, [], `${days} days read, ${rejected} days past their month's end rejected (29 February of 2100 among them)`);
  t.ok(Number.isNaN(parseTimestamp('2100-02-29 00:00:00', utc)) && parseTimestamp('2000-02-29 00:00:00', utc) === Date.UTC(2000, 1, 29), '2100 is no leap year, 2000 is');
});

t.test('timestamps from bytes equal timestamps from strings, and Date.UTC', async (t) => {
  let seed = 7;
  const rnd = (k) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % k;
  };
  const pad = (v, n = 2) => String(v).padStart(n, '0');
  let checked = 0;
  for (let k = 0; k < 3000; k++) {
    const y = 1900 + rnd(200), mo = 1 + rnd(12), d = 1 + rnd(28), h = rnd(24), mi = rnd(60), s = rnd(60), ms = rnd(1000);
    const off = rnd(4); // none, Z, +HH:MM, -HH
    const oh = rnd(14), om = [0, 30, 45][rnd(3)];
    const text = `${y}-${pad(mo)}-${pad(d)}${rnd(2) ? 'T' : ' '}${pad(h)}:${pad(mi)}:${pad(s)}.${pad(ms, 3)}${rnd(2) ? pad(rnd(1000), 3) : ''}` + ['', 'Z', `+${pad(oh)}:${pad(om)}`, `-${pad(oh)}`][off];
    const want = Date.UTC(y, mo - 1, d, h, mi, s, ms) - (off === 2 ? (oh * 60 + om) * 60000 : off === 3 ? -oh * 3600000 : 0);
    // Inside a larger buffer, as the scanner passes it.
    const buf = Buffer.from(`('${text}',`);
    const fromBytes = parseTimestampBytes(buf, 2, buf.length - 2, utc);
    if (fromBytes === want && parseTimestamp(text, utc) === want) checked++;
    else t.fail(`${text}: ${fromBytes} / ${parseTimestamp(text, utc)}, want ${want}`);
  }
  t.equal(checked, 3000, '3000 random timestamps, with and without offsets');
  for (const bad of ['2024-01-09 02:4', '2024-01-09 02:43:19+', '2024-01-09 02:43:19+05:3', '２０２４-01-09 02:43:19', '2024-01-09 02:43:19 UT', '2024-01-0']) {
    const buf = Buffer.from(bad);
    t.ok(Number.isNaN(parseTimestampBytes(buf, 0, buf.length, utc)) && Number.isNaN(parseTimestamp(bad, utc)), `rejects ${JSON.stringify(bad)}`);
  }
});

t.test('session ids hashed from bytes equal hash53 of the string; NaN where a byte is not ASCII', async (t) => {
  for (const id of ['001308af-83cf-4951-8b0d-8d5ffccdaba1', '', '12345', 'x'.repeat(300)]) {
    const buf = Buffer.from(`'${id}'`);
    t.equal(hash53Bytes(buf, 1, buf.length - 1), hash53(id), `${JSON.stringify(id.slice(0, 40))}`);
  }
  const wide = Buffer.from('séance');
  t.ok(Number.isNaN(hash53Bytes(wide, 0, wide.length)), 'not ASCII: NaN (the string is hashed instead)');
});

/**
 * A packer's first batch as plain arrays with each event's names, to compare (ids may differ: a
 * name read both as an interner index and as a string has two). A referrer counts only where the
 * event has one.
 */
function packedView(p) {
  if (p.reset !== true || p.siteBase !== 0 || p.pathBase !== 0 || p.refBase !== 0) throw new Error('not a packer\'s first batch');
  const { source, reset, sites, siteBase, paths, pathBase, refs, refBase, ...rest } = p;
  return {
    ...rest,
    site: [...p.site].map((s) => sites[s]),
    visitor: [...p.visitor],
    time: [...p.time],
    eventType: [...p.eventType],
    path: [...p.path].map((x) => (x < 0 ? null : paths[x])),
    refKind: [...p.refKind],
    ref: [...p.ref].map((r, i) => (p.refKind[i] === 0 ? null : refs[r])),
    offset: [...p.offset],
  };
}

function batch(table, columns, rows, extra = {}) {
  return { table, schema: null, columns, types: columns.map(() => ''), dialect: 'postgres', timeZone: null, rows, offsets: rows.map((_, i) => 100 + i), ...extra };
}

t.test('columns are found by name, in any order', async (t) => {
  const p = new EventParser();
  const out = [];
  const cols = ['hostname', 'event_type', 'created_at', 'url_path', 'referrer_domain', 'session_id', 'website_id', 'event_id'];
  p.parse(batch('website_event', cols, [['a.com', '1', '2024-01-01 10:00:00+00', '/x', 't.co', 's1', 'w1', 'e1']]), out);
  t.match(out[0].events[0], { websiteId: 'w1', sessionId: 's1', urlPath: '/x', referrerDomain: 't.co', hostname: 'a.com', eventType: 1, createdAt: Date.UTC(2024, 0, 1, 10), offset: 100 });
});

t.test('bad rows are rejected and counted with table and offset, not fatal', async (t) => {
  const p = new EventParser();
  const out = [];
  const cols = ['website_id', 'session_id', 'created_at', 'url_path', 'event_type'];
  p.parse(batch('website_event', cols, [
    ['w', 's', '2024-01-01 00:00:00+00', '/', '1'],
    ['w', 's', 'not a time', '/', '1'],
    ['w', 's', '2024-01-01 00:00:00+00', '/', 'x'],
    ['w', 's', '2024-01-01 00:00:00+00', '/'],
    [null, 's', '2024-01-01 00:00:00+00', '/', '1'],
  ]), out);
  t.equal(out[0].events.length, 1);
  t.equal(p.rejectedCount, 4);
  t.match(p.rejected.bad_timestamp, { count: 1, examples: [{ table: 'website_event', offset: 101 }] });
  t.match(p.rejected.bad_event_type, { count: 1, examples: [{ offset: 102 }] });
  t.match(p.rejected.column_count, { count: 1, examples: [{ offset: 103, detail: '4 values for 5 columns' }] });
  t.match(p.rejected.missing_value, { count: 1 });
});

t.test('maxRejected turns too many rejections into an error', async (t) => {
  const p = new EventParser({ maxRejected: 2 });
  const rows = Array.from({ length: 3 }, () => ['w', 's', 'bad', '/', '1']);
  t.throws(() => p.parse(batch('website_event', ['website_id', 'session_id', 'created_at', 'url_path', 'event_type'], rows), []), { code: 'UA_TOO_MANY_REJECTED' });
});

t.test('a MySQL dump without TIME_ZONE header uses sourceTimezone', async (t) => {
  const cols = ['website_id', 'session_id', 'created_at', 'url_path', 'event_type'];
  const rows = [['w', 's', '2024-07-01 12:00:00', '/', '1']];
  const withHeader = new EventParser({ sourceTimezone: 'America/New_York' });
  const out1 = [];
  withHeader.parse(batch('website_event', cols, rows, { dialect: 'mysql', timeZone: '+00:00', types: ['', '', 'timestamp', '', ''] }), out1);
  t.equal(out1[0].events[0].createdAt, Date.UTC(2024, 6, 1, 12), 'TIME_ZONE=+00:00 header: UTC');
  const without = new EventParser({ sourceTimezone: 'America/New_York' });
  const out2 = [];
  without.parse(batch('website_event', cols, rows, { dialect: 'mysql', timeZone: null }), out2);
  t.equal(out2[0].events[0].createdAt, Date.UTC(2024, 6, 1, 16), 'no header: the stated source zone');
});

t.test('older v2 takes the hostname from the session table', async (t) => {
  const p = new EventParser();
  const out = [];
  p.parse(batch('session', ['session_id', 'website_id', 'hostname'], [['s1', 'w', 'a.com']]), out);
  p.parse(batch('website_event', ['website_id', 'session_id', 'created_at', 'url_path', 'referrer_domain', 'event_type'], [['w', 's1', '2024-01-01 00:00:00+00', '/', 'a.com', '1']]), out);
  t.equal(out[0].events[0].hostname, 'a.com');
  t.equal(p.detector.version, 'v2 (before 2.20)');
});

t.test('a dump without Umami tables fails saying so', async (t) => {
  const p = new EventParser();
  p.parse(batch('users', ['id'], [['1']]), []);
  t.throws(() => p.finish(), { code: 'UA_NO_UMAMI_TABLES', message: /tables seen: users/ });
});

t.test('events parsed into a packer equal event objects packed afterwards (four samples)', async (t) => {
  for (const file of ['umami-v2-mariadb.sql', 'umami-v2-postgres.sql', 'umami-v3-postgres-inserts.sql', 'umami-v1-mariadb.sql']) {
    const objects = new EventParser();
    const direct = new EventParser();
    const after = new EventPacker(16);
    const into = new EventPacker(16);
    const websitesA = [];
    const websitesB = [];
    const scanner = new DumpScanner({ select: objects.select });
    for (const rows of [...scanner.write(readFileSync(path.join(samplesDir, file))), ...scanner.end()]) {
      const outA = [];
      objects.parse(rows, outA);
      for (const b of outA) {
        if (b.kind === 'events') after.add(b.events);
        else websitesA.push(...b.websites);
      }
      const outB = [];
      direct.parse(rows, outB, into);
      t.notOk(outB.some((b) => b.kind === 'events'), `${file}: no event objects when packing`);
      for (const b of outB) websitesB.push(...b.websites);
    }
    const a = after.take();
    const b = into.take();
    t.ok(a.count > 1000, `${file}: ${a.count} events`);
    t.same(packedView(b), packedView(a), `${file}: identical packed batches`);
    t.same(websitesB, websitesA, `${file}: the same websites`);
    t.equal(direct.events, objects.events);
    t.equal(direct.pageViews, objects.pageViews);
  }
});

t.test('a packed parser (session ids and times read from bytes) packs what a parser of strings packs', async (t) => {
  const cases = ['umami-v2-mariadb.sql', 'umami-v2-postgres.sql', 'umami-v3-postgres-inserts.sql', 'umami-v1-mariadb.sql'].map((file) => [file, readFileSync(path.join(samplesDir, file)), {}]);
  // Without its SET TIME_ZONE, a MariaDB dump's times are in the source zone.
  const noZone = Buffer.from(cases[0][1].toString('latin1').replace("/*!40103 SET TIME_ZONE='+00:00' */;", ''), 'latin1');
  cases.push(['umami-v2-mariadb.sql in America/New_York', noZone, { sourceTimezone: 'America/New_York' }]);
  for (const [file, dump, zone] of cases) {
    const run = (options, size) => {
      const parser = new EventParser({ ...zone, ...options });
      const packer = new EventPacker(16);
      const scanner = new DumpScanner({ select: parser.select });
      let numbers = 0;
      const feed = (batches) => {
        for (const rows of batches) {
          const iSession = rows.columns.indexOf('session_id');
          if (rows.table !== 'session') for (const r of rows.rows) if (typeof r[iSession] === 'number') numbers++;
          parser.parse(rows, [], packer);
        }
      };
      for (let i = 0; i < dump.length; i += size) feed(scanner.write(dump.subarray(i, i + size)));
      feed(scanner.end());
      return { batch: packedView(packer.take()), numbers, events: parser.events, rejected: parser.rejectedCount };
    };
    const strings = run({}, dump.length);
    t.equal(strings.numbers, 0, `${file}: no numbers unless asked for`);
    for (const size of [dump.length, 4096, 333]) {
      const packed = run({ packed: true }, size);
      t.same(packed.batch, strings.batch, `${file}, chunks of ${size}: identical packed events`);
      t.equal(packed.events, strings.events);
      t.equal(packed.rejected, strings.rejected);
      if (file !== 'umami-v2-postgres.sql' || size === dump.length) t.ok(packed.numbers > packed.events / 2, `${file}, chunks of ${size}: ${packed.numbers} of ${packed.events} session ids read as numbers`);
    }
  }
});

t.test('a packed parser reads one-digit event types as numbers and rejects the others as a parser of strings does', async (t) => {
  const types = ['1', '2', '10', '-1', 'x', '', '1.5', '0', '9'];
  const copy = Buffer.from('-- PostgreSQL database dump\nCREATE TABLE public.website_event (website_id uuid, session_id uuid, created_at timestamp with time zone, url_path text, event_type text, hostname text);\n' +
    'COPY public.website_event (website_id, session_id, created_at, url_path, event_type, hostname) FROM stdin;\n' +
    types.map((ty, i) => `w1\ts${i}\t2024-01-01 10:00:00+00\t/p${i}\t${ty}\ta.com\n`).join('') + 'w1\ts9\t2024-01-01 10:00:00+00\t/n\t\\N\ta.com\n\\.\n');
  const values = types.map((ty, i) => `('w1','s${i}','2024-01-01 10:00:00','/p${i}',${/^-?\d+$/.test(ty) ? ty : `'${ty}'`},'a.com')`);
  values.push("('w1','s9','2024-01-01 10:00:00','/q','2','a.com')", "('w1','s10','2024-01-01 10:00:00','/n',NULL,'a.com')");
  const insert = Buffer.from('-- MariaDB dump 10.19\nCREATE TABLE `website_event` (\n  `website_id` varchar(36),\n  `session_id` varchar(36),\n  `created_at` timestamp,\n  `url_path` varchar(500),\n  `event_type` varchar(8),\n  `hostname` varchar(100)\n);\n' +
    `INSERT INTO \`website_event\` VALUES ${values.join(',')};\n`);
  for (const [name, dump] of [['COPY', copy], ['INSERT', insert]]) {
    const run = (options, size) => {
      const parser = new EventParser(options);
      const packer = new EventPacker(16);
      const scanner = new DumpScanner({ select: parser.select });
      const read = [];
      const feed = (batches) => {
        for (const b of batches) {
          const k = b.columns.indexOf('event_type');
          for (const r of b.rows) read.push(r[k]);
          parser.parse(b, [], packer);
        }
      };
      for (let i = 0; i < dump.length; i += size) feed(scanner.write(dump.subarray(i, i + size)));
      feed(scanner.end());
      return { batch: packedView(packer.take()), read, rejected: parser.rejected, events: parser.events };
    };
    const strings = run({}, dump.length);
    t.equal(strings.events, name === 'COPY' ? 4 : 5, `${name}: 1, 2, 0 and 9 (and a quoted 2) are events`);
    t.equal(strings.rejected.bad_event_type.count, 6, `${name}: 10, -1, x, the empty value, 1.5 and NULL rejected`);
    for (const size of [dump.length, 7]) {
      const packed = run({ packed: true }, size);
      t.same(packed.batch, strings.batch, `${name}, chunks of ${size}: identical packed events`);
      t.same(packed.rejected, strings.rejected, `${name}, chunks of ${size}: the same rejections, with the same texts`);
      t.same(packed.read.filter((v) => typeof v === 'number'), name === 'COPY' ? [1, 2, 0, 9] : [1, 2, 0, 9, 2], `${name}, chunks of ${size}: one-digit types read as numbers`);
    }
  }
});

t.test('a packed parser rejects a bad time with its text, and wants a packer', async (t) => {
  const dump = Buffer.from("-- PostgreSQL database dump\nCREATE TABLE public.website_event (website_id uuid, session_id uuid, created_at timestamp with time zone, url_path text, event_type integer, hostname text);\n" +
    'COPY public.website_event (website_id, session_id, created_at, url_path, event_type, hostname) FROM stdin;\n' +
    'w1\ts1\t2024-01-01 10:00:00+00\t/a\t1\ta.com\nw1\ts2\t2024-01-01 10:0\t/b\t1\ta.com\n\\.\n');
  const parser = new EventParser({ packed: true });
  const scanner = new DumpScanner({ select: parser.select });
  const packer = new EventPacker(16);
  const batches = [...scanner.write(dump), ...scanner.end()];
  t.throws(() => parser.parse(batches.find((b) => b.rows.length > 0), []), { code: 'UA_INVALID_OPTION' }, 'no packer: refused');
  for (const b of batches) parser.parse(b, [], packer);
  t.equal(packer.take().count, 1);
  t.match(parser.rejected.bad_timestamp, { count: 1, examples: [{ table: 'website_event', detail: 'created_at "2024-01-01 10:0"' }] });
});

t.test('a packer packs a batch into one buffer: a given one when large enough, else a new one', async (t) => {
  const packer = new EventPacker(4);
  const push = (i) => packer.push(`w${i % 2}`, 1000 + i, 1.7e12 + i * 1000, i % 3 === 0 ? 2 : 1, `/p${i}`, i % 2 ? 'ref.example' : null, 'site.example', 100 * i);
  for (let i = 0; i < 6; i++) push(i);
  const a = packer.take(undefined, 64);
  t.equal(a.count, 6);
  t.equal(packer.buffersAllocated, 1);
  const memory = a.visitor.buffer;
  t.equal(memory.byteLength, packedBytes(64), 'room for 64 events, as asked');
  for (const col of ['site', 'time', 'eventType', 'path', 'ref', 'refKind', 'offset']) t.equal(a[col].buffer, memory, `${col} in the same buffer`);
  t.same([...a.visitor], [1000, 1001, 1002, 1003, 1004, 1005]);
  t.same([...a.time], [0, 1, 2, 3, 4, 5].map((i) => 1.7e12 + i * 1000));
  t.same([...a.offset], [0, 100, 200, 300, 400, 500]);
  t.same([...a.eventType], [2, 1, 1, 2, 1, 1]);
  t.same([...a.path].map((p) => (p < 0 ? null : a.paths[p])), [null, '/p1', '/p2', null, '/p4', '/p5']);
  const copy = { visitor: [...a.visitor], path: [...a.path], refKind: [...a.refKind], site: [...a.site] };

  // Packed into again: the same memory, the new batch's values, nothing allocated.
  for (let i = 6; i < 9; i++) push(i);
  const b = packer.take(memory);
  t.equal(b.visitor.buffer, memory);
  t.equal(packer.buffersAllocated, 1);
  t.same([...b.visitor], [1006, 1007, 1008]);
  t.same([...b.offset], [600, 700, 800]);
  t.same(copy.visitor, [1000, 1001, 1002, 1003, 1004, 1005], 'the first batch, read before, was whole');

  // Too small for the batch: a new buffer.
  for (let i = 0; i < 5; i++) push(i);
  const c = packer.take(new ArrayBuffer(packedBytes(4)));
  t.equal(c.count, 5);
  t.equal(packer.buffersAllocated, 2);
  t.same([...c.visitor], [1000, 1001, 1002, 1003, 1004]);
  t.same(transferablesOf(c), [c.visitor.buffer], 'one buffer to transfer');
});
