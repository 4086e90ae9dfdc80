// Stage 2: Umami rows to typed events; columns by name; timestamps with offsets.
import t from 'tap';
import { EventParser } from '../dist/lib/index.js';
import { parseTimestamp } from '../dist/lib/umami/time.js';
import { TimeZone } from '../dist/lib/aggregate/timezone.js';

const utc = TimeZone.of('UTC');

t.test('timestamps: MySQL wall clock, pg offsets, microseconds, ISO', async (t) => {
  t.equal(parseTimestamp('2024-01-09 02:43:19', utc), Date.UTC(2024, 0, 9, 2, 43, 19));
  t.equal(parseTimestamp('2024-01-08 21:43:19-05', utc), Date.UTC(2024, 0, 9, 2, 43, 19), '-05');
  t.equal(parseTimestamp('2024-01-09 08:13:19.853794+05:30', utc), Date.UTC(2024, 0, 9, 2, 43, 19, 853), '+05:30 with microseconds');
  t.equal(parseTimestamp('1900-01-01 05:53:28+05:53:28', utc), Date.UTC(1900, 0, 1, 0, 0, 0), '+05:53:28');
  t.equal(parseTimestamp('2024-01-09T02:43:19.000Z', utc), Date.UTC(2024, 0, 9, 2, 43, 19), 'ISO Z');
  t.equal(parseTimestamp('2024-02-29 12:00:00', utc), Date.UTC(2024, 1, 29, 12), 'leap day');
  t.equal(parseTimestamp('2024-03-10 02:30:00', TimeZone.of('America/New_York')), Date.UTC(2024, 2, 10, 7, 30), 'in a source zone (gap hour)');
  t.equal(parseTimestamp('2024-07-01 12:00:00', TimeZone.of('America/New_York')), Date.UTC(2024, 6, 1, 16), 'EDT');
  for (const bad of ['0000-00-00 00:00:00', 'infinity', '-infinity', '2023-02-29 00:00:00', '2024-13-01 00:00:00', 'yesterday', '2024-01-01 25:00:00', '']) {
    t.ok(Number.isNaN(parseTimestamp(bad, utc)), `rejects ${JSON.stringify(bad)}`);
  }
});

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
  const { readFileSync } = await import('node:fs');
  const path = await import('node:path');
  const { DumpScanner } = await import('../dist/lib/dump/scanner.js');
  const { EventPacker } = await import('../dist/lib/umami/packed.js');
  const dir = path.join(import.meta.dirname, 'fixtures', 'samples');
  for (const file of ['umami-v2-mariadb.sql', 'umami-v2-postgres.sql', 'umami-v3-postgres-inserts.sql', 'umami-v1-mariadb.sql']) {
    const objects = new EventParser();
    const direct = new EventParser();
    const after = new EventPacker(16);
    const into = new EventPacker(16);
    const websitesA = [];
    const websitesB = [];
    const scanner = new DumpScanner({ select: objects.select });
    for (const rows of [...scanner.write(readFileSync(path.join(dir, file))), ...scanner.end()]) {
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
    const view = (p) => ({ ...p, site: [...p.site], visitor: [...p.visitor], time: [...p.time], eventType: [...p.eventType], path: [...p.path], refKind: [...p.refKind], ref: [...p.ref].map((r, i) => (p.refKind[i] === 0 ? -1 : r)), offset: [...p.offset] });
    t.same(view(b), view(a), `${file}: identical packed batches`);
    t.same(websitesB, websitesA, `${file}: the same websites`);
    t.equal(direct.events, objects.events);
    t.equal(direct.pageViews, objects.pageViews);
  }
});
