// Top lists' JSON as the tables store it: written as bytes and read back as one string, the same
// text as the definition (topJson) and as JSON.stringify, for any name and count.
import t from 'tap';
import { RowEncoder, TopJsonWriter, TopNames, topJson } from '../dist/lib/store/encode.js';
import { VisitorSketch } from '../dist/lib/aggregate/distinct.js';

const NAMES = [
  '/',
  '/plain/path',
  '/a "quoted" path',
  'C:\\back\\slash',
  '/tab\there/newline\nthere',
  '/ctl\u0001\u001f\u007f',
  '/café/naïve',
  '/日本語/ページ',
  '/emoji/🚀',
  '/line\u2028sep\u2029',
  '/lone\ud800surrogate',
  '/' + 'long-segment/'.repeat(20),
  '',
];
const COUNTS = [0, 1, 9, 10, 99, 100, 123456789, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 1e21, 0.5];

/** A name printable in a test's title (TAP reads U+2028 as a line end). */
const shown = (name) => JSON.stringify(name).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const reference = (list, key) => JSON.stringify(list.map(([name, count]) => ({ [key]: name, page_views: count })));

t.test('one list per name and count, as JSON.stringify and topJson write it', async (t) => {
  const names = new TopNames(NAMES, 'path');
  for (let i = 0; i < NAMES.length; i++) {
    for (const count of COUNTS) {
      const want = reference([[NAMES[i], count]], 'path');
      t.equal(names.json(Int32Array.of(i), Float64Array.of(count), 0, 1), want, `${shown(NAMES[i])} x ${count}`);
      t.equal(topJson([[NAMES[i], count]], 'path', new Map()), want);
    }
  }
});

t.test('long lists, parts of arrays, and the empty list', async (t) => {
  const names = new TopNames(NAMES, 'domain');
  const items = Int32Array.from({ length: 200 }, (_, k) => (k * 7) % NAMES.length);
  const counts = Float64Array.from({ length: 200 }, (_, k) => 200 - k);
  for (const [from, to] of [[0, 0], [0, 1], [3, 50], [0, 200], [199, 200]]) {
    const list = [...items.subarray(from, to)].map((item, k) => [NAMES[item], counts[from + k]]);
    t.equal(names.json(items, counts, from, to), reference(list, 'domain'), `entries [${from}, ${to})`);
  }
});

t.test('the writer grows past its first buffer and starts again after each text', async (t) => {
  const w = new TopJsonWriter();
  const names = new TopNames(NAMES, 'path');
  const items = Int32Array.from({ length: 5000 }, (_, k) => k % NAMES.length);
  const counts = Float64Array.from({ length: 5000 }, (_, k) => k);
  w.list(names, items, counts, 0, 5000);
  t.ok(w.length > 1 << 16, `${w.length} bytes, more than the first buffer holds`);
  t.equal(w.text(), reference([...items].map((item, k) => [NAMES[item], k]), 'path'));
  t.equal(w.length, 0, 'empty after text()');
  w.list(names, items, counts, 2, 3);
  t.equal(w.text(), reference([[NAMES[2], 2]], 'path'), 'the next text() holds the new list only');
});

t.test('a row encoder writes the same JSON as topJson, row after row', async (t) => {
  const enc = new RowEncoder();
  for (let r = 0; r < 20; r++) {
    const topPages = NAMES.map((name, k) => [name, COUNTS[(k + r) % COUNTS.length]]);
    const referrers = NAMES.slice(r % 5).map((name, k) => [`ref.${k}.${name}`, k + r]);
    const v = enc.encode({ websiteId: 'w', bucket: 'b', pageViews: 1, visitors: VisitorSketch.empty(), topPages, referrers });
    t.equal(v.topPagesJson, reference(topPages, 'path'));
    t.equal(v.referrersJson, reference(referrers, 'domain'));
  }
});

t.test('a list whose writing failed half-way leaves nothing in the next one', async (t) => {
  const enc = new RowEncoder();
  const row = (topPages) => ({ websiteId: 'w', bucket: 'b', pageViews: 1, visitors: VisitorSketch.empty(), topPages, referrers: [] });
  // A name JSON cannot hold (a BigInt) fails after the first entry is written.
  t.throws(() => enc.encode(row([['/a', 1], [1n, 2]])), TypeError);
  t.equal(enc.encode(row([['/b', 3]])).topPagesJson, '[{"path":"/b","page_views":3}]');
});
