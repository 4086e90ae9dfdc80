// The tokenizer's interner: repeated values decoded once, and never mistaken for one another.
import t from 'tap';
import { Interner, hashBytes } from '../dist/lib/dump/interner.js';

t.test('values with the same hash and length are told apart by their bytes', async (t) => {
  const it = new Interner();
  const values = ['/blog/post-0001', '/blog/post-0002', '/blog/Post-0001', 'x/blog/post-000', '/blog/post-000\u00e9'];
  const buf = Buffer.from(values.join('|'));
  const spans = [];
  for (let s = 0, k = 0; k < values.length; k++) {
    const e = buf.indexOf('|', s) < 0 ? buf.length : buf.indexOf('|', s);
    spans.push([s, e]);
    s = e + 1;
  }
  // Every value given the same forged hash: only the byte comparison can separate them.
  const got = spans.map(([s, e]) => it.lookup(buf, s, e, 42, e - s !== Buffer.byteLength(values[0])));
  t.same(got, values, 'each value decoded as itself');
  const again = spans.map(([s, e]) => it.lookup(Buffer.from(buf), s, e, 42, e - s !== Buffer.byteLength(values[0])));
  t.same(again, values, 'and found again, from another buffer');
  t.ok(again.every((v, k) => v === got[k]), 'as the same strings');
});

t.test('thousands of values of every length up to the limit, across a growing arena', async (t) => {
  const it = new Interner();
  const values = [];
  for (let k = 0; k < 5000; k++) values.push(`v${k}`.padEnd(1 + (k % 128), String.fromCharCode(97 + (k % 26))));
  const buf = Buffer.from(values.join(''));
  let wrong = 0;
  for (const round of [0, 1]) {
    let s = 0;
    for (const v of values) {
      const e = s + v.length;
      if (it.get(buf, s, e, false) !== v) wrong++;
      s = e;
    }
    t.equal(wrong, 0, `round ${round}: every value right`);
  }
  const long = 'y'.repeat(200);
  t.equal(it.get(Buffer.from(long), 0, 200, false), long, 'values over 128 bytes are decoded, not kept');
  t.equal(hashBytes(Buffer.from('abc'), 0, 3), hashBytes(Buffer.from('xabc'), 1, 4), 'the hash is of the bytes alone');
});
