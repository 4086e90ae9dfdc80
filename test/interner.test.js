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

t.test('with ids, a kept value comes back as its index in names; a value too long, as its string', async (t) => {
  const it = new Interner({ ids: true });
  const buf = Buffer.from(`/a|/b|/a|séance|${'x'.repeat(129)}|/b`);
  const spans = [];
  for (let s = 0; s <= buf.length; ) {
    const bar = buf.indexOf('|', s);
    const e = bar < 0 ? buf.length : bar;
    spans.push([s, e]);
    s = e + 1;
  }
  const got = spans.map(([s, e]) => it.get(buf, s, e, buf.subarray(s, e).some((b) => b >= 0x80)));
  t.same(got, [0, 1, 0, 2, 'x'.repeat(129), 1]);
  t.same(it.names, ['/a', '/b', 'séance']);
  const plain = new Interner();
  t.same(spans.map(([s, e]) => plain.get(buf, s, e, buf.subarray(s, e).some((b) => b >= 0x80))), ['/a', '/b', '/a', 'séance', 'x'.repeat(129), '/b'], 'without ids: the strings');
});

t.test('with ids, once 65536 values are kept a new one comes back as a string, and never as an index later', async (t) => {
  const it = new Interner({ ids: true });
  const buf = Buffer.alloc(8);
  const lookup = (k) => {
    buf.writeUInt32BE(k, 0);
    const hex = buf.toString('hex', 0, 4);
    const b = Buffer.from(hex);
    return it.get(b, 0, b.length, false);
  };
  let wrong = 0;
  for (let k = 0; k < 65536; k++) if (lookup(k) !== k) wrong++;
  t.equal(wrong, 0, '65536 values kept, in order');
  t.equal(lookup(70000), (70000).toString(16).padStart(8, '0'), 'the next one: its string');
  t.equal(lookup(70000), (70000).toString(16).padStart(8, '0'), 'and again its string');
  t.equal(lookup(12345), 12345, 'a kept one: still its index');
});

t.test('a hash given as an unsigned number finds the value kept under its int32 form, and the reverse', async (t) => {
  const it = new Interner({ ids: true });
  const buf = Buffer.from("'',/a,/b");
  // The empty value: its FNV-1a hash is the basis, 2166136261 unsigned or -2128831035 as an int32.
  const empty = it.lookup(buf, 1, 1, 0x811c9dc5, false);
  t.equal(empty, 0, 'kept as the first index');
  t.equal(it.lookup(buf, 1, 1, 0x811c9dc5 | 0, false), 0, 'found by the int32 form of its hash');
  t.equal(it.lookup(buf, 1, 1, 0x811c9dc5, false), 0, 'and by the unsigned form again');
  t.equal(it.get(buf, 1, 1, false), 0, 'and by get(), which hashes the bytes itself');
  const a = it.get(buf, 3, 5, false);
  t.equal(it.lookup(buf, 3, 5, hashBytes(buf, 3, 5) >>> 0, false), a, 'a non-empty value by its unsigned hash');
  t.same(it.names, ['', '/a'], 'each value kept once');
});
