// Imports a dump into an application that already has its own `sites` table:
// resolveSite maps each Umami website onto the host's site with the same
// hostname, creating it when missing, so the aggregates carry the host's site
// ids and `analytics_sites` is not used.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createImportPipeline } from 'umami-aggregate';

/** The host's table of sites. An existing application already has one; here it is made if missing. */
export async function ensureSitesTable(knex) {
  if (await knex.schema.hasTable('sites')) return;
  await knex.schema.createTable('sites', (t) => {
    t.increments('id');
    t.string('name', 200).notNullable();
    t.string('hostname', 255).notNullable().unique();
  });
}

/** `https://Example.com/blog` → `example.com`; Umami keeps whatever the user typed as the domain. */
export function hostnameOf(domain) {
  const text = (domain ?? '').trim().toLowerCase();
  return text.replace(/^[a-z][a-z0-9+.-]*:\/\//, '').replace(/[/?#].*$/, '') || null;
}

/**
 * The host's site id for an Umami website, found by hostname or created.
 * `trx` is the import's transaction: a site created here is rolled back
 * together with the aggregates if the import fails.
 */
export async function resolveHostSite(website, trx) {
  // A website without a domain gets a placeholder hostname of its own.
  const hostname = hostnameOf(website.domain) ?? `${website.umamiWebsiteId}.umami.invalid`;
  // Insert-if-missing works the same on SQLite, PostgreSQL and MySQL, and is
  // safe when two imports meet the same new site.
  await trx('sites')
    .insert({ name: website.name ?? hostname, hostname })
    .onConflict('hostname')
    .ignore();
  const row = await trx('sites').where({ hostname }).first('id');
  return Number(row.id);
}

/**
 * Imports a dump file, with aggregates keyed by the host's `sites.id`.
 * @param {object} options
 * @param {import('knex').Knex} options.knex
 * @param {string} options.file   a dump, plain or gzipped
 * @param {object} [options.importOptions]  more createImportPipeline options
 * @returns the import's summary
 */
export async function importWithHostSites({ knex, file, importOptions = {} }) {
  await ensureSitesTable(knex);
  const importer = createImportPipeline({
    ...importOptions,
    knex,
    source: file,
    bytesTotal: (await fs.promises.stat(file)).size,
    resolveSite: resolveHostSite,
  });
  await pipeline(fs.createReadStream(file), importer);
  return importer.summary;
}
