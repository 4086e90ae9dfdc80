// The visitor sketch: exact up to 2048, HyperLogLog beyond, mergeable,
// deterministic, compact.
import t from 'tap';
import { EXACT_LIMIT, VisitorSketch, hash53 } from '../dist/lib/index.js';

const hashes = (from, to, tag = 'v') => Array.from({ length: to - from }, (_, i) => hash53(`${tag}${from + i}`));

t.test('exact up to the limit, through any number of merges', async (t) => {
  t.equal(EXACT_LIMIT, 2048);
  const merged = VisitorSketch.empty();
  for (let part = 0; part < 16; part++) merged.merge(VisitorSketch.deserialize(VisitorSketch.of(hashes(part * 100, part * 100 + 150)).serialize()));
  t.equal(merged.estimate(), 15 * 100 + 150, 'overlapping parts, exact union');
  t.ok(merged.isExact);
  const full = VisitorSketch.of(hashes(0, 2048));
  t.ok(full.isExact);
  t.equal(full.estimate(), 2048);
});

t.test('deterministic bytes, whatever the order of merges', async (t) => {
  const a = VisitorSketch.of(hashes(0, 3000));
  const b = VisitorSketch.of(hashes(2000, 6000));
  const ab = VisitorSketch.empty();
  ab.merge(a);
  ab.merge(b);
  const ba = VisitorSketch.empty();
  ba.merge(b);
  ba.merge(a);
  t.same(ab.serialize(), ba.serialize());
  t.same(VisitorSketch.of(hashes(0, 50)).serialize(), VisitorSketch.of(hashes(0, 50).reverse()).serialize());
});

t.test('a complete set keeps its exact count; merged, it is estimated within a few standard errors', async (t) => {
  const one = VisitorSketch.of(hashes(0, 50000));
  t.notOk(one.isExact);
  t.equal(VisitorSketch.deserialize(one.serialize()).estimate(), 50000, 'stored from one complete set: exact');
  const merged = VisitorSketch.empty();
  for (let p = 0; p < 5; p++) merged.merge(VisitorSketch.of(hashes(p * 10000, (p + 1) * 10000)));
  const err = Math.abs(merged.estimate() / 50000 - 1);
  t.ok(err < 0.03, `merged estimate ${merged.estimate()} for 50000 (${(err * 100).toFixed(2)}%; standard error 0.81%)`);
});

t.test('compact', async (t) => {
  t.ok(VisitorSketch.of(hashes(0, 10)).serialize().length < 100, '10 visitors: tens of bytes');
  t.ok(VisitorSketch.of(hashes(0, 100000)).serialize().length < 10000, '100000 visitors: a few KB');
  t.same(VisitorSketch.deserialize(null).estimate(), 0);
});

t.test('exact sketches: the count and each delta of the sorted hashes as base-128 varints, lowest 7 bits first', async (t) => {
  // Written here from the definition, with BigInt: the library's encoder takes shortcuts.
  const varint = (v) => {
    const out = [];
    let x = BigInt(v);
    while (x >= 128n) {
      out.push(Number(x & 127n) | 128);
      x >>= 7n;
    }
    out.push(Number(x));
    return out;
  };
  const expected = (hashes) => {
    const sorted = [...new Set(hashes)].sort((a, b) => a - b);
    const bytes = [1, ...varint(sorted.length)];
    let prev = 0;
    for (const h of sorted) {
      bytes.push(...varint(h - prev));
      prev = h;
    }
    return Buffer.from(bytes);
  };
  const edges = [0, 1, 127, 128, 2 ** 14 - 1, 2 ** 14, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 28 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 35 + 5, 2 ** 49 - 1, 2 ** 53 - 1];
  const sets = [edges, edges.slice(1).map((e) => 2 ** 53 - e), [2 ** 28, 2 ** 29 - 1, 2 ** 53 - 2 ** 28]];
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let s = 0; s < 50; s++) sets.push(Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 2 ** 21) * 2 ** 32 + Math.floor(random() * 2 ** 32)));
  for (const hashes of sets) {
    const bytes = VisitorSketch.fromHashes(Float64Array.from(new Set(hashes))).serialize();
    if (!bytes.equals(expected(hashes))) {
      t.fail(`bytes differ for ${hashes.slice(0, 4).join(', ')}…`);
      return;
    }
    t.same([...VisitorSketch.deserialize(bytes).serialize()], [...bytes]);
  }
  t.pass(`${sets.length} sets encoded as defined and read back`);
});
