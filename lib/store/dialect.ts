/**
 * The few places where SQLite, PostgreSQL and MySQL/MariaDB differ for this
 * library's statements. Everything from a dump is bound as a parameter; only
 * table and column names (constants of this library) are ever SQL text.
 */
import type { Knex } from 'knex';

export type DialectName = 'sqlite' | 'postgres' | 'mysql';

export function dialectOf(knex: Knex): DialectName {
  const client = String((knex.client as { config?: { client?: unknown } }).config?.client ?? knex.client.dialect ?? '');
  const name = client.toLowerCase();
  if (name.includes('sqlite')) return 'sqlite';
  if (name.includes('pg') || name.includes('postgres')) return 'postgres';
  if (name.includes('mysql') || name.includes('maria')) return 'mysql';
  throw new Error(`unsupported knex client ${client}`);
}

/**
 * Columns of JSON text that SQLite and PostgreSQL are given as UTF-8 bytes. Their placeholder
 * there is `CAST(? AS TEXT)` (SQLite: the bytes of a bound BLOB stored as text, in a UTF-8
 * database the same text as the string they decode to) or `CAST(? AS json)` (pg sends a Buffer
 * in the binary format, which for json is its text; the cast also keeps a jsonb column working,
 * by its assignment cast from json). A bound string is taken as before on both.
 */
const JSON_TEXT_COLUMNS = new Set(['top_pages', 'referrers']);

/** INSERT texts a dialect keeps (by table and rows; a flush asks for a few). */
const INSERTS_KEPT = 64;

export class Dialect {
  readonly name: DialectName;
  /** INSERT texts made, by table and rows, with the column list they were made for. */
  private readonly inserts = new Map<string, { columns: readonly string[]; named: readonly string[] | undefined; text: string }>();

  constructor(name: DialectName) {
    this.name = name;
  }

  id(name: string): string {
    return this.name === 'mysql' ? `\`${name}\`` : `"${name}"`;
  }

  /** Bind parameters per statement, at most. */
  get maxParams(): number {
    return this.name === 'postgres' ? 65535 : this.name === 'sqlite' ? 32766 : 65535;
  }

  /** Bytes of bound values per statement, at most (MySQL inlines values; keep well under max_allowed_packet). */
  get maxStatementBytes(): number {
    return this.name === 'mysql' ? 4 << 20 : 64 << 20;
  }

  /** Selects a DATETIME/DATE column as the text this library writes. */
  textOf(column: string, kind: 'datetime' | 'date' | 'text'): string {
    const c = this.id(column);
    if (kind === 'text' || this.name === 'sqlite') return c;
    if (this.name === 'postgres') return kind === 'datetime' ? `to_char(${c}, 'YYYY-MM-DD HH24:MI:SS')` : `to_char(${c}, 'YYYY-MM-DD')`;
    return kind === 'datetime' ? `DATE_FORMAT(${c}, '%Y-%m-%d %H:%i:%s')` : `DATE_FORMAT(${c}, '%Y-%m-%d')`;
  }

  get forUpdate(): string {
    return this.name === 'sqlite' ? '' : ' FOR UPDATE';
  }

  /** The placeholder of a value of `column` (see JSON_TEXT_COLUMNS). */
  placeholder(column: string): string {
    if (!JSON_TEXT_COLUMNS.has(column)) return '?';
    return this.name === 'sqlite' ? 'CAST(? AS TEXT)' : this.name === 'postgres' ? 'CAST(? AS json)' : '?';
  }

  /** `INSERT … VALUES …` that overwrites the listed columns when the key exists. */
  upsert(table: string, columns: readonly string[], key: readonly string[], update: readonly string[], rows: number): string {
    const row = `(${columns.map((c) => this.placeholder(c)).join(', ')})`;
    const values = new Array<string>(rows).fill(row).join(', ');
    let sql = `INSERT INTO ${this.id(table)} (${columns.map((c) => this.id(c)).join(', ')}) VALUES ${values}`;
    if (this.name === 'mysql') {
      sql += ` ON DUPLICATE KEY UPDATE ${update.map((c) => `${this.id(c)} = VALUES(${this.id(c)})`).join(', ')}`;
    } else {
      sql += ` ON CONFLICT (${key.map((c) => this.id(c)).join(', ')}) DO UPDATE SET ${update.map((c) => `${this.id(c)} = excluded.${this.id(c)}`).join(', ')}`;
    }
    return sql;
  }

  /** `UPDATE … SET` the listed columns of the row with a given id (the id is the last parameter). */
  updateById(table: string, columns: readonly string[]): string {
    return `UPDATE ${this.id(table)} SET ${columns.map((c) => `${this.id(c)} = ${this.placeholder(c)}`).join(', ')} WHERE id = ?`;
  }

  /**
   * Plain multi-row INSERT. SQLite's is `INSERT OR FAIL`: a statement that may
   * stop halfway (ABORT, the default) inside a transaction copies each page it
   * changes, already changed before in the transaction, to a statement
   * journal, a temporary file unless temp_store is MEMORY, to undo itself on
   * failure. Every caller rolls the whole transaction back when a statement
   * fails, so that undo is never needed; the 1M-event import's last flush
   * wrote 8,731 pages (143 MB) to it. Its 49,023 rows, inserted again into a
   * new file (`bench/sqlite-write.js`), took 251–270 ms instead of 298–368 ms.
   *
   * The columns in `named` take one parameter per statement whatever its rows
   * (a value every row shares): on SQLite a named one (`@column`), bound from
   * an object beside the array of the other columns' values; on PostgreSQL
   * `$1`, `$2`… in the order of `named`, the other columns keeping `?` (to be
   * numbered from the next). MySQL has no such parameters.
   */
  insert(table: string, columns: readonly string[], rows: number, named?: readonly string[]): string {
    if (named !== undefined && this.name === 'mysql') throw new Error('MySQL statements have no named or numbered parameters');
    // The same statement is asked for once per chunk of a flush: its text made once, the same
    // string each time (a new one was built, flattened and hashed again for the statement cache).
    const key = named === undefined ? `${table}\u0000${rows}` : `${table}\u0000${rows}\u0000${named.join(',')}`;
    const kept = this.inserts.get(key);
    if (kept !== undefined && kept.columns === columns && kept.named === named) return kept.text;
    const text = this.insertText(table, columns, rows, named);
    if (this.inserts.size >= INSERTS_KEPT) this.inserts.clear();
    this.inserts.set(key, { columns, named, text });
    return text;
  }

  private insertText(table: string, columns: readonly string[], rows: number, named: readonly string[] | undefined): string {
    const shared = (c: string): string | null => {
      const k = named === undefined ? -1 : named.indexOf(c);
      return k < 0 ? null : this.name === 'sqlite' ? `@${c}` : `$${k + 1}`;
    };
    const row = `(${columns.map((c) => shared(c) ?? this.placeholder(c)).join(', ')})`;
    return `INSERT${this.name === 'sqlite' ? ' OR FAIL' : ''} INTO ${this.id(table)} (${columns.map((c) => this.id(c)).join(', ')}) VALUES ${new Array<string>(rows).fill(row).join(', ')}`;
  }

  /** Whether an error is a conflict worth retrying the transaction for. */
  isRetryable(err: unknown): boolean {
    const e = err as { code?: string; errno?: number; sqlState?: string };
    if (!e) return false;
    switch (this.name) {
      case 'postgres':
        return e.code === '40P01' || e.code === '40001' || e.code === '23505';
      case 'mysql':
        return e.errno === 1213 || e.errno === 1205 || e.errno === 1062 || e.code === 'ER_LOCK_DEADLOCK' || e.code === 'ER_DUP_ENTRY';
      case 'sqlite':
        return typeof e.code === 'string' && (e.code.startsWith('SQLITE_BUSY') || e.code.startsWith('SQLITE_LOCKED') || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY');
    }
  }
}

/** `YYYY-MM-DD HH:MM:SS` in UTC: the form every timestamp column of this library is written in. */
export function nowText(): string {
  return new Date().toISOString().slice(0, 19).replace('T', ' ');
}

/** JSON columns come back parsed (pg, some mysql2) or as text (SQLite, MariaDB). */
export function readJson<T>(v: unknown, fallback: T): T {
  if (v === null || v === undefined) return fallback;
  if (typeof v === 'string') {
    try {
      return JSON.parse(v) as T;
    } catch {
      return fallback;
    }
  }
  if (Buffer.isBuffer(v)) return readJson(v.toString('utf8'), fallback);
  return v as T;
}

/** Counts come back as numbers, strings (pg bigint) or BigInt (mariadb). */
export function readInt(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return Number(v);
  return 0;
}
