// SQL text of the dialects' multi-row INSERTs: SQLite's and PostgreSQL's may take the values
// every row shares once per statement (SQLite by name, PostgreSQL as $1…), beside the other
// values bound by position.
import { createRequire } from 'node:module';
import t from 'tap';
import { Dialect } from '../dist/lib/store/dialect.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');

const COLUMNS = ['site_id', 'hour_start', 'top_pages', 'import_id', 'created_at'];
const SHARED = ['import_id', 'created_at'];

t.test('SQLite: the named columns take @column in every row, the others a positional placeholder', async (t) => {
  const sql = new Dialect('sqlite').insert('analytics_hourly', COLUMNS, 3, SHARED);
  const row = '(?, ?, CAST(? AS TEXT), @import_id, @created_at)';
  t.equal(sql, `INSERT OR FAIL INTO "analytics_hourly" ("site_id", "hour_start", "top_pages", "import_id", "created_at") VALUES ${[row, row, row].join(', ')}`);
  t.equal(new Dialect('sqlite').insert('analytics_hourly', COLUMNS, 1), 'INSERT OR FAIL INTO "analytics_hourly" ("site_id", "hour_start", "top_pages", "import_id", "created_at") VALUES (?, ?, CAST(? AS TEXT), ?, ?)');
});

t.test('SQLite: one statement text per table, rows and named columns (kept texts do not mix)', async (t) => {
  const d = new Dialect('sqlite');
  const named = d.insert('t', COLUMNS, 2, SHARED);
  const positional = d.insert('t', COLUMNS, 2);
  t.not(named, positional);
  t.equal(d.insert('t', COLUMNS, 2, SHARED), named, 'asked again: the same text');
  t.equal(d.insert('t', COLUMNS, 2), positional);
  t.notMatch(positional, /@/);
});

t.test('SQLite runs it: each row gets its own values and the shared ones', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE analytics_hourly (id INTEGER PRIMARY KEY, site_id, hour_start, top_pages, import_id, created_at)');
  const st = db.prepare(new Dialect('sqlite').insert('analytics_hourly', COLUMNS, 3, SHARED));
  const own = [1, '2024-01-01 00:00:00', Buffer.from('[{"path":"/a","page_views":1}]'), 2, '2024-01-01 01:00:00', Buffer.from('[]'), 3, '2024-01-01 02:00:00', Buffer.from('[{"path":"/é","page_views":2}]')];
  st.run(own, { import_id: 7, created_at: '2026-12-01 00:00:00' });
  t.same(db.prepare('SELECT site_id, hour_start, top_pages, typeof(top_pages) AS type, import_id, created_at FROM analytics_hourly ORDER BY id').all(), [
    { site_id: 1, hour_start: '2024-01-01 00:00:00', top_pages: '[{"path":"/a","page_views":1}]', type: 'text', import_id: 7, created_at: '2026-12-01 00:00:00' },
    { site_id: 2, hour_start: '2024-01-01 01:00:00', top_pages: '[]', type: 'text', import_id: 7, created_at: '2026-12-01 00:00:00' },
    { site_id: 3, hour_start: '2024-01-01 02:00:00', top_pages: '[{"path":"/é","page_views":2}]', type: 'text', import_id: 7, created_at: '2026-12-01 00:00:00' },
  ]);
});

t.test('PostgreSQL: the shared columns are $1, $2… in every row, the others keep ? (numbered after them)', async (t) => {
  const d = new Dialect('postgres');
  const row = '(?, ?, CAST(? AS json), $1, $2)';
  t.equal(d.insert('analytics_hourly', COLUMNS, 2, SHARED), `INSERT INTO "analytics_hourly" ("site_id", "hour_start", "top_pages", "import_id", "created_at") VALUES ${row}, ${row}`);
  t.notMatch(d.insert('analytics_hourly', COLUMNS, 2), /\$/, 'without: no numbered parameter');
});

t.test('MySQL refuses them: its placeholders are positional only', async (t) => {
  t.throws(() => new Dialect('mysql').insert('t', COLUMNS, 2, SHARED), /no named or numbered parameters/);
  t.notMatch(new Dialect('mysql').insert('t', COLUMNS, 2), /@|\$/);
});
