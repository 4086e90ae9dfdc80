/**
 * Recognising what the first bytes of an input are: a compression format,
 * a pg_dump archive, JSON, or SQL text.
 */
import { UmamiAggregateError } from '../errors.js';

export type Compression = 'gzip' | 'none';

interface Magic {
  name: string;
  bytes: number[];
  how: string;
}

const REFUSED: Magic[] = [
  { name: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd], how: 'zstd -dc FILE | umami-aggregate import -' },
  { name: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], how: 'xz -dc FILE | umami-aggregate import -' },
  { name: 'lz4', bytes: [0x04, 0x22, 0x4d, 0x18], how: 'lz4 -dc FILE | umami-aggregate import -' },
  { name: 'bzip2', bytes: [0x42, 0x5a, 0x68], how: 'bzip2 -dc FILE | umami-aggregate import -' },
  { name: 'zip', bytes: [0x50, 0x4b, 0x03, 0x04], how: 'unzip -p FILE | umami-aggregate import -' },
];

/** Bytes needed to recognise any magic number. */
export const MAGIC_BYTES = 6;

function startsWith(head: Buffer, bytes: number[]): boolean {
  if (head.length < bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (head[i] !== bytes[i]) return false;
  return true;
}

/** Looks at the raw input's first bytes: gzip to decode, refused formats throw. */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (startsWith(head, [0x50, 0x47, 0x44, 0x4d, 0x50])) {
    throw new UmamiAggregateError(
      'UA_PG_CUSTOM_FORMAT',
      'this is a pg_dump custom-format archive (PGDMP); convert it to SQL and pipe it in: pg_restore -f - FILE | umami-aggregate import -',
      { offset: 0 },
    );
  }
  for (const m of REFUSED) {
    if (startsWith(head, m.bytes)) {
      throw new UmamiAggregateError(
        'UA_UNSUPPORTED_COMPRESSION',
        `the input is ${m.name}-compressed, which is not decoded in the stream; decompress and pipe it in: ${m.how}`,
        { offset: 0, compression: m.name },
      );
    }
  }
  return 'none';
}

export type TextFormat = 'sql' | 'json' | 'ndjson';

/** Bytes of decoded text looked at to tell SQL from JSON from anything else. */
export const SNIFF_BYTES = 4096;

/**
 * Classifies the decoded text's beginning. Throws UA_NOT_SQL_DUMP for binary
 * data or text that cannot start a dump.
 */
export function detectTextFormat(head: Buffer): TextFormat {
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  const limit = Math.min(head.length, SNIFF_BYTES);
  let control = 0;
  for (let k = i; k < limit; k++) {
    const c = head[k];
    if (c === 0) return notSql('it contains NUL bytes');
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) control++;
  }
  if (control > 8) return notSql('it contains binary data');
  while (i < limit && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  if (i >= limit) return 'sql';
  const c = head[i];
  if (c === 0x5b /* [ */) return 'json';
  if (c === 0x7b /* { */) {
    // One complete object on the first line: NDJSON; else an object wrapping an array of events.
    const nl = head.indexOf(0x0a, i);
    if (nl < 0) return head.length < SNIFF_BYTES ? 'ndjson' : 'json';
    try {
      JSON.parse(head.toString('utf8', i, nl));
      return 'ndjson';
    } catch {
      return 'json';
    }
  }
  // SQL starts with a comment, a conditional comment, a psql meta-command or a keyword.
  if (c === 0x2d /* - */ && head[i + 1] === 0x2d) return 'sql';
  if (c === 0x2f /* / */ && head[i + 1] === 0x2a) return 'sql';
  if (c === 0x23 /* # */ || c === 0x5c /* \ */ || c === 0x3b /* ; */) return 'sql';
  const word = head.toString('latin1', i, Math.min(limit, i + 16)).toUpperCase();
  if (/^(SET|CREATE|INSERT|REPLACE|DROP|USE|COPY|LOCK|UNLOCK|BEGIN|START|COMMIT|SELECT|ALTER|DELIMITER|COMMENT|GRANT|REVOKE)\b/.test(word)) {
    return 'sql';
  }
  return notSql('it does not start like a mysqldump, mariadb-dump or pg_dump file');
}

function notSql(why: string): never {
  throw new UmamiAggregateError('UA_NOT_SQL_DUMP', `not an SQL dump: ${why}`, { offset: 0 });
}
