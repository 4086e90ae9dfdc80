/**
 * Which Umami tables a dump holds and which release wrote them, told from
 * table and column names (never from positions).
 */

export type TableRole = 'website' | 'session' | 'website_event' | 'pageview' | 'event';

/** Tables whose rows become events. */
export const EVENT_TABLES: ReadonlySet<string> = new Set(['website_event', 'pageview', 'event']);

const ROLES: Record<string, TableRole> = {
  website: 'website',
  session: 'session',
  website_event: 'website_event',
  pageview: 'pageview',
  event: 'event',
};

/** The role of a table, or null for tables this library does not read. */
export function roleOf(table: string, columns: readonly string[]): TableRole | null {
  const role = ROLES[table];
  if (!role) return null;
  // `event` is v1's custom-event table; other tools may have an unrelated table of that name.
  if (role === 'event' && !(columns.includes('event_name') && columns.includes('website_id'))) return null;
  return role;
}

const WEB_VITALS = ['lcp', 'inp', 'cls', 'fcp', 'ttfb'];
const V3_TABLES = ['link', 'pixel', 'share', 'board', 'session_replay'];

/** Collects what the dump shows and names the Umami release. */
export class SchemaDetector {
  readonly tables = new Map<string, string[]>();

  see(table: string, columns: readonly string[]): void {
    if (!this.tables.has(table) || columns.length > 0) this.tables.set(table, columns.slice());
  }

  get hasEventTable(): boolean {
    for (const t of EVENT_TABLES) {
      if (this.tables.has(t) && roleOf(t, this.tables.get(t)!) !== null) return true;
    }
    return false;
  }

  /** `v1`, `v2 (before 2.20)`, `v2`, `v3`, or `unknown`. */
  get version(): string {
    const we = this.tables.get('website_event');
    const website = this.tables.get('website');
    if (this.tables.has('pageview') || website?.includes('website_uuid')) return 'v1';
    if (!we) return 'unknown';
    if (WEB_VITALS.some((c) => we.includes(c)) || V3_TABLES.some((t) => this.tables.has(t))) return 'v3';
    if (!we.includes('hostname') || !we.includes('visit_id')) return 'v2 (before 2.20)';
    return 'v2';
  }
}
