// The scanner's recycled rows (DumpScanner.recycle, as the parse thread's worker uses it): rows built
// into arrays given back must be the rows built into new ones, for every dump form the fixtures hold.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { DumpScanner, EventParser } from '../dist/lib/index.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const files = ['samples', 'variants', 'generated'].flatMap((dir) =>
  fs
    .readdirSync(path.join(fixtures, dir))
    .filter((f) => f.endsWith('.sql'))
    .map((f) => path.join(fixtures, dir, f)),
);

/** Every row as [table, copy of its values, offset], the input fed `size` bytes at a time; with `recycle`, each batch given back once copied. */
function rowsOf(buf, size, { recycle, select }) {
  const scanner = new DumpScanner({ select, batchRows: 64 });
  const out = [];
  const take = (batches) => {
    for (const b of batches) {
      for (let i = 0; i < b.rows.length; i++) out.push([b.table, [...b.rows[i]], b.offsets[i]]);
      if (recycle) scanner.recycle(b);
    }
  };
  for (let i = 0; i < buf.length; i += size) take(scanner.write(buf.subarray(i, i + size)));
  take(scanner.end());
  return out;
}

/** The event parser's choice of columns (some decoded, some interned, some numbers), or every column. */
const selects = {
  parser: () => new EventParser({ packed: true }).select,
  all: () => undefined,
};

t.test('rows built in recycled arrays are the rows built in new ones, for every fixture, chunk size and column choice', async (t) => {
  t.ok(files.length >= 20, `${files.length} dumps`);
  for (const file of files) {
    const buf = fs.readFileSync(file);
    for (const [name, select] of Object.entries(selects)) {
      for (const size of [buf.length, 4096, 997]) {
        // Each run its own parser: its interners give the same indices in the same order.
        const fresh = rowsOf(buf, size, { recycle: false, select: select() });
        const reused = rowsOf(buf, size, { recycle: true, select: select() });
        if (fresh.length === 0) continue;
        t.same(reused, fresh, `${path.basename(file)}, ${name}, chunks of ${size}: ${fresh.length} rows`);
      }
    }
  }
});

t.test('rows of another length or another table are not built into; NULLs and values alternate in one column', async (t) => {
  const dump = Buffer.from(
    "/*!40103 SET TIME_ZONE='+00:00' */;\nCREATE TABLE `t` (`a` int, `b` varchar(9), `c` varchar(9));\n" +
      "INSERT INTO `t` VALUES (1,'x','p'),(2,NULL,'q'),(3,'y',NULL),(4,'z');\n" +
      "INSERT INTO `t` VALUES (5,'v','r','extra'),(6,NULL,NULL),(7,'w','s');\n" +
      "CREATE TABLE `u` (`k` int, `m` varchar(9), `n` varchar(9));\nINSERT INTO `u` VALUES (8,'n','o'),(9,NULL,'o');\n",
  );
  // Decoding b and c of t, m of u: a row of t built into for u would show its c where u's n is not decoded.
  const select = (info) => info.columns.map((c) => c === 'b' || c === 'c' || c === 'm');
  for (const size of [dump.length, 7, 1]) {
    const fresh = rowsOf(dump, size, { recycle: false, select });
    const reused = rowsOf(dump, size, { recycle: true, select });
    t.same(
      reused.map((r) => r[1]),
      fresh.map((r) => r[1]),
      `chunks of ${size}`,
    );
    t.same(
      fresh.map((r) => r[1]),
      [
        [undefined, 'x', 'p'],
        [undefined, null, 'q'],
        [undefined, 'y', null],
        [undefined, 'z'],
        [undefined, 'v', 'r', undefined],
        [undefined, null, null],
        [undefined, 'w', 's'],
        [undefined, 'n', undefined],
        [undefined, null, undefined],
      ],
      `chunks of ${size}: the decoded values; a short row and a long one keep their lengths`,
    );
  }
  // Given back after each batch, the pool is used: a later row of the table is one of the arrays given back.
  const scanner = new DumpScanner({ select, batchRows: 1 });
  const first = scanner.write(dump.subarray(0, dump.indexOf('(2,')));
  const seen = new Set();
  for (const b of first) for (const r of b.rows) seen.add(r);
  for (const b of first) scanner.recycle(b);
  t.equal(first[0].rows.length, 0, 'a batch given back is left without rows');
  const later = [...scanner.write(dump.subarray(dump.indexOf('(2,'))), ...scanner.end()];
  t.ok(
    later.some((b) => b.rows.some((r) => seen.has(r))),
    'a row given back is built into again',
  );
});
