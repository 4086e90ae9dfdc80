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

/** Slots and mask of a new table: a reused array, cleared, when it is large enough. */
function slotsFor(expected: number, reuse: Float64Array | undefined): [Float64Array, number] {
  const cap = capacityFor(expected);
  if (reuse !== undefined && reuse.length >= cap * 2 && (reuse.length & (reuse.length - 1)) === 0) return [reuse.fill(0), reuse.length / 2 - 1];
  return [new Float64Array(cap * 2), cap - 1];
}

/**
 * The whole array behind a grouped table's values or pairs (which are its
 * front), for a new table to reuse once they are no longer read: filling
 * memory already in use is much cheaper than growing into new memory.
 */
export function slotsOf(view: Float64Array): Float64Array {
  return new Float64Array(view.buffer as ArrayBuffer);
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

/** What both tables share: open addressing over [key, value] slots of one Float64Array. */
abstract class PairTable {
  protected slots: Float64Array;
  protected mask: number;
  size = 0;

  /** `reuse`: an array of an earlier table (see {@link slotsOf}) to fill again, cleared here. */
  constructor(expected = 0, reuse?: Float64Array) {
    [this.slots, this.mask] = slotsFor(expected, reuse);
  }

  /**
   * The bytes this table takes as if it had grown from empty: the same at
   * the same pairs whether or not it reuses a larger array, so that limits
   * on memory flush at the same events either way.
   */
  get bytes(): number {
    return capacityFor(this.size) * 16;
  }

  /** Empty again, in a new small array (the old one was handed over by `group`). */
  protected clear(): void {
    [this.slots, this.mask] = slotsFor(0, undefined);
    this.size = 0;
  }
}

/** A set of (bucket, hash) pairs; `add` tells whether the pair is new. Slot: [bucket + 1 (0: empty), hash]. */
export class PairSet extends PairTable {

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

  /**
   * Hands over the pairs grouped by bucket and leaves the set empty:
   * `values[start[b]..start[b + 1]]` are bucket b's hashes, in no particular
   * order. `bucketCount` is one more than the largest bucket id. The groups
   * are made in the set's own array (no second copy of the pairs at a flush).
   */
  group(bucketCount: number): { start: Int32Array; values: Float64Array } {
    const size = this.size;
    const slots = this.slots;
    const start = groupInPlace(slots, size, bucketCount, (key) => key - 1);
    // Each pair's hash to the front: values[i] = slots[2i + 1].
    for (let i = 0; i < size; i++) slots[i] = slots[2 * i + 1];
    this.clear();
    return { start, values: slots.subarray(0, size) };
  }
}

/** Counts per (bucket, item) pair. Slot: [(bucket + 1) · 2^26 + item (0: empty), count]. */
export class PairCounter extends PairTable {

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

  /**
   * Hands over the entries grouped by bucket and leaves the counter empty:
   * entry i of bucket b (`start[b] <= i < start[b + 1]`) is item `pairs[2i]`
   * with count `pairs[2i + 1]`, in no particular order within the bucket.
   * Made in the counter's own array, as {@link PairSet.group}.
   */
  group(bucketCount: number): Grouped {
    const size = this.size;
    const slots = this.slots;
    const start = groupInPlace(slots, size, bucketCount, (key) => Math.floor(key / ITEM_LIMIT) - 1);
    for (let b = 0; b < bucketCount; b++) {
      const base = (b + 1) * ITEM_LIMIT;
      for (let i = start[b]; i < start[b + 1]; i++) slots[2 * i] -= base;
    }
    this.clear();
    return { start, pairs: slots.subarray(0, 2 * size) };
  }
}

/** Entries of a {@link PairCounter} by bucket: see {@link PairCounter.group}. */
export interface Grouped {
  start: Int32Array;
  /** Item and count of each entry, side by side. */
  pairs: Float64Array;
}

/**
 * Moves the `size` occupied slots of a table of [key, value] slots (key 0:
 * empty) to its front, grouped by bucket, and returns where each bucket's
 * run starts (`start[bucketCount]` is `size`). A counting sort in place, so
 * no second array of pairs is needed: the slots are packed to the front in
 * order, then permuted by swaps, first by the bucket's high bits (at most
 * 256 runs written at a time, which keeps the swaps' writes in cache), then
 * by bucket within each of those runs.
 */
function groupInPlace(slots: Float64Array, size: number, bucketCount: number, bucketOf: (key: number) => number): Int32Array {
  const start = new Int32Array(bucketCount + 1);
  let w = 0;
  for (let j = 0; j < slots.length; j += 2) {
    const key = slots[j];
    if (key === 0) continue;
    start[bucketOf(key) + 1]++;
    slots[2 * w] = key;
    slots[2 * w + 1] = slots[j + 1];
    w++;
  }
  if (w !== size) throw new Error(`table holds ${w} pairs, not ${size}`);
  for (let b = 0; b < bucketCount; b++) start[b + 1] += start[b];
  const shift = Math.max(0, 32 - Math.clz32(Math.max(bucketCount - 1, 1)) - 8);
  if (shift > 0) {
    const runs = ((bucketCount - 1) >> shift) + 1;
    const runStart = new Int32Array(runs + 1);
    for (let r = 0; r < runs; r++) runStart[r] = start[r << shift];
    runStart[runs] = size;
    permute(slots, runStart, runs, (key) => bucketOf(key) >> shift);
  }
  permute(slots, start, bucketCount, bucketOf);
  return start;
}

/**
 * Swaps each pair into its run (`runOf(key)`, runs starting at `start`):
 * each swap settles one pair at the next free place of its run.
 */
function permute(slots: Float64Array, start: Int32Array, runs: number, runOf: (key: number) => number): void {
  const fill = start.slice(0, runs);
  for (let r = 0; r < runs; r++) {
    const end = start[r + 1];
    while (fill[r] < end) {
      const i = fill[r];
      const key = slots[2 * i];
      const c = runOf(key);
      if (c === r) {
        fill[r]++;
        continue;
      }
      const k = fill[c]++;
      const value = slots[2 * i + 1];
      slots[2 * i] = slots[2 * k];
      slots[2 * i + 1] = slots[2 * k + 1];
      slots[2 * k] = key;
      slots[2 * k + 1] = value;
    }
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
