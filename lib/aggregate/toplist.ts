/**
 * Top lists (pages, referrers): counts by name, ordered by count descending
 * then by name in Unicode code point order, cut at N entries.
 */

/** A top-list entry: name and page views. */
export type TopEntry = [name: string, pageViews: number];

/** Orders strings by code point (UTF-16 order differs above U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates above the rest of the BMP so the order is the code point order.
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

function byCountThenName(a: TopEntry, b: TopEntry): number {
  return b[1] - a[1] || compareCodePoints(a[0], b[0]);
}

/** The top n entries of a count map. */
export function topOf(counts: Map<string, number>, n: number): TopEntry[] {
  return topOfEntries([...counts], n);
}

/** The top n of entries with distinct names (the array is reordered). */
export function topOfEntries(entries: TopEntry[], n: number): TopEntry[] {
  entries.sort(byCountThenName);
  if (entries.length > n) entries.length = n;
  return entries;
}

/** Adds a list's counts into a map. */
export function addInto(counts: Map<string, number>, list: readonly TopEntry[]): void {
  for (const [name, c] of list) counts.set(name, (counts.get(name) ?? 0) + c);
}

/** Sums two top lists by name and keeps the top n. */
export function mergeTop(a: readonly TopEntry[], b: readonly TopEntry[], n: number): TopEntry[] {
  const counts = new Map<string, number>();
  addInto(counts, a);
  addInto(counts, b);
  return topOf(counts, n);
}
