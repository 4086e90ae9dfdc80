/**
 * Compact open-addressing hash tables over typed arrays, shared by all
 * buckets: a set of (bucket, visitor hash) pairs and counters of
 * (bucket, item) pairs. A slot's key and value sit side by side in one
 * Float64Array, so a probe touches one cache line; no objects per entry for
 * the garbage collector to trace.
 */

const MAX_LOAD = 0.7;
/** Items (interned names) per table, at most: a bucket and an item share one 53-bit key. */
const ITEM_LIMIT = 2 ** 26;
const BUCKET_LIMIT = 2 ** 26;

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

function checkBucket(bucket: number): void {
  if (bucket >= BUCKET_LIMIT) throw new RangeError(`more than ${BUCKET_LIMIT} buckets held at once`);
}

/** A set of (bucket, hash) pairs; `add` tells whether the pair is new. Slot: [bucket + 1 (0: empty), hash]. */
export class PairSet {
  private slots: Float64Array;
  private mask: number;
  size = 0;

  constructor(expected = 0) {
    const cap = capacityFor(expected);
    this.slots = new Float64Array(cap * 2);
    this.mask = cap - 1;
  }

  add(bucket: number, hash: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    const b = bucket + 1;
    let i = slotOf(bucket, hash, mask);
    for (;;) {
      const k = i << 1;
      const s = slots[k];
      if (s === 0) {
        if (b > BUCKET_LIMIT) checkBucket(bucket);
        slots[k] = b;
        slots[k + 1] = hash;
        if (++this.size > (mask + 1) * MAX_LOAD) this.grow();
        return true;
      }
      if (s === b && slots[k + 1] === hash) return false;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const cap = old.length; // twice the old capacity
    this.slots = new Float64Array(cap * 2);
    this.mask = cap - 1;
    for (let j = 0; j < old.length; j += 2) {
      const b = old[j];
      if (b === 0) continue;
      let i = slotOf(b - 1, old[j + 1], this.mask);
      while (this.slots[i << 1] !== 0) i = (i + 1) & this.mask;
      this.slots[i << 1] = b;
      this.slots[(i << 1) + 1] = old[j + 1];
    }
  }

  get bytes(): number {
    return this.slots.byteLength;
  }

  /**
   * The hashes grouped by bucket: `start[b]..start[b + 1]` of `values` are
   * bucket b's hashes. `bucketCount` is one more than the largest bucket id.
   */
  group(bucketCount: number): { start: Int32Array; values: Float64Array } {
    const start = new Int32Array(bucketCount + 1);
    const slots = this.slots;
    for (let j = 0; j < slots.length; j += 2) if (slots[j] !== 0) start[slots[j]]++;
    for (let b = 0; b < bucketCount; b++) start[b + 1] += start[b];
    const fill = start.slice(0, bucketCount);
    const values = new Float64Array(this.size);
    for (let j = 0; j < slots.length; j += 2) {
      const b = slots[j];
      if (b !== 0) values[fill[b - 1]++] = slots[j + 1];
    }
    return { start, values };
  }
}

/** Counts per (bucket, item) pair. Slot: [(bucket + 1) · 2^26 + item (0: empty), count]. */
export class PairCounter {
  private slots: Float64Array;
  private mask: number;
  size = 0;

  constructor(expected = 0) {
    const cap = capacityFor(expected);
    this.slots = new Float64Array(cap * 2);
    this.mask = cap - 1;
  }

  add(bucket: number, item: number, by: number): void {
    const slots = this.slots;
    const mask = this.mask;
    const key = (bucket + 1) * ITEM_LIMIT + item;
    let i = slotOf(bucket, item, mask);
    for (;;) {
      const k = i << 1;
      const s = slots[k];
      if (s === key) {
        slots[k + 1] += by;
        return;
      }
      if (s === 0) {
        if (item >= ITEM_LIMIT) throw new RangeError(`more than ${ITEM_LIMIT} distinct names held at once`);
        checkBucket(bucket);
        slots[k] = key;
        slots[k + 1] = by;
        if (++this.size > (mask + 1) * MAX_LOAD) this.grow();
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const cap = old.length;
    this.slots = new Float64Array(cap * 2);
    this.mask = cap - 1;
    for (let j = 0; j < old.length; j += 2) {
      const key = old[j];
      if (key === 0) continue;
      const bucket = Math.floor(key / ITEM_LIMIT) - 1;
      const item = key - (bucket + 1) * ITEM_LIMIT;
      let i = slotOf(bucket, item, this.mask);
      while (this.slots[i << 1] !== 0) i = (i + 1) & this.mask;
      this.slots[i << 1] = key;
      this.slots[(i << 1) + 1] = old[j + 1];
    }
  }

  get bytes(): number {
    return this.slots.byteLength;
  }

  /** Entries grouped by bucket, as in {@link PairSet.group}. */
  group(bucketCount: number): { start: Int32Array; items: Int32Array; counts: Float64Array } {
    const start = new Int32Array(bucketCount + 1);
    const slots = this.slots;
    for (let j = 0; j < slots.length; j += 2) if (slots[j] !== 0) start[Math.floor(slots[j] / ITEM_LIMIT)]++;
    for (let b = 0; b < bucketCount; b++) start[b + 1] += start[b];
    const fill = start.slice(0, bucketCount);
    const items = new Int32Array(this.size);
    const counts = new Float64Array(this.size);
    for (let j = 0; j < slots.length; j += 2) {
      const key = slots[j];
      if (key === 0) continue;
      const b = Math.floor(key / ITEM_LIMIT) - 1;
      const k = fill[b]++;
      items[k] = key - (b + 1) * ITEM_LIMIT;
      counts[k] = slots[j + 1];
    }
    return { start, items, counts };
  }
}

/** Hours per block of an {@link HourIndex}. */
const BLOCK_HOURS = 256;
/** Blocks an index spans at most (about 120 years of hours); keys beyond go to its Map. */
const MAX_BLOCKS = 4096;

/**
 * A site's hour buckets by key (the minute its hour starts, since the epoch):
 * an array slot per hour in blocks of 256 hours, made as hours are first
 * seen, so that finding an event's hour is two array reads, not a Map
 * lookup. A key far outside the span held, or one sharing its hour's slot
 * (hours 30 minutes apart around a half-hour DST change), goes to a Map.
 */
export class HourIndex {
  /** Per block, [key, bucket id + 1 (0: empty)] for each of its hours. */
  private blocks: Array<Int32Array | undefined> = [];
  /** Block number of blocks[0]. */
  private base = 0;
  private readonly spill = new Map<number, number>();
  size = 0;

  get(key: number): number | undefined {
    const hour = Math.floor(key / 60);
    const b = Math.floor(hour / BLOCK_HOURS) - this.base;
    if (b >= 0 && b < this.blocks.length) {
      const block = this.blocks[b];
      if (block !== undefined) {
        const i = (hour - (b + this.base) * BLOCK_HOURS) * 2;
        if (block[i + 1] !== 0 && block[i] === key) return block[i + 1] - 1;
      }
    }
    return this.spill.size === 0 ? undefined : this.spill.get(key);
  }

  set(key: number, id: number): void {
    this.size++;
    const hour = Math.floor(key / 60);
    const blockNo = Math.floor(hour / BLOCK_HOURS);
    if (!this.cover(blockNo)) {
      this.spill.set(key, id);
      return;
    }
    const b = blockNo - this.base;
    const block = (this.blocks[b] ??= new Int32Array(BLOCK_HOURS * 2));
    const i = (hour - blockNo * BLOCK_HOURS) * 2;
    if (block[i + 1] !== 0) {
      this.spill.set(key, id);
      return;
    }
    block[i] = key;
    block[i + 1] = id + 1;
  }

  /** Makes the blocks span block number n, unless that would pass MAX_BLOCKS. */
  private cover(n: number): boolean {
    const blocks = this.blocks;
    if (blocks.length === 0) {
      this.base = n;
      blocks.push(undefined);
      return true;
    }
    const lo = Math.min(this.base, n);
    const hi = Math.max(this.base + blocks.length - 1, n);
    if (hi - lo + 1 > MAX_BLOCKS) return false;
    if (n < this.base) {
      this.blocks = new Array<Int32Array | undefined>(this.base - n).fill(undefined).concat(blocks);
      this.base = n;
    } else {
      while (this.base + this.blocks.length <= n) this.blocks.push(undefined);
    }
    return true;
  }

  /** The bucket ids held, in no particular order. */
  values(): number[] {
    const out: number[] = [];
    for (const block of this.blocks) {
      if (block === undefined) continue;
      for (let i = 1; i < block.length; i += 2) if (block[i] !== 0) out.push(block[i] - 1);
    }
    for (const id of this.spill.values()) out.push(id);
    return out;
  }
}
