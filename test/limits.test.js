// Hostile sizes: a value over maxValueBytes is a typed error; a 1 GB line
// streams through in bounded memory.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { createDumpTokenizer, createEventParser } from '../dist/lib/index.js';

const HEAD = "/*!40103 SET TIME_ZONE='+00:00' */;\nCREATE TABLE `website_event` (`event_id` varchar(36), `website_id` varchar(36), `session_id` varchar(36), `created_at` timestamp NULL, `url_path` varchar(500), `referrer_domain` varchar(500), `event_type` int, `hostname` varchar(100));\n";

function rowText(i) {
  return `('e${String(i).padStart(35, '0')}','site-0000-0000-0000-000000000000','sess-${i % 100}','2024-01-01 00:00:00','/page/${i % 50}','t.co',1,'a.com')`;
}

async function drain(source, options) {
  let rows = 0;
  const parser = createEventParser();
  await pipeline(
    source,
    createDumpTokenizer({ select: parser.parser.select, ...options }),
    new Writable({
      objectMode: true,
      write(batch, _enc, cb) {
        rows += batch.rows.length;
        cb();
      },
    }),
  );
  return rows;
}

t.test('a value larger than maxValueBytes fails with UA_VALUE_TOO_LARGE, decoded or not', async (t) => {
  const big = 'x'.repeat(3 << 20);
  for (const [what, row] of [
    ['decoded column', `('e','s','v','2024-01-01 00:00:00','/${big}','t.co',1,'a.com')`],
    ['skipped column', `('${big}','s','v','2024-01-01 00:00:00','/','t.co',1,'a.com')`],
    // Escapes in a skipped value: walked on the fast path, which must still see the size.
    ['skipped column with escapes', `('it\\'s ${big}','s','v','2024-01-01 00:00:00','/','t.co',1,'a.com')`],
  ]) {
    const input = Readable.from([Buffer.from(HEAD + 'INSERT INTO `website_event` VALUES ' + row + ';\n')]);
    await t.rejects(drain(input, { maxValueBytes: 1 << 20 }), { code: 'UA_VALUE_TOO_LARGE', context: { table: 'website_event' } }, what);
  }
});

t.test('a 1 GB INSERT on one line streams in bounded memory', async (t) => {
  const target = 1 << 30;
  const block = Buffer.from(Array.from({ length: 4096 }, (_, i) => rowText(i)).join(',') + ',');
  let sent = 0;
  let blocks = 0;
  let peak = 0;
  const base = process.memoryUsage().rss;
  const source = new Readable({
    read() {
      if (sent === 0) {
        this.push(Buffer.from(HEAD + 'INSERT INTO `website_event` VALUES '));
      }
      if (sent >= target) {
        this.push(Buffer.from(rowText(0) + ';\n'));
        this.push(null);
        return;
      }
      this.push(block);
      sent += block.length;
      if (++blocks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    },
  });
  const rows = await drain(source);
  t.equal(rows, blocks * 4096 + 1, `${rows} rows read from one ${Math.round(sent / 1048576)} MB line`);
  const growth = (peak - base) / 1048576;
  t.ok(growth < 256, `RSS grew by ${growth.toFixed(0)} MB while reading the line`);
});
