// Stage 3: buckets, time zones, Umami's referrer rule, top lists, exact visitors.
import t from 'tap';
import { Aggregator, AggregatorStream, VisitorSketch, collectRows } from '../dist/lib/index.js';
import { EventPacker } from '../dist/lib/umami/packed.js';
import { random } from './helpers/synthetic.js';
import { compareCodePoints, mergeTop, topOfEntries } from '../dist/lib/aggregate/toplist.js';
import { NameOrder } from '../dist/lib/aggregate/aggregator.js';
import { UNION_SET_MAX } from '../dist/lib/aggregate/rows.js';

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

t.test('the last and first millisecond of hours, near the ends of the dates a timestamp can hold', async (t) => {
  // A Date holds ±8.64e15 ms; at those sizes an hour's start is taken from a division, which must not round up.
  const hour = 3_600_000;
  for (const zone of ['UTC', '+05:30']) {
    const offset = zone === 'UTC' ? 0 : 19_800_000;
    for (const k of [-2_399_999_990, -2_147_483_648, -1, 0, 1, 474_000, 2_147_483_647, 2_147_483_649, 2_399_999_990]) {
      const start = k * hour - offset;
      const a = new Aggregator({ timezone: zone });
      a.add([ev(start - 1), ev(start, { sessionId: 's2' }), ev(start + hour - 1, { sessionId: 's3' })]);
      const out = collectRows(a.flush(true));
      const label = (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/^\+/, '').slice(0, -5);
      const got = out.hour.map((r) => [r.bucket, r.pageViews]);
      const want = [[label(start - hour), 1], [label(start), 2]];
      if (JSON.stringify(got) !== JSON.stringify(want)) t.fail(`${zone}, hour ${k}: ${JSON.stringify(got)}`);
    }
  }
  t.pass('each millisecond in its own hour');
});

t.test('DST: the repeated local hour gives two hour buckets in one day', async (t) => {
  const a = new Aggregator({ timezone: 'America/New_York' });
  a.add([ev(Date.UTC(2024, 10, 3, 5, 30)), ev(Date.UTC(2024, 10, 3, 6, 30), { sessionId: 's2' })]);
  const out = collectRows(a.flush(true));
  t.same(out.hour.map((r) => r.bucket), ['2024-11-03 05:00:00', '2024-11-03 06:00:00']);
  t.same(out.day.map((r) => [r.bucket, r.pageViews, r.visitors.estimate()]), [['2024-11-03', 2, 2]]);
});

t.test('Lord Howe: a half-hour DST change, hours 30 minutes apart are kept apart', async (t) => {
  // 2024-04-07 02:00 local (+11) goes back to 01:30 (+10:30): hour starts at 14:00 and 14:30 UTC on 2024-04-06.
  const a = new Aggregator({ timezone: 'Australia/Lord_Howe' });
  const times = [Date.UTC(2024, 3, 6, 14, 10), Date.UTC(2024, 3, 6, 14, 40), Date.UTC(2024, 3, 6, 14, 50), Date.UTC(2024, 3, 6, 15, 20)];
  a.add(times.map((t, i) => ev(t, { sessionId: `s${i}` })));
  const out = collectRows(a.flush(true));
  const hours = out.hour.map((r) => [r.bucket, r.pageViews]);
  t.equal(hours.reduce((n, [, v]) => n + v, 0), 4, 'every view in an hour');
  t.equal(new Set(hours.map(([b]) => b)).size, hours.length, 'hour buckets distinct');
  t.ok(hours.some(([b]) => b.endsWith(':30:00')) && hours.some(([b]) => b.endsWith(':00:00')), `hours on both sides of the change: ${JSON.stringify(hours)}`);
});

t.test('grouping the shared tables by bucket: every pair once, in its bucket, and the tables left empty', async (t) => {
  const { PairCounter, PairSet } = await import('../dist/lib/aggregate/tables.js');
  const rnd = random(5);
  for (const [buckets, adds] of [[1, 50], [7, 0], [300, 2000], [5000, 60000]]) {
    const set = new PairSet();
    const counter = new PairCounter();
    const wantSet = new Map();
    const wantCount = new Map();
    for (let k = 0; k < adds; k++) {
      // Skewed: some buckets get many pairs, many get none.
      const b = Math.floor(rnd() * rnd() * buckets);
      const hash = Math.floor(rnd() * 40) * 2 ** 40 + Math.floor(rnd() * 1000);
      const item = Math.floor(rnd() * rnd() * 3000);
      set.add(b, hash);
      (wantSet.get(b) ?? wantSet.set(b, new Set()).get(b)).add(hash);
      counter.add(b, item, 2);
      const m = wantCount.get(b) ?? wantCount.set(b, new Map()).get(b);
      m.set(item, (m.get(item) ?? 0) + 2);
    }
    const setSize = set.size;
    const vis = set.group(buckets);
    const pg = counter.group(buckets);
    t.equal(vis.start[buckets], setSize, `${buckets} buckets: ${setSize} visitor pairs`);
    let setOk = 0;
    let countOk = 0;
    for (let b = 0; b < buckets; b++) {
      const got = [...vis.values.subarray(vis.start[b], vis.start[b + 1])].sort((x, y) => x - y);
      const want = [...(wantSet.get(b) ?? [])].sort((x, y) => x - y);
      if (JSON.stringify(got) === JSON.stringify(want)) setOk++;
      const pairs = [];
      for (let i = pg.start[b]; i < pg.start[b + 1]; i++) pairs.push([pg.pairs[2 * i], pg.pairs[2 * i + 1]]);
      pairs.sort((x, y) => x[0] - y[0]);
      const wantPairs = [...(wantCount.get(b) ?? new Map())].sort((x, y) => x[0] - y[0]);
      if (JSON.stringify(pairs) === JSON.stringify(wantPairs)) countOk++;
    }
    t.equal(setOk, buckets, `${buckets} buckets: each bucket's visitors`);
    t.equal(countOk, buckets, `${buckets} buckets: each bucket's (item, count) pairs`);
    t.equal(set.size, 0, 'the set is empty after grouping');
    t.equal(counter.size, 0, 'the counter is empty after grouping');
    t.equal(set.add(0, 12345), true, 'and takes new pairs');
    counter.add(0, 3, 1);
    t.same([...counter.group(1).pairs], [3, 1], 'the counter, too');
  }
});

t.test('HourIndex equals a Map: dense hours, keys sharing an hour, far and negative keys', async (t) => {
  const { HourIndex } = await import('../dist/lib/aggregate/tables.js');
  const rnd = random(11);
  const index = new HourIndex();
  const map = new Map();
  const base = Math.floor(Date.UTC(2024, 0, 1) / 60000);
  const keys = [];
  for (let k = 0; k < 20000; k++) {
    const kind = rnd() * 10;
    let key;
    if (kind < 7) key = base + Math.floor(rnd() * 10000) * 60; // 14 months of whole hours
    else if (kind < 8) key = base + Math.floor(rnd() * 10000) * 60 + 30; // the half hour after one of them
    else if (kind < 9) key = base - Math.floor(rnd() * 2e7) * 60; // back to the 1980s, and before 1970
    else key = Math.floor((rnd() - 0.5) * 2 ** 31); // anywhere in range, any minute
    keys.push(key);
    if (!map.has(key)) {
      map.set(key, map.size);
      index.set(key, map.get(key));
    }
  }
  let same = 0;
  for (const key of keys) if (index.get(key) === map.get(key)) same++;
  t.equal(same, keys.length, `${keys.length} lookups of ${map.size} keys`);
  let absent = 0;
  for (let k = 0; k < 5000; k++) {
    const key = base + Math.floor(rnd() * 20000) * 60 + 15;
    if (!map.has(key) && index.get(key) === undefined) absent++;
    else if (!map.has(key)) t.fail(`key ${key} found but never set`);
  }
  t.ok(absent > 0, `${absent} keys never set are not found`);
  t.same(index.values().sort((a, b) => a - b), [...map.values()].sort((a, b) => a - b), 'values: every id once');
  t.equal(index.size, map.size);
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

for (const wide of [true, false]) {
t.test(`top lists picked by one numeric sort equal the comparator, also for counts past 2^27 (${wide ? 'names where UTF-16 order is not code point order' : 'names where the engine order is the code point order'})`, async (t) => {
  const rnd = random(7);
  const names = ['/', '/a', '/b', ...(wide ? ['/😀', '/ｆ'] : ['/~', '/ÿ']), '/é', '/a/b', '/A', '/z', ''];
  for (let i = 0; i < 3000; i++) names.push(`/p${Math.floor(rnd() * 1e6)}-${i}`);
  const order = new NameOrder(names);
  let compared = 0;
  for (const big of [false, true]) {
    for (let round = 0; round < 200; round++) {
      // Short lists (sorted by insertion), longer ones, and some of thousands (their top picked by a heap).
      const m = 1 + Math.floor(rnd() * (round % 4 === 0 ? 3000 : 120));
      const items = [...names.keys()].sort(() => rnd() - 0.5).slice(0, m);
      // Few distinct counts, so ties (ordered by name) are common; with big, some counts are past 2^27.
      const countOf = () => (big && rnd() < 0.3 ? 2 ** 27 + Math.floor(rnd() * 3) * 2 ** 30 : 1 + Math.floor(rnd() * 4));
      const pairs = items.map((item) => [item, countOf()]);
      order.start(m);
      pairs.forEach(([item, c], k) => order.put(k, item, c));
      const n = 1 + Math.floor(rnd() * 60);
      const want = topOfEntries(pairs.map(([item, c]) => [names[item], c]), n);
      if (JSON.stringify(order.top(m, n)) === JSON.stringify(want)) compared++;
    }
  }
  t.equal(compared, 400, 'the same entries in the same order, 400 random lists');
  if (wide) {
    order.start(2);
    order.put(0, names.indexOf('/😀'), 5);
    order.put(1, names.indexOf('/ｆ'), 5);
    t.same(order.top(2, 2), [['/ｆ', 5], ['/😀', 5]], 'ties in code point order (U+FF46 before U+1F600)');
  } else {
    order.start(3);
    order.put(0, names.indexOf('/ÿ'), 5);
    order.put(1, names.indexOf('/~'), 5);
    order.put(2, names.indexOf('/A'), 5);
    t.same(order.top(3, 3), [['/A', 5], ['/~', 5], ['/ÿ', 5]], 'ties in code point order');
  }
});
}

t.test('merged top lists: short, long, and with names where UTF-16 order is not code point order', async (t) => {
  const rnd = random(11);
  const pool = ['/a', '/b', '/B', '/ä', '/😀', '/ｆ', '/\uffff', '/\ue000', '/a/b', '/ab', ''];
  for (let i = 0; i < 200; i++) pool.push(`/p/${Math.floor(rnd() * 1e5).toString(36)}-${i}`);
  const reference = (a, b, n) => {
    const m = new Map();
    for (const [k, v] of [...a, ...b]) m.set(k, (m.get(k) ?? 0) + v);
    return [...m].sort((x, y) => y[1] - x[1] || compareCodePoints(x[0], y[0])).slice(0, n);
  };
  const list = (size, wide) => {
    const names = pool.filter((p) => wide || !/[\ud800-\uffff]/.test(p)).sort(() => rnd() - 0.5).slice(0, size);
    return names.map((p) => [p, 1 + Math.floor(rnd() * 3)]);
  };
  let same = 0;
  for (let round = 0; round < 300; round++) {
    const wide = round % 3 === 0;
    const size = round % 5 === 0 ? 120 : 1 + Math.floor(rnd() * 50);
    const a = list(size, wide);
    const b = list(1 + Math.floor(rnd() * 50), wide);
    const n = 1 + Math.floor(rnd() * 60);
    if (JSON.stringify(mergeTop(a, b, n)) === JSON.stringify(reference(a, b, n))) same++;
  }
  t.equal(same, 300, '300 random merges equal the reference order');
  t.same(topOfEntries([['/😀', 1], ['/ｆ', 1], ['/\ue000', 1]], 3), [['/\ue000', 1], ['/ｆ', 1], ['/😀', 1]], 'U+E000 and U+FF46 before U+1F600');
});

t.test('day and month visitors: the distinct sessions of their hours, bucket after bucket', async (t) => {
  // Days and months union their hours' visitor sets one after another; sessions recur across hours,
  // days, months and sites, and some months pass the exact limit (their union's table grows).
  const rnd = random(23);
  const events = [];
  const want = new Map();
  const see = (key, session) => {
    if (!want.has(key)) want.set(key, new Set());
    want.get(key).add(session);
  };
  for (let i = 0; i < 40000; i++) {
    const site = rnd() < 0.7 ? 'w' : 'v';
    const at = Date.UTC(2024, Math.floor(rnd() * 3), 1 + Math.floor(rnd() * 28), Math.floor(rnd() * 24), Math.floor(rnd() * 60));
    const session = `s${Math.floor(rnd() * (site === 'w' ? 6000 : 300))}`;
    events.push(ev(at, { websiteId: site, sessionId: session }));
    const day = new Date(at).toISOString().slice(0, 10);
    see(`${site} day ${day}`, session);
    see(`${site} month ${day.slice(0, 7)}`, session);
  }
  const a = new Aggregator();
  a.add(events);
  const out = collectRows(a.flush(true));
  const got = new Map();
  for (const g of ['day', 'month']) for (const r of out[g]) got.set(`${r.websiteId} ${g} ${r.bucket}`, r.visitors.estimate());
  let same = 0;
  for (const [key, sessions] of want) if (got.get(key) === sessions.size) same++;
  t.equal(got.size, want.size, 'a row for each day and month of each site');
  t.equal(same, want.size, 'each row counts its distinct sessions exactly');
  t.ok([...want.values()].some((s) => s.size > 2048), 'some months pass the exact limit');
});

t.test('a month whose hours hold more visitor hashes than the union set takes: sorted instead, the same count', async (t) => {
  const rnd = random(29);
  const events = [];
  const sessions = new Set();
  const pairs = new Set();
  const days = new Map();
  for (let i = 0; i < UNION_SET_MAX + 20000; i++) {
    const day = 1 + Math.floor(rnd() * 30);
    const hour = Math.floor(rnd() * 24);
    const session = `s${Math.floor(rnd() * 60000)}`;
    events.push(ev(Date.UTC(2024, 3, day, hour, Math.floor(rnd() * 60)), { sessionId: session }));
    sessions.add(session);
    pairs.add(`${day} ${hour} ${session}`);
    if (!days.has(day)) days.set(day, new Set());
    days.get(day).add(session);
  }
  t.ok(pairs.size > UNION_SET_MAX, `the month's hours hold ${pairs.size} visitor hashes, over ${UNION_SET_MAX}`);
  const a = new Aggregator();
  a.add(events);
  const out = collectRows(a.flush(true));
  t.equal(out.month[0].visitors.estimate(), sessions.size, 'the month counts its distinct sessions');
  const dayCounts = out.day.map((r) => r.visitors.estimate());
  const want = [...days.keys()].sort((x, y) => x - y).map((d) => days.get(d).size);
  t.same(dayCounts, want, 'and each day its own');
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

t.test('maxBuckets: adding stops before an hour beyond the limit, and goes on after a flush', async (t) => {
  const a = new Aggregator({ maxBuckets: 2 });
  const events = [ev(0), ev(3_600_000), ev(1000), ev(7_200_000), ev(2000)];
  t.equal(a.add(events), 3, 'events of the two held hours are taken; the third hour waits');
  t.equal(a.bucketsHeld, 2);
  t.equal(collectRows(a.flush(false)).hour.reduce((n, r) => n + r.pageViews, 0), 3);
  t.equal(a.bucketsHeld, 0);
  t.equal(a.add(events, 3), 5);
  t.equal(a.bucketsHeld, 2, 'hours 2 and 0 again');
});

/** Events over 3 sites, 40 days, 300 visitors, 50 paths, referrers with and without hostnames, custom events. */
function mixedEvents(n, seed) {
  const rnd = random(seed);
  const pick = (k) => Math.floor(rnd() * k);
  const out = [];
  for (let i = 0; i < n; i++) {
    const hostless = pick(10) === 0;
    const ref = pick(4);
    out.push(ev(Date.UTC(2024, 0, 1) + pick(40 * 24) * 3_600_000 + pick(3_600_000), {
      websiteId: `site-${pick(3)}`,
      sessionId: `visitor-${pick(300)}`,
      eventType: pick(7) === 0 ? 2 : 1,
      urlPath: `/page-${pick(50)}`,
      referrerDomain: ref === 0 ? null : ref === 1 ? '' : ref === 2 ? 'a.com' : `ref-${pick(9)}.org`,
      hostname: hostless ? null : 'a.com',
      offset: i * 100,
    }));
  }
  return out;
}

/** Events over seven weeks around a DST change and a month's end, with more visitors than a sketch keeps exactly. */
function spreadEvents(n, seed) {
  const rnd = random(seed);
  const pick = (k) => Math.floor(rnd() * k);
  const out = [];
  for (let i = 0; i < n; i++) {
    const ref = pick(5);
    out.push(ev(Date.UTC(2024, 2, 1) + pick(49 * 24) * 3_600_000 + pick(3_600_000), {
      websiteId: `site-${pick(3)}`,
      sessionId: `visitor-${pick(4000)}`,
      eventType: pick(9) === 0 ? 2 : 1,
      urlPath: `/page-${pick(400)}`,
      referrerDomain: ref === 0 ? null : ref === 1 ? 'a.com' : `ref-${pick(30)}.org`,
      hostname: pick(8) === 0 ? null : 'a.com',
      offset: i * 100,
    }));
  }
  return out;
}

function rowStrings(batch, size) {
  const out = [];
  for (const c of batch.chunks(size)) {
    for (const r of c.rows) out.push(JSON.stringify([c.granularity, r.websiteId, r.bucket, r.pageViews, r.topPages, r.referrers, r.visitors.estimate(), r.visitors.serialize().toString('hex')]));
  }
  return out;
}

t.test('spillDir: aggregates over the limit go to run files, and the last flush gives the rows of an aggregator without a limit', async (t) => {
  const { readdirSync } = await import('node:fs');
  const events = spreadEvents(40_000, 21);
  const dir = t.testdir();
  const websites = [{ id: 'site-2', uuid: 'site-2', name: null, domain: 'ref-3.org' }];
  for (const timezone of ['UTC', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata']) {
    const plain = new Aggregator({ timezone, topN: 5 });
    plain.addWebsites(websites);
    plain.add(events);
    const want = plain.flush(true);
    const spilling = new Aggregator({ timezone, topN: 5, maxBytes: 120_000, spillDir: dir });
    spilling.addWebsites(websites);
    for (let i = 0; i < events.length; ) {
      i = spilling.add(events, i);
      if ((spilling.full || i < events.length) && !spilling.spill()) throw new Error("spill() returned false");
    }
    t.ok(spilling.spills >= 4, `${timezone}: ${spilling.spills} runs written`);
    t.equal(readdirSync(dir).length, 1, 'in one folder made inside spillDir');
    const files = readdirSync(`${dir}/${readdirSync(dir)[0]}`).length;
    t.ok(files <= 15, `merged eight at a time: ${files} run files for ${spilling.spills} spills`);
    const got = spilling.flush(true);
    t.same(got.counts, want.counts, `${timezone}: rows per granularity ${JSON.stringify(want.counts)}`);
    const rows = rowStrings(got, 64);
    t.same(rows, rowStrings(want, 64), `${timezone}: every row the same, in the same order`);
    t.ok(rows.some((r) => r.startsWith('["month"') && JSON.parse(r)[6] > 2048), 'months with more visitors than a sketch keeps exactly among them');
    t.same(rowStrings(got, 1000), rows, 'asked for again (a retried write): the same rows');
    got.release();
    t.same(readdirSync(dir), [], 'release() removes the folder');
    t.throws(() => [...got.chunks(10)], /after their batch was released/);
  }
});

t.test('spillDir: an hour a DST change splits across midnight and a month end stays one row, on its first event\'s day', async (t) => {
  // St. John's, 2009-11-01 00:01 NDT became 2009-10-31 23:01 NST: 02:30:30Z is local 00:00:30 on
  // November 1 and 02:45Z local 23:15 on October 31, both in the hour starting at 02:30Z.
  const nov = ev(Date.UTC(2009, 10, 1, 2, 30, 30), { sessionId: 'a', urlPath: '/n' });
  const oct = ev(Date.UTC(2009, 10, 1, 2, 45), { sessionId: 'b', urlPath: '/o' });
  for (const [label, first, second] of [['November first', nov, oct], ['October first', oct, nov]]) {
    const plain = new Aggregator({ timezone: 'America/St_Johns' });
    plain.add([first, second]);
    const want = plain.flush(true);
    const spilling = new Aggregator({ timezone: 'America/St_Johns', spillDir: t.testdir() });
    spilling.add([first]);
    t.equal(spilling.spill(), true);
    spilling.add([second]);
    t.equal(spilling.spill(), true);
    const got = spilling.flush(true);
    t.same(got.counts, want.counts, `${label}: ${JSON.stringify(want.counts)}`);
    t.same(rowStrings(got, 10), rowStrings(want, 10), `${label}: the same rows`);
    t.equal(want.counts.hour, 1, 'one hour');
    got.release();
  }
});

t.test('spillDir: once the names kept take half of maxBytes, the stream flushes (and forgets them) instead of spilling', async (t) => {
  // Every page view a new path: names grow with the events, and spills cannot free them.
  const events = Array.from({ length: 30_000 }, (_, k) => ev(Date.UTC(2024, 0, 1, k % 24), { sessionId: `s${k % 500}`, urlPath: `/unique/${k}`, offset: k * 10 }));
  const s = new AggregatorStream({ maxBytes: 400_000, spillDir: t.testdir() });
  const batches = [];
  s.on('data', (b) => b.kind === 'buckets' && batches.push(b));
  for (let i = 0; i < events.length; i += 1000) s.write({ kind: 'events', events: events.slice(i, i + 1000) });
  s.end();
  await new Promise((resolve, reject) => {
    s.on('end', resolve);
    s.on('error', reject);
  });
  const views = batches.reduce((n, b) => n + [...b.chunks(1000)].filter((c) => c.granularity === 'hour').reduce((m, c) => m + c.rows.reduce((v, r) => v + r.pageViews, 0), 0), 0);
  t.ok(batches.length >= 3, `${batches.length} flushes`);
  t.ok(s.aggregator.spills < 10, `${s.aggregator.spills} spills, not one every 1024 events`);
  t.equal(views, 30_000, 'every page view in one of the flushes');
  for (const b of batches) b.release?.();
});

t.test('spillDir: a spill that fails leaves the aggregator failed, not short of what it took', async (t) => {
  const { readdirSync, rmSync } = await import('node:fs');
  const dir = t.testdir();
  const a = new Aggregator({ spillDir: dir });
  const events = spreadEvents(2000, 3);
  a.add(events.slice(0, 1000));
  t.equal(a.spill(), true);
  // The folder vanishes under it (a cleaner, a full disk): the next run cannot be written.
  rmSync(`${dir}/${readdirSync(dir)[0]}`, { recursive: true });
  a.add(events.slice(1000));
  t.throws(() => a.spill(), { code: 'UA_SPILL_FAILED' });
  t.throws(() => a.flush(true), { code: 'UA_SPILL_FAILED' }, 'no flush of what is left');
  t.equal(a.add(events.slice(0, 10)), 0, 'no event taken');
});

t.test('spillDir as a stream option: one batch at the end, the same rows; not with flushEvery', async (t) => {
  const events = spreadEvents(20_000, 5);
  const run = async (options) => {
    const s = new AggregatorStream({ timezone: 'Europe/Berlin', ...options });
    const batches = [];
    s.on('data', (b) => b.kind === 'buckets' && batches.push({ final: b.final, rows: rowStrings(b, 100) }));
    for (let i = 0; i < events.length; i += 999) s.write({ kind: 'events', events: events.slice(i, i + 999) });
    s.end();
    await new Promise((resolve, reject) => {
      s.on('end', resolve);
      s.on('error', reject);
    });
    return { batches, spills: s.aggregator.spills };
  };
  const plain = await run({});
  const spilled = await run({ maxBytes: 200_000, spillDir: t.testdir() });
  const bucketsHeld = await run({ maxBuckets: 40, spillDir: t.testdir() });
  t.ok(spilled.spills >= 3, `${spilled.spills} runs over maxBytes`);
  t.ok(bucketsHeld.spills >= 10, `${bucketsHeld.spills} runs over maxBuckets`);
  for (const [label, r] of [['maxBytes', spilled], ['maxBuckets', bucketsHeld]]) {
    t.equal(r.batches.length, 1, `${label}: one batch`);
    t.equal(r.batches[0].final, true);
    t.same(r.batches[0].rows, plain.batches[0].rows, `${label}: the rows of the stream without a limit`);
  }
  t.throws(() => new AggregatorStream({ flushEvery: 1000, spillDir: t.testdir() }), { code: 'UA_INVALID_OPTION' });
  t.throws(() => new AggregatorStream({ spillDir: '' }), { code: 'UA_INVALID_OPTION' });
});

t.test('packed batches (from the worker thread) aggregate exactly like event objects', async (t) => {
  const events = mixedEvents(20000, 11);
  const plain = new Aggregator({ timezone: 'America/New_York', topN: 5 });
  plain.addWebsites([{ id: 'site-1', uuid: 'site-1', name: null, domain: 'ref-3.org' }]);
  plain.add(events);
  const packed = new Aggregator({ timezone: 'America/New_York', topN: 5 });
  packed.addWebsites([{ id: 'site-1', uuid: 'site-1', name: null, domain: 'ref-3.org' }]);
  // A packer per batch: 20 of them, more than the aggregator keeps the names of.
  for (let i = 0; i < events.length; i += 1000) {
    const packer = new EventPacker(64);
    packer.add(events.slice(i, i + 1000));
    const batch = packer.take();
    t.equal(packed.addPacked(batch), batch.count);
  }
  const a = collectRows(plain.flush(true));
  const b = collectRows(packed.flush(true));
  t.ok(a.hour.length > 1000 && a.day.length > 100 && a.month.length === 9, `${a.hour.length} hours, ${a.day.length} days, ${a.month.length} months`);
  const view = (rows) => rows.map((r) => [r.websiteId, r.bucket, r.pageViews, r.visitors.serialize().toString('hex'), r.topPages, r.referrers]);
  for (const g of ['hour', 'day', 'month']) t.same(view(b[g]), view(a[g]), `${g}: identical rows`);
  t.equal(packed.events, plain.events);
  t.equal(packed.pageViews, plain.pageViews);
});

/** Rows of each flush of `take(aggregator, from)` (which returns where it stopped) until the input is taken. */
function flushesOf(aggregator, take, count) {
  const out = [];
  let k = 0;
  for (;;) {
    const next = take(aggregator, k);
    if (next >= count) break;
    if (next === k && out.length > 0) throw new Error(`no event taken after a flush, at event ${k}`);
    k = next;
    out.push(collectRows(aggregator.flush(false)));
  }
  out.push(collectRows(aggregator.flush(true)));
  return out;
}

const rowView = (rows) => rows.map((r) => [r.websiteId, r.bucket, r.pageViews, r.visitors.serialize().toString('hex'), r.topPages, r.referrers]);

t.test("one packer's batches share its names: each carries the names it adds, and flushes between them forget none", async (t) => {
  const events = mixedEvents(20000, 12);
  const options = { timezone: 'Europe/Berlin', topN: 5, flushEvery: 7001 };
  const plain = flushesOf(new Aggregator(options), (a, k) => a.add(events, k), events.length);
  for (const namesMax of [undefined, 20]) {
    const packer = new EventPacker(64, { namesMax });
    const batches = [];
    for (let i = 0; i < events.length; i += 3000) {
      packer.add(events.slice(i, i + 3000));
      batches.push(packer.take());
    }
    const packed = new Aggregator(options);
    const flushes = [];
    for (const b of batches) {
      for (let k = packed.addPacked(b); k < b.count; ) {
        flushes.push(collectRows(packed.flush(false)));
        const next = packed.addPacked(b, k);
        if (next === k) return t.fail(`namesMax ${namesMax}: no event taken after a flush, at event ${k}`);
        k = next;
      }
    }
    flushes.push(collectRows(packed.flush(true)));
    t.equal(flushes.length, plain.length, `namesMax ${namesMax}: ${flushes.length} flushes, as from event objects`);
    for (let f = 0; f < plain.length; f++) {
      for (const g of ['hour', 'day', 'month']) t.same(rowView(flushes[f][g]), rowView(plain[f][g]), `namesMax ${namesMax}, flush ${f + 1}: identical ${g} rows`);
    }
    t.ok(batches.every((b) => b.source === packer.source), 'every batch names its packer');
    t.equal(batches[0].reset, true, 'the first batch starts the ids');
    if (namesMax === undefined) {
      t.ok(batches.slice(1).every((b) => b.reset === false), 'no later batch starts over');
      t.equal(batches[0].paths.length, 50, 'the first batch carries the 50 paths');
      t.same(batches.slice(1).map((b) => [b.paths.length, b.pathBase, b.sites.length, b.siteBase]), batches.slice(1).map(() => [0, 50, 0, 3]), 'later batches carry none again');
    } else {
      t.ok(batches.slice(1).every((b) => b.reset === true && b.pathBase === 0 && b.paths.length === 50), 'past 20 names, every batch starts over with its own');
    }
  }
});

t.test('packed batches of one packer taken out of order fail clearly', async (t) => {
  const events = mixedEvents(2000, 13);
  const packer = new EventPacker(64);
  packer.add(events.slice(0, 1000));
  const first = packer.take();
  packer.add(events.slice(1000));
  // A path not in the first batch, so the second carries a name.
  packer.add([ev(Date.UTC(2024, 0, 2), { websiteId: 'site-0', sessionId: 'v', urlPath: '/only-later', offset: 10 ** 7 })]);
  const second = packer.take();
  t.equal(second.paths.length, 1);
  const a = new Aggregator();
  t.throws(() => a.addPacked(second), { code: 'UA_INVALID_OPTION', message: /out of order: website ids from id 3 arrived after 0 of them/ });
  const b = new Aggregator();
  t.equal(b.addPacked(first), first.count);
  t.equal(b.addPacked(first), first.count, 'a batch taken twice adds no names twice');
  t.equal(b.addPacked(second), second.count, 'then the next in order');
});

t.test('days and months are the roll-up of their hours', async (t) => {
  const events = mixedEvents(30000, 5);
  const a = new Aggregator({ timezone: 'Asia/Kolkata' });
  a.add(events);
  const out = collectRows(a.flush(true));
  // The same from the events directly, bucketed by local day.
  const local = (e) => new Date(e.createdAt + 5.5 * 3_600_000).toISOString();
  const byDay = new Map();
  for (const e of events) {
    if (e.eventType !== 1) continue;
    const key = `${e.websiteId} ${local(e).slice(0, 10)}`;
    const d = byDay.get(key) ?? { views: 0, visitors: new Set(), pages: new Map() };
    d.views++;
    d.visitors.add(e.sessionId);
    d.pages.set(e.urlPath, (d.pages.get(e.urlPath) ?? 0) + 1);
    byDay.set(key, d);
  }
  t.equal(out.day.length, byDay.size);
  let same = 0;
  for (const r of out.day) {
    const d = byDay.get(`${r.websiteId} ${r.bucket}`);
    const top = [...d.pages].sort((x, y) => y[1] - x[1] || compareCodePoints(x[0], y[0])).slice(0, 50);
    if (d.views === r.pageViews && d.visitors.size === r.visitors.estimate() && JSON.stringify(top) === JSON.stringify(r.topPages)) same++;
  }
  t.equal(same, out.day.length, 'every day: page views, distinct visitors and top pages');
});

t.test('flushes fall on the same events however the input is batched', async (t) => {
  const events = mixedEvents(9000, 3);
  const flushPoints = async (sizes, limits = { flushEvery: 1000 }) => {
    const s = new AggregatorStream({ ...limits, chunkSize: 700 });
    const points = [];
    s.on('data', (b) => b.kind === 'buckets' && points.push([b.events, b.position]));
    let i = 0;
    for (let k = 0; i < events.length; k++) {
      const n = sizes[k % sizes.length];
      s.write({ kind: 'events', events: events.slice(i, i + n) });
      i += n;
    }
    s.end();
    await new Promise((r) => s.on('end', r));
    return points;
  };
  const one = await flushPoints([9000]);
  t.same(one.map((p) => p[0]), [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 9000], 'a flush every 1000 events, and the final one');
  t.same(await flushPoints([1, 7, 333, 2048]), one, 'batches of 1, 7, 333 and 2048 events: the same flushes');
  const tight = await flushPoints([9000], { maxBytes: 60_000 });
  t.ok(tight.length >= 3, `a memory limit flushes too (${tight.map((p) => p[0]).join(', ')})`);
  t.same(await flushPoints([5, 999, 17], { maxBytes: 60_000 }), tight, 'and its flushes fall on the same events');
});

t.test('maxBytes: a table that would grow past the limit is flushed first, so the aggregates never pass it', async (t) => {
  // Every event a new visitor in one of a few hours: the visitor table doubles every so often.
  const maxBytes = 400_000;
  const a = new Aggregator({ maxBytes });
  let most = 0;
  let flushes = 0;
  let visitors = 0;
  for (let k = 0; k < 60_000; k++) {
    const e = ev(Date.UTC(2024, 0, 1, k % 5), { sessionId: `s${k}`, urlPath: `/p${k % 7}` });
    while (a.add([e]) === 0) {
      visitors += collectRows(a.flush(false)).hour.reduce((n, r) => n + r.visitors.estimate(), 0);
      flushes++;
    }
    if (a.memoryBytes > most) most = a.memoryBytes;
  }
  visitors += collectRows(a.flush(true)).hour.reduce((n, r) => n + r.visitors.estimate(), 0);
  t.ok(flushes >= 2, `${flushes} flushes before the last`);
  t.ok(most <= maxBytes, `at most ${most} bytes held, the limit ${maxBytes}`);
  t.ok(most > maxBytes / 4, 'and the limit is used, not a small part of it');
  t.equal(visitors, 60_000, 'every visitor counted once across the flushes');
});

t.test('waitForRelease: no events taken until a flush is released, then the same flushes and rows in reused tables', async (t) => {
  const events = mixedEvents(9000, 5);
  const run = async (waitForRelease, releaseAfterMs) => {
    const s = new AggregatorStream({ maxBytes: 60_000, waitForRelease, chunkSize: 500 });
    const points = [];
    const rows = [];
    let taken = 0;
    let waiting = false;
    s.on('aggregated', () => {
      if (waiting) taken++;
    });
    s.on('data', (b) => {
      if (b.kind !== 'buckets') return;
      points.push([b.events, b.position]);
      for (const c of b.chunks(100)) for (const r of c.rows) rows.push(JSON.stringify([c.granularity, r.websiteId, r.bucket, r.pageViews, r.topPages, r.referrers, r.visitors.estimate(), r.visitors.serialize().toString('hex')]));
      if (b.release) {
        waiting = true;
        setTimeout(() => {
          waiting = false;
          b.release();
        }, releaseAfterMs);
      }
    });
    for (let i = 0; i < events.length; i += 1000) s.write({ kind: 'events', events: events.slice(i, i + 1000) });
    s.end();
    await new Promise((resolve, reject) => {
      s.on('end', resolve);
      s.on('error', reject);
    });
    return { points, rows, taken };
  };
  const free = await run(false, 0);
  const held = await run(true, 20);
  t.ok(free.points.length >= 3, `${free.points.length} flushes`);
  t.same(held.points, free.points, 'the flushes fall on the same events');
  t.same(held.rows, free.rows, 'every row the same, from tables that reuse the flushed ones');
  t.equal(held.taken, 0, 'no events taken while a flush waits for its release');
  t.ok(free.taken > 0, 'without waitForRelease, events are taken meanwhile');
});

t.test('tables over a reused array: cleared, and counted as if grown from empty', async (t) => {
  const { PairCounter, PairSet, slotsOf } = await import('../dist/lib/aggregate/tables.js');
  const rnd = random(8);
  const first = new PairSet();
  for (let k = 0; k < 5000; k++) first.add(k % 97, Math.floor(rnd() * 2 ** 40));
  const dirty = slotsOf(first.group(97).values);
  const fresh = new PairSet();
  const reused = new PairSet(0, dirty);
  t.equal(reused.size, 0);
  let sameBytes = 0;
  let sameAdds = 0;
  for (let k = 0; k < 3000; k++) {
    const b = k % 31;
    const h = Math.floor(rnd() * 2 ** 30);
    if (fresh.add(b, h) === reused.add(b, h)) sameAdds++;
    if (fresh.bytes === reused.bytes) sameBytes++;
  }
  t.equal(sameAdds, 3000, 'the same pairs are new');
  t.equal(sameBytes, 3000, 'the same bytes at every size');
  const a = fresh.group(31);
  const b = reused.group(31);
  t.same([...a.start], [...b.start]);
  t.same([...a.values].sort((x, y) => x - y), [...b.values].sort((x, y) => x - y), 'the same pairs, none left from before');
  const c1 = new PairCounter();
  for (let k = 0; k < 4000; k++) c1.add(k % 13, k % 101, 1);
  const c2 = new PairCounter(0, slotsOf(c1.group(13).pairs));
  c2.add(2, 5, 3);
  t.same([...c2.group(13).pairs], [5, 3], 'a counter over a reused array holds only what it was given');
});

t.test('a flush due with no page view held still hands over a batch (a checkpoint) and the stream goes on', async (t) => {
  // Custom events only, or an aggregator that does not aggregate (raw storage only): nothing is
  // ever held, but flushEvery still comes due. Its flush once returned nothing, and the stream
  // pushed that as its end, then kept asking for the same flush (a busy loop).
  for (const [label, options, events] of [
    ['custom events only', { flushEvery: 10 }, Array.from({ length: 25 }, (_, k) => ev(Date.UTC(2024, 0, 1, k), { eventType: 2, offset: k * 100 }))],
    ['aggregate: false', { flushEvery: 10, aggregate: false }, Array.from({ length: 25 }, (_, k) => ev(Date.UTC(2024, 0, 1, k), { offset: k * 100 }))],
  ]) {
    const s = new AggregatorStream(options);
    const batches = [];
    s.on('data', (b) => b.kind === 'buckets' && batches.push([b.events, b.position, b.counts.hour, b.final]));
    s.write({ kind: 'events', events });
    s.end();
    await new Promise((resolve, reject) => {
      s.on('end', resolve);
      s.on('error', reject);
    });
    t.same(batches, [[10, 901, 0, false], [20, 1901, 0, false], [25, 2401, 0, true]], `${label}: a batch every 10 events, then the final one`);
  }
});
