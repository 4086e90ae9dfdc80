/**
 * What the CLI reads from a database URL without loading a database driver
 * or Knex (see db.ts for the connection itself).
 */

export const DEFAULT_DB = 'sqlite:./analytics.sqlite';

/** The URL's scheme, lower case (`sqlite`, `postgres`, …), and the rest after the colon; null without one. */
export function schemeOf(url: string): { scheme: string; rest: string } | null {
  const m = /^([a-z0-9+]+):(.*)$/i.exec(url.trim());
  return m ? { scheme: m[1].toLowerCase(), rest: m[2] } : null;
}

/** True for the schemes of a SQLite file (`sqlite:`, `sqlite3:`, `file:`). */
export function isSqliteScheme(scheme: string | undefined): boolean {
  return scheme === 'sqlite' || scheme === 'sqlite3' || scheme === 'file';
}

/** True for a URL naming a SQLite file. */
export function isSqliteUrl(url: string): boolean {
  return isSqliteScheme(schemeOf(url)?.scheme);
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@/]*@/, '$1:***@');
}
