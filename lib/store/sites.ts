/**
 * Mapping the dump's websites onto site ids: by default one row per Umami
 * website in `analytics_sites`; a host can map them onto its own table with
 * `resolveSite`.
 */
import type { Knex } from 'knex';
import type { UmamiWebsite } from '../umami/parser.js';
import { type Dialect, nowText, readInt } from './dialect.js';

/** What `resolveSite` is given. */
export interface SiteInfo {
  /** The Umami website uuid. */
  umamiWebsiteId: string;
  name: string | null;
  domain: string | null;
}

/** Maps a website to the host's site id; may be async. Called once per website and import. */
export type ResolveSite = (website: SiteInfo, trx: Knex) => number | Promise<number>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class SiteDirectory {
  /** Websites read from the dump, by the id events carry. */
  private readonly websites = new Map<string, UmamiWebsite>();
  private readonly ids = new Map<string, number>();
  private readonly resolveSite: ResolveSite | undefined;
  private readonly dialect: Dialect;

  /** Events name sites by their id already (aggregating the raw page_views table). */
  readonly direct: boolean;

  constructor(dialect: Dialect, resolveSite?: ResolveSite, direct = false) {
    this.dialect = dialect;
    this.resolveSite = resolveSite;
    this.direct = direct;
  }

  add(websites: readonly UmamiWebsite[]): void {
    for (const w of websites) this.websites.set(w.id, w);
  }

  /** Whether events of this website can be given a site now (v1 ids need the website row). */
  isResolvable(websiteId: string): boolean {
    return this.direct || this.websites.has(websiteId) || UUID.test(websiteId);
  }

  info(websiteId: string): SiteInfo {
    const w = this.websites.get(websiteId);
    return { umamiWebsiteId: (w?.uuid ?? websiteId).slice(0, 64), name: w?.name?.slice(0, 200) ?? null, domain: w?.domain?.slice(0, 500) ?? null };
  }

  /** Forgets cached ids (after a rolled-back transaction that may have created them). */
  reset(): void {
    this.ids.clear();
  }

  /** Whether every one of these websites has its site id already (resolve() then runs no query). */
  knows(websiteIds: Iterable<string>): boolean {
    if (this.direct) return true;
    for (const id of websiteIds) if (!this.ids.has(id)) return false;
    return true;
  }

  /** Site ids for the given websites, creating sites as needed, inside trx. */
  async resolve(trx: Knex, websiteIds: Iterable<string>): Promise<Map<string, number>> {
    if (this.direct) return new Map([...websiteIds].map((id) => [id, Number(id)]));
    const missing: SiteInfo[] = [];
    const keys = new Map<string, string>(); // uuid -> websiteId
    for (const id of websiteIds) {
      if (this.ids.has(id)) continue;
      const info = this.info(id);
      if (!keys.has(info.umamiWebsiteId)) missing.push(info);
      keys.set(info.umamiWebsiteId, id);
    }
    if (missing.length > 0) {
      if (this.resolveSite) {
        for (const info of missing) {
          const siteId = await this.resolveSite(info, trx);
          if (!Number.isInteger(siteId)) throw new Error(`resolveSite returned ${String(siteId)} for website ${info.umamiWebsiteId}; expected an integer id`);
          this.ids.set(keys.get(info.umamiWebsiteId)!, siteId);
        }
      } else {
        await this.upsertSites(trx, missing, false);
        const query = trx('analytics_sites')
          .select('id', 'umami_website_id')
          .whereIn('umami_website_id', missing.map((m) => m.umamiWebsiteId));
        // MySQL's REPEATABLE READ: a plain read would miss a site another importer committed after this
        // transaction's first read (its INSERT IGNORE waited for that commit); a locking read sees it.
        const rows = await (this.dialect.name === 'mysql' ? query.forShare() : query);
        for (const r of rows as Array<{ id: unknown; umami_website_id: string }>) {
          const id = keys.get(r.umami_website_id);
          if (id !== undefined) this.ids.set(id, readInt(r.id));
        }
      }
      for (const info of missing) {
        if (!this.ids.has(keys.get(info.umamiWebsiteId)!)) throw new Error(`no site id for website ${info.umamiWebsiteId}`);
      }
    }
    const out = new Map<string, number>();
    for (const id of websiteIds) out.set(id, this.ids.get(id)!);
    return out;
  }

  /** Writes every website of the dump to analytics_sites (name and domain from its row). */
  async saveAll(trx: Knex): Promise<void> {
    if (this.direct || this.resolveSite || this.websites.size === 0) return;
    const infos = [...this.websites.keys()].sort().map((id) => this.info(id));
    await this.upsertSites(trx, infos, true);
  }

  private async upsertSites(trx: Knex, sites: SiteInfo[], overwrite: boolean): Promise<void> {
    const now = nowText();
    const sorted = sites.slice().sort((a, b) => (a.umamiWebsiteId < b.umamiWebsiteId ? -1 : a.umamiWebsiteId > b.umamiWebsiteId ? 1 : 0));
    for (let i = 0; i < sorted.length; i += 500) {
      const part = sorted.slice(i, i + 500);
      const columns = ['umami_website_id', 'name', 'domain', 'created_at', 'updated_at'];
      const bindings: unknown[] = [];
      for (const s of part) bindings.push(s.umamiWebsiteId, s.name, s.domain, now, now);
      let sql: string;
      if (overwrite) {
        sql = this.dialect.upsert('analytics_sites', columns, ['umami_website_id'], ['name', 'domain', 'updated_at'], part.length);
      } else if (this.dialect.name === 'mysql') {
        sql = this.dialect.insert('analytics_sites', columns, part.length).replace(/^INSERT/, 'INSERT IGNORE');
      } else {
        sql = `${this.dialect.insert('analytics_sites', columns, part.length)} ON CONFLICT (${this.dialect.id('umami_website_id')}) DO NOTHING`;
      }
      await trx.raw(sql, bindings as Knex.RawBinding[]);
    }
  }
}
