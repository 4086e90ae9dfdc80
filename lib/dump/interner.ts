/**
 * Strings that repeat (website ids, paths, referrers, host names) decoded
 * once: a value's bytes are looked up in a small table and the same string
 * object is returned each time, which spares an allocation per row and lets
 * later Map lookups use the string's cached hash.
 *
 * An interner made with `ids: true` returns a kept value's index in
 * {@link Interner.names} (a number) instead of its string, so that a
 * consumer can look it up in an array rather than a Map. A value it does not
 * keep (longer than 128 bytes, or once 65536 are kept) still comes back as a
 * string: such a value is never kept later either, so two values of one
 * interner are equal exactly when both are the same index or equal strings.
 */

const MAX_LENGTH = 128;

/**
 * The interner's hash of bytes: FNV-1a steps over the value's 32-bit little-endian words (four
 * bytes a step, as a scanner reads them while it looks for the value's end, see the scanner's
 * fast paths), then over its last 0-3 bytes one at a time. An int32. {@link Interner.lookup} mixes
 * it before it picks a slot: a word step leaves a word's high bytes in the hash's high bits.
 */
export function hashBytes(buf: Buffer, s: number, e: number): number {
  let h = 0x811c9dc5 | 0; // FNV-1a basis, as an int32 like every later value
  let k = s;
  for (; k + 4 <= e; k += 4) h = Math.imul(h ^ (buf[k] | (buf[k + 1] << 8) | (buf[k + 2] << 16) | (buf[k + 3] << 24)), 16777619);
  for (; k < e; k++) h = Math.imul(h ^ buf[k], 16777619);
  return h;
}

/** A 32-bit finaliser (xor-shifts and multiplications, as MurmurHash3's): every bit of h moves the low bits. */
function mixHash(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
const MAX_ENTRIES = 1 << 16;

export class Interner {
  /** Lookups give indices into {@link names} for kept values (see above). */
  readonly ids: boolean;
  private table = new Int32Array(1024);
  private mask = 1023;
  /**
   * Per kept value, its hash, arena offset and length. Typed arrays: a hash is an int32, half of
   * which are too large for a small integer, so a plain array of them changed its kind of
   * elements at the first such hash, and V8 threw away the optimised code of every function
   * that had a lookup inlined (the scanner's fast paths among them).
   */
  private hashes: Int32Array = new Int32Array(256);
  private starts: Int32Array = new Int32Array(256);
  private lengths: Int32Array = new Int32Array(256);
  private strings: string[] = [];
  private arena = Buffer.allocUnsafe(16384);
  private arenaView = new DataView(this.arena.buffer, this.arena.byteOffset, this.arena.byteLength);
  private used = 0;
  /** The last input buffer looked up in, and a view of it: bytes are compared four at a time. */
  private input: Buffer | null = null;
  private inputView: DataView | null = null;

  constructor(options: { ids?: boolean } = {}) {
    this.ids = options.ids === true;
  }

  /** The values kept, by index (what lookups return when `ids` is set). */
  get names(): readonly string[] {
    return this.strings;
  }

  /** The string of buf[s..e) (UTF-8 if `utf8`, else Latin-1 = ASCII here); with `ids`, its index when kept. */
  get(buf: Buffer, s: number, e: number, utf8: boolean): string | number {
    if (e - s > MAX_LENGTH) return buf.toString(utf8 ? 'utf8' : 'latin1', s, e);
    return this.lookup(buf, s, e, hashBytes(buf, s, e), utf8);
  }

  /** As get(), with the bytes' {@link hashBytes} already computed. */
  lookup(buf: Buffer, s: number, e: number, h: number, utf8: boolean): string | number {
    const len = e - s;
    if (len > MAX_LENGTH) return buf.toString(utf8 ? 'utf8' : 'latin1', s, e);
    // As an int32 (the hash of no bytes is the FNV offset basis, 2166136261), mixed, as kept.
    h = mixHash(h | 0);
    const mask = this.mask;
    const table = this.table;
    let i = h & mask;
    for (;;) {
      const slot = table[i];
      if (slot === 0) break;
      const n = slot - 1;
      if (this.hashes[n] === h && this.lengths[n] === len && this.equal(buf, s, this.starts[n], len)) return this.ids ? n : this.strings[n];
      i = (i + 1) & mask;
    }
    const str = buf.toString(utf8 ? 'utf8' : 'latin1', s, e);
    if (this.strings.length >= MAX_ENTRIES) return str;
    if (this.used + len > this.arena.length) {
      const next = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.used + len));
      this.arena.copy(next, 0, 0, this.used);
      this.arena = next;
      this.arenaView = new DataView(next.buffer, next.byteOffset, next.byteLength);
    }
    buf.copy(this.arena, this.used, s, e);
    const n = this.strings.length;
    if (n === this.hashes.length) this.growEntries();
    this.hashes[n] = h;
    this.starts[n] = this.used;
    this.lengths[n] = len;
    this.strings.push(str);
    this.used += len;
    table[i] = n + 1;
    if (n * 2 + 2 > mask) this.grow();
    return this.ids ? n : str;
  }

  /** Whether buf[s, s + len) holds the bytes kept at arena offset `at`. */
  private equal(buf: Buffer, s: number, at: number, len: number): boolean {
    if (buf !== this.input) {
      this.input = buf;
      this.inputView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const x = this.inputView!;
    const y = this.arenaView;
    let k = 0;
    for (; k + 4 <= len; k += 4) if (x.getInt32(s + k) !== y.getInt32(at + k)) return false;
    const a = this.arena;
    for (; k < len; k++) if (a[at + k] !== buf[s + k]) return false;
    return true;
  }

  private growEntries(): void {
    const cap = this.hashes.length * 2;
    const widen = (a: Int32Array): Int32Array => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.hashes = widen(this.hashes);
    this.starts = widen(this.starts);
    this.lengths = widen(this.lengths);
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const table = new Int32Array(cap);
    const mask = cap - 1;
    for (let n = 0; n < this.strings.length; n++) {
      let i = this.hashes[n] & mask;
      while (table[i] !== 0) i = (i + 1) & mask;
      table[i] = n + 1;
    }
    this.table = table;
    this.mask = mask;
  }
}
