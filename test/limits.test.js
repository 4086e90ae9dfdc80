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

t.test('a COPY value larger than maxValueBytes fails with UA_VALUE_TOO_LARGE, on a line the fast path reads whole', async (t) => {
  // One chunk holds the whole line, LF included: the fast path reads it, and must see the size
  // of each value, decoded or not, with escapes or without.
  const big = 'x'.repeat(3 << 20);
  const head =
    '-- PostgreSQL database dump\nCREATE TABLE public.website_event (event_id uuid, website_id uuid, session_id uuid, created_at timestamp without time zone, url_path text, referrer_domain text, event_type integer, hostname text);\n' +
    'COPY public.website_event (event_id, website_id, session_id, created_at, url_path, referrer_domain, event_type, hostname) FROM stdin;\n';
  for (const [what, line] of [
    ['decoded column', `e\ts\tv\t2024-01-01 00:00:00\t/${big}\tt.co\t1\ta.com`],
    ['decoded column with escapes', `e\ts\tv\t2024-01-01 00:00:00\t/a\\tb${big}\tt.co\t1\ta.com`],
    ['decoded last column, CR LF line', `e\ts\tv\t2024-01-01 00:00:00\t/\tt.co\t1\t${big}\r`],
    ['skipped column', `${big}\ts\tv\t2024-01-01 00:00:00\t/\tt.co\t1\ta.com`],
    ['skipped column with escapes', `it\\'s\\t${big}\ts\tv\t2024-01-01 00:00:00\t/\tt.co\t1\ta.com`],
  ]) {
    const input = Readable.from([Buffer.from(head + line + '\n\\.\n')]);
    await t.rejects(drain(input, { maxValueBytes: 1 << 20 }), { code: 'UA_VALUE_TOO_LARGE', context: { table: 'website_event' } }, what);
  }
  // Values under the limit on a line longer than it are read.
  const half = 'y'.repeat(600 << 10);
  const fine = Readable.from([Buffer.from(head + `${half}\ts\tv\t2024-01-01 00:00:00\t/${half}\tt.co\t1\ta.com\n\\.\n`)]);
  t.equal(await drain(fine, { maxValueBytes: 1 << 20 }), 1, 'a 1.2 MB line of values under 1 MiB each is one row');
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
