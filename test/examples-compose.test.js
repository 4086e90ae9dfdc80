// examples/compose-stages: the four stages wired by hand with a bot filter
// in between, into a fresh SQLite database.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { BOT_PATHS, importWithoutBots } from '../examples/compose-stages/compose.js';
import { createDumpTokenizer, createEventParser, listImports } from '../dist/lib/index.js';
import { freshDatabase } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const root = path.join(import.meta.dirname, '..');
const sample = path.join(root, 'test', 'fixtures', 'samples', 'umami-v2-mariadb.sql');
const expected = readJsonFile(path.join(root, 'test', 'fixtures', 'samples', 'umami-v2.expected.json'));
const SITE1 = '73ab4876-7734-47c1-87fd-e805ec99108d';

/** Every event of the dump, read with the library's first two stages only. */
async function eventsOf(file) {
  const parser = createEventParser();
  const events = [];
  await pipeline(
    fs.createReadStream(file),
    createDumpTokenizer({ select: parser.parser.select }),
    parser,
    new Writable({
      objectMode: true,
      write(batch, _encoding, callback) {
        if (batch.kind === 'events') events.push(...batch.events);
        callback();
      },
    }),
  );
  return events;
}

const events = await eventsOf(sample);
const pageViews = events.filter((e) => e.eventType === 1);

async function totals(knex) {
  const out = {};
  for (const table of ['analytics_hourly', 'analytics_daily', 'analytics_monthly']) {
    out[table] = Number((await knex(table).sum({ n: 'page_views' }))[0].n ?? 0);
  }
  return out;
}

const all = (n) => ({ analytics_hourly: n, analytics_daily: n, analytics_monthly: n });

t.test('the sample as read by the test', async (t) => {
  t.equal(events.length, 3006);
  t.equal(pageViews.length, 2613);
  t.equal(pageViews.filter((e) => BOT_PATHS.test(e.urlPath)).length, 0, 'the sample has no bot paths');
});

t.test('with no bots the result equals the expected aggregates', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'compose');
  const result = await importWithoutBots({ knex, input: fs.createReadStream(sample) });
  t.same(result, { dropped: { events: 0, pageViews: 0 } });
  t.same(diffAggregates(expected, await readAggregates(knex)), []);
  t.same(await totals(knex), all(2613));
  t.match(await listImports(knex), [{ status: 'completed' }], 'the upserter records the import in the ledger');
});

t.test('a gzipped input, and an empty bot list given explicitly', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'composegz');
  const input = Readable.from([zlib.gzipSync(fs.readFileSync(sample))]);
  const result = await importWithoutBots({ knex, input, botSessions: new Set(), botPaths: null });
  t.same(result.dropped, { events: 0, pageViews: 0 });
  t.same(diffAggregates(expected, await readAggregates(knex)), []);
});

t.test('dropping every session of one site removes exactly its page views', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'composesite');
  const botSessions = new Set(events.filter((e) => e.websiteId === SITE1).map((e) => e.sessionId));
  const droppedEvents = events.filter((e) => botSessions.has(e.sessionId));
  const droppedViews = droppedEvents.filter((e) => e.eventType === 1).length;
  t.ok(droppedViews > 0 && droppedViews < 2613, `${droppedViews} page views from ${botSessions.size} sessions`);

  const result = await importWithoutBots({ knex, input: fs.createReadStream(sample), botSessions });
  t.same(result.dropped, { events: droppedEvents.length, pageViews: droppedViews });
  t.same(await totals(knex), all(2613 - droppedViews), 'page views drop by exactly the dropped count');

  const actual = await readAggregates(knex);
  const otherSite = (list) => list.filter((e) => e.site !== SITE1);
  for (const g of ['hour', 'day', 'month']) {
    t.equal(actual[g].filter((e) => e.site === SITE1).length, 0, `no ${g} rows left for the site`);
    t.same(actual[g], otherSite(expected[g]).map(({ pages_total, refs_total, ...e }) => e), `the other site's ${g} rows are untouched`);
  }
  const sites = await knex('analytics_sites').select('umami_website_id', 'name').orderBy('umami_website_id');
  t.same(sites.map((s) => s.name), ['Site 1', "Site 0 o'clock"], 'website batches passed through: both sites are named');
});

t.test('a path rule drops those page views and nothing else', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'composepath');
  const botPaths = /^\/blog\//;
  const droppedEvents = events.filter((e) => botPaths.test(e.urlPath));
  const droppedViews = droppedEvents.filter((e) => e.eventType === 1).length;
  t.ok(droppedViews > 0, `${droppedViews} page views under /blog/`);

  const result = await importWithoutBots({ knex, input: fs.createReadStream(sample), botPaths });
  t.same(result.dropped, { events: droppedEvents.length, pageViews: droppedViews });
  t.same(await totals(knex), all(2613 - droppedViews), 'page views drop by exactly the dropped count');

  const rows = await knex('analytics_daily').select('top_pages');
  const paths = rows.flatMap((r) => JSON.parse(r.top_pages).map((p) => p.path));
  t.ok(paths.length > 0);
  t.notOk(paths.some((p) => botPaths.test(p)), 'no /blog/ page in any top list');
});

t.test('a session list and a path rule together', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 'composeboth');
  // Sessions whose id starts with 0-7: about half of them, on both sites.
  const botSessions = new Set(events.map((e) => e.sessionId).filter((id) => /^[0-7]/.test(id)));
  const botPaths = /^\/$/;
  const isBot = (e) => botSessions.has(e.sessionId) || botPaths.test(e.urlPath);
  const droppedViews = pageViews.filter(isBot).length;

  const result = await importWithoutBots({ knex, input: fs.createReadStream(sample), botSessions, botPaths });
  t.same(result.dropped, { events: events.filter(isBot).length, pageViews: droppedViews });
  t.same(await totals(knex), all(2613 - droppedViews));
  const kept = pageViews.filter((e) => !isBot(e));
  const [{ n }] = await knex('analytics_monthly').sum({ n: 'unique_visitors' });
  const visitorsPerSiteMonth = new Set(kept.map((e) => `${e.websiteId}|${new Date(e.createdAt).toISOString().slice(0, 7)}|${e.sessionId}`)).size;
  t.equal(Number(n), visitorsPerSiteMonth, 'unique visitors count only the sessions kept');
});
