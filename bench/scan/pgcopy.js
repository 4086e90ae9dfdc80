// Byte scanners for pg_dump output, the floor a tokenizer is measured against. Both look for
// lines starting with `COPY `; the lines after it, up to `\.`, are COPY text rows: TAB ends a
// field, LF ends a row, a backslash escapes the next byte. `PgCopyCounter` counts rows and
// fields; `PgCopyDecoder` also turns every field into a JS string (`\N` into null), carrying a
// field's bytes over chunk boundaries.

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const COPY = Buffer.from('COPY ');

// Modes.
const OUTSIDE = 0; // SQL between COPY blocks: only line starts are looked at
const SKIP_LINE = 1; // the rest of the COPY statement's line
const DATA = 2; // in a row
const ESCAPE = 3; // after a backslash
const TERMINATOR = 4; // after `\.` at the start of a row, waiting for its newline

class Scanner {
  mode = OUTSIDE;
  matched = 0;
  rows = 0;
  fields = 0;
  /** True at the first byte of a row (where `\.` ends the block). */
  rowStart = true;

  /** Skips SQL up to the next COPY line and past it; returns where scanning continues. */
  outside(buf, i) {
    const n = buf.length;
    while (i < n) {
      if (this.mode === SKIP_LINE) {
        const newline = buf.indexOf(NEWLINE, i);
        if (newline === -1) return n;
        this.mode = DATA;
        this.rowStart = true;
        return newline + 1;
      }
      if (this.matched >= 0) {
        if (buf[i] === COPY[this.matched]) {
          i++;
          if (++this.matched === COPY.length) {
            this.mode = SKIP_LINE;
            this.matched = 0;
          }
          continue;
        }
        this.matched = -1;
      }
      const newline = buf.indexOf(NEWLINE, i);
      if (newline === -1) return n;
      i = newline + 1;
      this.matched = 0;
    }
    return n;
  }
}

export class PgCopyCounter extends Scanner {
  push(buf) {
    const n = buf.length;
    let i = 0;
    let { mode, rows, fields, rowStart } = this;
    while (i < n) {
      if (mode === OUTSIDE || mode === SKIP_LINE) {
        this.mode = mode;
        i = this.outside(buf, i);
        mode = this.mode;
        rowStart = this.rowStart;
        continue;
      }
      if (mode === DATA) {
        // Tight loop over ordinary bytes, counting field and row ends.
        let b = buf[i];
        while (b !== BACKSLASH) {
          if (b === TAB) fields++;
          else if (b === NEWLINE) {
            fields++;
            rows++;
            rowStart = true;
            if (++i === n) break;
            b = buf[i];
            continue;
          }
          rowStart = false;
          if (++i === n) break;
          b = buf[i];
        }
        if (i === n) break;
        i++;
        mode = rowStart ? TERMINATOR : ESCAPE;
        rowStart = false;
        continue;
      }
      const b = buf[i++];
      if (mode === ESCAPE) {
        mode = DATA;
      } else if (b === DOT) {
        // `\.` at a row start ends the block; its newline follows.
        mode = OUTSIDE;
        this.matched = -1;
      } else {
        mode = DATA; // TERMINATOR that was an ordinary escape at the start of a row
      }
    }
    Object.assign(this, { mode, rows, fields, rowStart });
  }

  end() {}
}

const UNESCAPE = new Uint8Array(256).map((_, c) => c);
UNESCAPE[0x62] = 0x08; // \b
UNESCAPE[0x66] = 0x0c; // \f
UNESCAPE[0x6e] = 0x0a; // \n
UNESCAPE[0x72] = 0x0d; // \r
UNESCAPE[0x74] = 0x09; // \t
UNESCAPE[0x76] = 0x0b; // \v

const isOctal = (c) => c >= 0x30 && c <= 0x37;
const hexValue = (c) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1);

export class PgCopyDecoder extends Scanner {
  nulls = 0;
  chars = 0;
  start = 0;
  carry = null;
  escaped = false;
  scratch = Buffer.allocUnsafe(1 << 16);

  push(buf) {
    const n = buf.length;
    let i = 0;
    while (i < n) {
      const mode = this.mode;
      if (mode === OUTSIDE || mode === SKIP_LINE) {
        i = this.outside(buf, i);
        if (this.mode === DATA) this.begin(i);
        continue;
      }
      if (mode === DATA) {
        // Fast path to the next byte that matters.
        while (i < n) {
          const c = buf[i];
          if (c === TAB || c === NEWLINE || c === BACKSLASH) break;
          i++;
        }
        if (i === n) break;
        const b = buf[i++];
        if (b === BACKSLASH) {
          if (this.rowStart && i - 1 === this.start && !this.carry) this.mode = TERMINATOR;
          else {
            this.escaped = true;
            this.mode = ESCAPE;
          }
          continue;
        }
        this.emit(buf, i - 1);
        if (b === NEWLINE) {
          this.rows++;
          this.rowStart = true;
        } else this.rowStart = false;
        this.begin(i);
      } else if (mode === ESCAPE) {
        this.mode = DATA;
        i++;
      } else if (buf[i] === DOT) {
        this.mode = OUTSIDE;
        this.matched = -1;
        this.carry = null;
        i++;
      } else {
        this.escaped = true; // TERMINATOR that was an ordinary escape at the start of a row
        this.mode = DATA;
        i++;
      }
    }
    if (this.mode !== OUTSIDE && this.mode !== SKIP_LINE && this.start < n) {
      const rest = buf.subarray(this.start, n);
      this.carry = this.carry ? Buffer.concat([this.carry, rest]) : Buffer.from(rest);
    }
    this.start = 0;
  }

  begin(at) {
    this.start = at;
    this.escaped = false;
    this.carry = null;
  }

  emit(buf, end) {
    let bytes = buf.subarray(this.start, end);
    if (this.carry) {
      bytes = Buffer.concat([this.carry, bytes]);
      this.carry = null;
    }
    this.fields++;
    if (bytes.length === 2 && bytes[0] === BACKSLASH && bytes[1] === 0x4e) {
      this.nulls++;
      return null;
    }
    const text = this.escaped ? this.unescape(bytes) : bytes.toString('utf8');
    this.chars += text.length;
    return text;
  }

  /** COPY text escapes: \b \f \n \r \t \v, octal \ddd, hex \xhh, and \c for any other c. */
  unescape(bytes) {
    if (this.scratch.length < bytes.length) this.scratch = Buffer.allocUnsafe(bytes.length * 2);
    const out = this.scratch;
    let o = 0;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b !== BACKSLASH || i + 1 === bytes.length) {
        out[o++] = b;
        continue;
      }
      const c = bytes[++i];
      if (isOctal(c)) {
        let value = c - 0x30;
        for (let k = 0; k < 2 && i + 1 < bytes.length && isOctal(bytes[i + 1]); k++) value = value * 8 + bytes[++i] - 0x30;
        out[o++] = value & 0xff;
      } else if (c === 0x78 && i + 1 < bytes.length && hexValue(bytes[i + 1]) >= 0) {
        let value = hexValue(bytes[++i]);
        if (i + 1 < bytes.length && hexValue(bytes[i + 1]) >= 0) value = value * 16 + hexValue(bytes[++i]);
        out[o++] = value;
      } else out[o++] = UNESCAPE[c];
    }
    return out.toString('utf8', 0, o);
  }

  end() {}
}
