/**
 * Compact open-addressing hash tables over typed arrays, shared by all
 * buckets: a set of (bucket, visitor hash) pairs and counters of
 * (bucket, item) pairs. A slot is three 32-bit words side by side in one
 * Int32Array (12 bytes: a probe touches one cache line, mostly), all small
 * integers to compare; no objects per entry for the garbage collector to
 * trace.
 */

const MAX_LOAD = 0.7;
/** Words per slot. */
const STRIDE = 3;
/** Bytes per slot. */
const SLOT_BYTES = STRIDE * 4;
/** Items (interned names) per table, at most. */
const ITEM_LIMIT = 2 ** 26;
const BUCKET_LIMIT = 2 ** 26;
/** A count of one (bucket, item) pair stays below this (an Int32Array word). */
const COUNT_LIMIT = 2 ** 31 - 1;
const TWO_32 = 4294967296;

function capacityFor(n: number): number {
  let cap = 16;
  while (cap * MAX_LOAD < n) cap *= 2;
  return cap;
}

/** Slots and mask of a new table: a reused array, cleared, when it is large enough. */
function slotsFor(expected: number, reuse: Int32Array | undefined): [Int32Array, number] {
  const cap = capacityFor(expected);
  if (reuse !== undefined) {
    const slots = reuse.length / STRIDE;
    if (Number.isInteger(slots) && slots >= cap && (slots & (slots - 1)) === 0) return [reuse.fill(0), slots - 1];
  }
  return [touched(new Int32Array(cap * STRIDE)), cap - 1];
}

/**
 * A new array with a zero written into each of its 4 KiB pages. The memory
 * of a large one comes fresh from the system: a page first read (a probe)
 * maps the shared zero page, and the write that follows faults again for a
 * page of its own. Written first, each page faults once: a 24 MB table filled
 * with reads before writes took 21–27 ms, written into first 11–14 ms.
 */
function touched(a: Int32Array): Int32Array {
  for (let i = 0; i < a.length; i += 1024) a[i] = 0;
  return a;
}

/**
 * The whole array behind a grouped table's values or pairs (which are its
 * front), for a new table to reuse once they are no longer read: filling
 * memory already in use is much cheaper than growing into new memory.
 */
export function slotsOf(view: Float64Array | Int32Array): Int32Array {
  return new Int32Array(view.buffer as ArrayBuffer);
}

/** 32-bit mix of a bucket id and a number given as two words (an item id and 0, or a hash's low and high words). */
function slotOf(bucket: number, lo: number, hi: number, mask: number): number {
  let h = Math.imul(bucket ^ 0x5bd1e995, 0x9e3779b1) ^ lo ^ Math.imul(hi, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h & mask;
}

function checkBucket(bucket: number): void {
  if (bucket >= BUCKET_LIMIT) throw new RangeError(`more than ${BUCKET_LIMIT} buckets held at once`);
}

/** What both tables share: open addressing over slots of three words, the first the bucket + 1 (0: empty). */
abstract class PairTable {
  protected slots: Int32Array;
  protected mask: number;
  size = 0;

  /** `reuse`: an array of an earlier table (see {@link slotsOf}) to fill again, cleared here. */
  constructor(expected = 0, reuse?: Int32Array) {
    [this.slots, this.mask] = slotsFor(expected, reuse);
  }

  /**
   * The bytes this table takes as if it had grown from empty: the same at
   * the same pairs whether or not it reuses a larger array, so that limits
   * on memory flush at the same events either way.
   */
  get bytes(): number {
    return capacityFor(this.size) * SLOT_BYTES;
  }

  /**
   * The most bytes this table takes while `more` pairs are added, counted
   * as `bytes` is: a growth holds the old slots and the new ones (twice as
   * many) at once.
   */
  bytesWhileAdding(more: number): number {
    const now = capacityFor(this.size);
    const then = capacityFor(this.size + more);
    return (then === now ? now : then + then / 2) * SLOT_BYTES;
  }

  /** Twice the slots, every pair placed again by its words 1 and 2. */
  protected grow(): void {
    const old = this.slots;
    const cap = (old.length / STRIDE) * 2;
    const slots = touched(new Int32Array(cap * STRIDE));
    const mask = cap - 1;
    for (let j = 0; j < old.length; j += STRIDE) {
      const b = old[j];
      if (b === 0) continue;
      const x = old[j + 1];
      const y = old[j + 2];
      let i = slotOf(b - 1, x, this.hiOf(y), mask);
      while (slots[i * STRIDE] !== 0) i = (i + 1) & mask;
      const k = i * STRIDE;
      slots[k] = b;
      slots[k + 1] = x;
      slots[k + 2] = y;
    }
    this.slots = slots;
    this.mask = mask;
  }

  /** The slot hash's third input, from a slot's word 2. */
  protected abstract hiOf(word2: number): number;

  /**
   * Groups the pairs by bucket at the front of the slots and leaves the
   * table empty (in a new small array): returns where each bucket's run
   * starts and the array, in which pair i's words 1 and 2 are at
   * `3i + 1` and `3i + 2`.
   */
  protected groupSlots(bucketCount: number): { start: Int32Array; slots: Int32Array } {
    const slots = this.slots;
    const start = groupInPlace(slots, this.size, bucketCount);
    [this.slots, this.mask] = slotsFor(0, undefined);
    this.size = 0;
    return { start, slots };
  }
}

/** A set of (bucket, hash) pairs; `add` tells whether the pair is new. Slot: [bucket + 1, hash's low word, hash's high word]. */
export class PairSet extends PairTable {

  /** `hash`: an integer in [0, 2^53). */
  add(bucket: number, hash: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    const b = bucket + 1;
    const lo = hash | 0;
    const hi = (hash / TWO_32) | 0;
    let i = slotOf(bucket, lo, hi, mask);
    for (;;) {
      const k = i * STRIDE;
      const s = slots[k];
      if (s === 0) {
        if (b > BUCKET_LIMIT) checkBucket(bucket);
        slots[k] = b;
        slots[k + 1] = lo;
        slots[k + 2] = hi;
        if (++this.size > (mask + 1) * MAX_LOAD) this.grow();
        return true;
      }
      if (s === b && slots[k + 1] === lo && slots[k + 2] === hi) return false;
      i = (i + 1) & mask;
    }
  }

  protected hiOf(word2: number): number {
    return word2;
  }

  /**
   * Hands over the pairs grouped by bucket and leaves the set empty:
   * `values[start[b]..start[b + 1]]` are bucket b's hashes, in no particular
   * order. `bucketCount` is one more than the largest bucket id. The groups
   * are made in the set's own array (no second copy of the pairs at a flush).
   */
  group(bucketCount: number): { start: Int32Array; values: Float64Array } {
    const size = this.size;
    const { start, slots } = this.groupSlots(bucketCount);
    // Each hash to the front as a double over the same memory: hash i's bytes [8i, 8i + 8) lie
    // before pair i + 1's words, and pair i's words are read before they are written over.
    const values = new Float64Array(slots.buffer as ArrayBuffer, 0, size);
    for (let i = 0; i < size; i++) {
      const lo = slots[STRIDE * i + 1] >>> 0;
      const hi = slots[STRIDE * i + 2];
      values[i] = hi * TWO_32 + lo;
    }
    return { start, values };
  }
}

/** Counts per (bucket, item) pair. Slot: [bucket + 1, item, count]. */
export class PairCounter extends PairTable {

  add(bucket: number, item: number, by: number): void {
    const slots = this.slots;
    const mask = this.mask;
    const b = bucket + 1;
    let i = slotOf(bucket, item, 0, mask);
    for (;;) {
      const k = i * STRIDE;
      const s = slots[k];
      if (s === b && slots[k + 1] === item) {
        const c = slots[k + 2] + by;
        if (c > COUNT_LIMIT) throw new RangeError(`a count above ${COUNT_LIMIT} in one bucket`);
        slots[k + 2] = c;
        return;
      }
      if (s === 0) {
        if (item >= ITEM_LIMIT) throw new RangeError(`more than ${ITEM_LIMIT} distinct names held at once`);
        checkBucket(bucket);
        if (by > COUNT_LIMIT) throw new RangeError(`a count above ${COUNT_LIMIT} in one bucket`);
        slots[k] = b;
        slots[k + 1] = item;
        slots[k + 2] = by;
        if (++this.size > (mask + 1) * MAX_LOAD) this.grow();
        return;
      }
      i = (i + 1) & mask;
    }
  }

  protected hiOf(): number {
    return 0;
  }

  /**
   * Hands over the entries grouped by bucket and leaves the counter empty:
   * entry i of bucket b (`start[b] <= i < start[b + 1]`) is item `pairs[2i]`
   * with count `pairs[2i + 1]`, in no particular order within the bucket.
   * Made in the counter's own array, as {@link PairSet.group}.
   */
  group(bucketCount: number): Grouped {
    const size = this.size;
    const { start, slots } = this.groupSlots(bucketCount);
    // Item and count to [2i, 2i + 1], before pair i + 1's words (read before written over).
    for (let i = 0; i < size; i++) {
      slots[2 * i] = slots[STRIDE * i + 1];
      slots[2 * i + 1] = slots[STRIDE * i + 2];
    }
    return { start, pairs: slots.subarray(0, 2 * size) };
  }
}

/** Entries of a {@link PairCounter} by bucket: see {@link PairCounter.group}. */
export interface Grouped {
  start: Int32Array;
  /** Item and count of each entry, side by side. */
  pairs: Int32Array;
}

/**
 * Moves the `size` occupied slots of a table (word 0: bucket + 1, 0 for an
 * empty slot) to its front, grouped by bucket, and returns where each
 * bucket's run starts (`start[bucketCount]` is `size`). A counting sort in
 * place, so no second array of pairs is needed: the slots are packed to the
 * front in order, then permuted by swaps, first by the bucket's high bits
 * (at most 256 runs written at a time, which keeps the swaps' writes in
 * cache), then by bucket within each of those runs.
 */
function groupInPlace(slots: Int32Array, size: number, bucketCount: number): Int32Array {
  const start = new Int32Array(bucketCount + 1);
  let w = 0;
  for (let j = 0; j < slots.length; j += STRIDE) {
    const b = slots[j];
    if (b === 0) continue;
    start[b]++;
    const k = w * STRIDE;
    slots[k] = b;
    slots[k + 1] = slots[j + 1];
    slots[k + 2] = slots[j + 2];
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
    permute(slots, runStart, runs, shift);
  }
  permute(slots, start, bucketCount, 0);
  return start;
}

/**
 * Swaps each pair into its run (its bucket >> shift; runs starting at
 * `start`): each swap settles one pair at the next free place of its run.
 */
function permute(slots: Int32Array, start: Int32Array, runs: number, shift: number): void {
  const fill = start.slice(0, runs);
  for (let r = 0; r < runs; r++) {
    const end = start[r + 1];
    while (fill[r] < end) {
      const i = fill[r] * STRIDE;
      const b = slots[i];
      const c = (b - 1) >> shift;
      if (c === r) {
        fill[r]++;
        continue;
      }
      const k = fill[c]++ * STRIDE;
      const x = slots[i + 1];
      const y = slots[i + 2];
      slots[i] = slots[k];
      slots[i + 1] = slots[k + 1];
      slots[i + 2] = slots[k + 2];
      slots[k] = b;
      slots[k + 1] = x;
      slots[k + 2] = y;
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
