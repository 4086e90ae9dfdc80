// Wires the four stages by hand with a filter of our own between the parser
// and the aggregator: events from known bot sessions, and requests for paths
// only bots ask for, never reach the aggregates.
//
//   dump bytes → tokenizer → parser → dropBots → aggregator → upserter
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createAggregator, createDumpTokenizer, createEventParser, createUpserter, migrate } from 'umami-aggregate';

/** Paths that vulnerability scanners probe on every site, WordPress or not. */
export const BOT_PATHS = /^\/(wp-admin|wp-login\.php|xmlrpc\.php)/;

/**
 * A Transform that drops bot events from the parser's event batches. Website
 * batches (and anything else) pass through untouched: the upserter needs them
 * to name the sites.
 */
export function dropBots({ botSessions = new Set(), botPaths = BOT_PATHS } = {}) {
  const dropped = { events: 0, pageViews: 0 };
  const isBot = (event) => botSessions.has(event.sessionId) || (botPaths !== null && botPaths.test(event.urlPath));
  const filter = new Transform({
    objectMode: true,
    transform(batch, _encoding, callback) {
      if (batch.kind !== 'events') return callback(null, batch);
      const kept = [];
      for (const event of batch.events) {
        if (!isBot(event)) kept.push(event);
        else {
          dropped.events++;
          if (event.eventType === 1) dropped.pageViews++;
        }
      }
      callback(null, { ...batch, events: kept });
    },
  });
  filter.dropped = dropped;
  return filter;
}

/**
 * Imports a dump without bot traffic.
 * @param {object} options
 * @param {import('knex').Knex} options.knex
 * @param {import('node:stream').Readable} options.input  dump bytes, plain or gzipped
 * @param {Set<string>} [options.botSessions]  Umami session ids to leave out
 * @param {RegExp | null} [options.botPaths]  URL paths to leave out (default BOT_PATHS; null: none)
 * @param {string} [options.timezone]
 * @returns {{ dropped: { events: number, pageViews: number } }}
 */
export async function importWithoutBots({ knex, input, botSessions, botPaths, timezone = 'UTC' }) {
  await migrate(knex); // the stages write to the tables but do not create them

  const parser = createEventParser();
  const filter = dropBots({ botSessions, botPaths });
  await pipeline(
    input,
    createDumpTokenizer({ select: parser.parser.select }), // decode only the columns the parser reads
    parser,
    filter,
    createAggregator({ timezone }),
    createUpserter({ knex, source: 'compose-stages' }), // one transaction: the pipeline resolves after the commit
  );
  return { dropped: filter.dropped };
}
