/**
 * A growable byte buffer: bytes of one value or statement accumulate here
 * when they cross a chunk boundary or contain escapes, and are decoded once,
 * at the end. Grown by doubling, never concatenated per chunk.
 */
export class ByteBuf {
  buf: Buffer;
  len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  push(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    if (this.len + n > this.buf.length) this.grow(this.len + n);
    src.copy(this.buf, this.len, start, end);
    this.len += n;
  }

  pushByte(b: number): void {
    if (this.len === this.buf.length) this.grow(this.len + 1);
    this.buf[this.len++] = b;
  }

  toString(): string {
    return this.buf.toString('utf8', 0, this.len);
  }

  latin1(): string {
    return this.buf.toString('latin1', 0, this.len);
  }

  reset(): void {
    this.len = 0;
    // Give back memory taken by one exceptionally large value.
    if (this.buf.length > 1 << 20) this.buf = Buffer.allocUnsafe(256);
  }
}

export const TAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const SPACE = 0x20;
export const DQUOTE = 0x22;
export const HASH = 0x23;
export const DOLLAR = 0x24;
export const QUOTE = 0x27;
export const LPAREN = 0x28;
export const RPAREN = 0x29;
export const STAR = 0x2a;
export const COMMA = 0x2c;
export const DASH = 0x2d;
export const DOT = 0x2e;
export const SLASH = 0x2f;
export const COLON = 0x3a;
export const SEMI = 0x3b;
export const BACKSLASH = 0x5c;
export const BACKTICK = 0x60;

export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c || c === 0x0b;
}

export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
