#!/usr/bin/env node
// Writes a synthetic but realistic Umami v2.20 database dump, in the exact shape mariadb-dump
// or pg_dump gives it, plus FILE.truth.json with totals computed while writing.
//
//   node bench/generate.js --events 1000000 --format mariadb|pgdump [--gzip] [--seed 1] --out FILE
//
// Streaming and bounded: sessions are planned into typed arrays (~16 bytes each); events are
// derived one at a time in primary-key order and written through a 4 MB buffer.

import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Clock, FORMATS, ID_STREAMS, Ids, templateParts } from './gen/formats.js';
import { DumpOutput } from './gen/output.js';
import { Permutation, Rng, hash } from './gen/random.js';
import { SessionPlan, Timeline, Traffic, emptyEvent } from './gen/traffic.js';
import { SITES, buildVocabulary } from './gen/vocabulary.js';

const USAGE = 'usage: node bench/generate.js --events N --format mariadb|pgdump [--gzip] [--seed S] --out FILE';

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string' },
      format: { type: 'string' },
      gzip: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
    },
  });
  const events = Number(values.events);
  const seed = Number(values.seed);
  if (!Number.isInteger(events) || events < 1 || events >= 2 ** 32) throw new Error(`--events must be a positive integer\n${USAGE}`);
  if (!(values.format in FORMATS)) throw new Error(`--format must be mariadb or pgdump\n${USAGE}`);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer\n${USAGE}`);
  if (!values.out) throw new Error(`--out is required\n${USAGE}`);
  return { events, seed, format: values.format, gzip: values.gzip, out: values.out };
}

/** Exact totals, gathered as rows are written. */
class Truth {
  constructor(timeline, plan, siteCount) {
    this.timeline = timeline;
    this.plan = plan;
    this.siteCount = siteCount;
    this.events = 0;
    this.pageViews = 0;
    this.monthlyPageViews = new Float64Array(siteCount * timeline.monthLabels.length);
    this.sessionHasPageView = new Uint8Array(plan.count);
  }

  add(ev) {
    this.events++;
    if (ev.eventType !== 1) return;
    this.pageViews++;
    this.monthlyPageViews[this.timeline.monthOf(ev.time) * this.siteCount + ev.site]++;
    this.sessionHasPageView[ev.session] = 1;
  }

  toJSON(options, websites, dumpBytes) {
    const { plan, siteCount } = this;
    const months = this.timeline.monthLabels;
    const visitors = new Float64Array(this.monthlyPageViews.length);
    let visits = 0;
    for (let s = 0; s < plan.count; s++) {
      visits += plan.visits[s];
      if (this.sessionHasPageView[s]) visitors[plan.month[s] * siteCount + plan.site[s]]++;
    }
    const monthly = [];
    months.forEach((bucket, m) => {
      websites.forEach((site, i) => {
        const page_views = this.monthlyPageViews[m * siteCount + i];
        if (page_views > 0) monthly.push({ site: site.id, bucket, page_views, unique_visitors: visitors[m * siteCount + i] });
      });
    });
    monthly.sort((a, b) => (a.bucket === b.bucket ? (a.site < b.site ? -1 : 1) : a.bucket < b.bucket ? -1 : 1));
    return {
      generator: { format: options.format, events: options.events, seed: options.seed, gzip: options.gzip },
      dumpBytes,
      events: this.events,
      pageViews: this.pageViews,
      customEvents: this.events - this.pageViews,
      sessions: plan.count,
      visits,
      websites,
      monthly,
    };
  }
}

async function generate(options) {
  const started = performance.now();
  const { events, seed } = options;
  const timeline = new Timeline(seed, SITES.length);
  const format = new FORMATS[options.format](new Clock(timeline));
  const vocabulary = buildVocabulary(seed, (text) => format.escape(text));
  const sites = vocabulary.sites;
  const plan = new SessionPlan(vocabulary, timeline, events, seed);
  const traffic = new Traffic(vocabulary, timeline, plan, seed);
  const ids = new Ids(seed, { sorted: format.sortedIds });
  const truth = new Truth(timeline, plan, sites.length);

  const rng = new Rng(hash(seed, 0xc0de, 0));
  const alphanumeric = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const randomText = (length) => Array.from({ length }, () => rng.pick(alphanumeric)).join('');
  const userId = ids.uuid(ID_STREAMS.user, 0);
  const accountCreated = timeline.start - 59 * 86400 + 33267;
  const websites = SITES.map((site, i) => ({
    id: ids.uuid(ID_STREAMS.website, i),
    name: site.name,
    domain: site.domain,
    shareId: i % 2 === 1 ? randomText(16) : null,
    createdAt: accountCreated + (i + 1) * 86400 * 3 + rng.int(86400),
    updatedAt: i % 2 === 0 ? timeline.start + rng.int(200) * 86400 : null,
  }));
  const websiteIds = websites.map((w) => format.value(w.id));

  const tableWriters = {
    user(sink) {
      const none = format.value(null);
      sink.add(format.row([
        format.value(userId), format.value('admin'), format.value(`$2b$10$${randomText(53)}`), format.value('admin'),
        format.timestamp(accountCreated, 512), none, none, none, none,
      ]));
    },

    website(sink) {
      const none = format.value(null);
      const rows = websites.map((w, i) => [
        format.value(w.id), format.value(sites[i].name), format.value(sites[i].domain), format.value(w.shareId), none,
        format.value(userId), format.timestamp(w.createdAt, 250),
        w.updatedAt === null ? none : format.timestamp(w.updatedAt, 7), none, format.value(userId), none,
      ]);
      if (format.sortedIds) rows.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (const row of rows) sink.add(format.row(row));
    },

    async session(sink, out) {
      for (let s = 0; s < plan.count; s++) {
        const [browser, os, device, screen, language, country, region, city, distinctId] = traffic.sessionAttributes(s);
        sink.add(format.row([
          format.value(ids.uuid(ID_STREAMS.session, s, plan.count)), websiteIds[plan.site[s]],
          format.value(browser), format.value(os), format.value(device), format.value(screen), format.value(language),
          format.value(country), format.value(region), format.value(city),
          format.timestamp(plan.start[s], plan.startMs(s)), format.value(distinctId),
        ]));
        if (out.blocked) await out.drained();
      }
    },

    async website_event(sink, out) {
      const order = new Permutation(events, hash(seed, 0x0dde, 0));
      const ev = emptyEvent();
      for (let p = 0; p < events; p++) {
        traffic.event(order.apply(p), ev);
        truth.add(ev);
        const eventId = ids.uuid(ID_STREAMS.event, p, events);
        const sessionId = ids.uuid(ID_STREAMS.session, ev.session, plan.count);
        const visitId = ids.uuid(ID_STREAMS.visit, ev.session, 0, ev.visit);
        sink.add(format.eventRow(ev, eventId, websiteIds[ev.site], sessionId, visitId));
        if (out.blocked) await out.drained();
      }
    },
  };

  // The dump is taken at 03:12:45 on the day after the data ends; mariadb-dump prints the hour with %2d.
  const completed = new Date((timeline.end + 3 * 3600 + 12 * 60 + 45) * 1000).toISOString();
  const values = {
    completed: `${completed.slice(0, 10)} ${String(Number(completed.slice(11, 13))).padStart(2)}${completed.slice(13, 19)}`,
    restrictKey: randomText(63),
  };

  mkdirSync(dirname(options.out), { recursive: true });
  const out = new DumpOutput(options.out, { gzip: options.gzip });
  for (const part of templateParts(format.templateFile)) {
    if (part.text !== undefined) out.write(part.text);
    else if (part.value !== undefined) out.write(values[part.value]);
    else {
      const sink = format.rowSink(out, part.table);
      await tableWriters[part.table](sink, out);
      sink.end();
    }
  }
  await out.close();

  const websitesInfo = websites.map(({ id, name, domain }) => ({ id, name, domain }));
  const report = truth.toJSON(options, websitesInfo, out.bytes);
  writeFileSync(`${options.out}.truth.json`, JSON.stringify(report, null, 2) + '\n');
  const ms = performance.now() - started;
  return {
    out: options.out,
    events,
    dumpBytes: out.bytes,
    fileBytes: statSync(options.out).size,
    bytesPerEvent: +(out.bytes / events).toFixed(1),
    ms: Math.round(ms),
    eventsPerSec: Math.round(events / (ms / 1000)),
    mbPerSec: +(out.bytes / 1e6 / (ms / 1000)).toFixed(1),
    rssMB: Math.round(process.memoryUsage().rss / 1e6),
  };
}

try {
  console.log(JSON.stringify(await generate(parseOptions(process.argv.slice(2)))));
} catch (error) {
  console.error(error.message);
  process.exitCode = 1;
}
