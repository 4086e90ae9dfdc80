// What the synthetic Umami traffic is made of: websites, their pages (Zipf-ranked, a few of
// them hostile to parsers), referrers, campaigns, custom event names and session attributes.
// Everything here is built once per seed; rows pick from it by index.

import { Rng, WeightedTable, hash, zipfTable } from './random.js';

const VOCABULARY_STREAM = 0x70c4;

/** The websites, their hostnames (with the share of sessions on each) and their traffic share. */
export const SITES = [
  { name: 'Northwind Traders', brand: 'Northwind', domain: 'northwind-traders.com', kind: 'shop', traffic: 40,
    pages: 4000, hosts: [['northwind-traders.com', 93], ['www.northwind-traders.com', 7]] },
  { name: 'Example Cloud Docs', brand: 'Example Cloud', domain: 'docs.example-cloud.io', kind: 'docs', traffic: 25,
    pages: 3500, hosts: [['docs.example-cloud.io', 100]] },
  { name: 'Pixelforge Blog', brand: 'Pixelforge', domain: 'blog.pixelforge.dev', kind: 'blog', traffic: 17,
    pages: 2500, hosts: [['blog.pixelforge.dev', 96], ['pixelforge.dev', 4]] },
  { name: "Greenleaf Garden Co. \u2014 it's growing", brand: "Greenleaf's", domain: 'greenleaf-garden.co.uk',
    kind: 'shop', traffic: 12, pages: 2000, hosts: [['www.greenleaf-garden.co.uk', 100]] },
  { name: 'Caf\u00e9 Z\u00fcrich "Am See"', brand: 'Caf\u00e9 Z\u00fcrich', domain: 'cafe-zuerich.ch', kind: 'blog',
    traffic: 6, pages: 1200, hosts: [['cafe-zuerich.ch', 90], ['www.cafe-zuerich.ch', 10]] },
];

/** Zipf exponent of page popularity. */
const PAGE_ZIPF = 1.05;

/**
 * Paths and titles that break naive parsers: quotes, backslashes, `'),('`, `;`, comment
 * starters, `\N`, `NULL`, tabs, newlines, control characters, multi-byte UTF-8, a long value.
 * (No NUL: PostgreSQL text cannot hold it.)
 */
const HOSTILE_PAGES = [
  ["/it's", "It's here: O'Reilly's \"quoted\" page"],
  ['/say-"hi"', 'Say "hi" \u{1F44B}'],
  ['/C:\\path\\to\\file', 'C:\\path\\to\\file'],
  ['/end\\', 'Ends with a backslash \\'],
  ['/\u00fcn\u00efc\u00f6d\u00e9/\u65e5\u672c\u8a9e/\u0441\u0442\u0440\u0430\u043d\u0438\u0446\u0430', '\u00dcn\u00efc\u00f6d\u00e9 \u65e5\u672c\u8a9e \u0441\u0442\u0440\u0430\u043d\u0438\u0446\u0430 \u{1F600}'],
  ["/paren'),('x", "'); DROP TABLE website_event; --"],
  ['/\\N', '\\N'],
  ['/NULL', 'NULL'],
  ['/semi;colon -- /* not a comment */', 'INSERT INTO `website_event` VALUES (1);'],
  ['/tab\tseparated', 'tab\tseparated\ttitle'],
  ['/multi\nline', 'line1\nline2\r\nline3'],
  ['/ctrl\x1a\b\f\v', 'control \x1a \b \f \v characters'],
  ['/emoji/\u{1F600}\u{1F389}\u{1F469}\u200d\u{1F4BB}', '\u{1F600} \u00e9moji \u4e2d\u6587 \u{1F389}'],
  ['/percent%20encoded/%27quote%27', '100% \\% \\_ LIKE escapes'],
  ['/long/' + 'a-very-long-path-segment-\u00e4\u00f6\u00fc-'.repeat(16), 'Long '.repeat(90)],
];

/** Ranks (0 = most viewed) at which the hostile pages sit, so some reach top lists. */
const HOSTILE_RANKS = [3, 8, 14, 22, 35, 57, 90, 145, 234, 378, 611, 988, 1190, 1598, 1999];

const WORDS = (
  'analytics privacy dashboard deploy docker compose nginx reverse proxy postgres mysql mariadb ' +
  'backup restore migrate upgrade release notes pricing team billing invoice account settings ' +
  'garden hose planter seeds tomato basil compost shovel gloves lantern bench trellis ' +
  'coffee espresso roast grinder filter kettle mug beans decaf latte cortado brunch menu ' +
  'guide tutorial quickstart install configure secure scale monitor metrics alerts logs ' +
  'api client server cache queue worker cron webhook token session cookie consent ' +
  'summer winter spring autumn sale bundle gift voucher shipping returns warranty ' +
  'react vue svelte astro nextjs typescript node deno rust golang python kotlin swift ' +
  'performance index query vacuum replica cluster shard partition rollup aggregate ' +
  'design pattern refactor testing fixtures benchmark profile memory stream buffer'
).split(' ');

const CATEGORIES = {
  shop: ['garden', 'tools', 'kitchen', 'outdoor', 'lighting', 'furniture', 'gifts', 'sale', 'new'],
  docs: ['getting-started', 'install', 'configuration', 'api', 'sdk', 'guides', 'reference', 'faq'],
  blog: ['engineering', 'product', 'culture', 'releases', 'tutorials', 'news'],
};

function titleCase(slug) {
  return slug
    .split(/[-/]/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(' ');
}

function slug(rng, min, max) {
  const n = min + rng.int(max - min + 1);
  const words = [];
  for (let i = 0; i < n; i++) words.push(rng.pick(WORDS));
  return words.join('-');
}

/** One ordinary page of a site: [path, title]. */
function ordinaryPage(rng, site, rank) {
  const category = rng.pick(CATEGORIES[site.kind]);
  let path;
  switch (site.kind) {
    case 'shop':
      path = rng.chance(0.85) ? `/products/${slug(rng, 1, 2)}-${rank}` : `/category/${category}/${rng.pick(WORDS)}`;
      break;
    case 'docs':
      path = rng.chance(0.85) ? `/docs/${category}/${slug(rng, 1, 2)}` : `/api/${rng.pick(WORDS)}-${rank}`;
      break;
    default:
      path = rng.chance(0.9) ? `/blog/${slug(rng, 2, 3)}` : `/tag/${rng.pick(WORDS)}-${rank}`;
  }
  return [path, `${titleCase(path.slice(path.lastIndexOf('/') + 1))} | ${site.brand}`];
}

const LANDING_PAGES = {
  shop: ['/', '/cart', '/checkout', '/search', '/account', '/sale', '/shipping', '/contact'],
  docs: ['/', '/docs', '/docs/getting-started', '/pricing', '/changelog', '/login', '/signup'],
  blog: ['/', '/blog', '/about', '/archive', '/rss.xml', '/newsletter'],
};

/** A site's pages in rank order: {paths, titles, zipf}. */
function buildPages(seed, siteIndex, site) {
  const rng = new Rng(hash(seed, VOCABULARY_STREAM, siteIndex));
  const paths = [];
  const titles = [];
  const seen = new Set();
  const add = (path, title) => {
    seen.add(path);
    paths.push(path);
    // About 1% of pages never set a <title>.
    titles.push(rng.chance(0.01) ? null : title);
  };
  for (const path of LANDING_PAGES[site.kind]) add(path, `${titleCase(path) || 'Home'} | ${site.brand}`);
  let hostile = 0;
  while (paths.length < site.pages) {
    if (hostile < HOSTILE_PAGES.length && paths.length >= HOSTILE_RANKS[hostile]) {
      add(...HOSTILE_PAGES[hostile++]);
      continue;
    }
    const [path, title] = ordinaryPage(rng, site, paths.length);
    if (!seen.has(path)) add(path, title);
  }
  return { paths, titles, zipf: zipfTable(paths.length, PAGE_ZIPF) };
}

/** External referrers: [domain, path, query, weight]. */
const REFERRERS = [
  ['www.google.com', '/', null, 300],
  ['www.google.de', '/', null, 25],
  ['www.google.co.uk', '/', null, 20],
  ['www.bing.com', '/search', 'q=umami+analytics&form=QBLH', 40],
  ['duckduckgo.com', '/', null, 45],
  ['search.brave.com', '/search', 'q=self+hosted+analytics&source=web', 12],
  ['news.ycombinator.com', '/item', 'id=39871234', 30],
  ['www.reddit.com', '/r/selfhosted/comments/1b9x2k/which_analytics_do_you_use/', null, 35],
  ['old.reddit.com', '/r/webdev/', null, 6],
  ['t.co', '/Xy7AbC9dEf', null, 28],
  ['l.facebook.com', '/l.php', 'u=https%3A%2F%2Fexample.com%2F&h=AT0x9kQ2', 22],
  ['www.linkedin.com', '/feed/', null, 18],
  ['github.com', '/umami-software/umami', null, 16],
  ['www.youtube.com', '/watch', 'v=dQw4w9WgXcQ', 14],
  ['chatgpt.com', '/', null, 15],
  ['dev.to', '/someone/why-we-moved-to-self-hosted-analytics-3k1f', null, 8],
  ['medium.com', '/@writer/a-year-of-privacy-friendly-analytics-8f2e1b', null, 8],
  ['xn--mnchen-3ya.de', '/', null, 3],
  ['m\u00fcnchen.example', '/stra\u00dfe', null, 2],
  ["o'reilly.example.com", "/it's", 'q="quoted"', 2],
  ['', '/', null, 3],
];

/** Long tail of small referring sites, Zipf-ranked. */
function buildReferrerTail(seed) {
  const rng = new Rng(hash(seed, VOCABULARY_STREAM, 1000));
  const tail = [];
  for (let i = 0; i < 400; i++) {
    tail.push([`${rng.pick(WORDS)}-${rng.pick(WORDS)}.example.net`, `/${slug(rng, 2, 4)}`, null]);
  }
  return { entries: tail, zipf: zipfTable(tail.length, 1.0) };
}

/**
 * Campaign landings: query string (without click id), utm fields, click id column and the
 * referrer the visitor arrives from (null = direct).
 */
const CAMPAIGNS = [
  { weight: 30, query: 'utm_source=google&utm_medium=cpc&utm_campaign=spring_sale_2024&utm_term=garden+tools',
    utm: { source: 'google', medium: 'cpc', campaign: 'spring_sale_2024', term: 'garden tools' },
    clid: 'gclid', referrer: ['www.google.com', '/', null] },
  { weight: 25, query: 'utm_source=newsletter&utm_medium=email&utm_campaign=weekly-digest-42&utm_content=header-link',
    utm: { source: 'newsletter', medium: 'email', campaign: 'weekly-digest-42', content: 'header-link' },
    clid: null, referrer: null },
  { weight: 12, query: 'utm_source=facebook&utm_medium=social&utm_campaign=launch',
    utm: { source: 'facebook', medium: 'social', campaign: 'launch' }, clid: 'fbclid',
    referrer: ['l.facebook.com', '/', null] },
  { weight: 8, query: 'utm_source=twitter&utm_medium=social', utm: { source: 'twitter', medium: 'social' },
    clid: 'twclid', referrer: ['t.co', '/Qw3rTy', null] },
  { weight: 6, query: 'utm_source=linkedin&utm_medium=paid_social&utm_campaign=b2b-q3',
    utm: { source: 'linkedin', medium: 'paid_social', campaign: 'b2b-q3' }, clid: 'li_fat_id',
    referrer: ['www.linkedin.com', '/', null] },
  { weight: 6, query: 'utm_source=bing&utm_medium=cpc&utm_campaign=brand',
    utm: { source: 'bing', medium: 'cpc', campaign: 'brand' }, clid: 'msclkid',
    referrer: ['www.bing.com', '/', null] },
  { weight: 4, query: 'utm_source=tiktok&utm_medium=video', utm: { source: 'tiktok', medium: 'video' },
    clid: 'ttclid', referrer: null },
  { weight: 2, query: "utm_source=o'reilly&utm_medium=partner&utm_campaign=it's+\"live\"",
    utm: { source: "o'reilly", medium: 'partner', campaign: 'it\'s "live"' }, clid: null,
    referrer: ["o'reilly.example.com", '/', null] },
];

/** Query strings seen on pages reached by internal navigation. */
const INNER_QUERIES = ['page=2', 'page=3', 'sort=price_asc', 'q=garden+hose', "q=it's", 'lang=de',
  'ref=nav', 'variant=blue&size=M', 'tab=reviews', 'q=%22quoted%22&page=1'];

/** Custom event names: [name, weight]. */
const EVENT_NAMES = [
  ['click-cta', 30], ['signup', 10], ['add-to-cart', 18], ['download-pdf', 8], ['video-play', 9],
  ['newsletter-subscribe', 7], ['outbound-link-click', 12], ['search', 10], ['scroll-75%', 6],
  ["o'reilly-\"quote\"", 1],
];

const TAGS = [[null, 970], ['beta', 20], ['variant-b', 10]];

/** Session attributes as Umami v2 stores them, with weights. */
const BROWSERS = [['chrome', 42], ['safari', 14], ['ios', 12], ['crios', 6], ['edge-chromium', 8],
  ['firefox', 7], ['samsung', 4], ['opera', 2], ['fxios', 1], ['ios-webview', 2], ['facebook', 1],
  ['android', 1]];
const OSES = [['Windows 10', 34], ['Mac OS', 18], ['iOS', 21], ['Android OS', 20], ['Linux', 4],
  ['Chrome OS', 2], ['Windows 7', 1]];
const DEVICES = [['desktop', 38], ['laptop', 17], ['mobile', 40], ['tablet', 5]];
const SCREENS = [['1920x1080', 25], ['1536x864', 9], ['1440x900', 7], ['2560x1440', 8], ['1366x768', 6],
  ['390x844', 12], ['393x873', 7], ['414x896', 6], ['412x915', 8], ['360x800', 6], ['820x1180', 3],
  ['768x1024', 3]];
const LANGUAGES = [['en-US', 38], ['en-GB', 9], ['de-DE', 12], ['de', 3], ['fr-FR', 7], ['fr', 2],
  ['es-ES', 5], ['ja-JP', 4], ['pt-BR', 4], ['zh-CN', 4], ['nl-NL', 3], ['it-IT', 3], ['pl-PL', 2],
  ['sv-SE', 2]];
/** [country, region, city, weight]; v2.20 stores the region as COUNTRY-SUBDIVISION. */
const LOCATIONS = [
  ['US', 'US-CA', 'San Francisco', 12], ['US', 'US-NY', 'New York', 10], ['US', 'US-TX', 'Austin', 6],
  ['US', null, null, 4], ['DE', 'DE-BY', 'M\u00fcnchen', 6], ['DE', 'DE-BE', 'Berlin', 7],
  ['GB', 'GB-ENG', 'London', 9], ['FR', 'FR-IDF', 'Paris', 6], ['IN', 'IN-KA', 'Bengaluru', 6],
  ['BR', 'BR-SP', 'S\u00e3o Paulo', 4], ['JP', 'JP-13', 'Tokyo', 4], ['CA', 'CA-ON', 'Toronto', 4],
  ['NL', 'NL-NH', 'Amsterdam', 3], ['ES', 'ES-MD', 'Madrid', 3], ['CH', 'CH-ZH', 'Z\u00fcrich', 2],
  ['PL', 'PL-14', 'Warszawa', 2], ['AU', 'AU-NSW', 'Sydney', 3], ['SE', 'SE-AB', 'Stockholm', 2],
  ['CN', 'CN-BJ', '\u5317\u4eac', 2], ['NP', null, null, 1],
];

/** Values with weights (the last element of each entry); a single value stays a scalar. */
function weighted(entries) {
  return {
    values: entries.map((e) => (e.length === 2 ? e[0] : e.slice(0, -1))),
    table: new WeightedTable(entries.map((e) => e.at(-1))),
  };
}

/**
 * Everything rows are made of, for one seed. Every string is stored already escaped for the
 * output format by `escape`, so rows are assembled without escaping anything; values made up
 * later (ids, timestamps, click ids) use characters that never need escaping.
 */
export function buildVocabulary(seed, escape = (s) => s) {
  return escapeStrings({
    sites: SITES.map((site, i) => ({
      ...site,
      hostNames: site.hosts.map(([name]) => name),
      hostTable: new WeightedTable(site.hosts.map(([, w]) => w)),
      pages: buildPages(seed, i, site),
    })),
    siteTable: new WeightedTable(SITES.map((s) => s.traffic)),
    referrers: weighted(REFERRERS),
    referrerTail: buildReferrerTail(seed),
    campaigns: { values: CAMPAIGNS, table: new WeightedTable(CAMPAIGNS.map((c) => c.weight)) },
    innerQueries: INNER_QUERIES,
    eventNames: weighted(EVENT_NAMES),
    tags: weighted(TAGS),
    browsers: weighted(BROWSERS),
    oses: weighted(OSES),
    devices: weighted(DEVICES),
    screens: weighted(SCREENS),
    languages: weighted(LANGUAGES),
    locations: weighted(LOCATIONS),
  }, escape);
}

/** Copies plain objects and arrays with every string escaped; other values are kept as they are. */
function escapeStrings(value, escape) {
  if (typeof value === 'string') return escape(value);
  if (Array.isArray(value)) return value.map((v) => escapeStrings(v, escape));
  if (value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeStrings(v, escape)]));
  }
  return value;
}
