// Stage 1: the dump tokenizer, on real and hand-written dump fragments.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import t from 'tap';
import { DumpScanner, Interner, createDumpTokenizer } from '../dist/lib/index.js';

const samples = path.join(import.meta.dirname, 'fixtures', 'samples');

/** All rows of a dump fed in chunks of `size` bytes, as [table, row, offset] triples. */
function scanAll(buf, size = buf.length, options = {}) {
  const scanner = new DumpScanner(options);
  const rows = [];
  const take = (batches) => {
    for (const b of batches) for (let i = 0; i < b.rows.length; i++) rows.push([b.table, b.rows[i], b.offsets[i], b.columns.join(','), b.timeZone, b.dialect]);
  };
  for (let i = 0; i < buf.length; i += size) take(scanner.write(buf.subarray(i, i + size)));
  take(scanner.end());
  return rows;
}

/** A column converter for tests: the number of a value that is all ASCII digits, else NaN. */
function digits(b, s, e) {
  if (e === s) return NaN;
  let v = 0;
  for (let i = s; i < e; i++) {
    if (b[i] < 0x30 || b[i] > 0x39) return NaN;
    v = v * 10 + b[i] - 0x30;
  }
  return v;
}

async function tokenize(input, options = {}) {
  const out = [];
  const tok = createDumpTokenizer(options);
  await pipeline(Readable.from(Array.isArray(input) ? input : [input]), tok, async function* (src) {
    for await (const b of src) if (b.rows.length) out.push(b);
  });
  return { batches: out, tok };
}

const HEADER_MYSQL = "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n/*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n";

t.test('extended INSERT on one line and one row per line give the same rows', async (t) => {
  const create = 'CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `s` varchar(10) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n';
  const oneLine = HEADER_MYSQL + create + "LOCK TABLES `t` WRITE;\nINSERT INTO `t` VALUES (1,'a'),(2,NULL),(3,'c,d');\nUNLOCK TABLES;\n";
  const perLine = HEADER_MYSQL + create + "LOCK TABLES `t` WRITE;\nINSERT INTO `t` VALUES\n(1,'a'),\n(2,NULL),\n(3,'c,d');\nUNLOCK TABLES;\n";
  const a = scanAll(Buffer.from(oneLine)).map((r) => r[1]);
  const b = scanAll(Buffer.from(perLine)).map((r) => r[1]);
  t.same(a, [['1', 'a'], ['2', null], ['3', 'c,d']]);
  t.same(b, a);
});

t.test('mysqldump escapes, quotes and hostile strings', async (t) => {
  const dump = HEADER_MYSQL + "CREATE TABLE `t` (`v` text);\nINSERT INTO `t` VALUES ('a\\'b'),('a''b'),('\\\\N'),('NULL'),(NULL),('x\\n\\r\\t\\0\\Z\\b'),('\\\"q\\\"'),('50\\%\\_'),('\\x'),('),(\\'y'),('; -- /* INSERT INTO'),('日本😀');\n";
  const rows = scanAll(Buffer.from(dump)).map((r) => r[1][0]);
  t.same(rows, ["a'b", "a'b", '\\N', 'NULL', null, 'x\n\r\t\0\x1a\b', '"q"', '50\\%\\_', 'x', "),('y", '; -- /* INSERT INTO', '日本😀']);
});

t.test('COPY text format: escapes, \\N and \\\\N, octal and hex', async (t) => {
  const dump = 'SET standard_conforming_strings = on;\nCOPY public.t (a, b) FROM stdin;\n1\t\\N\n2\t\\\\N\n3\ta\\tb\\nc\\\\d\n4\t\\101\\x42\\v\n5\t\n\\.\n';
  const rows = scanAll(Buffer.from(dump)).map((r) => r[1]);
  t.same(rows, [['1', null], ['2', '\\N'], ['3', 'a\tb\nc\\d'], ['4', 'AB\v'], ['5', '']]);
});

t.test('pg_dump --inserts with standard strings: a backslash is a backslash', async (t) => {
  const dump = "-- PostgreSQL database dump\nSET standard_conforming_strings = on;\nCREATE TABLE public.t (a text, b text);\nINSERT INTO public.t VALUES ('/end\\', 'it''s');\nINSERT INTO public.t VALUES (E'tab\\there', '\\N');\n";
  const rows = scanAll(Buffer.from(dump)).map((r) => r[1]);
  t.same(rows, [['/end\\', "it's"], ['tab\there', '\\N']]);
});

t.test('columns come from CREATE TABLE, COPY or the INSERT column list', async (t) => {
  const dump = HEADER_MYSQL + 'CREATE TABLE `t` (`a` int, `b` timestamp NULL DEFAULT NULL, KEY `k` (`a`));\n' +
    "INSERT INTO `t` VALUES (1,'2024-01-01 00:00:00');\nINSERT INTO `t` (`b`, `a`) VALUES ('2024-01-02 00:00:00',2);\n";
  const scanner = new DumpScanner();
  const batches = [...scanner.write(Buffer.from(dump)), ...scanner.end()].filter((b) => b.rows.length);
  t.same(batches.map((b) => b.columns), [['a', 'b'], ['b', 'a']]);
  t.same(batches[1].types, ['timestamp', 'int']);
  t.equal(batches[0].timeZone, '+00:00', 'the dump\'s TIME_ZONE header is carried');
});

t.test('every sample split at many chunk sizes gives identical rows', async (t) => {
  for (const f of ['umami-v2-mariadb.sql', 'umami-v2-postgres.sql', 'umami-v3-postgres-inserts.sql', 'umami-v1-mariadb.sql']) {
    const buf = fs.readFileSync(path.join(samples, f));
    const whole = JSON.stringify(scanAll(buf));
    for (const size of [1, 2, 3, 7, 64, 1000, 4093, 65536]) {
      t.equal(JSON.stringify(scanAll(buf, size)), whole, `${f} in chunks of ${size}`);
    }
  }
});

t.test('a small dump split at every byte offset gives identical rows', async (t) => {
  const dump = Buffer.from(HEADER_MYSQL + "CREATE TABLE `t` (`a` int, `b` text);\nINSERT INTO `t` VALUES (1,'é\\'x'),\n(2,'日本😀'),(3,_binary 'b\\0'),(4,0x4142),(5,'a''b');\n" +
    "DELIMITER ;;\nCREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW BEGIN SET @a = ';'; END ;;\nDELIMITER ;\n" +
    '-- PostgreSQL part\nCOPY public.u (a, b) FROM stdin;\n1\tä\\tß\n2\t\\N\n\\.\n');
  const whole = JSON.stringify(scanAll(dump));
  t.ok(whole.includes('日本😀') && whole.includes('ä\\tß'), 'multibyte values decoded');
  let same = 0;
  for (let cut = 1; cut < dump.length; cut++) {
    const scanner = new DumpScanner();
    const rows = [];
    for (const b of [...scanner.write(dump.subarray(0, cut)), ...scanner.write(dump.subarray(cut)), ...scanner.end()]) {
      for (let i = 0; i < b.rows.length; i++) rows.push([b.table, b.rows[i], b.offsets[i], b.columns.join(','), b.timeZone, b.dialect]);
    }
    if (JSON.stringify(rows) === whole) same++;
    else t.fail(`differs when split at byte ${cut}`);
  }
  t.equal(same, dump.length - 1, `all ${dump.length - 1} two-chunk splits agree`);
});

t.test('values not decoded are skipped exactly: escapes, doubled quotes, backslashes, at every split', async (t) => {
  // Rows long enough for the fast path; the skipped columns hold what ends a value early if misread.
  const skipped = ["plain title", "it\\'s", "two''quotes", "back\\\\slash\\\\", "x\\\\", "'')(,", "\\\\''", 'long '.repeat(20)];
  const mysql = HEADER_MYSQL + 'CREATE TABLE `e` (`a` text, `keep` text, `b` text, `c` int);\nINSERT INTO `e` VALUES ' +
    skipped.map((v, i) => `('${v}','k${i}','${skipped[(i + 3) % skipped.length]}',${i})`).join(',') + ';\n';
  const pg = "-- PostgreSQL database dump\nSET standard_conforming_strings = on;\nCREATE TABLE public.e (a text, keep text, b text, c integer);\n" +
    ["INSERT INTO public.e VALUES ('end\\', 'k0', 'a''b', 1);", "INSERT INTO public.e VALUES ('\\\\x', 'k1', '" + 'pad '.repeat(30) + "', 2);"].join('\n') + '\n';
  // COPY: escapes, \N, a lone backslash before a TAB, and one before a LF (the LF is data, not
  // the line's end), in the fields skipped.
  const copySkipped = ['plain title', 'tab\\there', '\\N', '\\\\N', 'back\\\\slash\\\\', 'oct\\101', 'long '.repeat(20), 'odd\\\tb', 'line\\\nbreak', 'x\\x41\\\\\\\nafter'];
  const copy = '-- PostgreSQL database dump\nSET standard_conforming_strings = on;\nCREATE TABLE public.e (a text, keep text, b text, c integer);\nCOPY public.e (a, keep, b, c) FROM stdin;\n' +
    copySkipped.map((v, i) => `${v}\tk${i}\t${copySkipped[(i + 3) % copySkipped.length]}\t${i}\n`).join('') + '\\.\n';
  // standard_conforming_strings off (backslashes escape in every string), and E'' strings: \x, \u, \U and octal escapes.
  const pgEscapes = ["it\\'s", '\\x27\\\\', "\\U0001F600''", '\\101\\u00e9', "\\\\''", 'long '.repeat(20)];
  const pgOff = "-- PostgreSQL database dump\nSET standard_conforming_strings = off;\nCREATE TABLE public.e (a text, keep text, b text, c integer);\n" +
    pgEscapes.map((v, i) => `INSERT INTO public.e VALUES ('${v}', 'k${i}', E'${pgEscapes[(i + 2) % pgEscapes.length]}', ${i});`).join('\n') + '\n';
  for (const [name, text] of [['mariadb-dump', mysql], ['pg_dump --inserts', pg], ['pg_dump COPY', copy], ["pg_dump --inserts, backslashes escaping", pgOff]]) {
    const dump = Buffer.from(text);
    const keep = { select: (info) => info.columns.map((c) => c === 'keep') };
    const full = scanAll(dump).map((r) => r[1][1]);
    t.ok(full.length >= 2 && full.every((v, i) => v === `k${i}`), `${name}: the kept column, decoding every column`);
    const want = JSON.stringify(full);
    const got = (rows) => JSON.stringify(rows.map((r) => r[1][1]));
    for (const size of [1, 7, 64, 100, 1000, dump.length]) t.equal(got(scanAll(dump, size, keep)), want, `${name}, only it decoded, chunks of ${size}`);
    let same = 0;
    for (let cut = 1; cut < dump.length; cut++) {
      const scanner = new DumpScanner(keep);
      const rows = [];
      for (const b of [...scanner.write(dump.subarray(0, cut)), ...scanner.write(dump.subarray(cut)), ...scanner.end()]) for (const r of b.rows) rows.push([null, r]);
      if (got(rows) === want) same++;
    }
    t.equal(same, dump.length - 1, `${name}: all ${dump.length - 1} two-chunk splits agree`);
  }
});

t.test('bytes carried over from the end of a chunk are joined with the start of a long next chunk: same rows and offsets', async (t) => {
  // Chunks longer than the 64 KiB the carried bytes are joined with; each first chunk ends just after a
  // backslash (COPY) or a quote (INSERT), where the scanner needs the next bytes to decide.
  const copyRows = [];
  for (let i = 0; i < 12000; i++) copyRows.push(`${i}\t${i % 3 === 0 ? '\\N' : `p${i}`}\t${i % 5 === 0 ? 'a\\tb' : 'x'.repeat(i % 40)}\t\\N\n`);
  const copy = '-- PostgreSQL database dump\nCREATE TABLE public.e (id integer, p text, q text, r text);\nCOPY public.e (id, p, q, r) FROM stdin;\n' + copyRows.join('') + '\\.\n';
  const insRows = [];
  for (let i = 0; i < 12000; i++) insRows.push(`(${i},'p${i}','${i % 5 === 0 ? "a''b\\\\" : 'y'.repeat(i % 40)}',NULL)`);
  const mysql = HEADER_MYSQL + 'CREATE TABLE `e` (`id` int, `p` text, `q` text, `r` text);\nINSERT INTO `e` VALUES ' + insRows.join(',') + ';\n';
  const JOIN = 65536;
  for (const [name, text, mark] of [['pg_dump COPY', copy, 0x5c], ['mariadb-dump', mysql, 0x27]]) {
    const dump = Buffer.from(text);
    const want = JSON.stringify(scanAll(dump).map((r) => [r[1], r[2]]));
    const marks = [];
    for (let m = dump.indexOf(mark); m >= 0; m = dump.indexOf(mark, m + 1)) marks.push(m);
    const isMark = new Set(marks);
    // Cuts just after a mark with more than 2 × 64 KiB after it; double cuts also have a mark
    // ending the next chunk's first 64 KiB (carried over twice).
    // Whether bytes are carried over after writing these pieces one by one.
    const carries = (...ends) => {
      const scanner = new DumpScanner();
      let from = 0;
      for (const e of ends) {
        scanner.write(dump.subarray(from, e));
        from = e;
      }
      return scanner.carry !== null;
    };
    const single = [];
    const double = [];
    for (let k = 0; k < marks.length && marks[k] + 1 + 2 * JOIN < dump.length; k++) {
      const cut = marks[k] + 1;
      if (single.length < 16 && k % 53 === 0 && carries(cut)) single.push(cut);
      if (double.length < 8 && isMark.has(marks[k] + JOIN) && k % 3 === 0 && carries(cut) && carries(cut, cut + JOIN)) double.push(cut);
    }
    t.ok(single.length >= 16 && double.length >= 8, `${name}: ${single.length} cuts carrying bytes, ${double.length} carrying twice, in ${dump.length} bytes`);
    for (const [label, cuts] of [['one carry', single], ['two carries', double]]) {
      let same = 0;
      for (const cut of cuts) {
        const scanner = new DumpScanner();
        const rows = [];
        for (const b of [...scanner.write(dump.subarray(0, cut)), ...scanner.write(dump.subarray(cut)), ...scanner.end()]) for (let i = 0; i < b.rows.length; i++) rows.push([b.rows[i], b.offsets[i]]);
        if (JSON.stringify(rows) === want) same++;
      }
      t.equal(same, cuts.length, `${name}, ${label}: every cut gives the same rows and offsets`);
    }
  }
});

t.test('gzip input is detected by its magic bytes and decompressed in the stream', async (t) => {
  const plain = fs.readFileSync(path.join(samples, 'umami-v2-postgres.sql'));
  const gz = zlib.gzipSync(plain);
  const chunks = [];
  for (let i = 0; i < gz.length; i += 1000) chunks.push(gz.subarray(i, i + 1000));
  const { batches, tok } = await tokenize(chunks);
  const rows = batches.reduce((n, b) => n + b.rows.length, 0);
  t.equal(tok.compression, 'gzip');
  t.equal(tok.bytesRead, gz.length, 'compressed bytes read');
  t.equal(tok.bytesDecoded, plain.length, 'decompressed bytes');
  t.equal(rows, scanAll(plain).length, 'same rows as the plain dump');
});

// A generated dump of several MiB: decompressed in many 1 MiB pieces.
async function generatedDump(events) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-tokenizer-'));
  const file = path.join(dir, 'dump.sql');
  await promisify(execFile)(process.execPath, [path.join(import.meta.dirname, '..', 'bench', 'generate.js'), '--events', String(events), '--format', 'mariadb', '--out', file]);
  const buf = fs.readFileSync(file);
  fs.rmSync(dir, { recursive: true, force: true });
  return buf;
}

/** Tokenizes `input` with a consumer that takes a turn of the event loop per batch; [rows, error]. */
async function tokenizeSlowly(input, chunkBytes) {
  const rows = [];
  const tok = createDumpTokenizer();
  const chunks = [];
  for (let i = 0; i < input.length; i += chunkBytes) chunks.push(input.subarray(i, i + chunkBytes));
  try {
    await pipeline(Readable.from(chunks), tok, async function* (src) {
      for await (const b of src) {
        for (let i = 0; i < b.rows.length; i++) rows.push([b.table, b.rows[i], b.offsets[i], b.columns.join(','), b.timeZone, b.dialect]);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
  } catch (err) {
    return { rows, tok, err };
  }
  return { rows, tok, err: null };
}

t.test('a gzip dump of many decompressed pieces, read slowly: the plain dump\'s rows, offsets and errors', async (t) => {
  const plain = await generatedDump(20000);
  t.ok(plain.length > 6 << 20, `the dump is ${plain.length} bytes`);
  const want = scanAll(plain);
  const gz = zlib.gzipSync(plain, { level: 1 });
  for (const chunkBytes of [65536, 1 << 20, gz.length]) {
    const { rows, tok, err } = await tokenizeSlowly(gz, chunkBytes);
    t.error(err, `chunks of ${chunkBytes}: no error`);
    t.equal(tok.bytesDecoded, plain.length, `chunks of ${chunkBytes}: every byte decompressed`);
    t.equal(rows.length, want.length, `chunks of ${chunkBytes}: as many rows`);
    t.ok(JSON.stringify(rows) === JSON.stringify(want), `chunks of ${chunkBytes}: the same rows and offsets, in order`);
  }

  // A syntax error past the first pieces: reported at the plain dump's offset.
  const broken = Buffer.from(plain);
  const at = broken.indexOf('),\n(', 4 << 20) + 1; // between two rows, not inside a value
  broken[at] = 0x21; // '!'
  let plainErr = null;
  try {
    scanAll(broken);
  } catch (err) {
    plainErr = err;
  }
  t.equal(plainErr?.code, 'UA_SYNTAX', 'the plain dump fails');
  const { rows: before, err } = await tokenizeSlowly(zlib.gzipSync(broken, { level: 1 }), 65536);
  t.equal(err?.code, 'UA_SYNTAX', 'the gzip dump fails the same way');
  t.equal(err?.context.offset, plainErr.context.offset, `at the same decompressed byte offset (${plainErr.context.offset})`);
  t.equal(plainErr.context.offset, at, 'which is where the dump was broken');
  t.ok(before.length > 0 && before.every((r) => r[2] < at), `the ${before.length} rows before it came first`);

  // A gzip stream cut in the middle, and one whose checksum is wrong: typed errors, after the rows before them.
  const crc = Buffer.from(gz);
  crc[crc.length - 8] ^= 0xff;
  for (const [name, input, least] of [['cut in the middle', gz.subarray(0, gz.length >> 1), want.length / 4], ['with a wrong checksum', crc, want.length / 2]]) {
    const got = await tokenizeSlowly(input, 65536);
    t.equal(got.err?.code, 'UA_CORRUPT_COMPRESSION', `a gzip stream ${name} fails typed`);
    t.ok(got.rows.length > least && JSON.stringify(got.rows) === JSON.stringify(want.slice(0, got.rows.length)), `${name}: the first ${got.rows.length} rows came first, as in the plain dump`);
  }
});

t.test('gzip decompression runs ahead of the scanner by four chunks at most, and every row comes whole', async (t) => {
  // Rows that compress about 270:1: zlib makes its 512 KiB chunks far faster than they are scanned,
  // so without a bound they would pile up in the tokenizer.
  const row = `(1,'${'a'.repeat(400)}','${'b'.repeat(400)}')`;
  const statement = `INSERT INTO \`e\` VALUES ${new Array(500).fill(row).join(',')};\n`;
  const plain = Buffer.from(HEADER_MYSQL + 'CREATE TABLE `e` (`id` int, `a` text, `b` text);\n' + statement.repeat(100));
  t.ok(plain.length > 32 << 20, `${plain.length} bytes decompressed`);
  const gz = zlib.gzipSync(plain, { level: 9 });
  t.ok(gz.length * 100 < plain.length, `from ${gz.length} compressed`);
  const tok = createDumpTokenizer();
  let most = 0;
  let sampling = true;
  const sample = () => {
    // White-box: the decompressed chunks waiting to be scanned.
    most = Math.max(most, tok.inflated.length);
    if (sampling) setImmediate(sample);
  };
  sample();
  let rows = 0;
  let bytes = 0;
  try {
    await pipeline(Readable.from([gz]), tok, async function* (src) {
      for await (const b of src) {
        rows += b.rows.length;
        for (const r of b.rows) bytes += r[1].length + r[2].length;
      }
    });
  } finally {
    sampling = false;
  }
  t.equal(tok.bytesDecoded, plain.length, 'every byte decompressed');
  t.equal(rows, 50000, 'every row');
  t.equal(bytes, 50000 * 800, 'every value whole');
  t.ok(most >= 2, `zlib ran ahead of the scanner (${most} chunks waited at once)`);
  t.ok(most <= 4, `by four chunks at most (${most})`);

  // Destroyed while chunks wait: zlib is stopped with it, the chunks are let go, and nothing more is scanned.
  const early = createDumpTokenizer();
  early.on('error', () => {});
  early.write(gz);
  await new Promise((resolve) => {
    const check = () => (early.inflated.length >= 2 ? resolve() : setImmediate(check));
    check();
  });
  early.destroy();
  const scanned = early.bytesDecoded;
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(early.gunzip.destroyed, true, 'destroyed with chunks waiting: zlib is destroyed too');
  t.equal(early.inflated.length, 0, 'and the chunks are let go');
  t.equal(early.bytesDecoded, scanned, `nothing scanned after the destroy (${scanned} bytes before it)`);
});

t.test('a column given a converter comes as its number wherever the converter reads one, escaped or split across chunks, else as the string', async (t) => {
  // The converter: the value's digits as a number, NaN for anything else.
  // '1\\2' (MySQL: an escaped 2) and 1\\062 (COPY: octal for 2) are 12 once decoded.
  const values = ['123', '7', "4\\'2", 'x9', '', '0042', 'é1', '\\\\5', '1\\2'];
  const mysql = HEADER_MYSQL + 'CREATE TABLE `e` (`id` int, `n` varchar(20), `q` text, `bare` int);\nINSERT INTO `e` VALUES ' +
    values.map((v, i) => `(${i},'${v}','${'pad '.repeat(i * 3)}',${i * 11})`).join(',') + ',(99,NULL,NULL,NULL);\n';
  const copy = '-- PostgreSQL database dump\nCREATE TABLE public.e (id integer, n text, q text, bare integer);\nCOPY public.e (id, n, q, bare) FROM stdin;\n' +
    ['123', '7', '4\\t2', 'x9', '', '0042', 'é1', '\\\\5', '1\\062'].map((v, i) => `${i}\t${v}\t${'pad '.repeat(i * 3)}\t${i * 11}\n`).join('') + '99\t\\N\t\\N\t\\N\n\\.\n';
  // Decoded strings: what every value reads as without a converter.
  const expect = (text) => scanAll(Buffer.from(text)).map((r) => [r[1][1], r[1][3]]);
  for (const [name, text] of [['mariadb-dump', mysql], ['pg_dump COPY', copy]]) {
    const dump = Buffer.from(text);
    const strings = expect(text);
    t.equal(strings[8][0], '12', `${name}: the escaped value decodes to 12`);
    const want = strings.map(([n, bare]) => {
      const num = (v) => (v === null ? null : Number.isNaN(digits(Buffer.from(v), 0, Buffer.byteLength(v))) ? v : digits(Buffer.from(v), 0, Buffer.byteLength(v)));
      return [num(n), num(bare)];
    });
    t.equal(want[8][0], 12, `${name}: the converter reads it`);
    const select = { select: (info) => info.columns.map((c) => (c === 'n' || c === 'bare' ? digits : false)) };
    const whole = scanAll(dump, dump.length, select).map((r) => [r[1][1], r[1][3]]);
    t.strictSame(whole, want, `${name}: numbers where the converter reads one (escaped or not), strings elsewhere, null for NULL`);
    t.ok(whole.filter(([n]) => typeof n === 'number').length >= 4 && whole.some(([n]) => typeof n === 'string'), `${name}: both kinds occur`);
    t.equal(typeof whole[0][1], 'number', `${name}: an unquoted number is converted too`);
    // Split anywhere, every value comes exactly as whole: the general machine converts as the fast paths do.
    const bad = [];
    for (let cut = 1; cut < dump.length; cut++) {
      const scanner = new DumpScanner(select);
      const rows = [];
      for (const b of [...scanner.write(dump.subarray(0, cut)), ...scanner.write(dump.subarray(cut)), ...scanner.end()]) for (const r of b.rows) rows.push([r[1], r[3]]);
      if (JSON.stringify(rows) !== JSON.stringify(want)) bad.push(cut);
    }
    t.same(bad, [], `${name}: all ${dump.length - 1} two-chunk splits give the same values, of the same types`);
  }
});

t.test('quoted values with escapes or doubled quotes come the same whether the fast path or the general machine reads them', async (t) => {
  // MySQL escapes of every kind and doubled quotes in decoded columns (converted, interned,
  // plain); PostgreSQL standard strings, where only a doubled quote is special. Each row is long
  // enough for the fast path; one-byte chunks leave every byte to the general machine.
  const mysqlValues = ["it\\'s", "two''quotes", '\\\\', 'a\\tb\\nc\\rd', '\\0\\Z\\b', 'pct\\%under\\_', '\\"q\\"', 'end\\\\', '4\\2', '12', 'é\\x', "''"];
  const pgValues = ["it''s", 'back\\slash', "''", 'plain', "a''b''c", '42', 'é', "end''"];
  const pad = 'p'.repeat(70);
  const rowsOf = (values) => values.map((_, i) => [values[(i + 9) % values.length], values[i], values[(i + 3) % values.length], values[(i + 5) % values.length]]);
  const mysql = HEADER_MYSQL + 'CREATE TABLE `e` (`n` text, `p` text, `q` text, `r` text, `pad` text);\nINSERT INTO `e` VALUES ' +
    rowsOf(mysqlValues).map((r) => `(${r.map((v) => `'${v}'`).join(',')},'${pad}')`).join(',') + ';\n';
  const pg = '-- PostgreSQL database dump\nSET standard_conforming_strings = on;\nCREATE TABLE public.e (n text, p text, q text, r text, pad text);\n' +
    rowsOf(pgValues).map((r) => `INSERT INTO public.e VALUES (${r.map((v) => `'${v}'`).join(', ')}, '${pad}');`).join('\n') + '\n';
  const read = (parts) => {
    const interner = new Interner({ ids: true });
    const scanner = new DumpScanner({ select: (info) => info.columns.map((c) => (c === 'n' ? digits : c === 'p' ? interner : c !== 'pad')) });
    const rows = [];
    for (const b of [...parts.flatMap((part) => scanner.write(part)), ...scanner.end()]) for (const r of b.rows) rows.push(r.slice(0, 4));
    return { rows, names: interner.names };
  };
  for (const [name, text, count] of [['mariadb-dump', mysql, mysqlValues.length], ['pg_dump --inserts', pg, pgValues.length]]) {
    const dump = Buffer.from(text);
    const bytes = [];
    for (let i = 0; i < dump.length; i++) bytes.push(dump.subarray(i, i + 1));
    const general = read(bytes);
    t.equal(general.rows.length, count, `${name}: every row read`);
    if (name === 'mariadb-dump') {
      t.same(general.names, ["it's", "two'quotes", '\\', 'a\tb\nc\rd', '\u0000\u001a\b', 'pct\\%under\\_', '"q"', 'end\\', '42', '12', 'éx', "'"], `${name}: the escapes decoded`);
      t.equal(general.rows[11][0], 42, `${name}: an escaped value converted`);
    } else {
      t.same(general.names, ["it's", 'back\\slash', "'", 'plain', "a'b'c", '42', 'é', "end'"], `${name}: doubled quotes decoded, a backslash kept`);
    }
    t.strictSame(read([dump]), general, `${name}: read whole (the fast path) as read a byte at a time`);
    const bad = [];
    for (let cut = 1; cut < dump.length; cut++) if (JSON.stringify(read([dump.subarray(0, cut), dump.subarray(cut)])) !== JSON.stringify(general)) bad.push(cut);
    t.same(bad, [], `${name}: all ${dump.length - 1} two-chunk splits give the same values and names`);
  }
});

/** The rows a scanner reads from `parts`, and the names of an interner that `column` may give for a column. */
function readWithInterner(parts, column) {
  const interner = new Interner({ ids: true });
  const scanner = new DumpScanner({ select: (info) => info.columns.map((c) => column(c, interner)) });
  const rows = [];
  for (const b of [...parts.flatMap((part) => scanner.write(part)), ...scanner.end()]) for (const r of b.rows) rows.push(r);
  return { rows, names: interner.names };
}

t.test('COPY values with escapes come the same whether the fast path or the general machine reads them', async (t) => {
  // Decoded columns (converted, interned, plain, and the last on the line) holding escapes of
  // every kind, on lines ending in LF and in CR LF; one-byte chunks leave every byte to the
  // general machine.
  const values = ['a\\tb', '\\303\\251t\\xe9', '\\\\N', 'x\\\\', 'end\\r', '\\r\\n', 'line\\\nbreak', '\\N', 'N\\N', '4\\062', 'plain', 'oct\\1010', 'tab\\\tin'];
  const lines = [];
  for (let i = 0; i < values.length * 2; i++) {
    const v = (k) => values[(i + k) % values.length];
    lines.push(`${i % 3 === 0 ? `${i}\\06${i % 8}` : i}\t${v(0)}\t${v(5)}\t${v(9)}${i % 2 === 0 ? '\r\n' : '\n'}`);
  }
  const dump = Buffer.from('-- PostgreSQL database dump\nCREATE TABLE public.e (id integer, p text, q text, r text);\nCOPY public.e (id, p, q, r) FROM stdin;\n' + lines.join('') + '\\.\n');
  const read = (parts) => readWithInterner(parts, (c, interner) => (c === 'id' ? digits : c === 'p' ? interner : true));
  const bytes = [];
  for (let i = 0; i < dump.length; i++) bytes.push(dump.subarray(i, i + 1));
  const general = read(bytes);
  t.equal(general.rows.length, values.length * 2, 'every line a row');
  t.strictSame(general.rows[0], [0, 0, '\r\n', '42'], 'an octal escape in a number; \\t, \\r, \\n and octal escapes in strings');
  t.equal(general.names[1], 'ét\uFFFD', 'UTF-8 bytes from octal escapes; a \\x escape');
  t.strictSame(general.rows[1].slice(2), ['line\nbreak', 'plain'], 'a backslash before a LF: the LF is data');
  t.strictSame(general.rows[2].slice(2), [null, 'octA0'], '\\N is NULL; an octal escape has three digits at most');
  t.strictSame(general.rows[3], [33, 3, 'NN', 'tab\tin'], '\\N within a value is N; a backslash before a TAB makes it data');
  t.equal(general.rows[21][3], 'end\r', 'a \\r escape just before the LF is kept');
  t.equal(general.rows[24][3], null, '\\N just before a CR LF line end is NULL');
  const whole = read([dump]);
  t.strictSame(whole, general, 'read whole (the fast path) as read a byte at a time');
  const bad = [];
  for (let cut = 1; cut < dump.length; cut++) if (JSON.stringify(read([dump.subarray(0, cut), dump.subarray(cut)])) !== JSON.stringify(general)) bad.push(cut);
  t.same(bad, [], `all ${dump.length - 1} two-chunk splits give the same values and names`);
});

t.test('COPY: an interned or converted last field reads the same on LF and CR LF lines', async (t) => {
  // The fast path finds a line's end at its last field: the CR of a CR LF is not the value's, and
  // the interner's hash is of the value's bytes alone, so a name seen on both kinds of line is one
  // name (every name comes on lines of both kinds: every other round of them ends in CR LF).
  const names = ['/a', '/bcd', '/efgh', '/ijklmnop', '', 'é'];
  const lines = [];
  for (let i = 0; i < names.length * 4; i++) lines.push(`${i}\t${names[i % names.length]}\t${i % 7}\t${names[(i + 1) % names.length]}${Math.floor(i / names.length) % 2 === 1 ? '\r\n' : '\n'}`);
  const dump = Buffer.from('-- PostgreSQL database dump\nCREATE TABLE public.e (id integer, p text, n integer, q text);\nCOPY public.e (id, p, n, q) FROM stdin;\n' + lines.join('') + '\\.\n', 'utf8');
  const read = (parts) => readWithInterner(parts, (c, interner) => (c === 'q' ? interner : c === 'p' ? true : digits));
  const whole = read([dump]);
  t.strictSame([...whole.names].sort(), [...names].sort(), 'each name once, without a CR');
  t.strictSame(whole.rows.map((r) => whole.names[r[3]]), lines.map((_, i) => names[(i + 1) % names.length]), 'every row names its value');
  t.strictSame(whole.rows.map((r) => r[0]), lines.map((_, i) => i), 'the first field converted on every line');
  const bytes = [];
  for (let i = 0; i < dump.length; i++) bytes.push(dump.subarray(i, i + 1));
  t.strictSame(whole, read(bytes), 'as read a byte at a time (the general machine)');
  const bad = [];
  for (let cut = 1; cut < dump.length; cut++) if (JSON.stringify(read([dump.subarray(0, cut), dump.subarray(cut)])) !== JSON.stringify(whole)) bad.push(cut);
  t.same(bad, [], `all ${dump.length - 1} two-chunk splits give the same values and names`);
});

t.test('plain bytes read four at a time: a TAB, quote, backslash or non-ASCII byte at every place in a word is found', async (t) => {
  // Values of 0 to 11 bytes with one special byte at each place, in a skipped column and in decoded
  // ones (plain and converted); a byte at a time leaves every byte to the general machine.
  const specials = { copy: ['\\t', '\\\\', 'é', '☃', "'"], mysql: ["\\'", "''", '\\\\', 'é', '☃', '\t'] };
  const cases = [];
  for (let len = 0; len < 12; len++) for (let at = 0; at <= len; at++) cases.push([len, at]);
  for (const kind of ['copy', 'mysql']) {
    const lines = [];
    let k = 0;
    for (const sp of specials[kind]) {
      for (const [len, at] of cases) {
        const v = 'abcdefghijk'.slice(0, at) + (at < len ? sp : '') + 'ABCDEFGHIJK'.slice(at, len);
        const num = `${k % 7 === 0 ? '12345678901' : k}`;
        lines.push(kind === 'copy' ? `${num}\t${v}\t${v}\t${v}\t${v}` : `(${num},'${v}','${v}','${v}','${v}')`);
        k++;
      }
    }
    const dump = Buffer.from(kind === 'copy'
      ? '-- PostgreSQL database dump\nCREATE TABLE public.e (id integer, skip text, p text, c text, last text);\nCOPY public.e (id, skip, p, c, last) FROM stdin;\n' + lines.join('\n') + '\n\\.\n'
      : '-- MariaDB dump 10.19\nCREATE TABLE `e` (\n  `id` int,\n  `skip` text,\n  `p` text,\n  `c` text,\n  `last` text\n);\nINSERT INTO `e` VALUES ' + lines.join(',') + ';\n', 'utf8');
    const read = (parts) => {
      const scanner = new DumpScanner({ select: (info) => info.columns.map((c) => (c === 'skip' ? false : c === 'id' || c === 'c' ? digits : true)) });
      const rows = [];
      for (const b of [...parts.flatMap((part) => scanner.write(part)), ...scanner.end()]) for (const r of b.rows) rows.push(r);
      return rows;
    };
    const bytes = [];
    for (let i = 0; i < dump.length; i++) bytes.push(dump.subarray(i, i + 1));
    const general = read(bytes);
    t.equal(general.length, lines.length, `${kind}: every value a row`);
    const at5of8 = cases.findIndex(([len, at]) => len === 8 && at === 5);
    t.strictSame(general[specials[kind].indexOf('é') * cases.length + at5of8].slice(2), ['abcdeéFGH', 'abcdeéFGH', 'abcdeéFGH'], `${kind}: a non-ASCII byte in the second word decoded as UTF-8`);
    t.strictSame(general[0].slice(1), [undefined, '', '', ''], `${kind}: empty values`);
    t.strictSame(read([dump]), general, `${kind}: read whole (the fast path) as read a byte at a time`);
  }
});

t.test('COPY fields not decoded that start like a NULL are skipped as what they are', async (t) => {
  // \\N alone is NULL; \\N and more is a value; skipped fields of both kinds, before a TAB, a LF
  // and a CR LF, around decoded ones that must stay in their columns.
  const skipped = ['\\N', '\\Nx', '\\N\\\\', '\\NN', '\\N\\t', 'x\\N'];
  const lines = [];
  for (let i = 0; i < skipped.length * skipped.length; i++) {
    const a = skipped[i % skipped.length];
    const c = skipped[Math.floor(i / skipped.length)];
    lines.push(`${a}\tb${i}\t${c}\td${i}\t${a}${i % 2 ? '\r\n' : '\n'}`);
  }
  const dump = Buffer.from('-- PostgreSQL database dump\nCREATE TABLE public.e (a text, b text, c text, d text, e text);\nCOPY public.e (a, b, c, d, e) FROM stdin;\n' + lines.join('') + '\\.\n');
  const read = (parts) => {
    const scanner = new DumpScanner({ select: (info) => info.columns.map((c) => c === 'b' || c === 'd') });
    const rows = [];
    for (const b of [...parts.flatMap((part) => scanner.write(part)), ...scanner.end()]) for (const r of b.rows) rows.push(r);
    return rows;
  };
  const whole = read([dump]);
  t.equal(whole.length, lines.length, 'every line a row');
  t.same(whole.map((r) => [r[1], r[3]]), lines.map((_, i) => [`b${i}`, `d${i}`]), 'the decoded fields in their columns (read whole: the fast path)');
  const bytes = [];
  for (let i = 0; i < dump.length; i++) bytes.push(dump.subarray(i, i + 1));
  t.strictSame(whole, read(bytes), 'as read a byte at a time');
});

t.test('one-row INSERTs whose headers repeat: rows and offsets as the statement machine reads them', async (t) => {
  // Rows of the next statement go straight on when its bytes up to the `(` repeat the last
  // INSERT's; anything else between (another table, a column list, other spacing, a SET, a
  // comment, a time zone) goes through the statement machine.
  const dump = Buffer.from([
    '-- MariaDB dump 10.19',
    'CREATE TABLE `a` (\n  `x` int,\n  `y` varchar(9)\n);',
    'CREATE TABLE `b` (\n  `y` varchar(9),\n  `x` int\n);',
    "INSERT INTO `a` VALUES (1,'one');",
    "INSERT INTO `a` VALUES (2,'two');INSERT INTO `a` VALUES (3,'three');",
    "INSERT INTO `b` VALUES ('four',4);",
    "INSERT INTO `a` VALUES (5,'five');\r",
    "INSERT INTO `a` (`y`, `x`) VALUES ('six',6);",
    "INSERT INTO `a` (`y`, `x`) VALUES ('seven',7);",
    "INSERT  INTO `a` VALUES (8,'eight');",
    '/*!40103 SET TIME_ZONE=\'+02:00\' */;',
    "INSERT INTO `a` VALUES (9,'nine');",
    '/* a comment */ INSERT INTO `a` VALUES (10,\'ten\');',
    "INSERT INTO `a` VALUES (11,'eleven'),(12,'twelve');",
    "INSERT INTO `a` VALUES (13,'thirteen');",
    '',
  ].join('\n'));
  const rows = scanAll(dump);
  t.same(rows.map(([table, row]) => [table, row.join(' ')]), [
    ['a', '1 one'], ['a', '2 two'], ['a', '3 three'], ['b', 'four 4'], ['a', '5 five'], ['a', 'six 6'], ['a', 'seven 7'],
    ['a', '8 eight'], ['a', '9 nine'], ['a', '10 ten'], ['a', '11 eleven'], ['a', '12 twelve'], ['a', '13 thirteen'],
  ], 'every row, in its table');
  t.same(rows.map((r) => r[3]), ['x,y', 'x,y', 'x,y', 'y,x', 'x,y', 'y,x', 'y,x', 'x,y', 'x,y', 'x,y', 'x,y', 'x,y', 'x,y'], 'the columns of each statement');
  t.same(rows.map((r) => r[4]), [null, null, null, null, null, null, null, null, '+02:00', '+02:00', '+02:00', '+02:00', '+02:00'], 'the time zone set between statements');
  for (const [, row, offset] of rows) t.equal(dump[offset], 0x28, `row ${row[0]}: its offset at its (`);
  const bytes = scanAll(dump, 1);
  t.strictSame(rows, bytes, 'read whole as read a byte at a time');
  const bad = [];
  for (let cut = 1; cut < dump.length; cut++) {
    const scanner = new DumpScanner();
    const got = [];
    for (const b of [...scanner.write(dump.subarray(0, cut)), ...scanner.write(dump.subarray(cut)), ...scanner.end()]) for (let i = 0; i < b.rows.length; i++) got.push([b.table, b.rows[i], b.offsets[i]]);
    if (JSON.stringify(got) !== JSON.stringify(rows.map((r) => r.slice(0, 3)))) bad.push(cut);
  }
  t.same(bad, [], `all ${dump.length - 1} two-chunk splits give the same rows and offsets`);
});

t.test('a column given an interner with ids comes as the same index wherever the value is read, escaped or split across chunks', async (t) => {
  const paths = ['/a', "/it\\'s", '/a', '/b', "/it\\'s", '/b', '/a'];
  const mysql = HEADER_MYSQL + 'CREATE TABLE `e` (`id` int, `p` varchar(20));\nINSERT INTO `e` VALUES ' + paths.map((v, i) => `(${i},'${v}')`).join(',') + ';\n';
  const copy = '-- PostgreSQL database dump\nCREATE TABLE public.e (id integer, p text);\nCOPY public.e (id, p) FROM stdin;\n' +
    ['/a', '/it\\047s', '/a', '/b', '/it\\047s', '/b', '/a'].map((v, i) => `${i}\t${v}\n`).join('') + '\\.\n';
  for (const [name, text] of [['mariadb-dump', mysql], ['pg_dump COPY', copy]]) {
    const dump = Buffer.from(text);
    const read = (cut) => {
      const interner = new Interner({ ids: true });
      const scanner = new DumpScanner({ select: (info) => info.columns.map((c) => (c === 'p' ? interner : false)) });
      const parts = cut === 0 ? [dump] : [dump.subarray(0, cut), dump.subarray(cut)];
      const got = [];
      for (const b of [...parts.flatMap((part) => scanner.write(part)), ...scanner.end()]) for (const r of b.rows) got.push(r[1]);
      return { got, names: interner.names };
    };
    const whole = read(0);
    t.same(whole.got, [0, 1, 0, 2, 1, 2, 0], `${name}: each path its index, the escaped one too`);
    t.same(whole.names, ['/a', "/it's", '/b'], `${name}: the names decoded`);
    const bad = [];
    for (let cut = 1; cut < dump.length; cut++) {
      const r = read(cut);
      if (JSON.stringify(r) !== JSON.stringify(whole)) bad.push(cut);
    }
    t.same(bad, [], `${name}: all ${dump.length - 1} two-chunk splits give the same indices and names`);
  }
});

t.test('only the selected columns are decoded, unselected tables are skipped', async (t) => {
  const buf = fs.readFileSync(path.join(samples, 'umami-v2-mariadb.sql'));
  const rows = scanAll(buf, 65536, { select: (info) => (info.table === 'website_event' ? info.columns.map((c) => c === 'url_path') : false) });
  t.ok(rows.every((r) => r[0] === 'website_event'), 'only website_event rows');
  t.ok(rows.every((r) => r[1].filter((v) => v !== undefined).length === 1), 'one decoded value per row');
});

t.test('byte offsets point at the rows', async (t) => {
  const buf = fs.readFileSync(path.join(samples, 'umami-v2-postgres.sql'));
  const rows = scanAll(buf, 4096).filter((r) => r[0] === 'website_event');
  for (const r of rows.slice(0, 50)) t.equal(buf.subarray(r[2], r[2] + 36).toString(), r[1][0], 'row starts with its event_id');
});

t.test('rows of a table not selected are walked and counted, at every two-chunk split', async (t) => {
  // Long enough rows that the fast paths take them (they leave the last 64 bytes of a chunk to the general machine).
  const pad = 'x'.repeat(70);
  const skipped = [
    `('a','it\\'s ${pad}',NULL,-12,3.5e-2,'')`,
    `('b','two '' quotes ${pad}',42,NULL,'back\\\\slash','\\0')`,
    `('c',0x4F2A,_binary 'bytes ${pad}',1,2,'end')`,
    `('d','(parens), and; ${pad}',7,-0.5,NULL,'z')`,
  ];
  const dump = Buffer.from(
    'CREATE TABLE `skip_me` (`a` varchar(9), `b` text, `c` int, `d` int, `e` text, `f` text);\n' +
      `INSERT INTO \`skip_me\` VALUES ${skipped.join(',\n')};\n` +
      'CREATE TABLE `keep_me` (`k` varchar(9), `v` text);\n' +
      `INSERT INTO \`keep_me\` VALUES ('k1','after ${pad}'),('k2','it\\'s kept ${pad}');\n`,
  );
  const select = { select: (info) => (info.table === 'keep_me' ? true : false) };
  const want = JSON.stringify([['k1', `after ${pad}`], ['k2', `it's kept ${pad}`]]);
  let same = 0;
  let counted = 0;
  for (let cut = 1; cut < dump.length; cut++) {
    const scanner = new DumpScanner(select);
    const rows = [];
    for (const b of [...scanner.write(dump.subarray(0, cut)), ...scanner.write(dump.subarray(cut)), ...scanner.end()]) for (const r of b.rows) rows.push(r);
    if (JSON.stringify(rows) === want) same++;
    if (scanner.rowsRead === skipped.length + 2) counted++;
  }
  t.equal(same, dump.length - 1, `all ${dump.length - 1} splits give the kept rows`);
  t.equal(counted, dump.length - 1, `and count the ${skipped.length} rows skipped and the 2 kept`);
});
