// An Express 5 app that takes Umami dumps as HTTP uploads and aggregates them
// while they arrive: the request body streams straight into the import, so a
// dump of any size is never held in memory or written to disk.
//
//   POST /imports              upload a dump (plain or gzipped) as the raw body
//   GET  /imports              the import ledger, newest first
//   GET  /imports/:id          one import: its ledger row (and live progress while it runs here)
//   GET  /imports/:id/events   server-sent events with the progress of a running import
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express from 'express';
import { INPUT_ERROR_CODES, createImportPipeline, getImport, isUmamiAggregateError, listImports, migrate } from 'umami-aggregate';

const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024; // 1 GiB as uploaded (a gzipped dump counts compressed)
const DISCARD_LIMIT = 16 * 1024 * 1024; // after a failed import, read at most this much more of the body

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function tooLarge(maxBytes) {
  return new HttpError(413, 'PAYLOAD_TOO_LARGE', `the upload is larger than the limit of ${maxBytes} bytes`);
}

/** Passes bytes through and fails the stream once more than `maxBytes` went by. */
function byteLimit(maxBytes) {
  let seen = 0;
  return new Transform({
    transform(chunk, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes) callback(tooLarge(maxBytes));
      else callback(null, chunk);
    },
  });
}

/** Status and JSON body for an error; never a stack trace. */
function errorReply(err) {
  if (err instanceof HttpError) return [err.status, { error: { code: err.code, message: err.message } }];
  if (isUmamiAggregateError(err) && INPUT_ERROR_CODES.has(err.code)) {
    return [400, { error: { code: err.code, message: err.message, context: err.context ?? {} } }];
  }
  if (isUmamiAggregateError(err) && err.code === 'UA_ALREADY_IMPORTED') {
    return [409, { error: { code: err.code, message: err.message, context: err.context ?? {} } }];
  }
  return [500, { error: { code: 'INTERNAL_ERROR', message: 'the import failed on the server' } }];
}

/**
 * Reads and throws away the rest of a request body, so that the client, still
 * sending, gets to read the reply (closing a socket with unread data resets
 * it). A client that sends more than `limit` further bytes is cut off.
 */
function discardBody(req, limit) {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    let seen = 0;
    req.unpipe();
    req.on('data', (chunk) => {
      seen += chunk.length;
      if (seen > limit) req.destroy();
    });
    req.once('end', resolve);
    req.once('close', resolve);
    req.resume();
  });
}

/** A positive integer id from the URL, or null. */
function parseId(text) {
  return /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : null;
}

function notFound(res, id) {
  res.status(404).json({ error: { code: 'NOT_FOUND', message: `no import ${id}` } });
}

/** Starts a server-sent event stream. */
function openEventStream(res) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  res.flushHeaders();
}

function sendEvent(res, event, data) {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** The SSE event that carries a finished import's ledger row. */
function eventForStatus(status) {
  return status === 'completed' ? 'done' : status === 'failed' ? 'failed' : 'status';
}

/**
 * @param {object} options
 * @param {import('knex').Knex} options.knex  where the aggregates go
 * @param {number} [options.maxBytes]         largest upload accepted, in bytes as sent
 * @param {object} [options.importOptions]    more createImportPipeline options (timezone, mode, chunkSize, …)
 * @param {{ error(obj: object, msg?: string): void }} [options.logger]  hears server errors (default: console)
 */
export function createApp({ knex, maxBytes = DEFAULT_MAX_BYTES, importOptions = {}, logger = console } = {}) {
  if (!knex) throw new TypeError('createApp needs a knex instance');
  const app = express();

  // Imports running in this process, by id, from the moment they are in the ledger.
  // `result` settles with the summary, or with the error that ended the import.
  const running = new Map();

  // The ledger table exists once the first import ran; the read routes create it on first use.
  let tablesReady = null;
  const ensureTables = () =>
    (tablesReady ??= migrate(knex).catch((err) => {
      tablesReady = null;
      throw err;
    }));

  app.post('/imports', async (req, res) => {
    // Refuse an upload that announces its size as too large before reading any of it.
    const declared = req.get('content-length') === undefined ? undefined : Number(req.get('content-length'));
    if (declared !== undefined && declared > maxBytes) {
      const [status, body] = errorReply(tooLarge(maxBytes));
      res.set('Connection', 'close');
      return res.status(status).json(body);
    }

    const limiter = byteLimit(maxBytes);
    const importer = createImportPipeline({
      ...importOptions,
      knex,
      source: typeof req.query.name === 'string' ? req.query.name : 'http upload',
      bytesTotal: Number.isSafeInteger(declared) ? declared : undefined,
    });
    const entry = { importer, result: null };
    importer.once('started', ({ importId }) => running.set(importId, entry));

    // A client that goes away mid-upload fails the import: nothing of it is committed.
    req.once('close', () => {
      if (!req.complete) limiter.destroy(new HttpError(499, 'CLIENT_CLOSED', 'the client closed the connection'));
    });
    // req is piped by hand rather than through pipeline(): pipeline() would destroy the
    // request (and with it the socket) on a bad dump, and the client would never see the 400.
    req.pipe(limiter);
    entry.result = pipeline(limiter, importer).then(() => importer.summary);
    entry.result.catch(() => {}); // handled below; this keeps the promise from counting as unhandled

    try {
      const summary = await entry.result;
      res.status(201).json({ import: summary });
    } catch (err) {
      await discardBody(req, DISCARD_LIMIT);
      const [status, body] = errorReply(err);
      if (status === 500) logger.error({ err }, 'import failed');
      if (!res.destroyed) res.status(status).json(body);
    } finally {
      if (importer.importId) running.delete(importer.importId);
    }
  });

  app.get('/imports', async (_req, res) => {
    await ensureTables();
    res.json({ imports: await listImports(knex) });
  });

  app.get('/imports/:id', async (req, res) => {
    const id = parseId(req.params.id);
    if (id === null) return notFound(res, req.params.id);
    await ensureTables();
    const row = await getImport(knex, id);
    if (!row) return notFound(res, id);
    // The ledger is updated per chunk; an import running here also has its live counters.
    const live = running.get(id);
    res.json(live ? { import: row, progress: live.importer.progress } : { import: row });
  });

  app.get('/imports/:id/events', async (req, res) => {
    const id = parseId(req.params.id);
    if (id === null) return notFound(res, req.params.id);
    const live = running.get(id);

    if (!live) {
      // Not running here: its ledger state is the whole story.
      await ensureTables();
      const row = await getImport(knex, id);
      if (!row) return notFound(res, id);
      openEventStream(res);
      sendEvent(res, eventForStatus(row.status), { import: row });
      return res.end();
    }

    openEventStream(res);
    const { importer, result } = live;
    const onProgress = (progress) => sendEvent(res, 'progress', progress);
    // A comment line now and then keeps proxies from closing a quiet stream.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const stop = () => {
      clearInterval(keepAlive);
      importer.off('progress', onProgress);
    };
    res.once('close', stop); // the client went away

    onProgress(importer.progress); // where the import stands now
    importer.on('progress', onProgress);
    result
      .then(
        (summary) => sendEvent(res, 'done', { import: summary }),
        (err) => sendEvent(res, 'failed', errorReply(err)[1]),
      )
      .finally(() => {
        stop();
        res.end();
      });
  });

  // Errors thrown by the routes above (Express 5 forwards rejected promises here).
  app.use((err, _req, res, _next) => {
    const [status, body] = errorReply(err);
    if (status === 500) logger.error({ err }, 'request failed');
    if (res.headersSent) return res.end();
    res.status(status).json(body);
  });

  return app;
}
