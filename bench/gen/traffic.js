// The traffic model. Sessions are planned up front into typed arrays (a few bytes each);
// every event is then derived from its logical index alone, so events can be written in any
// order (the dump's primary-key order) without holding them in memory.
//
// A session belongs to one website and one calendar month (Umami's session salt rotates
// monthly), starts with a page view, and has one or more visits. A visit's first event is a
// landing page view with an external referrer, a campaign or none; later events are page views
// or custom events whose referrer is the previous page on the same hostname.

import { Rng, WeightedTable, hash } from './random.js';

const SESSION_STREAM = 0x5e55;
const SESSION_ATTRIBUTE_STREAM = 0x5a77;
const SESSION_MS_STREAM = 0x5e3c;
const EVENT_STREAM = 0xe7e7;
const PAGE_STREAM = 0x9a6e;

/** Seconds between consecutive events of a visit: STEP plus up to JITTER. */
const EVENT_STEP = 75;
const EVENT_JITTER = 60;

const BOUNCE_RATE = 0.32;
const CUSTOM_EVENT_SHARE_AFTER_LANDING = 0.21;
const CAMPAIGN_SHARE = 0.14;
const DIRECT_SHARE = 0.42;

const DAY = 86400;

/** 14 months of UTC calendar: 2024-01 .. 2025-02 (a leap day, a year end, DST dates elsewhere). */
export class Timeline {
  constructor(seed, siteCount, { year = 2024, month = 0, months = 14 } = {}) {
    this.monthStarts = [];
    for (let m = 0; m <= months; m++) this.monthStarts.push(Date.UTC(year, month + m, 1) / 1000);
    this.start = this.monthStarts[0];
    this.end = this.monthStarts[months];
    this.days = (this.end - this.start) / DAY;
    this.monthOfDay = new Uint8Array(this.days);
    for (let m = 0; m < months; m++) {
      const from = (this.monthStarts[m] - this.start) / DAY;
      const to = (this.monthStarts[m + 1] - this.start) / DAY;
      this.monthOfDay.fill(m, from, to);
    }
    this.monthLabels = this.monthStarts.slice(0, months).map((t) => new Date(t * 1000).toISOString().slice(0, 7));
    this.dayTables = Array.from({ length: siteCount }, (_, site) => this.#dayTable(seed, site));
    // UTC hour-of-day profile: quiet at night, busiest in the European afternoon.
    this.hourTable = new WeightedTable([2, 1.5, 1.2, 1, 1, 1.2, 2, 3, 4.5, 5.5, 6, 6.2, 6, 6, 6.3, 6.5,
      6.2, 5.8, 5.2, 4.8, 4.5, 4, 3.5, 2.8]);
  }

  /** Daily weights for one site: growth over the period, quieter weekends, a few traffic spikes. */
  #dayTable(seed, site) {
    const rng = new Rng(hash(seed, SESSION_STREAM, 0xda75, site));
    const weights = new Array(this.days);
    for (let d = 0; d < this.days; d++) {
      const weekday = new Date((this.start + d * DAY) * 1000).getUTCDay();
      weights[d] = (1 + (0.8 * d) / this.days) * (weekday === 0 || weekday === 6 ? 0.7 : 1);
    }
    for (let i = 0; i < 4; i++) {
      const d = rng.int(this.days - 1);
      weights[d] *= 4;
      weights[d + 1] *= 1.8;
    }
    return new WeightedTable(weights);
  }

  monthOf(t) {
    return this.monthOfDay[Math.floor((t - this.start) / DAY)];
  }
}

function grown(array, capacity) {
  const next = new array.constructor(capacity);
  next.set(array);
  return next;
}

/** Sessions in index order; session s owns logical events eventStart[s] .. eventStart[s+1]-1. */
export class SessionPlan {
  constructor(vocabulary, timeline, events, seed) {
    this.seed = seed;
    let capacity = Math.ceil(events / 3) + 1024;
    let eventStart = new Uint32Array(capacity + 1);
    let start = new Uint32Array(capacity);
    let gap = new Uint32Array(capacity);
    let site = new Uint8Array(capacity);
    let host = new Uint8Array(capacity);
    let visits = new Uint8Array(capacity);
    let month = new Uint8Array(capacity);
    const rng = new Rng();
    let s = 0;
    let assigned = 0;
    while (assigned < events) {
      if (s === capacity) {
        capacity *= 2;
        [eventStart, start, gap, site, host, visits, month] = [eventStart, start, gap, site, host, visits, month]
          .map((a) => grown(a, a === eventStart ? capacity + 1 : capacity));
      }
      rng.reseed(hash(seed, SESSION_STREAM, s));
      const k = Math.min(rng.chance(BOUNCE_RATE) ? 1 : 2 + rng.geometric(0.82, 78), events - assigned);
      const v = k === 1 ? 1 : 1 + rng.geometric(0.3, Math.min(k - 1, 7));
      let g = 1800 + rng.int(2 * DAY);
      const siteIndex = vocabulary.siteTable.pick(rng);
      host[s] = vocabulary.sites[siteIndex].hostTable.pick(rng);
      // Place the whole session inside one calendar month; shrink the visit gap if it cannot fit.
      let t;
      for (let attempt = 0; ; attempt++) {
        if (attempt === 50) g = 1800;
        const day = timeline.dayTables[siteIndex].pick(rng);
        t = timeline.start + day * DAY + timeline.hourTable.pick(rng) * 3600 + rng.int(3600);
        const span = (v - 1) * g + k * EVENT_STEP + EVENT_JITTER;
        if (t + span < timeline.monthStarts[timeline.monthOfDay[day] + 1]) break;
      }
      eventStart[s] = assigned;
      start[s] = t;
      gap[s] = g;
      site[s] = siteIndex;
      visits[s] = v;
      month[s] = timeline.monthOf(t);
      assigned += k;
      s++;
    }
    eventStart[s] = assigned;
    this.count = s;
    this.events = events;
    /** First logical event of each session (count + 1 entries). */
    this.eventStart = eventStart;
    /** Unix time of each session's first event. */
    this.start = start;
    /** Seconds between the starts of consecutive visits. */
    this.gap = gap;
    /** Index of the website, of its hostname, the number of visits and the month of each session. */
    this.site = site;
    this.host = host;
    this.visits = visits;
    this.month = month;
  }

  /** The session owning logical event j (binary search). */
  sessionOf(j) {
    const { eventStart } = this;
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (eventStart[mid] <= j) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Milliseconds of the session's first event (PostgreSQL keeps them; MariaDB does not). */
  startMs(s) {
    return hash(this.seed, SESSION_MS_STREAM, s) % 1000;
  }
}

const CLICK_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function randomString(rng, alphabet, length) {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[rng.int(alphabet.length)];
  return out;
}

/** A plausible value for each click-id column. */
function clickId(rng, column) {
  switch (column) {
    case 'gclid': return 'Cj0KCQjw' + randomString(rng, CLICK_ID_ALPHABET, 84);
    case 'fbclid': return 'IwAR' + randomString(rng, CLICK_ID_ALPHABET, 57);
    case 'msclkid': return randomString(rng, '0123456789abcdef', 32);
    case 'ttclid': return 'E.C.P.' + randomString(rng, CLICK_ID_ALPHABET, 40);
    case 'twclid': return randomString(rng, CLICK_ID_ALPHABET.slice(26, 62), 25).toLowerCase();
    default: return `${randomString(rng, '0123456789abcdef', 8)}-${randomString(rng, '0123456789abcdef', 4)}`;
  }
}

const CLICK_ID_COLUMNS = ['fbclid', 'gclid', 'li_fat_id', 'msclkid', 'ttclid', 'twclid'];

/** A website_event row's values (strings raw, not escaped); one instance is reused for every row. */
export function emptyEvent() {
  return {
    session: 0, site: 0, visit: 0, time: 0, ms: 0,
    urlPath: '', urlQuery: null, referrerPath: null, referrerQuery: null, referrerDomain: null,
    pageTitle: null, eventType: 1, eventName: null, tag: null,
    fbclid: null, gclid: null, li_fat_id: null, msclkid: null, ttclid: null, twclid: null,
    utmCampaign: null, utmContent: null, utmMedium: null, utmSource: null, utmTerm: null,
    hostname: null,
  };
}

/** Derives events and session attributes from their indexes. */
export class Traffic {
  constructor(vocabulary, timeline, plan, seed) {
    this.vocabulary = vocabulary;
    this.timeline = timeline;
    this.plan = plan;
    this.seed = seed;
    this.rng = new Rng();
  }

  pageRank(j, siteIndex) {
    return this.vocabulary.sites[siteIndex].pages.zipf.index(hash(this.seed, PAGE_STREAM, j) / 4294967296);
  }

  /** Fills `ev` with logical event j. */
  event(j, ev) {
    const { plan, vocabulary: vocab } = this;
    const s = plan.sessionOf(j);
    const first = plan.eventStart[s];
    const k = plan.eventStart[s + 1] - first;
    const q = j - first;
    const visits = plan.visits[s];
    const visit = Math.floor((q * visits) / k);
    const inVisit = q - Math.floor((visit * k + visits - 1) / visits);
    const siteIndex = plan.site[s];
    const site = vocab.sites[siteIndex];
    const rng = this.rng.reseed(hash(this.seed, EVENT_STREAM, j));

    ev.session = s;
    ev.site = siteIndex;
    ev.visit = visit;
    ev.time = plan.start[s] + visit * plan.gap[s] + inVisit * EVENT_STEP + (inVisit > 0 ? rng.int(EVENT_JITTER) : 0);
    ev.ms = q === 0 ? plan.startMs(s) : rng.int(1000);
    if (ev.time >= this.timeline.monthStarts[plan.month[s] + 1]) {
      throw new Error(`event ${j} falls outside its session's month`);
    }
    const rank = this.pageRank(j, siteIndex);
    ev.urlPath = site.pages.paths[rank];
    ev.pageTitle = site.pages.titles[rank];
    ev.hostname = site.hostNames[plan.host[s]];
    ev.urlQuery = null;
    ev.utmCampaign = ev.utmContent = ev.utmMedium = ev.utmSource = ev.utmTerm = null;
    for (const column of CLICK_ID_COLUMNS) ev[column] = null;

    if (inVisit === 0) {
      ev.eventType = 1;
      ev.eventName = null;
      this.#landing(rng, ev);
    } else {
      const custom = rng.chance(CUSTOM_EVENT_SHARE_AFTER_LANDING);
      ev.eventType = custom ? 2 : 1;
      ev.eventName = custom ? vocab.eventNames.values[vocab.eventNames.table.pick(rng)] : null;
      ev.referrerDomain = ev.hostname;
      ev.referrerPath = site.pages.paths[this.pageRank(j - 1, siteIndex)];
      ev.referrerQuery = null;
      if (rng.chance(0.06)) ev.urlQuery = rng.pick(vocab.innerQueries);
    }
    ev.tag = vocab.tags.values[vocab.tags.table.pick(rng)];
    return ev;
  }

  /** Referrer, campaign and query of a visit's first page view. */
  #landing(rng, ev) {
    const vocab = this.vocabulary;
    let referrer = null;
    if (rng.chance(CAMPAIGN_SHARE)) {
      const campaign = vocab.campaigns.values[vocab.campaigns.table.pick(rng)];
      ev.urlQuery = campaign.query;
      if (campaign.clid) {
        const id = clickId(rng, campaign.clid);
        ev[campaign.clid] = id;
        ev.urlQuery += `&${campaign.clid}=${id}`;
      }
      const { utm } = campaign;
      ev.utmSource = utm.source ?? null;
      ev.utmMedium = utm.medium ?? null;
      ev.utmCampaign = utm.campaign ?? null;
      ev.utmContent = utm.content ?? null;
      ev.utmTerm = utm.term ?? null;
      referrer = campaign.referrer;
    } else if (!rng.chance(DIRECT_SHARE)) {
      referrer = rng.chance(0.85)
        ? vocab.referrers.values[vocab.referrers.table.pick(rng)]
        : vocab.referrerTail.entries[vocab.referrerTail.zipf.pick(rng)];
      if (rng.chance(0.04)) ev.urlQuery = rng.pick(vocab.innerQueries);
    }
    ev.referrerDomain = referrer ? referrer[0] : null;
    ev.referrerPath = referrer ? referrer[1] : null;
    ev.referrerQuery = referrer ? referrer[2] : null;
  }

  /** Session s's row values: [browser, os, device, screen, language, country, region, city, distinctId]. */
  sessionAttributes(s) {
    const vocab = this.vocabulary;
    const rng = this.rng.reseed(hash(this.seed, SESSION_ATTRIBUTE_STREAM, s));
    const choose = (list) => list.values[list.table.pick(rng)];
    const [country, region, city] = choose(vocab.locations);
    return [
      choose(vocab.browsers), choose(vocab.oses), choose(vocab.devices), choose(vocab.screens),
      choose(vocab.languages), country, region, city,
      rng.chance(0.03) ? `user-${rng.int(100000)}` : null,
    ];
  }
}
