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

const byCountThenName = (a: TopEntry, b: TopEntry): number => b[1] - a[1] || compareCodePoints(a[0], b[0]);
/** A code unit where UTF-16 order (the engine's `<`) and code point order can disagree: surrogates, U+E000–U+FFFF. */
const WIDE = /[\ud800-\uffff]/;
/** Lists up to this long are sorted by insertion, inline, instead of by Array.prototype.sort. */
const SHORT = 96;

/** Whether no name holds a code unit from U+D800 on: the engine's string order (`<`) is then the code point order. */
export function engineOrderIsCodePointOrder(names: readonly string[]): boolean {
  for (let k = 0; k < names.length; k++) if (WIDE.test(names[k])) return false;
  return true;
}

/** The top n entries of a count map. */
export function topOf(counts: Map<string, number>, n: number): TopEntry[] {
  return topOfEntries([...counts], n);
}

/**
 * The top n of entries with distinct names (the array is reordered), by
 * count descending, then name in code point order. A short list without a
 * code unit from U+D800 on (where UTF-16 order differs) is sorted by
 * insertion with the engine's string order.
 */
export function topOfEntries(entries: TopEntry[], n: number): TopEntry[] {
  const m = entries.length;
  let comparator = m > SHORT;
  for (let k = 0; !comparator && k < m; k++) comparator = WIDE.test(entries[k][0]);
  if (comparator) {
    entries.sort(byCountThenName);
  } else {
    for (let i = 1; i < m; i++) {
      const e = entries[i];
      const c = e[1];
      const name = e[0];
      let j = i - 1;
      while (j >= 0 && (entries[j][1] < c || (entries[j][1] === c && entries[j][0] > name))) {
        entries[j + 1] = entries[j];
        j--;
      }
      entries[j + 1] = e;
    }
  }
  if (m > n) entries.length = n;
  return entries;
}

/** Adds a list's counts into a map. */
export function addInto(counts: Map<string, number>, list: readonly TopEntry[]): void {
  for (let k = 0; k < list.length; k++) {
    const name = list[k][0];
    const c = counts.get(name);
    counts.set(name, c === undefined ? list[k][1] : c + list[k][1]);
  }
}

/** Sums two top lists by name and keeps the top n. */
export function mergeTop(a: readonly TopEntry[], b: readonly TopEntry[], n: number): TopEntry[] {
  const counts = new Map<string, number>();
  addInto(counts, a);
  addInto(counts, b);
  return topOf(counts, n);
}
