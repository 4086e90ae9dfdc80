// examples/custom-sites: aggregates keyed by the host's own sites.id, in a
// fresh SQLite database.
import path from 'node:path';
import t from 'tap';
import { importWithHostSites, hostnameOf } from '../examples/custom-sites/custom-sites.js';
import { freshDatabase, onServer } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const root = path.join(import.meta.dirname, '..');
const sample = path.join(root, 'test', 'fixtures', 'samples', 'umami-v2-mariadb.sql');
const expected = readJsonFile(path.join(root, 'test', 'fixtures', 'samples', 'umami-v2.expected.json'));

// The sample's websites, as its `website` table has them.
const WEBSITES = {
  'site0.example.com': 'db5b5fab-8f4d-4e27-9da1-494c73cf256d',
  'site1.example.com': '73ab4876-7734-47c1-87fd-e805ec99108d',
};

async function count(knex, table) {
  return Number((await knex(table).count({ n: '*' }))[0].n);
}

async function siteIdsIn(knex) {
  const ids = new Set();
  for (const table of ['analytics_hourly', 'analytics_daily', 'analytics_monthly']) {
    for (const r of await knex(table).distinct('site_id')) ids.add(Number(r.site_id));
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * The aggregates in the shape of expected.json. readAggregates names sites
 * through analytics_sites, so inside a transaction that is rolled back the
 * host's sites are entered there under their Umami ids, then read.
 */
async function aggregatesByHostSite(knex) {
  const sites = await knex('sites').select('id', 'hostname');
  let result;
  await knex
    .transaction(async (trx) => {
      const now = '2024-01-01 00:00:00';
      await trx('analytics_sites').insert(sites.map((s) => ({ id: s.id, umami_website_id: WEBSITES[s.hostname] ?? `host-${s.id}`, created_at: now, updated_at: now })));
      result = await readAggregates(trx);
      throw new Error('rollback');
    })
    .catch((err) => {
      if (err.message !== 'rollback') throw err;
    });
  return result;
}

t.test('hostnameOf', async (t) => {
  t.equal(hostnameOf('Example.COM'), 'example.com');
  t.equal(hostnameOf(' https://example.com/blog?x=1 '), 'example.com');
  t.equal(hostnameOf(''), null);
  t.equal(hostnameOf(null), null);
});

for (const target of ['sqlite', 'postgres', 'mysql']) {
  await onServer(t, target, `${target}: without a sites table, it is created with one row per website`, async (t) => {
    const { knex } = await freshDatabase(t, target, 'hostsites');
    const summary = await importWithHostSites({ knex, file: sample });
    t.match(summary, { events: 3006, pageViews: 2613 });

    const sites = (await knex('sites').select('id', 'name', 'hostname').orderBy('id')).map((s) => ({ ...s, id: Number(s.id) }));
    t.same(sites.map((s) => s.hostname).sort(), ['site0.example.com', 'site1.example.com']);
    t.equal(sites.find((s) => s.hostname === 'site0.example.com').name, "Site 0 o'clock", "the Umami website's name");
    t.same(await siteIdsIn(knex), sites.map((s) => s.id), "the aggregates carry the host's site ids");
    t.equal(await count(knex, 'analytics_sites'), 0, 'analytics_sites stays empty');
    t.same(diffAggregates(expected, await aggregatesByHostSite(knex)), [], 'the numbers equal the expected aggregates');
  });

  await onServer(t, target, `${target}: with the host's own sites, existing rows are used and missing ones added`, async (t) => {
    const { knex } = await freshDatabase(t, target, 'hostsites2');
    await knex.schema.createTable('sites', (t) => {
      t.increments('id');
      t.string('name', 200).notNullable();
      t.string('hostname', 255).notNullable().unique();
    });
    await knex('sites').insert({ name: 'Shop', hostname: 'shop.example.net' });
    await knex('sites').insert({ name: 'Our first site', hostname: 'site0.example.com' });
    const before = (await knex('sites').select('id', 'name', 'hostname').orderBy('id')).map((s) => ({ ...s, id: Number(s.id) }));
    const ours = before[1].id;

    await importWithHostSites({ knex, file: sample });
    const sites = (await knex('sites').select('id', 'name', 'hostname').orderBy('id')).map((s) => ({ ...s, id: Number(s.id) }));
    t.same(sites.slice(0, 2), before, 'existing rows are kept as they are');
    t.equal(sites.length, 3);
    t.match(sites[2], { name: 'Site 1', hostname: 'site1.example.com' }, 'the missing site is created');
    const added = sites[2].id;
    t.same(await siteIdsIn(knex), [ours, added].sort((a, b) => a - b), "the aggregates carry the host's site ids");
    t.equal(await count(knex, 'analytics_sites'), 0, 'analytics_sites stays empty');
    const first = await aggregatesByHostSite(knex);
    t.same(diffAggregates(expected, first), [], 'the numbers equal the expected aggregates');

    // A second import of the same dump finds both sites and replaces the same buckets.
    await importWithHostSites({ knex, file: sample });
    t.equal(await count(knex, 'sites'), 3, 'no site is created twice');
    t.same(await siteIdsIn(knex), [ours, added].sort((a, b) => a - b));
    t.same(await aggregatesByHostSite(knex), first, 'a re-import leaves the same aggregates');
    t.equal(await count(knex, 'analytics_sites'), 0);
  });
}
