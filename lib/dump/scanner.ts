/**
 * The dump scanner: a resumable byte-level state machine over mysqldump /
 * mariadb-dump and pg_dump plain output. It is fed Buffers of any size, keeps
 * only the unfinished value (never a whole line or statement), decodes only
 * the columns it is asked for, and returns rows in batches per table.
 *
 * No stream in here: {@link createDumpTokenizer} is the thin stream adapter.
 */
import { UmamiAggregateError, where } from '../errors.js';
import { ByteBuf, hexValue, isSpace } from './bytes.js';
import { Interner, hashBytes } from './interner.js';
import {
  type Dialect, type InsertHeader, parseCopy, parseCreateTable, parseInsertHeader, parseSetting,
} from './statements.js';

// Byte values, as local constants: TurboFan folds these into the hot loops, while an
// imported binding is loaded (and checked for initialization) at every use.
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const DQUOTE = 0x22;
const HASH = 0x23;
const DOLLAR = 0x24;
const QUOTE = 0x27;
const LPAREN = 0x28;
const RPAREN = 0x29;
const STAR = 0x2a;
const COMMA = 0x2c;
const DASH = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const COLON = 0x3a;
const SEMI = 0x3b;
const BACKSLASH = 0x5c;
/** `NULL`, as a little-endian word. */
const NULL4 = 0x4e | (0x55 << 8) | (0x4c << 16) | (0x4c << 24);
/** `\N` and a TAB, as the low three bytes of a little-endian word. */
const NULL_TAB3 = BACKSLASH | (0x4e << 8) | (TAB << 16);

/** Four copies of a byte, and the masks of the word-at-a-time tests below. */
const TABS4 = 0x09090909;
const LFS4 = 0x0a0a0a0a;
const QUOTES4 = 0x27272727;
const BACKSLASHES4 = 0x5c5c5c5c;
const ONES4 = 0x01010101;
const HIGHS4 = 0x80808080 | 0;

/**
 * Whether one of the four bytes of word x is a TAB, an LF or a backslash (when none is, 0). The
 * test for a zero byte, `(v - 0x01010101) & ~v & 0x80808080`, applied to x ^ TABS4, x ^ LFS4 and
 * x ^ BACKSLASHES4: it never misses one, and a byte it flags wrongly lies after one it flags
 * rightly (the borrow), so a caller that goes on byte by byte from the word's start finds the
 * first exactly.
 */
function tabLfOrBackslash4(x: number): number {
  const a = x ^ TABS4;
  const b = x ^ BACKSLASHES4;
  const c = x ^ LFS4;
  return (((a - ONES4) & ~a) | ((b - ONES4) & ~b) | ((c - ONES4) & ~c)) & HIGHS4;
}

/** As {@link tabLfOrBackslash4}, for a quote. */
function quote4(x: number): number {
  const a = x ^ QUOTES4;
  return (a - ONES4) & ~a & HIGHS4;
}

/** As {@link tabLfOrBackslash4}, for a quote or a backslash. */
function quoteOrBackslash4(x: number): number {
  const a = x ^ QUOTES4;
  const b = x ^ BACKSLASHES4;
  return (((a - ONES4) & ~a) | ((b - ONES4) & ~b)) & HIGHS4;
}
const BACKTICK = 0x60;

/**
 * One row: values in column order; `null` is SQL NULL; `undefined` a column
 * that was not decoded; a number only in a column given a {@link ValueConverter}.
 */
export type Row = Array<string | number | null | undefined>;

/**
 * Reads a value from its bytes b[start, end) into a number, so that no
 * string is made for it; NaN asks for the decoded string instead. The bytes
 * are the dump's own where the value has no escapes and lies in one chunk,
 * else the decoded value's (escapes resolved, the pieces joined): a value
 * comes the same whichever way it was written or read.
 */
export type ValueConverter = (b: Uint8Array, start: number, end: number) => number;

/** What is known about a table whose rows are being read. */
export interface TableInfo {
  /** Unqualified table name as in the dump (`website_event`). */
  table: string;
  /** Schema (pg_dump) or database (`USE db`, `db`.`t`) qualifier, if any. */
  schema: string | null;
  /** Column names in row order, from the INSERT/COPY column list or the CREATE TABLE. Empty when unknown. */
  columns: string[];
  /** Column types from the CREATE TABLE (lower case, e.g. `timestamp`), parallel to `columns`; `''` when unknown. */
  types: string[];
  /** Which SQL dialect the dump is written in (`json` for JSON input). */
  dialect: Dialect | 'json';
  /** The session time zone the dump set (`SET TIME_ZONE='+00:00'`), or null when it set none. */
  timeZone: string | null;
}

/**
 * A batch of rows of one table, as produced by the tokenizer. A batch with no
 * rows announces a table (its CREATE TABLE was read).
 */
export interface RowBatch extends TableInfo {
  rows: Row[];
  /** Byte offset in the (decompressed) input at which each row starts. */
  offsets: number[];
}

export interface ScannerOptions {
  /** `auto` (default) recognises the dump tool from the content. */
  dialect?: Dialect | 'auto';
  /**
   * Chooses what to decode when a table's data starts: `true` every column,
   * `false` none (rows are scanned and counted but not returned), or a mask
   * with `true` for each column to decode (`'intern'`: decode, and return the
   * same string object for repeated values; an {@link Interner}: decode
   * through that one, which may serve several columns and give indices; a
   * {@link ValueConverter}: a number where it gives one). Default: every
   * column of every table.
   */
  select?: (table: TableInfo) => boolean | Array<boolean | 'intern' | Interner | ValueConverter>;
  /** Largest single value in bytes; default 16 MiB. */
  maxValueBytes?: number;
  /** Rows per batch at most; default 2048. */
  batchRows?: number;
}

// States of the machine.
const T_START = 0; // between statements
const T_TEXT = 1; // inside a statement's text
const T_LINE_COMMENT = 2;
const T_BLOCK_COMMENT = 3;
const T_SQ = 4; // 'string' inside statement text
const T_DQ = 5; // "identifier"
const T_BQ = 6; // `identifier`
const T_DOLLAR = 7; // $tag$ body $tag$
const T_LINECMD = 8; // DELIMITER …, \restrict …: to the end of the line
const V_BETWEEN = 10; // VALUES list, between rows
const V_VALUE = 11; // before a value
const V_STR = 12; // inside a quoted value
const V_BARE = 13; // inside an unquoted value
const V_AFTER = 14; // after a value
const V_CAST = 15; // after `::` (pg --inserts casts)
const V_INTRO = 16; // after `_binary ` waiting for the quote
const C_SKIP = 20; // rest of the `COPY … FROM stdin;` line
const C_LINE = 21; // start of a COPY data line
const C_FIELD = 22; // inside a COPY field

// Kinds of quoted value.
const STR_PLAIN = 0;
const STR_BITS = 1; // b'0101'
const STR_HEX = 2; // x'4F2A'

const MAX_STATEMENT_TEXT = 4 << 20;
/** The longest INSERT header kept to be recognised when the next statement repeats it. */
const MAX_REPEAT_HEADER = 512;
/** Bytes of a chunk that carried-over bytes are joined with before the rest is scanned in place. */
const CARRY_JOIN = 1 << 16;

interface DataTarget {
  info: TableInfo;
  /** null: table not selected; rows are scanned but not built. */
  mask: boolean[] | null;
  /** Every column is decoded (also when the columns are not known). */
  all: boolean;
  /** Per column, the interner of repeated values, if asked for. */
  interners: Array<Interner | null> | null;
  /** Per column, the converter to a number, if asked for. */
  converters: Array<ValueConverter | null> | null;
  /**
   * A row of `undefined`s that each new row is copied from (null: rows not built). Rows made
   * from it all have one shape whatever their values, where `new Array(n)` rows changed shape
   * with the kinds of value stored first (numbers, then a string or NULL), and the optimised
   * scanner was thrown away each time a table brought a new sequence of kinds.
   */
  blank: Row | null;
  /** The columns decoded (every one with `all`): the slots a row given back is cleared in. */
  decoded: Int32Array;
}

/**
 * Where a quoted value whose first escape is at `q` ends: its closing quote, or n - 1 or more
 * when the chunk ends first. Nothing is decoded, and an escape's first two bytes are all that
 * can hide a quote (MySQL's, and PostgreSQL's E'' forms), so a backslash skips the next byte;
 * '' is a quote too.
 */
function escapedValueEnd(buf: Buffer, q: number, n: number): number {
  for (;;) {
    if (q + 1 >= n) return q;
    const d = buf[q];
    if (d === BACKSLASH || (d === QUOTE && buf[q + 1] === QUOTE)) q += 2;
    else if (d === QUOTE) return q;
    else q++;
  }
}

/**
 * An empty array whose elements are already of the kind objects take (a new `[]` changes kind at
 * its first push): the fast paths, which push a batch every few thousand rows, were optimised on
 * one kind and thrown away at the other ("wrong map"); and the scanner's two lists of rows share
 * one shape, so the call that takes a row from either stays monomorphic.
 */
function objectList<T extends object>(): T[] {
  const list: Array<T | null> = [null];
  list.pop();
  return list as T[];
}

/** The end (`,` or `)`) of an unquoted number from j on; n when it is not one (0x…, say) or the chunk ends first. */
function numberEnd(buf: Buffer, j: number, n: number): number {
  while (j < n) {
    const d = buf[j];
    if (d === COMMA || d === RPAREN) return j;
    // Digits, sign, point and exponent only; anything else is the general machine's.
    if (!((d >= 0x30 && d <= 0x39) || d === DOT || d === DASH || d === 0x2b || d === 0x65 || d === 0x45)) return n;
    j++;
  }
  return n;
}

/** Rows kept for building into again ({@link DumpScanner.recycle}) at most: more than a 1 MiB chunk of event rows makes. */
const ROW_POOL_MAX = 4096;

/**
 * A batch with no rows yet. Every batch is made here, its fields always in one order: batches
 * then share one shape, where copies of each table's {@link TableInfo} (`{ ...info }`) had one
 * shape per table, and V8 threw away the optimised scanner and parser at each new table.
 */
function newBatch(table: string, schema: string | null, columns: string[], types: string[], dialect: Dialect | 'json', timeZone: string | null): RowBatch {
  return { table, schema, columns, types, dialect, timeZone, rows: [], offsets: [] };
}

export class DumpScanner {
  readonly options: Required<Omit<ScannerOptions, 'select'>> & Pick<ScannerOptions, 'select'>;

  /** Absolute offset of the first byte of the buffer being scanned. */
  private base = 0;
  /** Bytes fed so far. */
  bytes = 0;
  /** Rows scanned, selected or not. */
  rowsRead = 0;
  /** Dialect in use; `auto` until the content tells. */
  dialect: Dialect | null;
  /** The time zone set by the dump (`SET TIME_ZONE`). */
  timeZone: string | null = null;
  private standardStrings = true;
  private database: string | null = null;

  private state = T_START;
  private carry: Buffer | null = null;
  /** Where the statement being read started (a byte offset of the input). */
  private stmtStartAt = 0;
  /** The last INSERT's bytes from its start to the `(` of its first row, or null. */
  private repeatHeader: Buffer | null = null;
  /** The fast paths' view of the chunk last read (a dump of one-row INSERTs enters them once per row). */
  private wordsBuf: Buffer | null = null;
  private words: DataView | null = null;
  private atStart = true;

  // statement text
  private readonly stmt = new ByteBuf(1024);
  private stmtOverflow = false;
  private stmtIgnore = false;
  private parenDepth = 0;
  private condComment = 0; // 1 inside /*! … */, 2 when it opened the statement
  private commentDepth = 0;
  /** The state a comment returns to, when not the statement's. */
  private resumeState = -1;
  private stringBackslash = false;
  private dollarTag: Buffer | null = null;
  private lineCmd: 'delimiter' | 'meta' = 'meta';
  private readonly lineText = new ByteBuf(64);
  private delimiter: Buffer = Buffer.from(';');
  private commentSniff = false;

  // tables
  private readonly shapes = new Map<string, { columns: string[]; types: string[] }>();
  private readonly headerCache = new Map<string, DataTarget>();
  private target: DataTarget | null = null;
  /** The table whose rows were read last (kept between statements, where `target` is null). */
  private lastTarget: DataTarget | null = null;

  // current row / value
  private row: Row | null = null;
  private col = 0;
  private rowOffset = 0;
  private dec = false;
  private readonly acc = new ByteBuf(256);
  private accUsed = false;
  /** Whether the last byte put in acc was a raw CR (of a CR LF line end carried over from the chunk before), not one decoded from an escape. */
  private accRawCr = false;
  private valBytes = 0;
  private strKind = STR_PLAIN;
  private strBackslash = false;
  private castDepth = 0;
  private fieldNull = false;

  // output
  /**
   * Rows given back by {@link recycle}, built into again: rows of the table whose columns are
   * `poolColumns`, each `poolColumns.length` long.
   */
  private readonly rowPool: Row[] = objectList<Row>();
  private poolColumns: readonly string[] | null = null;
  /** Always empty: what {@link newRow} takes from for a table whose rows the pool does not hold. */
  private readonly noRows: Row[] = objectList<Row>();
  private batch: RowBatch | null = null;
  private batchInfo: TableInfo | null = null;
  private out: RowBatch[] = objectList<RowBatch>();

  constructor(options: ScannerOptions = {}) {
    this.options = {
      dialect: options.dialect ?? 'auto',
      select: options.select,
      maxValueBytes: options.maxValueBytes ?? 16 * 1024 * 1024,
      batchRows: options.batchRows ?? 2048,
    };
    this.dialect = this.options.dialect === 'auto' ? null : this.options.dialect;
  }

  /** Current position in the input, for error messages and checkpoints. */
  get offset(): number {
    return this.bytes;
  }

  /** Scans a chunk; returns the batches completed so far. */
  write(chunk: Buffer): RowBatch[] {
    let buf = chunk;
    if (this.carry !== null && chunk.length > CARRY_JOIN) {
      // Bytes carried over are joined with the chunk's first bytes only: joining them with the
      // whole chunk copied a MiB each time (every seventh chunk of a pg_dump ends near a \N).
      const head = chunk.subarray(0, CARRY_JOIN);
      this.bytes += head.length;
      this.scan(Buffer.concat([this.takeCarry(), head]), false);
      buf = chunk.subarray(CARRY_JOIN);
    }
    this.bytes += buf.length;
    if (this.carry !== null) buf = Buffer.concat([this.takeCarry(), buf]);
    this.scan(buf, false);
    return this.take();
  }

  private takeCarry(): Buffer {
    const c = this.carry!;
    this.carry = null;
    return c;
  }

  /** Signals the end of input; throws if the input stopped inside a statement. */
  end(): RowBatch[] {
    const buf = this.carry;
    this.carry = null;
    if (buf) this.scan(buf, true);
    this.finish();
    return this.take();
  }

  private take(): RowBatch[] {
    this.flushBatch();
    const out = this.out;
    this.out = objectList<RowBatch>();
    return out;
  }

  private flushBatch(): void {
    if (this.batch && this.batch.rows.length > 0) this.out.push(this.batch);
    this.batch = null;
  }

  private get stringDialect(): Dialect {
    return this.dialect ?? 'mysql';
  }

  private setDialect(d: Dialect): void {
    if (this.dialect === null) this.dialect = d;
  }

  // ───────────────────────────── errors ─────────────────────────────

  private fail(code: 'UA_UNEXPECTED_END' | 'UA_SYNTAX' | 'UA_VALUE_TOO_LARGE', what: string, offset: number): never {
    const table = this.target && this.state >= V_BETWEEN ? this.target.info.table : undefined;
    const context = { table, offset };
    throw new UmamiAggregateError(code, `${what}${where(context)}`, context);
  }

  private finish(): void {
    const end = this.bytes;
    switch (this.state) {
      case T_START:
      case T_LINE_COMMENT:
        return;
      case T_LINECMD:
        this.endLineCommand();
        return;
      case T_TEXT:
        if (this.condComment) this.fail('UA_UNEXPECTED_END', 'unexpected end of input inside a comment', end);
        this.completeStatement();
        return;
      case T_BLOCK_COMMENT:
        this.fail('UA_UNEXPECTED_END', 'unexpected end of input inside a comment', end);
      case T_SQ:
      case T_DQ:
      case T_BQ:
      case T_DOLLAR:
        this.fail('UA_UNEXPECTED_END', 'unexpected end of input inside a quoted string of a statement', end);
      case V_STR:
        this.fail('UA_UNEXPECTED_END', 'unexpected end of input inside a string', end);
      case V_BETWEEN:
        this.fail('UA_UNEXPECTED_END', 'unexpected end of input: INSERT statement not terminated', end);
      case C_SKIP:
      case C_LINE:
      case C_FIELD:
        this.fail('UA_UNEXPECTED_END', 'unexpected end of input inside COPY data (no \\. line)', end);
      default:
        this.fail('UA_UNEXPECTED_END', 'unexpected end of input inside a row', end);
    }
  }

  // ───────────────────────────── the machine ─────────────────────────────

  /**
   * Scans buf. When a decision needs bytes beyond the end of buf (a `''`, an
   * escape, a comment opener), the rest of buf is carried over to the next
   * write, unless `final`, when the end of input decides.
   */
  private scan(buf: Buffer, final: boolean): void {
    const n = buf.length;
    let i = 0;
    if (this.atStart) {
      if (n < 3 && !final) {
        this.carry = Buffer.from(buf);
        return;
      }
      this.atStart = false;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) i = 3;
    }
    this.base = this.bytes - n;
    // Bytes of the value or field in progress start at 0 of a new buffer.
    let runStart = 0;

    while (i < n) {
      switch (this.state) {
        case T_START: {
          const c = buf[i];
          if (isSpace(c) || c === SEMI) {
            i++;
            break;
          }
          if (c === DASH || c === SLASH) {
            if (i + 16 >= n && !final) return this.carryFrom(buf, i);
            if (c === DASH && buf[i + 1] === DASH) {
              i = this.openLineComment(buf, i);
              break;
            }
            if (c === SLASH && buf[i + 1] === STAR) {
              i = this.openBlockComment(buf, i, true);
              break;
            }
          }
          if (c === HASH && this.stringDialect === 'mysql') {
            this.state = T_LINE_COMMENT;
            i++;
            break;
          }
          if (c === BACKSLASH) {
            // psql meta-command: \restrict, \unrestrict, \connect
            this.setDialect('postgres');
            this.lineCmd = 'meta';
            this.lineText.reset();
            this.state = T_LINECMD;
            i++;
            break;
          }
          this.stmtStartAt = this.base + i;
          this.beginStatement();
          break;
        }

        case T_TEXT: {
          const c = buf[i];
          if (c === this.delimiter[0]) {
            const d = this.delimiter;
            if (d.length === 1 || (i + d.length <= n && buf.compare(d, 0, d.length, i, i + d.length) === 0)) {
              i += d.length;
              this.completeStatement();
              break;
            }
            if (i + d.length > n && !final) return this.carryFrom(buf, i);
          }
          if (c === QUOTE) {
            this.appendStmt(c);
            this.state = T_SQ;
            this.stringBackslash = this.textStringHasBackslashEscapes();
            i++;
          } else if (c === DQUOTE) {
            this.appendStmt(c);
            this.state = T_DQ;
            i++;
          } else if (c === BACKTICK) {
            this.setDialect('mysql');
            this.appendStmt(c);
            this.state = T_BQ;
            i++;
          } else if (c === DASH || c === SLASH || c === STAR || c === HASH) {
            if (i + (c === SLASH ? 16 : 2) >= n && !final) return this.carryFrom(buf, i);
            const d = buf[i + 1];
            if (c === DASH && d === DASH && (this.stringDialect === 'postgres' || i + 2 >= n || isSpace(buf[i + 2]) || buf[i + 2] < 0x20)) {
              i = this.openLineComment(buf, i);
            } else if (c === SLASH && d === STAR) {
              i = this.openBlockComment(buf, i, false);
            } else if (c === STAR && d === SLASH && this.condComment) {
              const opened = this.condComment === 2;
              this.condComment = 0;
              i += 2;
              if (opened) this.completeStatement();
            } else if (c === HASH && this.stringDialect === 'mysql') {
              this.state = T_LINE_COMMENT;
              i++;
            } else {
              this.appendStmt(c);
              i++;
            }
          } else if (c === DOLLAR && this.stringDialect === 'postgres') {
            const r = this.tryDollarQuote(buf, i, final);
            if (r < 0) return this.carryFrom(buf, i);
            i = r;
          } else if (c === LPAREN) {
            if (this.parenDepth === 0 && !this.stmtIgnore && this.stmtIsInsertBeforeValues()) {
              i++;
              this.startValues(i - 1);
              runStart = i;
              this.keepHeader(buf, i);
            } else {
              this.parenDepth++;
              this.appendStmt(c);
              i++;
            }
          } else if (c === RPAREN) {
            if (this.parenDepth > 0) this.parenDepth--;
            this.appendStmt(c);
            i++;
          } else if (isSpace(c)) {
            if (this.stmt.len === 9 && this.stmtIs('delimiter')) {
              this.lineCmd = 'delimiter';
              this.lineText.reset();
              this.stmt.reset();
              this.state = T_LINECMD;
            } else {
              this.appendStmt(c);
            }
            i++;
          } else {
            this.appendStmt(c);
            i++;
          }
          break;
        }

        case T_LINE_COMMENT: {
          const nl = buf.indexOf(LF, i);
          const end = nl < 0 ? n : nl;
          if (this.commentSniff) this.lineText.push(buf, i, Math.min(end, i + 200));
          if (nl < 0) {
            i = n;
          } else {
            if (this.commentSniff) this.sniffComment();
            this.state = this.resumeState >= 0 ? this.resumeState : this.stmt.len > 0 || this.condComment ? T_TEXT : T_START;
            this.resumeState = -1;
            i = nl + 1;
          }
          break;
        }

        case T_BLOCK_COMMENT: {
          const c = buf[i];
          if (c === STAR || c === SLASH) {
            if (i + 1 >= n && !final) return this.carryFrom(buf, i);
            if (c === STAR && buf[i + 1] === SLASH) {
              i += 2;
              if (--this.commentDepth === 0) {
                this.state = this.resumeState >= 0 ? this.resumeState : this.stmt.len > 0 ? T_TEXT : T_START;
                this.resumeState = -1;
              }
              break;
            }
            if (c === SLASH && buf[i + 1] === STAR && this.stringDialect === 'postgres') {
              this.commentDepth++;
              i += 2;
              break;
            }
          }
          i++;
          break;
        }

        case T_SQ:
        case T_DQ:
        case T_BQ: {
          // Quoted text inside a statement: kept as it is, only its end matters.
          const c = buf[i];
          const q = this.state === T_SQ ? QUOTE : this.state === T_DQ ? DQUOTE : BACKTICK;
          if (c === BACKSLASH && this.state === T_SQ && this.stringBackslash) {
            if (i + 1 >= n && !final) return this.carryFrom(buf, i);
            this.appendStmt(c);
            if (i + 1 < n) this.appendStmt(buf[i + 1]);
            i += 2;
          } else if (c === q) {
            if (i + 1 >= n && !final) return this.carryFrom(buf, i);
            this.appendStmt(c);
            if (buf[i + 1] === q) {
              this.appendStmt(q);
              i += 2;
            } else {
              this.state = T_TEXT;
              i++;
            }
          } else {
            this.appendStmt(c);
            i++;
          }
          break;
        }

        case T_DOLLAR: {
          const tag = this.dollarTag!;
          const c = buf[i];
          if (c === DOLLAR) {
            if (i + tag.length > n && !final) return this.carryFrom(buf, i);
            if (buf.compare(tag, 0, tag.length, i, i + tag.length) === 0) {
              this.appendStmtRange(buf, i, i + tag.length);
              i += tag.length;
              this.state = T_TEXT;
              this.dollarTag = null;
              break;
            }
          }
          this.appendStmt(c);
          i++;
          break;
        }

        case T_LINECMD: {
          const nl = buf.indexOf(LF, i);
          const end = nl < 0 ? n : nl;
          if (this.lineText.len < 1024) this.lineText.push(buf, i, Math.min(end, i + 1024));
          if (nl < 0) {
            i = n;
          } else {
            i = nl + 1;
            this.endLineCommand();
          }
          break;
        }

        case V_BETWEEN: {
          const c = buf[i];
          if (isSpace(c) || c === COMMA) {
            i++;
          } else if (c === LPAREN) {
            this.startRow(i);
            i++;
            this.state = V_VALUE;
          } else if (c === this.delimiter[0]) {
            i++;
            if (this.repeatHeader !== null) {
              const k = this.repeatedHeader(buf, i, n);
              if (k >= 0) {
                i = runStart = k;
                break;
              }
            }
            this.endData();
            this.state = T_START;
          } else if (c === SLASH || c === DASH || c === HASH) {
            // A comment between rows.
            if (i + 2 >= n && !final) return this.carryFrom(buf, i);
            if (c === SLASH && buf[i + 1] === STAR) {
              this.commentDepth = 1;
              this.resumeState = V_BETWEEN;
              this.state = T_BLOCK_COMMENT;
              i += 2;
            } else if ((c === DASH && buf[i + 1] === DASH) || c === HASH) {
              this.resumeState = V_BETWEEN;
              this.state = T_LINE_COMMENT;
              i += c === HASH ? 1 : 2;
            } else {
              this.fail('UA_SYNTAX', `unexpected ${showByte(c)} between rows`, this.base + i);
            }
          } else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
            // ON DUPLICATE KEY UPDATE …, RETURNING …: the rest of the statement is read and ignored.
            this.endData();
            this.stmt.reset();
            this.stmtOverflow = false;
            this.stmtIgnore = true;
            this.parenDepth = 0;
            this.state = T_TEXT;
          } else {
            this.fail('UA_SYNTAX', `unexpected ${showByte(c)} between rows`, this.base + i);
          }
          break;
        }

        case V_VALUE: {
          if (n - i > 64) {
            const k = this.target!.mask === null ? this.skipRows(buf, i, n) : this.fastRows(buf, i, n);
            if (k !== i || (this.state as number) !== V_VALUE) {
              i = k;
              break;
            }
          }
          const c = buf[i];
          if (isSpace(c)) {
            i++;
          } else if (c === QUOTE) {
            i++;
            this.openString(STR_PLAIN, this.stringDialect === 'mysql' || !this.standardStrings);
            runStart = i;
          } else if (c === RPAREN && this.col === 0) {
            i++;
            this.endRow();
          } else if (c === COMMA || c === RPAREN) {
            this.fail('UA_SYNTAX', `missing value before ${showByte(c)}`, this.base + i);
          } else {
            this.dec = this.decodes(this.col);
            this.accUsed = false;
            this.valBytes = 0;
            this.state = V_BARE;
            runStart = i;
          }
          break;
        }

        case V_STR: {
          // The hot loop: find the closing quote, handling '' and escapes.
          const bs = this.strBackslash;
          let j = i;
          for (;;) {
            if (j >= n) {
              this.saveRun(buf, runStart, n);
              i = n;
              break;
            }
            const c = buf[j];
            if (c === QUOTE) {
              if (j + 1 >= n && !final) {
                this.saveRun(buf, runStart, j);
                return this.carryFrom(buf, j);
              }
              if (j + 1 < n && buf[j + 1] === QUOTE) {
                // '' is one quote: keep the first, skip the second.
                this.saveRun(buf, runStart, j + 1);
                runStart = j + 2;
                j += 2;
                continue;
              }
              this.endString(buf, runStart, j);
              i = j + 1;
              this.state = V_AFTER;
              break;
            }
            if (c === BACKSLASH && bs) {
              const need = this.strKind === STR_PLAIN && this.stringDialect === 'postgres' ? 10 : 2;
              if (j + need > n && !final) {
                this.saveRun(buf, runStart, j);
                return this.carryFrom(buf, j);
              }
              this.saveRun(buf, runStart, j);
              j = this.stringDialect === 'postgres' ? this.pgEscape(buf, j, n) : this.mysqlEscape(buf, j, n);
              runStart = j;
              continue;
            }
            j++;
          }
          break;
        }

        case V_BARE: {
          let j = i;
          let c = 0;
          while (j < n) {
            c = buf[j];
            if (c === COMMA || c === RPAREN || c === QUOTE || c === COLON || isSpace(c)) break;
            j++;
          }
          if (j >= n) {
            this.saveBare(buf, runStart, n);
            i = n;
            break;
          }
          i = this.endBare(buf, runStart, j, c);
          if ((this.state as number) === V_STR) runStart = i;
          break;
        }

        case V_INTRO: {
          const c = buf[i];
          if (isSpace(c)) {
            i++;
          } else if (c === QUOTE) {
            i++;
            this.openString(STR_PLAIN, this.stringDialect === 'mysql' || !this.standardStrings, true);
            runStart = i;
          } else {
            this.fail('UA_SYNTAX', `expected a string after a character set introducer, got ${showByte(c)}`, this.base + i);
          }
          break;
        }

        case V_AFTER: {
          const c = buf[i];
          if (c === COMMA) {
            i++;
            this.state = V_VALUE;
          } else if (c === RPAREN) {
            i++;
            this.endRow();
          } else if (isSpace(c)) {
            i++;
          } else if (c === COLON) {
            this.castDepth = 0;
            this.state = V_CAST;
            i++;
          } else {
            this.fail('UA_SYNTAX', `unexpected ${showByte(c)} after a value`, this.base + i);
          }
          break;
        }

        case V_CAST: {
          const c = buf[i];
          if (c === LPAREN) this.castDepth++;
          else if (c === RPAREN && this.castDepth > 0) this.castDepth--;
          else if ((c === COMMA || c === RPAREN) && this.castDepth === 0) {
            this.state = V_AFTER;
            break;
          } else if (c === QUOTE) {
            this.fail('UA_SYNTAX', 'unexpected quote in a type cast', this.base + i);
          }
          i++;
          break;
        }

        case C_SKIP: {
          const nl = buf.indexOf(LF, i);
          if (nl < 0) {
            i = n;
          } else {
            i = nl + 1;
            this.state = C_LINE;
          }
          break;
        }

        case C_LINE: {
          const k = this.target!.mask === null ? this.skipCopyLines(buf, i, n) : this.fastCopy(buf, i, n);
          if (k !== i) {
            i = k;
            break;
          }
          const c = buf[i];
          if (c === BACKSLASH) {
            if (i + 3 > n && !final) return this.carryFrom(buf, i);
            if (buf[i + 1] === DOT && (i + 2 >= n || buf[i + 2] === LF || (buf[i + 2] === CR && buf[i + 3] === LF))) {
              this.endData();
              this.state = T_START;
              i += 2;
              break;
            }
          }
          this.startRow(i);
          this.startField();
          this.state = C_FIELD;
          runStart = i;
          break;
        }

        case C_FIELD: {
          // The hot loop of COPY: fields end at TAB, rows at LF.
          let j = i;
          for (;;) {
            if (j >= n) {
              this.saveRun(buf, runStart, n);
              i = n;
              break;
            }
            const c = buf[j];
            if (c === TAB) {
              this.endField(buf, runStart, j);
              j++;
              runStart = j;
              this.startField();
              continue;
            }
            if (c === LF) {
              // A raw CR never appears in COPY data (it is escaped): CR LF line ends are dropped,
              // a CR carried over from the chunk before too, but not one a \r escape stands for.
              let e = j;
              if (j > runStart) {
                if (buf[j - 1] === CR) e = j - 1;
              } else if (this.accUsed && this.accRawCr) {
                this.acc.len--;
              }
              this.endField(buf, runStart, e);
              this.endRow();
              i = j + 1;
              this.state = C_LINE;
              break;
            }
            if (c === BACKSLASH) {
              if (j + 4 > n && !final) {
                this.saveRun(buf, runStart, j);
                return this.carryFrom(buf, j);
              }
              if (buf[j + 1] === 0x4e /* N */ && this.valBytes === 0 && j === runStart && !this.accUsed) {
                const after = buf[j + 2];
                // \N before a TAB, the line's end, or the CR of a CR LF line end (as the fast path reads it).
                if (j + 2 >= n || after === TAB || after === LF || (after === CR && buf[j + 3] === LF)) {
                  this.fieldNull = true;
                  j += 2;
                  runStart = j;
                  continue;
                }
              }
              this.saveRun(buf, runStart, j);
              j = this.copyEscape(buf, j, n);
              runStart = j;
              continue;
            }
            j++;
          }
          break;
        }

        default:
          throw new Error(`scanner in unknown state ${this.state}`);
      }
    }
  }

  /**
   * The common case of VALUES rows, inline and with local state: quoted
   * strings without escapes, NULL, numbers. Returns where it stopped, with
   * the state set for the general machine to go on from there (anything
   * unusual — an escape, a value crossing the chunk end — is left to it).
   */
  private fastRows(buf: Buffer, i: number, n: number): number {
    const t = this.target!;
    const mask = t.mask;
    const all = t.all;
    const interners = t.interners;
    const converters = t.converters;
    const max = this.options.maxValueBytes;
    const mysql = this.stringDialect === 'mysql';
    const bs = mysql || !this.standardStrings;
    let row = this.row;
    let col = this.col;
    // The next backslash at or after a skipped value's start (n: none), found once per run of values.
    let nextBs = -1;
    // Plain bytes of a value decoded without interning are stepped over four at a time (little-endian reads).
    const words = this.wordsOf(buf);
    for (;;) {
      if (i >= n) break;
      let c = buf[i];
      const dec = mask !== null && (all || mask[col] === true);
      if (c === QUOTE && !dec) {
        // A value not decoded: its closing quote by memchr, unless a backslash comes first.
        let q = buf.indexOf(QUOTE, i + 1);
        if (q < 0 || q + 1 >= n || buf[q + 1] === QUOTE || q - i - 1 > max) break;
        if (bs) {
          if (nextBs <= i) {
            nextBs = buf.indexOf(BACKSLASH, i + 1);
            if (nextBs < 0) nextBs = n;
          }
          if (nextBs < q) {
            // Escapes: walked from the first one. The chunk's end or an oversized value is the
            // general machine's.
            q = escapedValueEnd(buf, nextBs, n);
            if (q + 1 >= n || q - i - 1 > max) break;
          }
        }
        col++;
        i = q + 1;
      } else if (c === QUOTE) {
        // A value decoded (those not decoded were taken above).
        let j = i + 1;
        let high = 0;
        let d = 0;
        const intern = interners !== null ? interners[col] : null;
        let h = 0x811c9dc5 | 0; // FNV-1a basis, as an int32 like every later value
        if (intern !== null) {
          // The interner's hash (hashBytes), taken while the bytes are read anyway: four bytes a
          // step up to the word holding the closing quote (or a backslash that escapes), so that the
          // words are the value's own and its last 0-3 bytes come one at a time, as hashBytes takes them.
          let high4 = 0;
          for (;;) {
            if (j + 4 > n) break;
            const x = words.getInt32(j, true);
            if ((bs ? quoteOrBackslash4(x) : quote4(x)) !== 0) break;
            high4 |= x;
            h = Math.imul(h ^ x, 16777619);
            j += 4;
          }
          if ((high4 & HIGHS4) !== 0) high = 0x80;
          for (;;) {
            if (j >= n) break;
            d = buf[j];
            if (d === QUOTE || (d === BACKSLASH && bs)) break;
            high |= d;
            h = Math.imul(h ^ d, 16777619);
            j++;
          }
        } else {
          // Four bytes a step (their bits gathered for the test of non-ASCII), then one at a time.
          let high4 = 0;
          for (;;) {
            if (j + 4 > n) break;
            const x = words.getInt32(j, true);
            if (quoteOrBackslash4(x) !== 0) break;
            high4 |= x;
            j += 4;
          }
          if ((high4 & HIGHS4) !== 0) high = 0x80;
          for (;;) {
            if (j >= n) break;
            d = buf[j];
            if (d === QUOTE || (d === BACKSLASH && bs)) break;
            high |= d;
            j++;
          }
        }
        const conv = converters !== null ? converters[col] : null;
        if (j + 1 < n && d === QUOTE && buf[j + 1] !== QUOTE && j - i - 1 <= max) {
          const num = conv !== null ? conv(buf, i + 1, j) : NaN;
          row![col] = num === num ? num : intern !== null ? intern.lookup(buf, i + 1, j, h, high >= 0x80) : high < 0x80 ? latin1(buf, i + 1, j) : utf8(buf, i + 1, j);
          col++;
          i = j + 1;
        } else {
          // A doubled quote, or a MySQL escape: the value decoded here, as the general machine
          // decodes it. The chunk's end, an oversized value and PostgreSQL's backslash escapes
          // (standard_conforming_strings off) are the general machine's.
          const q = j + 1 < n && (mysql || !bs) ? this.unescapeString(buf, i + 1, j, n, max, mysql) : -1;
          if (q < 0) break;
          row![col] = this.decodedValue(this.acc.buf, 0, this.acc.len, col);
          this.acc.reset();
          col++;
          i = q + 1;
        }
      } else if (c === 0x4e && i + 4 < n && words.getInt32(i, true) === NULL4 && (buf[i + 4] === COMMA || buf[i + 4] === RPAREN)) {
        // NULL
        if (dec) row![col] = null;
        col++;
        i += 4;
      } else if (c === DASH || (c >= 0x30 && c <= 0x39)) {
        // The sign tested first: both tests run for every number, so optimised code has seen both.
        const j = numberEnd(buf, i + 1, n);
        if (j >= n) break;
        if (dec) {
          const intern = interners !== null ? interners[col] : null;
          const conv = converters !== null ? converters[col] : null;
          const num = conv !== null ? conv(buf, i, j) : NaN;
          row![col] = num === num ? num : intern !== null ? intern.get(buf, i, j, false) : latin1(buf, i, j);
        }
        col++;
        i = j;
      } else {
        break;
      }
      // After the value.
      if (i >= n) {
        this.state = V_AFTER;
        break;
      }
      c = buf[i];
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c !== RPAREN) {
        this.state = V_AFTER;
        break;
      }
      this.col = col;
      i = this.nextRow(buf, i + 1, n);
      if ((this.state as number) !== V_VALUE) break;
      row = this.row;
      col = 0;
    }
    this.col = col;
    return i;
  }

  /**
   * {@link fastRows} for a table whose rows are not built: its values are walked, not decoded.
   * A function of its own, so that the optimised code of each meets one kind of table. Dumps list
   * tables by name, Umami's sessions (and event data) before the events: fastRows was first
   * optimised on rows it only walked, then met decoded values, and V8 made its code again
   * 8 times in a 1M-event import.
   */
  private skipRows(buf: Buffer, i: number, n: number): number {
    const max = this.options.maxValueBytes;
    const bs = this.stringDialect === 'mysql' || !this.standardStrings;
    let col = this.col;
    let nextBs = -1;
    const words = this.wordsOf(buf);
    for (;;) {
      if (i >= n) break;
      let c = buf[i];
      if (c === QUOTE) {
        // As in fastRows. Shared through a method, the two cost 0.45% more instructions (callgrind,
        // 200,000 events), kept as two copies.
        let q = buf.indexOf(QUOTE, i + 1);
        if (q < 0 || q + 1 >= n || buf[q + 1] === QUOTE || q - i - 1 > max) break;
        if (bs) {
          if (nextBs <= i) {
            nextBs = buf.indexOf(BACKSLASH, i + 1);
            if (nextBs < 0) nextBs = n;
          }
          if (nextBs < q) {
            q = escapedValueEnd(buf, nextBs, n);
            if (q + 1 >= n || q - i - 1 > max) break;
          }
        }
        i = q + 1;
      } else if (c === 0x4e && i + 4 < n && words.getInt32(i, true) === NULL4 && (buf[i + 4] === COMMA || buf[i + 4] === RPAREN)) {
        i += 4;
      } else if (c === DASH || (c >= 0x30 && c <= 0x39)) {
        const j = numberEnd(buf, i + 1, n);
        if (j >= n) break;
        i = j;
      } else {
        break;
      }
      col++;
      if (i >= n) {
        this.state = V_AFTER;
        break;
      }
      c = buf[i];
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c !== RPAREN) {
        this.state = V_AFTER;
        break;
      }
      this.col = col;
      i = this.nextRow(buf, i + 1, n);
      if ((this.state as number) !== V_VALUE) break;
      col = 0;
    }
    this.col = col;
    return i;
  }

  /**
   * The fast paths' row end, after its `)` (at i - 1): ends the row, then passes `,` and line
   * ends to the next row's `(` and starts that row. Returns where it got to; the state tells
   * which: V_VALUE inside the next row, V_BETWEEN before something else (or the chunk's end).
   */
  private nextRow(buf: Buffer, i: number, n: number): number {
    this.endRow();
    while (i < n) {
      const c = buf[i];
      if (c !== COMMA && c !== LF && c !== SPACE && c !== CR && c !== TAB) break;
      i++;
    }
    if (i >= n || buf[i] !== LPAREN) return i;
    this.startRow(i);
    this.state = V_VALUE;
    return i + 1;
  }

  /**
   * {@link fastCopy} for a table whose rows are not built (Umami's sessions, say): each line
   * counted, its fields not walked. A line cannot end inside a field (COPY escapes LF), and `\.`
   * alone ends the data (left to the general machine, as a line starting with a backslash). A
   * method of its own, as {@link skipRows} for INSERTs: a dump lists the sessions before the
   * events, and fastCopy optimised on their lines alone was thrown away at the first event.
   */
  private skipCopyLines(buf: Buffer, i: number, n: number): number {
    const max = this.options.maxValueBytes;
    for (;;) {
      if (i >= n) return i;
      const lf = buf.indexOf(LF, i);
      if (lf < 0 || buf[i] === BACKSLASH) return i;
      let end = lf;
      if (end > i && buf[end - 1] === CR) end--;
      if (end - i > max) return i;
      this.rowsRead++;
      i = lf + 1;
    }
  }

  /**
   * COPY data a whole line at a time, of a table whose rows are built: plain
   * fields, `\N`, and fields with escapes (stepped over when not decoded,
   * unescaped when decoded). Returns where it stopped (at a line start); a
   * line the chunk cuts, a value too long, or a backslash before a line's LF
   * (or CR LF) is left to the general machine.
   *
   * A line's end is found by its last field, which stops at the LF as the
   * others stop at a TAB: the bytes are read once. Looking for each line's
   * LF first (`indexOf`) read them twice and cost about 5% of the parse
   * thread's time in the 1M-event pg_dump import. A decoded field's value is
   * taken only once its end is in the chunk: a field the chunk cuts is not
   * interned or converted.
   */
  private fastCopy(buf: Buffer, i: number, n: number): number {
    const t = this.target!;
    const mask = t.mask!;
    const all = t.all;
    const interners = t.interners;
    const converters = t.converters;
    const max = this.options.maxValueBytes;
    // Plain bytes are stepped over four at a time through this view (little-endian reads).
    const words = this.wordsOf(buf);
    for (;;) {
      // A backslash at a line's start is `\.`, the data's end, or an escape: the general machine's.
      if (i >= n || buf[i] === BACKSLASH) return i;
      const row = this.newRow(t);
      let col = 0;
      let s = i;
      let ok = true;
      // The line's LF once a field has reached it; its end without a CR before the LF, once an escape needed it.
      let lf = -1;
      let end = -1;
      for (;;) {
        if (!(all || mask[col] === true)) {
          // A NULL not decoded (\N and a TAB, most of an event line's fields): one word read.
          if (s + 4 <= n && (words.getInt32(s, true) & 0xffffff) === NULL_TAB3) {
            col++;
            s += 3;
            continue;
          }
          // A field not decoded: its end, found byte by byte (most fields are short: a call to
          // indexOf per field cost more). An escape is stepped over: the byte after a backslash
          // is data whatever it is (a TAB too), and the digits of \x or octal escapes are never
          // a TAB, an LF or a backslash. One whose escaped byte is an LF or a CR (a line's end
          // is data then) is the general machine's.
          let j = s;
          while (j + 4 <= n && tabLfOrBackslash4(words.getInt32(j, true)) === 0) j += 4;
          let d = 0;
          while (j < n) {
            d = buf[j];
            if (d === TAB || d === LF) break;
            if (d === BACKSLASH) {
              const e = j + 1 < n ? buf[j + 1] : LF;
              if (e === LF || e === CR) break;
              j += 2;
              continue;
            }
            j++;
          }
          if (j >= n || d === BACKSLASH || j - s > max) {
            ok = false;
            break;
          }
          col++;
          if (d === LF) {
            lf = j;
            break;
          }
          s = j + 1;
          continue;
        }
        // A field decoded: its plain bytes, up to a TAB, an LF or a backslash.
        const intern = interners !== null ? interners[col] : null;
        let j = s;
        let high = 0;
        let h = 0x811c9dc5 | 0; // FNV-1a basis, as an int32 like every later value
        if (intern !== null) {
          // The interner's hash (hashBytes), taken while the bytes are read anyway: four bytes a
          // step up to the word holding the field's end, then its last 0-3 bytes one at a time,
          // as hashBytes takes them.
          let high4 = 0;
          while (j + 4 <= n) {
            const x = words.getInt32(j, true);
            if (tabLfOrBackslash4(x) !== 0) break;
            high4 |= x;
            h = Math.imul(h ^ x, 16777619);
            j += 4;
          }
          if ((high4 & HIGHS4) !== 0) high = 0x80;
          while (j < n) {
            const d = buf[j];
            if (d === TAB || d === LF || d === BACKSLASH) break;
            high |= d;
            h = Math.imul(h ^ d, 16777619);
            j++;
          }
        } else {
          // Four bytes a step (their bits gathered for the test of non-ASCII), then one at a time.
          let high4 = 0;
          for (;;) {
            if (j + 4 > n) break;
            const x = words.getInt32(j, true);
            if (tabLfOrBackslash4(x) !== 0) break;
            high4 |= x;
            j += 4;
          }
          if ((high4 & HIGHS4) !== 0) high = 0x80;
          while (j < n) {
            const d = buf[j];
            if (d === TAB || d === LF || d === BACKSLASH) break;
            high |= d;
            j++;
          }
        }
        if (j >= n || j - s > max) {
          ok = false;
          break;
        }
        const c = buf[j];
        if (c === BACKSLASH) {
          // Escapes are rare: the line's end is looked for now, and the field taken up to it.
          if (end < 0) {
            const at = buf.indexOf(LF, j);
            if (at < 0) {
              ok = false;
              break;
            }
            end = at > i && buf[at - 1] === CR ? at - 1 : at;
          }
          if (j === s && buf[j + 1] === 0x4e && (j + 2 === end || buf[j + 2] === TAB)) {
            row[col] = null;
            col++;
            j += 2;
            if (j >= end) break;
            s = j + 1;
            continue;
          }
          // A value with escapes: its decoded bytes, taken as the general machine takes them.
          const k = this.unescapeField(buf, s, j, end);
          if (k < 0 || k - s > max) {
            this.acc.reset();
            ok = false;
            break;
          }
          row[col] = this.decodedValue(this.acc.buf, 0, this.acc.len, col);
          this.acc.reset();
          col++;
          if (k >= end) break;
          s = k + 1;
          continue;
        }
        // The last field of a CR LF line: the CR is the line end's, not the value's.
        let e = j;
        if (c === LF && e > s && buf[e - 1] === CR) {
          e--;
          if (intern !== null) h = hashBytes(buf, s, e);
        }
        const conv = converters !== null ? converters[col] : null;
        const num = conv !== null ? conv(buf, s, e) : NaN;
        row[col] = num === num ? num : intern !== null ? intern.lookup(buf, s, e, h, high >= 0x80) : high < 0x80 ? latin1(buf, s, e) : utf8(buf, s, e);
        col++;
        if (c === LF) {
          lf = j;
          break;
        }
        s = j + 1;
      }
      if (!ok) return i;
      // A line whose last field had escapes ended at `end`: its LF follows (a CR between).
      if (lf < 0) lf = buf[end] === LF ? end : end + 1;
      this.rowOffset = this.base + i;
      this.row = row;
      this.col = col;
      this.endRow();
      i = lf + 1;
    }
  }

  /** A view of buf for reading four bytes at a time, made once per chunk. */
  private wordsOf(buf: Buffer): DataView {
    if (buf !== this.wordsBuf || this.words === null) {
      this.wordsBuf = buf;
      this.words = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    return this.words;
  }

  /**
   * After an INSERT's `(` at i - 1: keeps the statement's bytes up to it when this chunk holds them
   * all, so that a next statement repeating them (one row per INSERT) goes straight to its values.
   */
  private keepHeader(buf: Buffer, i: number): void {
    const s0 = this.stmtStartAt - this.base;
    this.repeatHeader = this.state === V_VALUE && s0 >= 0 && i - s0 <= MAX_REPEAT_HEADER ? Buffer.from(buf.subarray(s0, i)) : null;
  }

  /**
   * After an INSERT's `;` (before i): when the next statement's bytes up to its `(` are the last
   * INSERT's, all in this chunk, its first row is started (the statement machine would find the
   * same table and target from them: nothing came between to change its settings) and the index
   * after that `(` returned; else -1.
   */
  private repeatedHeader(buf: Buffer, i: number, n: number): number {
    const h = this.repeatHeader!;
    if (this.delimiter.length !== 1) return -1;
    let j = i;
    while (j < n && (isSpace(buf[j]) || buf[j] === SEMI)) j++;
    if (j + h.length > n || buf[j] !== h[0] || buf.compare(h, 0, h.length, j, j + h.length) !== 0) return -1;
    this.startRow(j + h.length - 1);
    this.state = V_VALUE;
    return j + h.length;
  }

  private carryFrom(buf: Buffer, i: number): void {
    // Only a handful of bytes (a lookahead that did not fit), copied: callers may reuse their buffers.
    this.carry = Buffer.from(buf.subarray(i));
  }

  // ───────────────────────────── statements ─────────────────────────────

  private beginStatement(): void {
    this.stmt.reset();
    this.stmtOverflow = false;
    this.stmtIgnore = false;
    this.parenDepth = 0;
    this.condComment = 0;
    this.state = T_TEXT;
  }

  private appendStmt(c: number): void {
    if (this.stmt.len < MAX_STATEMENT_TEXT) this.stmt.pushByte(c);
    else this.stmtOverflow = true;
  }

  private appendStmtRange(buf: Buffer, s: number, e: number): void {
    if (this.stmt.len + (e - s) <= MAX_STATEMENT_TEXT) this.stmt.push(buf, s, e);
    else this.stmtOverflow = true;
  }

  private stmtIs(word: string): boolean {
    const b = this.stmt.buf;
    if (this.stmt.len !== word.length) return false;
    for (let k = 0; k < word.length; k++) if ((b[k] | 0x20) !== word.charCodeAt(k)) return false;
    return true;
  }

  private stmtStartsWith(word: string): boolean {
    const b = this.stmt.buf;
    if (this.stmt.len < word.length) return false;
    for (let k = 0; k < word.length; k++) if ((b[k] | 0x20) !== word.charCodeAt(k)) return false;
    const next = b[word.length];
    return this.stmt.len === word.length || !isIdentByte(next);
  }

  /** True when the statement is an INSERT/REPLACE whose text so far ends with VALUES. */
  private stmtIsInsertBeforeValues(): boolean {
    if (!(this.stmtStartsWith('insert') || this.stmtStartsWith('replace'))) return false;
    const b = this.stmt.buf;
    let e = this.stmt.len;
    while (e > 0 && isSpace(b[e - 1])) e--;
    for (const word of ['values', 'value']) {
      const s = e - word.length;
      if (s <= 0) continue;
      let ok = !isIdentByte(b[s - 1]);
      for (let k = 0; ok && k < word.length; k++) if ((b[s + k] | 0x20) !== word.charCodeAt(k)) ok = false;
      if (ok) return true;
    }
    return false;
  }

  /** Whether a quote just opened in statement text takes backslash escapes. */
  private textStringHasBackslashEscapes(): boolean {
    if (this.stringDialect === 'mysql') return true;
    if (!this.standardStrings) return true;
    const b = this.stmt.buf;
    const k = this.stmt.len - 2; // the byte before the quote just appended
    return k >= 0 && (b[k] === 0x45 || b[k] === 0x65) && (k === 0 || !isIdentByte(b[k - 1]));
  }

  private openLineComment(buf: Buffer, i: number): number {
    this.state = T_LINE_COMMENT;
    this.commentSniff = this.dialect === null;
    if (this.commentSniff) this.lineText.reset();
    return i + 2;
  }

  private openBlockComment(buf: Buffer, i: number, atStart: boolean): number {
    // Conditional comments /*!40101 … */ and /*M!100100 … */ hold SQL.
    let j = i + 2;
    if (buf[j] === 0x4d /* M */ && buf[j + 1] === 0x21) j++;
    if (buf[j] === 0x21 /* ! */) {
      this.setDialect('mysql');
      j++;
      while (j < buf.length && buf[j] >= 0x30 && buf[j] <= 0x39) j++;
      if (atStart) {
        this.beginStatement();
        this.condComment = 2;
      } else {
        this.condComment = 1;
      }
      this.state = T_TEXT;
      return j;
    }
    this.commentDepth = 1;
    this.state = T_BLOCK_COMMENT;
    return i + 2;
  }

  /** At a `$` in PostgreSQL text: opens a dollar quote if one starts here. -1: need more bytes. */
  private tryDollarQuote(buf: Buffer, i: number, final: boolean): number {
    const prev = this.stmt.len > 0 ? this.stmt.buf[this.stmt.len - 1] : 0x20;
    if (isIdentByte(prev)) {
      this.appendStmt(DOLLAR);
      return i + 1;
    }
    let j = i + 1;
    while (j < buf.length && j - i < 64) {
      const c = buf[j];
      if (c === DOLLAR) {
        this.dollarTag = Buffer.from(buf.subarray(i, j + 1));
        this.appendStmtRange(buf, i, j + 1);
        this.state = T_DOLLAR;
        return j + 1;
      }
      const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80 || (j > i + 1 && c >= 0x30 && c <= 0x39);
      if (!ok) break;
      j++;
    }
    if (j >= buf.length && !final && j - i < 64) return -1;
    this.appendStmt(DOLLAR);
    return i + 1;
  }

  private endLineCommand(): void {
    const text = this.lineText.toString().trim();
    this.lineText.reset();
    if (this.lineCmd === 'delimiter') {
      if (text.length > 0) this.delimiter = Buffer.from(text.split(/\s+/)[0]);
    } else {
      const m = /^connect\s+(?:-reuse-previous=\S+\s+)?("(?:[^"]|"")*"|\S+)/.exec(text);
      if (m) this.database = m[1].replace(/^"|"$/g, '');
    }
    this.state = this.stmt.len > 0 ? T_TEXT : T_START;
  }

  private sniffComment(): void {
    const text = this.lineText.latin1();
    this.lineText.reset();
    if (/PostgreSQL database dump|Dumped (from|by) (database version|pg_dump)/.test(text)) this.setDialect('postgres');
    else if (/(MySQL|MariaDB) dump|Server version/.test(text)) this.setDialect('mysql');
    this.commentSniff = false;
  }

  private completeStatement(): void {
    const ignore = this.stmtIgnore || this.stmtOverflow;
    this.state = T_START;
    this.condComment = 0;
    if (ignore || this.stmt.len === 0) {
      this.stmt.reset();
      return;
    }
    const text = this.stmt.toString();
    this.stmt.reset();
    this.analyze(text);
  }

  private analyze(text: string): void {
    const head = text.trimStart().slice(0, 32).toUpperCase();
    const dialect = this.stringDialect;
    if (head.startsWith('CREATE')) {
      const shape = parseCreateTable(text, dialect);
      if (shape) {
        this.shapes.set(this.key(shape.schema, shape.table), { columns: shape.columns, types: shape.types });
        this.headerCache.clear();
        // An empty batch announces the table, so readers learn of tables that hold no rows.
        this.flushBatch();
        this.out.push(newBatch(shape.table, shape.schema ?? this.database, shape.columns, shape.types, this.stringDialect, this.timeZone));
      }
    } else if (head.startsWith('COPY')) {
      const target = this.lookupTarget(text, () => parseCopy(text));
      if (target) {
        this.setDialect('postgres');
        this.target = target;
        this.lastTarget = target;
        this.state = C_SKIP;
      }
    } else if (head.startsWith('SET') || head.startsWith('USE') || head.startsWith('SELECT PG_CATALOG')) {
      if (/^SET\s+(STANDARD_CONFORMING_STRINGS|CLIENT_ENCODING|STATEMENT_TIMEOUT)|^SELECT PG_CATALOG/.test(head)) this.setDialect('postgres');
      const s = parseSetting(text, dialect);
      if (s?.kind === 'time_zone') this.timeZone = s.value;
      else if (s?.kind === 'standard_conforming_strings') this.standardStrings = s.value;
      else if (s?.kind === 'use') this.database = s.value;
    } else if (head.startsWith('LOCK TABLES')) {
      this.setDialect('mysql');
    }
  }

  private key(schema: string | null, table: string): string {
    return `${schema ?? this.database ?? ''}\u0000${table}`;
  }

  /** The table a data statement writes to; headers repeat, so they are cached by their text. */
  private lookupTarget(text: string, parse: () => InsertHeader | null): DataTarget | null {
    const cached = this.headerCache.get(text);
    if (cached && cached.info.timeZone === this.timeZone && cached.info.dialect === this.stringDialect) return cached;
    const header = parse();
    if (!header) return null;
    const target = this.resolveTarget(header);
    this.headerCache.set(text, target);
    return target;
  }

  private resolveTarget(header: InsertHeader): DataTarget {
    const shape = this.shapes.get(this.key(header.schema, header.table));
    let columns = header.columns ?? shape?.columns ?? [];
    let types: string[];
    if (header.columns && shape) {
      types = header.columns.map((c) => {
        const k = shape.columns.indexOf(c);
        return k < 0 ? '' : shape.types[k];
      });
    } else {
      types = shape?.types ?? columns.map(() => '');
    }
    columns = columns.slice();
    const info: TableInfo = {
      table: header.table,
      schema: header.schema ?? this.database,
      columns,
      types,
      dialect: this.stringDialect,
      timeZone: this.timeZone,
    };
    const sel = this.options.select ? this.options.select(info) : true;
    const mask = sel === false ? null : sel === true ? columns.map(() => true) : sel.map((m) => m !== false);
    const interners = Array.isArray(sel) && sel.some((m) => m === 'intern' || m instanceof Interner) ? sel.map((m) => (m === 'intern' ? new Interner() : m instanceof Interner ? m : null)) : null;
    const converters = Array.isArray(sel) && sel.some((m) => typeof m === 'function') ? sel.map((m) => (typeof m === 'function' ? m : null)) : null;
    const blank = mask === null ? null : new Array<string | number | null | undefined>(columns.length).fill(undefined);
    const decoded = Int32Array.from(mask === null ? [] : columns.flatMap((_, k) => (mask[k] ? [k] : [])));
    return { info, mask, all: sel === true, interners, converters, blank, decoded };
  }

  private startValues(at: number): void {
    const text = this.stmt.toString();
    this.stmt.reset();
    const target = this.lookupTarget(text, () => parseInsertHeader(text, this.stringDialect));
    if (!target) {
      // Not an INSERT we can read: skip the statement.
      this.stmtIgnore = true;
      this.parenDepth = 1;
      this.state = T_TEXT;
      return;
    }
    this.target = target;
    this.lastTarget = target;
    this.startRow(at);
    this.state = V_VALUE;
  }

  private endData(): void {
    this.target = null;
  }

  // ───────────────────────────── rows and values ─────────────────────────────

  private decodes(col: number): boolean {
    const t = this.target!;
    return t.mask !== null && (t.all || t.mask[col] === true);
  }

  private startRow(i: number): void {
    const t = this.target!;
    this.rowOffset = this.base + i;
    this.col = 0;
    this.row = t.blank === null ? null : this.newRow(t);
  }

  /** A row to build: one given back ({@link recycle}) if the table has any, else a copy of its blank row. */
  private newRow(t: DataTarget): Row {
    // pop() is called for every row, from the first one: the call has its type feedback by the
    // time the fast paths are optimised. Called only once rows had come back, it had none then,
    // and the first row given back threw the optimised fastCopy away (compiled once more).
    const row = (t.info.columns === this.poolColumns ? this.rowPool : this.noRows).pop();
    return row !== undefined ? row : t.blank!.slice();
  }

  /**
   * Gives back the rows of a batch this scanner returned, once whoever read them is done with
   * them: later rows of the same table are built in those arrays rather than in new ones (fewer
   * allocations and collections on the hot path). The batch is left without rows. The rows kept
   * are those of the table read last, of its width (not a row with too few or too many values),
   * cleared in the columns decoded: as its blank row again, holding no value that would
   * outlive the row's use.
   */
  recycle(batch: RowBatch): void {
    const columns = batch.columns;
    const rows = batch.rows;
    const t = this.lastTarget;
    if (t !== null && t.blank !== null && t.info.columns === columns) {
      if (columns !== this.poolColumns) {
        this.rowPool.length = 0;
        this.poolColumns = columns;
      }
      const pool = this.rowPool;
      const width = columns.length;
      const decoded = t.decoded;
      for (let r = 0; r < rows.length && pool.length < ROW_POOL_MAX; r++) {
        const row = rows[r];
        if (row.length !== width) continue;
        for (let k = 0; k < decoded.length; k++) row[decoded[k]] = undefined;
        pool.push(row);
      }
    }
    rows.length = 0;
    batch.offsets.length = 0;
  }

  private endRow(): void {
    this.rowsRead++;
    const row = this.row;
    this.state = this.state >= C_SKIP ? C_LINE : V_BETWEEN;
    if (row === null) return;
    if (this.col !== row.length) row.length = this.col;
    let batch = this.batch;
    const info = this.target!.info;
    if (batch === null || batch.rows.length >= this.options.batchRows || this.batchInfo !== info) {
      this.flushBatch();
      batch = this.batch = newBatch(info.table, info.schema, info.columns, info.types, info.dialect, info.timeZone);
      this.batchInfo = info;
    }
    batch.rows.push(row);
    batch.offsets.push(this.rowOffset);
    this.row = null;
  }

  private openString(kind: number, backslash: boolean, keepDec = false): void {
    if (!keepDec) {
      this.dec = this.decodes(this.col);
      this.accUsed = false;
      this.valBytes = 0;
    }
    this.strKind = kind;
    this.strBackslash = backslash;
    this.state = V_STR;
  }

  /** Keeps bytes [s, e) of the value in progress (across a chunk end or before an escape). */
  private saveRun(buf: Buffer, s: number, e: number): void {
    if (e <= s) return;
    this.valBytes += e - s;
    if (this.valBytes > this.options.maxValueBytes) this.tooLarge(this.base + e);
    if (this.dec) {
      this.acc.push(buf, s, e);
      this.accUsed = true;
      this.accRawCr = buf[e - 1] === CR;
    }
  }

  /** Unquoted tokens are kept whole even when not decoded: their text decides what follows. */
  private saveBare(buf: Buffer, s: number, e: number): void {
    this.valBytes += e - s;
    if (this.valBytes > this.options.maxValueBytes) this.tooLarge(this.base + e);
    this.acc.push(buf, s, e);
    this.accUsed = true;
  }

  private tooLarge(offset: number): never {
    this.fail('UA_VALUE_TOO_LARGE', `a value is larger than maxValueBytes (${this.options.maxValueBytes} bytes)`, offset);
  }

  private storeValue(v: string | number | null): void {
    const row = this.row;
    if (row !== null) row[this.col] = v;
    this.col++;
  }

  /**
   * A value of column `col` from bytes b[s, e) that are not the dump's own run (read by the
   * general machine, or unescaped by a fast path): through the column's converter or interner,
   * as the fast paths take a plain value, so that a value comes the same whichever path read it.
   * (As a string, one value across a chunk's end or with escapes threw away the optimised code
   * of the parser and packer that had only met numbers there.)
   */
  private decodedValue(b: Buffer, s: number, e: number, col: number, latin1 = false): string | number {
    const t = this.target;
    if (t !== null) {
      const conv = t.converters !== null ? t.converters[col] : null;
      if (conv !== null) {
        const num = conv(b, s, e);
        if (num === num) return num;
      }
      const intern = t.interners !== null ? t.interners[col] : null;
      if (intern !== null) return intern.get(b, s, e, !latin1);
    }
    return b.toString(latin1 ? 'latin1' : 'utf8', s, e);
  }

  private endString(buf: Buffer, s: number, e: number): void {
    if (this.valBytes + (e - s) > this.options.maxValueBytes) this.tooLarge(this.base + e);
    if (!this.dec) {
      this.col++;
      return;
    }
    let v: string | number;
    if (this.strKind === STR_PLAIN) {
      if (this.accUsed) {
        this.acc.push(buf, s, e);
        v = this.decodedValue(this.acc.buf, 0, this.acc.len, this.col);
        this.acc.reset();
      } else {
        v = this.decodedValue(buf, s, e, this.col);
      }
    } else {
      this.acc.push(buf, s, e);
      v = this.strKind === STR_HEX ? hexToString(this.acc.latin1()) : bitsToString(this.acc.latin1());
      this.acc.reset();
    }
    this.accUsed = false;
    this.storeValue(v);
  }

  /** An unquoted value ended at e with terminator c; returns where scanning goes on. */
  private endBare(buf: Buffer, s: number, e: number, c: number): number {
    // The token's bytes: in buf, or (when it crossed a chunk boundary) in acc.
    let tb = buf;
    let ts = s;
    let te = e;
    if (this.accUsed) {
      this.acc.push(buf, s, e);
      tb = this.acc.buf;
      ts = 0;
      te = this.acc.len;
    }
    if (c === QUOTE) {
      // A prefix glued to a string: _binary'…', b'0101', x'4F', E'…', N'…'
      const p = tb.toString('latin1', ts, te).toLowerCase();
      this.acc.reset();
      this.accUsed = false;
      const pg = this.stringDialect === 'postgres';
      if (p === 'b') this.openString(STR_BITS, false, true);
      else if (p === 'x') this.openString(STR_HEX, false, true);
      else if (p === 'e' && pg) this.openString(STR_PLAIN, true, true);
      else if (p === 'n' || p.startsWith('_')) this.openString(STR_PLAIN, !pg || !this.standardStrings, true);
      else this.fail('UA_SYNTAX', `unexpected quote after ${JSON.stringify(p.slice(0, 20))}`, this.base + e);
      return e + 1;
    }
    if (tb[ts] === 0x5f /* _ */ && isSpace(c)) {
      // A character set introducer: `_binary '…'`.
      this.acc.reset();
      this.accUsed = false;
      this.state = V_INTRO;
      return e;
    }
    if (this.dec) {
      let v: string | number | null;
      if (te - ts === 4 && (tb[ts] | 0x20) === 0x6e && (tb[ts + 1] | 0x20) === 0x75 && (tb[ts + 2] | 0x20) === 0x6c && (tb[ts + 3] | 0x20) === 0x6c) v = null;
      else if (te - ts > 2 && tb[ts] === 0x30 && (tb[ts + 1] | 0x20) === 0x78) v = hexToString(tb.toString('latin1', ts + 2, te));
      else v = this.decodedValue(tb, ts, te, this.col, true);
      this.storeValue(v);
    } else {
      this.col++;
    }
    if (this.accUsed) {
      this.acc.reset();
      this.accUsed = false;
    }
    if (c === COMMA) {
      this.state = V_VALUE;
      return e + 1;
    }
    if (c === RPAREN) {
      this.endRow();
      return e + 1;
    }
    this.state = V_AFTER;
    return e;
  }

  /** Decodes a MySQL escape at buf[j] (a backslash); returns the index after it. */
  private mysqlEscape(buf: Buffer, j: number, n: number): number {
    if (j + 1 >= n) return n; // backslash at the very end of input: dropped; the string is unterminated anyway
    if (this.dec) {
      this.accUsed = true;
      mysqlEscapeInto(buf[j + 1], this.acc);
    }
    this.valBytes += 2;
    return j + 2;
  }

  /**
   * For {@link fastRows}: the decoded bytes of the quoted value at buf[s, …) whose first doubled
   * quote or escape is at j, in {@link acc}; returns the index of its closing quote, or -1 for
   * the general machine (the chunk ends before the quote and the byte after it, or the value
   * passes `max` bytes). `backslashes`: MySQL's escapes (else a backslash is a byte as any other).
   */
  private unescapeString(buf: Buffer, s: number, j: number, n: number, max: number, backslashes: boolean): number {
    const acc = this.acc;
    acc.reset();
    acc.push(buf, s, j);
    let run = j;
    let k = j;
    for (;;) {
      if (k + 1 >= n || k - s > max) {
        acc.reset();
        return -1;
      }
      const d = buf[k];
      if (d === QUOTE) {
        if (buf[k + 1] !== QUOTE) {
          acc.push(buf, run, k);
          return k;
        }
        // '' is one quote.
        acc.push(buf, run, k + 1);
        k += 2;
        run = k;
      } else if (d === BACKSLASH && backslashes) {
        acc.push(buf, run, k);
        mysqlEscapeInto(buf[k + 1], acc);
        k += 2;
        run = k;
      } else {
        k++;
      }
    }
  }

  /** Decodes a PostgreSQL E'…' (or standard_conforming_strings=off) escape at buf[j]. */
  private pgEscape(buf: Buffer, j: number, n: number): number {
    if (j + 1 >= n) return n;
    const e = buf[j + 1];
    let k = j + 2;
    let byte = -1;
    let codepoint = -1;
    switch (e) {
      case 0x62: byte = 0x08; break;
      case 0x66: byte = 0x0c; break;
      case 0x6e: byte = LF; break;
      case 0x72: byte = CR; break;
      case 0x74: byte = TAB; break;
      case 0x78: { // \xh or \xhh
        let v = -1;
        for (let d = 0; d < 2 && k < n && hexValue(buf[k]) >= 0; d++, k++) v = (v < 0 ? 0 : v * 16) + hexValue(buf[k]);
        byte = v < 0 ? 0x78 : v;
        break;
      }
      case 0x75: // \uXXXX
      case 0x55: { // \UXXXXXXXX
        const len = e === 0x75 ? 4 : 8;
        let v = 0;
        let ok = k + len <= n;
        for (let d = 0; ok && d < len; d++) {
          const h = hexValue(buf[k + d]);
          if (h < 0) ok = false;
          else v = v * 16 + h;
        }
        if (ok) {
          codepoint = v;
          k += len;
        } else {
          byte = e;
        }
        break;
      }
      default:
        if (e >= 0x30 && e <= 0x37) { // \o, \oo, \ooo
          let v = e - 0x30;
          for (let d = 0; d < 2 && k < n && buf[k] >= 0x30 && buf[k] <= 0x37; d++, k++) v = v * 8 + (buf[k] - 0x30);
          byte = v & 0xff;
        } else {
          byte = e;
        }
    }
    if (this.dec) {
      this.accUsed = true;
      if (codepoint >= 0) {
        const s = Buffer.from(String.fromCodePoint(codepoint), 'utf8');
        this.acc.push(s, 0, s.length);
      } else {
        this.acc.pushByte(byte);
      }
    }
    this.valBytes += k - j;
    return k;
  }

  // ───────────────────────────── COPY fields ─────────────────────────────

  private startField(): void {
    this.dec = this.decodes(this.col);
    this.accUsed = false;
    this.valBytes = 0;
    this.fieldNull = false;
  }

  private endField(buf: Buffer, s: number, e: number): void {
    if (this.fieldNull) {
      // NULL where the column is decoded; not decoded, it stays undefined (as on the fast path).
      if (this.dec) this.storeValue(null);
      else this.col++;
      return;
    }
    if (this.valBytes + (e - s) > this.options.maxValueBytes) this.tooLarge(this.base + e);
    if (!this.dec) {
      this.col++;
      return;
    }
    let v: string | number;
    if (this.accUsed) {
      this.acc.push(buf, s, e);
      v = this.decodedValue(this.acc.buf, 0, this.acc.len, this.col);
      this.acc.reset();
    } else {
      v = this.decodedValue(buf, s, e, this.col);
    }
    this.accUsed = false;
    this.storeValue(v);
  }

  /**
   * For {@link fastCopy}: the decoded bytes of the field at buf[s, …) whose first escape is at j,
   * in {@link acc}, up to its TAB or the line's end; returns the index of that TAB or end, or -1
   * for a backslash that escapes the line's end (that LF is data: the general machine's).
   */
  private unescapeField(buf: Buffer, s: number, j: number, end: number): number {
    const acc = this.acc;
    acc.reset();
    acc.push(buf, s, j);
    let run = j;
    let k = j;
    while (k < end) {
      const d = buf[k];
      if (d === TAB) break;
      if (d === BACKSLASH) {
        if (k + 1 >= end) {
          acc.reset();
          return -1;
        }
        acc.push(buf, run, k);
        k = copyEscapeInto(buf, k, end, acc);
        run = k;
        continue;
      }
      k++;
    }
    acc.push(buf, run, k);
    return k;
  }

  /** Decodes a COPY text-format escape at buf[j]; returns the index after it. */
  private copyEscape(buf: Buffer, j: number, n: number): number {
    if (j + 1 >= n) return n;
    const k = copyEscapeInto(buf, j, n, this.dec ? this.acc : null);
    if (this.dec) {
      this.accUsed = true;
      this.accRawCr = false;
    }
    this.valBytes += k - j;
    return k;
  }
}

/** Pushes to `out` what the MySQL escape of byte e (the byte after a backslash) stands for. */
function mysqlEscapeInto(e: number, out: ByteBuf): void {
  switch (e) {
    case 0x30: out.pushByte(0); break; // \0
    case 0x6e: out.pushByte(LF); break; // \n
    case 0x72: out.pushByte(CR); break; // \r
    case 0x74: out.pushByte(TAB); break; // \t
    case 0x62: out.pushByte(0x08); break; // \b
    case 0x5a: out.pushByte(0x1a); break; // \Z
    case 0x25: // \% and \_ keep their backslash
    case 0x5f:
      out.pushByte(BACKSLASH);
      out.pushByte(e);
      break;
    default:
      out.pushByte(e);
  }
}

/**
 * Decodes the COPY text-format escape at buf[j] (a backslash with a byte after it before n):
 * pushes the byte it stands for to `out` (unless null); returns the index after it.
 */
function copyEscapeInto(buf: Buffer, j: number, n: number, out: ByteBuf | null): number {
  const e = buf[j + 1];
  let k = j + 2;
  let byte: number;
  switch (e) {
    case 0x62: byte = 0x08; break;
    case 0x66: byte = 0x0c; break;
    case 0x6e: byte = LF; break;
    case 0x72: byte = CR; break;
    case 0x74: byte = TAB; break;
    case 0x76: byte = 0x0b; break;
    case 0x78: {
      let v = -1;
      for (let d = 0; d < 2 && k < n && hexValue(buf[k]) >= 0; d++, k++) v = (v < 0 ? 0 : v * 16) + hexValue(buf[k]);
      byte = v < 0 ? 0x78 : v;
      break;
    }
    default:
      if (e >= 0x30 && e <= 0x37) {
        let v = e - 0x30;
        for (let d = 0; d < 2 && k < n && buf[k] >= 0x30 && buf[k] <= 0x37; d++, k++) v = v * 8 + (buf[k] - 0x30);
        byte = v & 0xff;
      } else {
        byte = e;
      }
  }
  if (out !== null) out.pushByte(byte);
  return k;
}

// Buffer's own slicers, without the encoding dispatch of toString().
const proto = Buffer.prototype as unknown as {
  latin1Slice(this: Buffer, s: number, e: number): string;
  utf8Slice(this: Buffer, s: number, e: number): string;
};
function latin1(buf: Buffer, s: number, e: number): string {
  return proto.latin1Slice.call(buf, s, e);
}
function utf8(buf: Buffer, s: number, e: number): string {
  return proto.utf8Slice.call(buf, s, e);
}

function isIdentByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24 || c >= 0x80;
}

function showByte(c: number): string {
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

function hexToString(hex: string): string {
  return Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex').toString('utf8');
}

function bitsToString(bits: string): string {
  let v = 0n;
  for (const ch of bits) v = v * 2n + (ch === '1' ? 1n : 0n);
  return v.toString();
}
