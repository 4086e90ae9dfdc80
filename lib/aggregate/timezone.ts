/**
 * Time zones without per-event Intl calls: fixed offsets are arithmetic, IANA
 * zones are asked once per UTC hour and cached (an hour holding a transition
 * is computed exactly, per instant).
 */
import { invalidOption } from '../errors.js';

const HOUR = 3_600_000;

export class TimeZone {
  readonly name: string;
  /** Fixed offset in ms, or null for an IANA zone with rules. */
  readonly fixedOffset: number | null;
  private readonly format: Intl.DateTimeFormat | null;
  private readonly cache = new Map<number, number>();

  private constructor(name: string, fixedOffset: number | null) {
    this.name = name;
    this.fixedOffset = fixedOffset;
    this.format =
      fixedOffset === null
        ? new Intl.DateTimeFormat('en-US', {
            timeZone: name,
            hourCycle: 'h23',
            year: 'numeric',
            month: 'numeric',
            day: 'numeric',
            hour: 'numeric',
            minute: 'numeric',
            second: 'numeric',
            era: 'short',
          })
        : null;
  }

  private static readonly zones = new Map<string, TimeZone>();

  /**
   * `UTC`, a fixed offset (`+05:30`, `-05`, `+0000`) or an IANA name
   * (`America/New_York`). Throws UA_INVALID_OPTION for an unknown zone.
   */
  static of(name: string, option = 'timezone'): TimeZone {
    let zone = TimeZone.zones.get(name);
    if (zone) return zone;
    const fixed = parseFixedOffset(name);
    if (fixed !== null) {
      zone = new TimeZone(name, fixed);
    } else {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: name });
      } catch {
        throw invalidOption(option, 'an IANA time zone name (e.g. America/New_York) or an offset (e.g. +05:30)', name);
      }
      zone = new TimeZone(name, null);
    }
    TimeZone.zones.set(name, zone);
    return zone;
  }

  get isUtc(): boolean {
    return this.fixedOffset === 0;
  }

  /** Offset (local minus UTC) in ms at the UTC instant t. */
  offsetAt(t: number): number {
    if (this.fixedOffset !== null) return this.fixedOffset;
    const slot = Math.floor(t / HOUR);
    const cached = this.cache.get(slot);
    if (cached !== undefined) return cached;
    const start = slot * HOUR;
    const a = this.compute(start);
    const b = this.compute(start + HOUR - 1000);
    if (a === b) {
      this.cache.set(slot, a);
      return a;
    }
    // A transition inside this hour: exact per instant.
    return this.compute(t);
  }

  private compute(t: number): number {
    const parts = this.format!.formatToParts(new Date(t));
    let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, bc = false;
    for (const p of parts) {
      switch (p.type) {
        case 'year': y = +p.value; break;
        case 'month': mo = +p.value; break;
        case 'day': d = +p.value; break;
        case 'hour': h = +p.value; break;
        case 'minute': mi = +p.value; break;
        case 'second': s = +p.value; break;
        case 'era': bc = p.value === 'BC' || p.value === 'B'; break;
      }
    }
    if (bc) y = 1 - y;
    const local = civilToMs(y, mo, d, h, mi, s);
    return local - (t - (((t % 1000) + 1000) % 1000));
  }

  /** The UTC instant of a local wall-clock time (ms as if UTC); the earlier one when ambiguous. */
  toUtc(local: number): number {
    if (this.fixedOffset !== null) return local - this.fixedOffset;
    const o1 = this.offsetAt(local - this.offsetAt(local));
    const t1 = local - o1;
    const o2 = this.offsetAt(t1);
    if (o1 === o2) {
      // Ambiguous (clocks went back)? Prefer the earlier instant.
      const earlier = local - this.offsetAt(t1 - HOUR);
      if (earlier < t1 && this.offsetAt(earlier) + earlier === local) return earlier;
      return t1;
    }
    return local - o2;
  }
}

/** `Z`, `UTC`, `+05:30`, `-05`, `+0530`, `+05:53:28` → ms; null if not a fixed offset. */
export function parseFixedOffset(s: string): number | null {
  const u = s.trim().toUpperCase();
  if (u === 'UTC' || u === 'Z' || u === 'GMT' || u === 'ETC/UTC' || u === 'SYSTEM_UTC') return 0;
  const m = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?$/.exec(u);
  if (!m) return null;
  const v = (+m[2] * 3600 + (m[3] ? +m[3] * 60 : 0) + (m[4] ? +m[4] : 0)) * 1000;
  if (v > 18 * HOUR) return null;
  return m[1] === '-' ? -v : v;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (any year). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** [year, month 1-12, day] of a day number since 1970-01-01. */
export function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

/** The month number (year · 12 + month − 1) of a day number. */
export function monthOfDay(day: number): number {
  const [y, m] = civilFromDays(day);
  return y * 12 + m - 1;
}

/** The day number of a month number's first day. */
export function firstDayOfMonth(month: number): number {
  const y = Math.floor(month / 12);
  return daysFromCivil(y, month - y * 12 + 1, 1);
}

export function civilToMs(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  return (daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000;
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

function pad4(n: number): string {
  return n >= 1000 ? String(n) : String(n).padStart(4, '0');
}

/** `YYYY-MM-DD` of a day number. */
export function formatDay(day: number): string {
  const [y, m, d] = civilFromDays(day);
  return `${pad4(y)}-${pad2(m)}-${pad2(d)}`;
}

/** `YYYY-MM` of a month number (year * 12 + month - 1). */
export function formatMonth(month: number): string {
  return `${pad4(Math.floor(month / 12))}-${pad2((month % 12) + 1)}`;
}

/** `YYYY-MM-DD HH:MM:SS` (UTC) of an instant in ms. */
export function formatUtc(t: number): string {
  const day = Math.floor(t / 86_400_000);
  let rest = Math.floor((t - day * 86_400_000) / 1000);
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const mi = Math.floor(rest / 60);
  const s = rest - mi * 60;
  return `${formatDay(day)} ${pad2(h)}:${pad2(mi)}:${pad2(s)}`;
}
