/**
 * Reading the small statements around the data: CREATE TABLE, COPY and INSERT
 * headers, SET and USE. These are decoded to strings once per statement and
 * read with a tiny lexer; the rows themselves never come through here.
 */

export type Dialect = 'mysql' | 'postgres';

interface Token {
  kind: 'word' | 'ident' | 'string' | 'punct';
  text: string;
}

/** Splits SQL text into words, quoted identifiers, strings and punctuation. */
export function lex(text: string, dialect: Dialect): Token[] {
  const out: Token[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text[i];
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t' || c === '\f') {
      i++;
    } else if (c === '-' && text[i + 1] === '-') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '#' && dialect === 'mysql') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === '`' || c === '"') {
      let s = '';
      i++;
      while (i < n) {
        if (text[i] === c) {
          if (text[i + 1] === c) {
            s += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += text[i++];
      }
      out.push({ kind: 'ident', text: s });
    } else if (c === "'") {
      let s = '';
      i++;
      while (i < n) {
        const d = text[i];
        if (d === '\\' && dialect === 'mysql') {
          s += text[i + 1] ?? '';
          i += 2;
          continue;
        }
        if (d === "'") {
          if (text[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += d;
        i++;
      }
      out.push({ kind: 'string', text: s });
    } else if (/[A-Za-z0-9_$@\u0080-\uffff]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$@\u0080-\uffff]/.test(text[j])) j++;
      out.push({ kind: 'word', text: text.slice(i, j) });
      i = j;
    } else {
      out.push({ kind: 'punct', text: c });
      i++;
    }
  }
  return out;
}

function isWord(t: Token | undefined, ...words: string[]): boolean {
  return t !== undefined && t.kind === 'word' && words.includes(t.text.toUpperCase());
}

function identName(t: Token | undefined): string | null {
  if (!t) return null;
  if (t.kind === 'ident') return t.text;
  if (t.kind === 'word') return t.text;
  return null;
}

/** A possibly qualified name (`db`.`t`, public."user"), read from position i. */
function readQualifiedName(tokens: Token[], i: number, dialect: Dialect): { schema: string | null; name: string; next: number } | null {
  const parts: string[] = [];
  let j = i;
  for (;;) {
    const t = tokens[j];
    const name = identName(t);
    if (name === null) return null;
    // PostgreSQL folds unquoted identifiers to lower case.
    parts.push(t.kind === 'word' && dialect === 'postgres' ? name.toLowerCase() : name);
    j++;
    if (tokens[j]?.kind === 'punct' && tokens[j].text === '.') {
      j++;
      continue;
    }
    break;
  }
  const name = parts[parts.length - 1];
  const schema = parts.length > 1 ? parts[parts.length - 2] : null;
  return { schema, name, next: j };
}

/** Reads `( a, b, c )` at position i; returns the names and the position after `)`. */
function readNameList(tokens: Token[], i: number, dialect: Dialect): { names: string[]; next: number } | null {
  if (tokens[i]?.text !== '(' || tokens[i].kind !== 'punct') return null;
  const names: string[] = [];
  let j = i + 1;
  for (;;) {
    const t = tokens[j];
    if (!t) return null;
    if (t.kind === 'punct' && t.text === ')') return { names, next: j + 1 };
    if (t.kind === 'punct' && t.text === ',') {
      j++;
      continue;
    }
    const name = identName(t);
    if (name === null) return null;
    names.push(t.kind === 'word' && dialect === 'postgres' ? name.toLowerCase() : name);
    j++;
  }
}

export interface TableShape {
  schema: string | null;
  table: string;
  columns: string[];
  /** Column types as written (lower case), parallel to columns; empty when unknown. */
  types: string[];
}

/** Words that end a column's type and start its attributes. */
const TYPE_STOP = new Set([
  'NULL', 'NOT', 'DEFAULT', 'PRIMARY', 'UNIQUE', 'AUTO_INCREMENT', 'COLLATE', 'COMMENT', 'GENERATED', 'CHECK',
  'REFERENCES', 'CONSTRAINT', 'ON', 'AS', 'INVISIBLE', 'VISIBLE', 'CHARSET',
]);

const CONSTRAINT_WORDS = new Set([
  'PRIMARY', 'KEY', 'UNIQUE', 'INDEX', 'CONSTRAINT', 'FOREIGN', 'CHECK', 'FULLTEXT', 'SPATIAL',
  'PERIOD', 'EXCLUDE', 'LIKE', 'SYSTEM',
]);

/** `CREATE [TEMPORARY|UNLOGGED] TABLE [IF NOT EXISTS] name ( col type …, … )` */
export function parseCreateTable(text: string, dialect: Dialect): TableShape | null {
  const tokens = lex(text, dialect);
  let i = 0;
  if (!isWord(tokens[i++], 'CREATE')) return null;
  while (isWord(tokens[i], 'TEMPORARY', 'TEMP', 'UNLOGGED', 'GLOBAL', 'LOCAL', 'OR', 'REPLACE')) i++;
  if (!isWord(tokens[i++], 'TABLE')) return null;
  if (isWord(tokens[i], 'IF')) i += 3;
  const q = readQualifiedName(tokens, i, dialect);
  if (!q) return null;
  i = q.next;
  if (tokens[i]?.text !== '(') return null;
  i++;
  const columns: string[] = [];
  const types: string[] = [];
  let depth = 0;
  let itemStart = true;
  for (; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === 'punct' && t.text === '(') depth++;
    else if (t.kind === 'punct' && t.text === ')') {
      if (depth === 0) break;
      depth--;
    } else if (t.kind === 'punct' && t.text === ',' && depth === 0) {
      itemStart = true;
      continue;
    } else if (itemStart) {
      itemStart = false;
      if (t.kind === 'word' && CONSTRAINT_WORDS.has(t.text.toUpperCase())) continue;
      const name = identName(t);
      if (name === null) continue;
      columns.push(t.kind === 'word' && dialect === 'postgres' ? name.toLowerCase() : name);
      // The type: up to four words, skipping a size such as (6) or (10,2).
      const typeTokens: string[] = [];
      for (let k = i + 1; k < tokens.length && typeTokens.length < 4; k++) {
        const u = tokens[k];
        if (u.kind === 'punct' && u.text === '(') {
          while (k < tokens.length && tokens[k].text !== ')') k++;
          continue;
        }
        if (u.kind !== 'word') break;
        const w = u.text.toUpperCase();
        if (TYPE_STOP.has(w) || (w === 'CHARACTER' && isWord(tokens[k + 1], 'SET'))) break;
        typeTokens.push(u.text.toLowerCase());
      }
      types.push(typeTokens.join(' '));
      continue;
    }
    itemStart = false;
  }
  return { schema: q.schema, table: q.name, columns, types };
}

export interface InsertHeader {
  schema: string | null;
  table: string;
  columns: string[] | null;
}

/** `INSERT [IGNORE|DELAYED|LOW_PRIORITY|HIGH_PRIORITY] [INTO] name [(cols)] VALUES` / `REPLACE …` */
export function parseInsertHeader(text: string, dialect: Dialect): InsertHeader | null {
  const tokens = lex(text, dialect);
  let i = 0;
  if (!isWord(tokens[i++], 'INSERT', 'REPLACE')) return null;
  while (isWord(tokens[i], 'IGNORE', 'DELAYED', 'LOW_PRIORITY', 'HIGH_PRIORITY')) i++;
  if (isWord(tokens[i], 'INTO')) i++;
  const q = readQualifiedName(tokens, i, dialect);
  if (!q) return null;
  i = q.next;
  let columns: string[] | null = null;
  // PostgreSQL allows an alias: INSERT INTO t AS x (…)
  if (isWord(tokens[i], 'AS')) i += 2;
  const list = readNameList(tokens, i, dialect);
  if (list) {
    columns = list.names;
    i = list.next;
  }
  if (!isWord(tokens[i], 'VALUES', 'VALUE')) return null;
  return { schema: q.schema, table: q.name, columns };
}

/** `COPY name [(cols)] FROM stdin` */
export function parseCopy(text: string): InsertHeader | null {
  const tokens = lex(text, 'postgres');
  let i = 0;
  if (!isWord(tokens[i++], 'COPY')) return null;
  const q = readQualifiedName(tokens, i, 'postgres');
  if (!q) return null;
  i = q.next;
  let columns: string[] | null = null;
  const list = readNameList(tokens, i, 'postgres');
  if (list) {
    columns = list.names;
    i = list.next;
  }
  if (!isWord(tokens[i], 'FROM') || !isWord(tokens[i + 1], 'STDIN')) return null;
  return { schema: q.schema, table: q.name, columns };
}

export type Setting =
  | { kind: 'time_zone'; value: string }
  | { kind: 'standard_conforming_strings'; value: boolean }
  | { kind: 'use'; value: string };

/** SET TIME_ZONE='+00:00', SET standard_conforming_strings = off, USE `db`. */
export function parseSetting(text: string, dialect: Dialect): Setting | null {
  const tokens = lex(text, dialect);
  if (isWord(tokens[0], 'USE')) {
    const name = identName(tokens[1]);
    return name === null ? null : { kind: 'use', value: name };
  }
  if (!isWord(tokens[0], 'SET')) return null;
  const name = tokens[1]?.text.toLowerCase();
  let v = 2;
  if (tokens[v]?.text === '=' || isWord(tokens[v], 'TO')) v++;
  const value = tokens[v];
  if (!value) return null;
  if (name === 'time_zone') return { kind: 'time_zone', value: value.text };
  if (name === 'standard_conforming_strings') {
    return { kind: 'standard_conforming_strings', value: value.text.toLowerCase() !== 'off' && value.text.toLowerCase() !== 'false' };
  }
  return null;
}
