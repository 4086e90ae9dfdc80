// Byte scanners for mariadb-dump / mysqldump output, the floor a tokenizer is measured against.
// Both look for lines starting with `INSERT ` and, inside those statements, follow quotes,
// backslash escapes, doubled quotes and parenthesis depth; a row ends where the depth returns
// to zero. `MariaDbCounter` only counts rows; `MariaDbDecoder` also turns every field into a JS
// string (NULL into null), carrying a field's bytes over chunk boundaries.

const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const NEWLINE = 0x0a;
const INSERT = Buffer.from('INSERT ');

// Modes.
const OUTSIDE = 0; // between statements: only line starts are looked at
const CODE = 1; // inside an INSERT, outside strings
const STRING = 2;
const ESCAPE = 3; // after a backslash in a string
const QUOTE_SEEN = 4; // after a quote in a string: the end, or the first half of ''
const BARE = 5; // inside an unquoted value (NULL, a number)

class Scanner {
  mode = OUTSIDE;
  /** Bytes of "INSERT " matched at the start of the current line; -1 once the line cannot match. */
  matched = 0;
  depth = 0;
  rows = 0;

  /** Skips to the next INSERT statement; returns where scanning continues. */
  outside(buf, i) {
    const n = buf.length;
    while (i < n) {
      if (this.matched >= 0) {
        if (buf[i] === INSERT[this.matched]) {
          i++;
          if (++this.matched === INSERT.length) {
            this.mode = CODE;
            this.matched = 0;
            return i;
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

export class MariaDbCounter extends Scanner {
  push(buf) {
    const n = buf.length;
    let i = 0;
    let { mode, depth, rows } = this;
    while (i < n) {
      if (mode === OUTSIDE) {
        this.mode = mode;
        i = this.outside(buf, i);
        mode = this.mode;
        continue;
      }
      if (mode === STRING) {
        // Fast path to the next quote or backslash.
        while (i < n && buf[i] !== QUOTE && buf[i] !== BACKSLASH) i++;
        if (i === n) break;
        mode = buf[i++] === BACKSLASH ? ESCAPE : QUOTE_SEEN;
        continue;
      }
      const b = buf[i++];
      if (mode === CODE) {
        if (b === QUOTE) mode = STRING;
        else if (b === OPEN) depth++;
        else if (b === CLOSE) {
          if (--depth === 0) rows++;
        } else if (b === SEMICOLON && depth === 0) {
          mode = OUTSIDE;
          this.matched = -1;
        }
      } else if (mode === ESCAPE) {
        mode = STRING;
      } else if (b === QUOTE) {
        mode = STRING; // '' inside a string
      } else {
        mode = CODE;
        i--; // QUOTE_SEEN: the string ended; look at this byte again as code
      }
    }
    Object.assign(this, { mode, depth, rows });
  }

  end() {}
}

const UNESCAPE = new Uint8Array(256).map((_, c) => c);
UNESCAPE[0x30] = 0x00; // \0
UNESCAPE[0x6e] = 0x0a; // \n
UNESCAPE[0x72] = 0x0d; // \r
UNESCAPE[0x74] = 0x09; // \t
UNESCAPE[0x62] = 0x08; // \b
UNESCAPE[0x5a] = 0x1a; // \Z

export class MariaDbDecoder extends Scanner {
  fields = 0;
  nulls = 0;
  chars = 0;
  /** Where the current field started in the current chunk. */
  start = 0;
  /** Bytes of the current field from earlier chunks. */
  carry = null;
  escaped = false;
  scratch = Buffer.allocUnsafe(1 << 16);

  push(buf) {
    const n = buf.length;
    let i = 0;
    while (i < n) {
      const mode = this.mode;
      if (mode === OUTSIDE) {
        i = this.outside(buf, i);
        continue;
      }
      const b = buf[i];
      if (mode === STRING) {
        // Fast path to the next quote or backslash.
        while (i < n && buf[i] !== QUOTE && buf[i] !== BACKSLASH) i++;
        if (i === n) break;
        if (buf[i] === BACKSLASH) {
          this.escaped = true;
          this.mode = ESCAPE;
        } else this.mode = QUOTE_SEEN;
        i++;
      } else if (mode === ESCAPE) {
        this.mode = STRING;
        i++;
      } else if (mode === QUOTE_SEEN) {
        if (b === QUOTE) {
          this.escaped = true;
          this.mode = STRING;
          i++;
        } else {
          this.emit(buf, i - 1, true); // the field ends before the closing quote
          this.mode = CODE;
        }
      } else if (mode === BARE) {
        if (b === COMMA || b === CLOSE) {
          this.emit(buf, i, false);
          this.mode = CODE;
        } else i++;
      } else {
        i++;
        if (b === QUOTE) this.begin(i, STRING);
        else if (b === OPEN) this.depth++;
        else if (b === CLOSE) {
          if (--this.depth === 0) this.rows++;
        } else if (b === SEMICOLON && this.depth === 0) {
          this.mode = OUTSIDE;
          this.matched = -1;
        } else if (this.depth === 1 && b !== COMMA && b !== NEWLINE && b !== 0x20) this.begin(i - 1, BARE);
      }
    }
    if (this.mode === STRING || this.mode === ESCAPE || this.mode === QUOTE_SEEN || this.mode === BARE) {
      const rest = buf.subarray(this.start, n);
      this.carry = this.carry ? Buffer.concat([this.carry, rest]) : Buffer.from(rest);
    }
    this.start = 0;
  }

  begin(at, mode) {
    this.start = at;
    this.mode = mode;
    this.escaped = false;
    this.carry = null;
  }

  /** The field's bytes are carry + buf[start, end); a quoted field's end may sit in the carry. */
  emit(buf, end, quoted) {
    let bytes;
    if (this.carry) {
      bytes = end >= 0 ? Buffer.concat([this.carry, buf.subarray(0, end)]) : this.carry.subarray(0, this.carry.length - 1);
      this.carry = null;
    } else bytes = buf.subarray(this.start, end);
    this.fields++;
    if (!quoted && bytes.length === 4 && bytes[0] === 0x4e && bytes[1] === 0x55 && bytes[2] === 0x4c && bytes[3] === 0x4c) {
      this.nulls++;
      return null;
    }
    const text = this.escaped ? this.unescape(bytes) : bytes.toString(quoted ? 'utf8' : 'latin1');
    this.chars += text.length;
    return text;
  }

  unescape(bytes) {
    if (this.scratch.length < bytes.length) this.scratch = Buffer.allocUnsafe(bytes.length * 2);
    const out = this.scratch;
    let o = 0;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === BACKSLASH && i + 1 < bytes.length) {
        const c = bytes[++i];
        if (c === 0x25 || c === 0x5f) out[o++] = BACKSLASH; // \% and \_ keep their backslash
        out[o++] = UNESCAPE[c];
      } else if (b === QUOTE) {
        out[o++] = QUOTE; // the first half of '' (the second is skipped)
        i++;
      } else out[o++] = b;
    }
    return out.toString('utf8', 0, o);
  }

  end() {}
}
