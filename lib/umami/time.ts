/**
 * Timestamps as dumps print them, parsed from bytes without Date or regex:
 * `2024-01-09 02:43:19` (MySQL, in the dump's zone), `2024-01-08 21:43:19-05`,
 * `…19.853794+05:30`, `+05:53:28` (pg_dump timestamptz), ISO `…T…Z` (JSON).
 */
import { TimeZone, daysFromCivil } from '../aggregate/timezone.js';

/** The number of n digits at b[i], or -1 when one is not a digit (or is past e). */
function digits(b: Uint8Array, i: number, n: number, e: number): number {
  if (i + n > e) return -1;
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = b[i + k] - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** The number of the two digits at b[i], or -1 when one is not a digit (or is past e). */
function two(b: Uint8Array, i: number, e: number): number {
  if (i + 2 > e) return -1;
  const x = b[i] - 48;
  const y = b[i + 1] - 48;
  return x >= 0 && x <= 9 && y >= 0 && y <= 9 ? x * 10 + y : -1;
}

/**
 * Epoch milliseconds of the timestamp in b[start, e), or NaN when it is not
 * one (zero dates, `infinity`, garbage, bytes that are not ASCII). A value
 * without an offset is wall-clock time in `zone`.
 */
export function parseTimestampBytes(b: Uint8Array, start: number, e: number, zone: TimeZone): number {
  // The shape dumps print, `YYYY-MM-DD HH:MM:SS` (and what may follow it), read at fixed places.
  if (e - start >= 19 && b[start + 4] === 45 && b[start + 7] === 45 && (b[start + 10] === 32 || b[start + 10] === 84) && b[start + 13] === 58 && b[start + 16] === 58) {
    const y1 = two(b, start, e);
    const y2 = two(b, start + 2, e);
    const mo = two(b, start + 5, e);
    const d = two(b, start + 8, e);
    const h = two(b, start + 11, e);
    const mi = two(b, start + 14, e);
    const sec = two(b, start + 17, e);
    if ((y1 | y2 | mo | d | h | mi | sec) >= 0) return fromFields(b, start + 19, e, y1 * 100 + y2, mo, d, h, mi, sec, zone);
  }
  if (e - start < 10) return NaN;
  let i = start;
  let sign = 1;
  if (b[i] === 45 /* - */) {
    sign = -1;
    i++;
  }
  // year: 4+ digits
  let yEnd = i;
  while (yEnd < e && b[yEnd] >= 48 && b[yEnd] <= 57) yEnd++;
  if (yEnd - i < 4 || yEnd >= e || b[yEnd] !== 45) return NaN;
  const y = sign * digits(b, i, yEnd - i, e);
  i = yEnd + 1;
  const mo = two(b, i, e);
  if (i + 2 >= e || b[i + 2] !== 45) return NaN;
  const d = two(b, i + 3, e);
  i += 5;
  let h = 0, mi = 0, sec = 0;
  if (i < e) {
    const sep = b[i];
    if (sep !== 32 && sep !== 84 /* T */) return NaN;
    h = two(b, i + 1, e);
    if (i + 3 >= e || b[i + 3] !== 58) return NaN;
    mi = two(b, i + 4, e);
    i += 6;
    if (i < e && b[i] === 58) {
      sec = two(b, i + 1, e);
      i += 3;
    }
  }
  return fromFields(b, i, e, y, mo, d, h, mi, sec, zone);
}

/** The instant of the fields read so far, with the fraction and offset at b[i, e) (see {@link parseTimestampBytes}). */
function fromFields(b: Uint8Array, i: number, e: number, y: number, mo: number, d: number, h: number, mi: number, sec: number, zone: TimeZone): number {
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return NaN;
  if (h < 0 || h > 24 || mi < 0 || mi > 59 || sec < 0 || sec > 60) return NaN;
  let ms = 0;
  if (i < e && b[i] === 46 /* . */) {
    i++;
    let scale = 100;
    while (i < e) {
      const c = b[i] - 48;
      if (c < 0 || c > 9) break;
      ms += c * scale;
      scale /= 10;
      i++;
    }
    ms = Math.floor(ms);
  }
  let days: number;
  const month = (y - TABLE_FIRST_YEAR) * 12 + mo - 1;
  if (month >= 0 && month < TABLE_MONTHS) {
    // The month's first day and length from the table: no divisions.
    const first = monthStarts[month];
    if (d > monthStarts[month + 1] - first) return NaN;
    days = first + d - 1;
  } else {
    if (d > daysInMonth(y, mo)) return NaN;
    days = daysFromCivil(y, mo, d);
  }
  const local = (days * 86400 + h * 3600 + mi * 60 + sec) * 1000 + ms;
  // Beyond what a Date can hold (year 275760): not a time.
  if (!(Math.abs(local) <= LAST_MS)) return NaN;
  if (i >= e) return zone.toUtc(local);
  // Offset: Z, +HH, +HH:MM, +HHMM, +HH:MM:SS (also after a space: ` +00:00`, ` UTC`).
  if (b[i] === 32) i++;
  const c = i < e ? b[i] : -1;
  if (c === 90 /* Z */ && i === e - 1) return local;
  if (i + 3 === e && c === 85 /* U */ && b[i + 1] === 84 /* T */ && b[i + 2] === 67 /* C */) return local;
  if (c !== 43 && c !== 45) return NaN;
  const oh = two(b, i + 1, e);
  if (oh < 0) return NaN;
  let k = i + 3;
  let om = 0, os = 0;
  if (k < e) {
    if (b[k] === 58) k++;
    om = two(b, k, e);
    k += 2;
    if (k < e) {
      if (b[k] === 58) k++;
      os = two(b, k, e);
      k += 2;
    }
  }
  if (om < 0 || os < 0 || k !== e) return NaN;
  const offset = (oh * 3600 + om * 60 + os) * 1000;
  return c === 43 ? local - offset : local + offset;
}

/** The first year of {@link monthStarts}. */
const TABLE_FIRST_YEAR = 1970;
/** Months in {@link monthStarts}: 1970 to 2169. */
const TABLE_MONTHS = 200 * 12;
/**
 * The day number (days since 1970-01-01) of the first of each month from 1970 on, and of the
 * month after the last: a timestamp's day without the divisions of {@link daysFromCivil}, and
 * its month's length as the difference of two entries.
 */
const monthStarts = new Int32Array(TABLE_MONTHS + 1);
for (let k = 0; k <= TABLE_MONTHS; k++) monthStarts[k] = daysFromCivil(TABLE_FIRST_YEAR + Math.floor(k / 12), (k % 12) + 1, 1);

/** The last instant a Date holds, less a day for a zone's offset. */
const LAST_MS = 8.64e15 - 86_400_000;

/** Strings are encoded here first; a longer one gets a buffer of its own. */
const scratch = Buffer.allocUnsafe(256);

/** {@link parseTimestampBytes} of a string. */
export function parseTimestamp(s: string, zone: TimeZone): number {
  // UTF-8: a character beyond ASCII becomes bytes that no rule accepts.
  if (s.length * 3 > scratch.length) {
    const b = Buffer.from(s, 'utf8');
    return parseTimestampBytes(b, 0, b.length, zone);
  }
  return parseTimestampBytes(scratch, 0, scratch.write(s, 0, 'utf8'), zone);
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}
