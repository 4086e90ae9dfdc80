/**
 * The library's tables, created and updated through knex migrations recorded
 * in its own table (`umami_aggregate_migrations`), so a host's migrations are
 * left alone.
 */
import type { Knex } from 'knex';
import { dialectOf } from './dialect.js';

export const MIGRATIONS_TABLE = 'umami_aggregate_migrations';

/** Aggregate tables and the column that holds their bucket. */
export const AGGREGATE_TABLES = {
  hour: { table: 'analytics_hourly', column: 'hour_start', kind: 'datetime' },
  day: { table: 'analytics_daily', column: 'date', kind: 'date' },
  month: { table: 'analytics_monthly', column: 'year_month', kind: 'text' },
} as const;

function aggregateTable(knex: Knex, t: Knex.CreateTableBuilder, bucket: (t: Knex.CreateTableBuilder) => void, name: string, column: string): void {
  t.bigIncrements('id');
  t.integer('site_id').notNullable();
  bucket(t);
  t.bigInteger('page_views').notNullable().defaultTo(0);
  t.integer('unique_visitors').notNullable().defaultTo(0);
  const mysql = dialectOf(knex) === 'mysql';
  for (const c of ['top_pages', 'referrers']) {
    // On MySQL/MariaDB, JSON text without MariaDB's JSON alias, whose CHECK (json_valid(…)) parsed
    // every list written: about 30 MB of JSON in a 1M-event import, about 130 ms of its 1.1 s last
    // flush. The lists are JSON as written here (tests check them with JSON_VALID); JSON functions read text.
    if (mysql) t.specificType(c, 'longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin').notNullable();
    else t.json(c).notNullable();
  }
  if (mysql) t.specificType('visitors_sketch', 'mediumblob');
  else t.binary('visitors_sketch');
  t.integer('import_id').nullable();
  t.datetime('created_at', { useTz: false, precision: 0 }).notNullable();
  t.datetime('updated_at', { useTz: false, precision: 0 }).notNullable();
  // Exactly one unique key: the bucket key (MySQL's ON DUPLICATE KEY fires on any).
  t.unique(['site_id', column], { indexName: `${name}_site_bucket_key` });
}

const migrations: Record<string, Knex.Migration> = {
  '001_aggregates': {
    async up(knex) {
      await knex.schema.createTable('analytics_sites', (t) => {
        t.increments('id');
        t.string('umami_website_id', 64).notNullable().unique({ indexName: 'analytics_sites_umami_website_id_key' });
        t.string('name', 200).nullable();
        t.string('domain', 500).nullable();
        t.datetime('created_at', { useTz: false, precision: 0 }).notNullable();
        t.datetime('updated_at', { useTz: false, precision: 0 }).notNullable();
      });
      await knex.schema.createTable('analytics_hourly', (t) =>
        aggregateTable(knex, t, (b) => b.datetime('hour_start', { useTz: false, precision: 0 }).notNullable(), 'analytics_hourly', 'hour_start'),
      );
      await knex.schema.createTable('analytics_daily', (t) =>
        aggregateTable(knex, t, (b) => b.date('date').notNullable(), 'analytics_daily', 'date'),
      );
      await knex.schema.createTable('analytics_monthly', (t) =>
        aggregateTable(knex, t, (b) => b.string('year_month', 7).notNullable(), 'analytics_monthly', 'year_month'),
      );
      await knex.schema.createTable('analytics_imports', (t) => {
        t.increments('id');
        t.string('source', 1000).notNullable();
        t.string('fingerprint', 64).nullable();
        t.string('input_key', 128).nullable();
        t.string('owner', 200).nullable();
        t.string('format', 16).nullable();
        t.string('umami_version', 32).nullable();
        t.string('mode', 8).notNullable();
        t.string('status', 16).notNullable();
        t.bigInteger('bytes_total').nullable();
        t.bigInteger('bytes_read').notNullable().defaultTo(0);
        t.bigInteger('events').notNullable().defaultTo(0);
        t.bigInteger('page_views').notNullable().defaultTo(0);
        t.bigInteger('rejected').notNullable().defaultTo(0);
        t.integer('chunks_processed').notNullable().defaultTo(0);
        t.integer('total_chunks').nullable();
        t.bigInteger('buckets_written').notNullable().defaultTo(0);
        t.text('checkpoint').nullable();
        t.text('rejections').nullable();
        t.text('error').nullable();
        t.datetime('started_at', { useTz: false, precision: 0 }).notNullable();
        t.datetime('finished_at', { useTz: false, precision: 0 }).nullable();
        t.index(['fingerprint'], 'analytics_imports_fingerprint_idx');
        t.index(['input_key'], 'analytics_imports_input_key_idx');
      });
    },
    async down(knex) {
      for (const t of ['analytics_imports', 'analytics_monthly', 'analytics_daily', 'analytics_hourly', 'analytics_sites']) {
        await knex.schema.dropTableIfExists(t);
      }
    },
  },
  '002_page_views': {
    // Raw page views, written only when raw storage is wanted (skipRawDataStorage: false).
    // A host table of that name is left as it is.
    async up(knex) {
      if (await knex.schema.hasTable('page_views')) return;
      await knex.schema.createTable('page_views', (t) => {
        t.bigIncrements('id');
        t.integer('site_id').notNullable();
        t.string('session_id', 64).notNullable();
        t.string('visit_id', 64).nullable();
        t.string('url_path', 500).notNullable();
        t.string('referrer_domain', 500).nullable();
        t.string('hostname', 100).nullable();
        t.datetime('created_at', { useTz: false, precision: 0 }).notNullable();
        t.integer('import_id').nullable();
        t.boolean('aggregated').notNullable().defaultTo(false);
        t.index(['site_id', 'created_at'], 'page_views_site_created_idx');
        t.index(['created_at'], 'page_views_created_idx');
      });
    },
    async down(knex) {
      await knex.schema.dropTableIfExists('page_views');
    },
  },
};

class Source implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    return Object.keys(migrations).sort();
  }
  getMigrationName(m: string): string {
    return m;
  }
  async getMigration(m: string): Promise<Knex.Migration> {
    return migrations[m];
  }
}

/**
 * Creates or updates the library's tables. Safe to call from several
 * processes at once: a lost race for knex's migration lock is retried.
 */
export async function migrate(knex: Knex): Promise<void> {
  const config = { tableName: MIGRATIONS_TABLE, migrationSource: new Source() };
  for (let attempt = 0; ; attempt++) {
    try {
      await knex.migrate.latest(config);
      return;
    } catch (err) {
      if (attempt >= 40) throw err;
      // Another process holds the lock or created the tables first; look again.
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      await dropDuplicateLockRows(knex).catch(() => {});
      const [, pending] = (await knex.migrate.list(config).catch(() => [[], ['?']])) as [unknown[], unknown[]];
      if (pending.length === 0) return;
    }
  }
}

/**
 * Processes that create the migration tables at the same moment can each
 * insert the lock row; with two rows knex's lock can never be taken ("already
 * locked" for everyone). Keeps the first row. Safe to run from several
 * processes at once: all keep the same row.
 */
async function dropDuplicateLockRows(knex: Knex): Promise<void> {
  const table = `${MIGRATIONS_TABLE}_lock`;
  const rows = (await knex(table).select('index').orderBy('index')) as Array<{ index: number }>;
  if (rows.length > 1) await knex(table).whereNot('index', rows[0].index).del();
}
