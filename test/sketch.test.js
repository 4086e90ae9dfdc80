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
