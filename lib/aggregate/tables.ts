/**
 * Compact open-addressing hash tables over typed arrays, shared by all
 * buckets: a set of (bucket, visitor hash) pairs and counters of
 * (bucket, item) pairs. A few bytes per entry instead of a JS Map or Set per
 * bucket, and no objects per entry for the garbage collector to trace.
 */

const MAX_LOAD = 0.7;

function capacityFor(n: number): number {
  let cap = 16;
  while (cap * MAX_LOAD < n) cap *= 2;
  return cap;
}

/** 32-bit mix of a bucket id and a number (an item id or a 53-bit hash). */
function slotOf(bucket: number, value: number, mask: number): number {
  const lo = value >>> 0;
  const hi = (value / 4294967296) >>> 0;
  let h = Math.imul(bucket ^ 0x5bd1e995, 0x9e3779b1) ^ lo ^ Math.imul(hi, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h & mask;
}

/** A set of (bucket, hash) pairs; `add` tells whether the pair is new. */
export class PairSet {
  private buckets: Int32Array;
  private hashes: Float64Array;
  private mask: number;
  size = 0;

  constructor(expected = 0) {
    const cap = capacityFor(expected);
    this.buckets = new Int32Array(cap).fill(-1);
    this.hashes = new Float64Array(cap);
    this.mask = cap - 1;
  }

  add(bucket: number, hash: number): boolean {
    const buckets = this.buckets;
    const mask = this.mask;
    let i = slotOf(bucket, hash, mask);
    for (;;) {
      const b = buckets[i];
      if (b === -1) {
        buckets[i] = bucket;
        this.hashes[i] = hash;
        if (++this.size > (mask + 1) * MAX_LOAD) this.grow();
        return true;
      }
      if (b === bucket && this.hashes[i] === hash) return false;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const oldB = this.buckets;
    const oldH = this.hashes;
    const cap = oldB.length * 2;
    this.buckets = new Int32Array(cap).fill(-1);
    this.hashes = new Float64Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < oldB.length; j++) {
      const b = oldB[j];
      if (b === -1) continue;
      let i = slotOf(b, oldH[j], this.mask);
      while (this.buckets[i] !== -1) i = (i + 1) & this.mask;
      this.buckets[i] = b;
      this.hashes[i] = oldH[j];
    }
  }

  get bytes(): number {
    return this.buckets.byteLength + this.hashes.byteLength;
  }

  /**
   * The hashes grouped by bucket: `start[b]..start[b + 1]` of `values` are
   * bucket b's hashes. `bucketCount` is one more than the largest bucket id.
   */
  group(bucketCount: number): { start: Int32Array; values: Float64Array } {
    const start = new Int32Array(bucketCount + 1);
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++) if (buckets[i] !== -1) start[buckets[i] + 1]++;
    for (let b = 0; b < bucketCount; b++) start[b + 1] += start[b];
    const fill = start.slice(0, bucketCount);
    const values = new Float64Array(this.size);
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i];
      if (b !== -1) values[fill[b]++] = this.hashes[i];
    }
    return { start, values };
  }
}

/** Counts per (bucket, item) pair. */
export class PairCounter {
  private buckets: Int32Array;
  private items: Int32Array;
  private counts: Float64Array;
  private mask: number;
  size = 0;

  constructor(expected = 0) {
    const cap = capacityFor(expected);
    this.buckets = new Int32Array(cap).fill(-1);
    this.items = new Int32Array(cap);
    this.counts = new Float64Array(cap);
    this.mask = cap - 1;
  }

  add(bucket: number, item: number, by: number): void {
    const buckets = this.buckets;
    const mask = this.mask;
    let i = slotOf(bucket, item, mask);
    for (;;) {
      const b = buckets[i];
      if (b === -1) {
        buckets[i] = bucket;
        this.items[i] = item;
        this.counts[i] = by;
        if (++this.size > (mask + 1) * MAX_LOAD) this.grow();
        return;
      }
      if (b === bucket && this.items[i] === item) {
        this.counts[i] += by;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const oldB = this.buckets;
    const oldI = this.items;
    const oldC = this.counts;
    const cap = oldB.length * 2;
    this.buckets = new Int32Array(cap).fill(-1);
    this.items = new Int32Array(cap);
    this.counts = new Float64Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < oldB.length; j++) {
      const b = oldB[j];
      if (b === -1) continue;
      let i = slotOf(b, oldI[j], this.mask);
      while (this.buckets[i] !== -1) i = (i + 1) & this.mask;
      this.buckets[i] = b;
      this.items[i] = oldI[j];
      this.counts[i] = oldC[j];
    }
  }

  get bytes(): number {
    return this.buckets.byteLength + this.items.byteLength + this.counts.byteLength;
  }

  /** Entries grouped by bucket, as in {@link PairSet.group}. */
  group(bucketCount: number): { start: Int32Array; items: Int32Array; counts: Float64Array } {
    const start = new Int32Array(bucketCount + 1);
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++) if (buckets[i] !== -1) start[buckets[i] + 1]++;
    for (let b = 0; b < bucketCount; b++) start[b + 1] += start[b];
    const fill = start.slice(0, bucketCount);
    const items = new Int32Array(this.size);
    const counts = new Float64Array(this.size);
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i];
      if (b === -1) continue;
      const k = fill[b]++;
      items[k] = this.items[i];
      counts[k] = this.counts[i];
    }
    return { start, items, counts };
  }
}
