// Deterministic randomness for the dump generator: stateless hashes (so any row can be
// derived from its index alone), a small seeded generator, weighted and Zipf choice, and a
// keyed permutation of [0, n) that needs no memory.

/** murmur3's 32-bit finaliser: a good avalanche for integer keys. */
export function mix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of up to three non-negative integers (each < 2^53) under a seed and a stream tag. */
export function hash(seed, stream, a, b = 0, c = 0) {
  let h = mix32(seed ^ Math.imul(stream + 1, 0x9e3779b9));
  h = mix32(h ^ (a >>> 0));
  h = mix32(h ^ Math.floor(a / 4294967296));
  h = mix32(h ^ Math.imul(b + 1, 0x85ebca6b));
  return mix32(h ^ Math.imul(c + 1, 0xc2b2ae35));
}

/** mulberry32: small, fast, good enough for synthetic data. */
export class Rng {
  constructor(seed = 1) {
    this.state = seed >>> 0;
  }

  reseed(seed) {
    this.state = seed >>> 0;
    return this;
  }

  /** Uniform 32-bit unsigned integer. */
  u32() {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float() {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n) {
    return Math.floor(this.float() * n);
  }

  chance(p) {
    return this.float() < p;
  }

  pick(array) {
    return array[this.int(array.length)];
  }

  /** Geometric number of extra trials: P(k) = (1 - p) p^k, capped. */
  geometric(p, cap) {
    let k = 0;
    while (k < cap && this.float() < p) k++;
    return k;
  }
}

/** A cumulative table for choosing an index with given weights by binary search. */
export class WeightedTable {
  constructor(weights) {
    this.cdf = new Float64Array(weights.length);
    let total = 0;
    weights.forEach((w, i) => {
      total += w;
      this.cdf[i] = total;
    });
    this.total = total;
  }

  /** Index for a uniform number u in [0, 1). */
  index(u) {
    const { cdf } = this;
    const x = u * this.total;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Weighted choice with an Rng. */
  pick(rng) {
    return this.index(rng.float());
  }
}

/** Zipf(s) over ranks 0..n-1 (rank 0 most frequent). */
export function zipfTable(n, s) {
  const weights = new Array(n);
  for (let r = 0; r < n; r++) weights[r] = 1 / Math.pow(r + 1, s);
  return new WeightedTable(weights);
}

/**
 * A keyed bijection of [0, n): a 4-round balanced Feistel network over the smallest even
 * number of bits covering n, with cycle walking for values that land outside [0, n).
 */
export class Permutation {
  constructor(n, seed) {
    let bits = 2;
    while (2 ** bits < n) bits += 2;
    this.n = n;
    this.halfBits = bits / 2;
    this.halfMask = 2 ** this.halfBits - 1;
    this.keys = [1, 2, 3, 4].map((round) => hash(seed, 0x7e57, round));
  }

  apply(x) {
    do x = this.encrypt(x);
    while (x >= this.n);
    return x;
  }

  encrypt(x) {
    const { halfBits, halfMask, keys } = this;
    const scale = 2 ** halfBits;
    let left = Math.floor(x / scale);
    let right = x % scale;
    for (const key of keys) {
      const next = (left ^ (mix32(right ^ key) & halfMask)) >>> 0;
      left = right;
      right = next;
    }
    return left * scale + right;
  }
}
