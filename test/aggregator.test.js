// Stage 3: buckets, time zones, Umami's referrer rule, top lists, exact visitors.
import t from 'tap';
import { Aggregator, VisitorSketch, collectRows } from '../dist/lib/index.js';
import { compareCodePoints } from '../dist/lib/aggregate/toplist.js';

function ev(createdAt, over = {}) {
  return { websiteId: 'w', sessionId: 's1', visitId: null, createdAt, eventType: 1, urlPath: '/', referrerDomain: null, hostname: 'a.com', eventName: null, offset: 0, ...over };
}

t.test('UTC buckets, custom events do not count', async (t) => {
  const a = new Aggregator();
  a.add([ev(Date.UTC(2024, 0, 31, 23, 59)), ev(Date.UTC(2024, 1, 1, 0, 1), { sessionId: 's2' }), ev(Date.UTC(2024, 1, 1, 0, 2), { eventType: 2 })]);
  const out = collectRows(a.flush(true));
  t.same(out.hour.map((r) => [r.bucket, r.pageViews]), [['2024-01-31 23:00:00', 1], ['2024-02-01 00:00:00', 1]]);
  t.same(out.day.map((r) => r.bucket), ['2024-01-31', '2024-02-01']);
  t.same(out.month.map((r) => [r.bucket, r.pageViews, r.visitors.estimate()]), [['2024-01', 1, 1], ['2024-02', 1, 1]]);
});

t.test('+05:30: local days, hours start at :30 UTC', async (t) => {
  const a = new Aggregator({ timezone: 'Asia/Kolkata' });
  a.add([ev(Date.UTC(2024, 0, 31, 18, 45))]); // 2024-02-01 00:15 local
  const out = collectRows(a.flush(true));
  t.equal(out.hour[0].bucket, '2024-01-31 18:30:00');
  t.equal(out.day[0].bucket, '2024-02-01');
  t.equal(out.month[0].bucket, '2024-02');
});

t.test('DST: the repeated local hour gives two hour buckets in one day', async (t) => {
  const a = new Aggregator({ timezone: 'America/New_York' });
  a.add([ev(Date.UTC(2024, 10, 3, 5, 30)), ev(Date.UTC(2024, 10, 3, 6, 30), { sessionId: 's2' })]);
  const out = collectRows(a.flush(true));
  t.same(out.hour.map((r) => r.bucket), ['2024-11-03 05:00:00', '2024-11-03 06:00:00']);
  t.same(out.day.map((r) => [r.bucket, r.pageViews, r.visitors.estimate()]), [['2024-11-03', 2, 2]]);
});

t.test("Umami's referrer rule: no NULL, no '', not the event's own hostname", async (t) => {
  const a = new Aggregator();
  const t0 = Date.UTC(2024, 0, 1);
  a.add([
    ev(t0, { referrerDomain: 't.co' }),
    ev(t0, { referrerDomain: 'a.com' }),
    ev(t0, { referrerDomain: '' }),
    ev(t0, { referrerDomain: null }),
    ev(t0, { referrerDomain: 'www.a.com', hostname: 'a.com' }),
  ]);
  t.same(collectRows(a.flush(true)).day[0].referrers, [['t.co', 1], ['www.a.com', 1]]);
});

t.test('v1 events without hostname leave out the website domain', async (t) => {
  const a = new Aggregator();
  a.add([ev(0, { hostname: null, referrerDomain: 'site.com' }), ev(0, { hostname: null, referrerDomain: 'b.com' })]);
  a.addWebsites([{ id: 'w', uuid: 'u', name: 'n', domain: 'Site.com' }]);
  t.same(collectRows(a.flush(true)).day[0].referrers, [['b.com', 1]]);
});

t.test('top lists: count desc, then code point order, at most topN', async (t) => {
  const a = new Aggregator({ topN: 3 });
  const paths = ['/b', '/a', '/😀', '/ｆ', '/c', '/c'];
  a.add(paths.map((p, i) => ev(0, { urlPath: p, sessionId: `s${i}` })));
  t.same(collectRows(a.flush(true)).day[0].topPages, [['/c', 2], ['/a', 1], ['/b', 1]]);
  t.ok(compareCodePoints('/ｆ', '/😀') < 0, 'U+FF46 sorts before U+1F600 (UTF-16 order would not)');
});

t.test('unique visitors are exact beyond the sketch limit in one import', async (t) => {
  const a = new Aggregator();
  const events = [];
  for (let i = 0; i < 25000; i++) events.push(ev(Date.UTC(2024, 0, 1 + (i % 28)), { sessionId: `session-${i % 20000}` }));
  a.add(events);
  const out = collectRows(a.flush(true));
  t.equal(out.month[0].visitors.estimate(), 20000);
  const stored = VisitorSketch.deserialize(out.month[0].visitors.serialize());
  t.equal(stored.estimate(), 20000, 'the stored sketch keeps the exact count');
});

t.test('maxBuckets: full when that many hour buckets are held', async (t) => {
  const a = new Aggregator({ maxBuckets: 2 });
  a.add([ev(0), ev(3_600_000)]);
  t.ok(a.full);
  a.flush(false);
  t.equal(a.bucketsHeld, 0);
});
