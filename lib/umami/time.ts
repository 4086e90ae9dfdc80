/**
 * Timestamps as dumps print them, parsed without Date or regex:
 * `2024-01-09 02:43:19` (MySQL, in the dump's zone), `2024-01-08 21:43:19-05`,
 * `…19.853794+05:30`, `+05:53:28` (pg_dump timestamptz), ISO `…T…Z` (JSON).
 */
import { TimeZone, daysFromCivil } from '../aggregate/timezone.js';

function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(i + k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Epoch milliseconds of a timestamp, or NaN when it is not one (zero dates,
 * `infinity`, garbage). A value without an offset is wall-clock time in `zone`.
 */
export function parseTimestamp(s: string, zone: TimeZone): number {
  const n = s.length;
  if (n < 10) return NaN;
  let i = 0;
  let sign = 1;
  if (s.charCodeAt(0) === 45 /* - */) {
    sign = -1;
    i = 1;
  }
  // year: 4+ digits
  let yEnd = i;
  while (yEnd < n && s.charCodeAt(yEnd) >= 48 && s.charCodeAt(yEnd) <= 57) yEnd++;
  if (yEnd - i < 4 || s.charCodeAt(yEnd) !== 45) return NaN;
  const y = sign * digits(s, i, yEnd - i);
  i = yEnd + 1;
  const mo = digits(s, i, 2);
  if (s.charCodeAt(i + 2) !== 45) return NaN;
  const d = digits(s, i + 3, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return NaN;
  i += 5;
  let h = 0, mi = 0, sec = 0, ms = 0;
  if (i < n) {
    const sep = s.charCodeAt(i);
    if (sep !== 32 && sep !== 84 /* T */) return NaN;
    h = digits(s, i + 1, 2);
    if (s.charCodeAt(i + 3) !== 58) return NaN;
    mi = digits(s, i + 4, 2);
    i += 6;
    if (s.charCodeAt(i) === 58) {
      sec = digits(s, i + 1, 2);
      i += 3;
    }
    if (h < 0 || h > 24 || mi < 0 || mi > 59 || sec < 0 || sec > 60) return NaN;
    if (s.charCodeAt(i) === 46 /* . */) {
      i++;
      let scale = 100;
      while (i < n) {
        const c = s.charCodeAt(i) - 48;
        if (c < 0 || c > 9) break;
        ms += c * scale;
        scale /= 10;
        i++;
      }
      ms = Math.floor(ms);
    }
  }
  if (d > daysInMonth(y, mo)) return NaN;
  const local = (daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000 + ms;
  if (i >= n) return zone.toUtc(local);
  // Offset: Z, +HH, +HH:MM, +HHMM, +HH:MM:SS (also after a space: ` +00:00`, ` UTC`).
  if (s.charCodeAt(i) === 32) i++;
  const c = s.charCodeAt(i);
  if (c === 90 /* Z */ && i === n - 1) return local;
  if (s.slice(i) === 'UTC') return local;
  if (c !== 43 && c !== 45) return NaN;
  const oh = digits(s, i + 1, 2);
  if (oh < 0) return NaN;
  let k = i + 3;
  let om = 0, os = 0;
  if (k < n) {
    if (s.charCodeAt(k) === 58) k++;
    om = digits(s, k, 2);
    k += 2;
    if (k < n) {
      if (s.charCodeAt(k) === 58) k++;
      os = digits(s, k, 2);
      k += 2;
    }
  }
  if (om < 0 || os < 0 || k !== n) return NaN;
  const offset = (oh * 3600 + om * 60 + os) * 1000;
  return c === 43 ? local - offset : local + offset;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}
