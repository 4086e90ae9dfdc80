// PostgreSQL: the values an import stores compressed (long top lists) are compressed with lz4
// where the server has it, by the import's own transaction; the server's default is left alone.
import knexFactory from 'knex';
import t from 'tap';
import { freshDatabase, importBuffer, onServer } from './helpers/db.js';
import { syntheticDump } from './helpers/synthetic.js';

/** The server's default_toast_compression and whether it offers lz4; null before PostgreSQL 14. */
async function toastSetting(knex) {
  const { rows } = await knex.raw("SELECT setting, 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'");
  return rows.length === 0 ? null : { setting: rows[0].setting, lz4: rows[0].lz4 === true };
}

/** The compression methods of the daily top lists stored compressed. */
async function dailyTopMethods(knex) {
  const { rows } = await knex.raw('SELECT DISTINCT pg_column_compression(top_pages) AS method FROM analytics_daily WHERE pg_column_compression(top_pages) IS NOT NULL');
  return rows.map((r) => r.method).sort();
}

// A day of one site with a few hundred pages: its list of up to 1,000 pages is about 4 KB of JSON.
const dump = syntheticDump({ sessions: 2000, views: 3, days: 1, seed: 7 });

for (const atomic of [true, false]) {
  await onServer(t, 'postgres', `postgres (${atomic ? 'atomic' : 'not atomic'}): long top lists are stored compressed with lz4 where the server offers it`, async (t) => {
    const { knex, url } = await freshDatabase(t, 'postgres', 'toast');
    const before = await toastSetting(knex);
    if (before === null) {
      t.pass('a server before PostgreSQL 14 has one compression method: nothing to choose');
      return;
    }
    // One connection: the import's, asked again afterwards.
    const single = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
    t.teardown(() => single.destroy());
    const summary = await importBuffer(single, dump, { topN: 1000, atomic, checkpointEvents: atomic ? undefined : 2500 });
    t.equal(summary.events, 6000, 'every event imported');
    const methods = await dailyTopMethods(knex);
    t.ok(methods.length > 0, `the daily top lists are long enough to be stored compressed (${methods.join(', ')})`);
    t.same(methods, [before.lz4 ? 'lz4' : before.setting], before.lz4 ? 'all of them with lz4' : `the server has no lz4: its default, ${before.setting}`);
    // The setting was the import's transactions' own: their connection is back at the server's default.
    const { rows } = await single.raw('SHOW default_toast_compression');
    t.equal(rows[0].default_toast_compression, before.setting, "the import's connection is back at the server's default");
    t.same(await toastSetting(knex), before, 'the server setting is unchanged');
  });
}
