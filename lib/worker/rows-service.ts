/**
 * What a thread building rows for {@link RowsThread} does: makes the
 * sketches and top lists of the rows of the plan it is sent
 * ({@link planParts}) and posts them back a part at a time, as far ahead of
 * the reader as it was told ({@link RowsThreadOptions}), on the port a
 * {@link RowsPort} message brings: to a thread started for it, or to the
 * parse thread's worker once its input is parsed.
 */
import type { MessagePort } from 'node:worker_threads';
import { type FlushPlan, NameOrder, type PlanPart, type PlanShared, Tally, partBuffers, planParts } from '../aggregate/rows.js';
import { serializeError } from './protocol.js';
import type { RowsMainMessage, RowsWorkerMessage } from './rows-thread.js';

/** Rows per message: a message of day rows, the largest (sketches and top lists), stays well under a MiB. */
const ROWS_PER_MESSAGE = 64;

/** How far ahead of the reader a thread builds: messages, and bytes (at least one message is sent). */
export interface RowsLimits {
  messagesAhead: number;
  bytesAhead: number;
}

/** What a {@link RowsThread} sends its worker first: serve rows on this port from now on. */
export interface RowsPort {
  t: 'rows';
  port: MessagePort;
  limits: RowsLimits;
}

/** Builds rows for the requests that come on `port`. */
export function serveRows(port: MessagePort, { messagesAhead, bytesAhead }: RowsLimits): void {
  const post = (m: RowsWorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  /** The plan last sent (kept: a retried write asks for its rows again). */
  let plan: FlushPlan | null = null;
  /**
   * Names sent ahead of a plan: the orders and tallies of the plan made over them as they came
   * (the orders hold the names), or why they could not be ordered (reported when the plan comes).
   */
  let ahead: { shared: PlanShared } | { error: unknown } | null = null;
  /** The orders and tallies of the plan last sent, when made ahead of it. */
  let shared: PlanShared | null = null;
  /** The request being built, with the sizes of the messages the reader has not read yet. */
  let request: { id: number; parts: Iterator<PlanPart>; ahead: number[]; bytes: number } | null = null;

  /** Builds and posts parts until the reader is messagesAhead messages or bytesAhead behind, or the rows end. */
  const build = (): void => {
    const r = request;
    if (r === null) return;
    try {
      while (r.ahead.length < messagesAhead && (r.ahead.length === 0 || r.bytes < bytesAhead)) {
        const next = r.parts.next();
        if (next.done) {
          request = null;
          post({ t: 'end', id: r.id });
          return;
        }
        const buffers = partBuffers(next.value);
        let size = 0;
        for (const b of buffers) size += b.byteLength;
        r.ahead.push(size);
        r.bytes += size;
        post({ t: 'rows', id: r.id, part: next.value }, buffers);
      }
    } catch (err) {
      request = null;
      post({ t: 'error', id: r.id, error: serializeError(err) });
    }
  };

  port.on('message', (m: RowsMainMessage) => {
    switch (m.t) {
      case 'names': {
        // Ordered now, while the other thread groups the plan's tables.
        const { paths, refNames } = m;
        try {
          ahead = { shared: { pathOrder: new NameOrder(paths), refOrder: new NameOrder(refNames), pathTally: new Tally(paths.length), refTally: new Tally(refNames.length) } };
        } catch (error) {
          ahead = { error };
        }
        return;
      }
      case 'build':
        if (m.plan !== null) {
          // Names sent ahead serve the next plan only.
          const early = ahead;
          ahead = null;
          plan = m.plan;
          shared = null;
          if (m.namesSent === true) {
            if (early === null || 'error' in early) {
              post({ t: 'error', id: m.id, error: serializeError(early?.error ?? new Error('a plan came without its names, and none were sent ahead of it')) });
              plan = null;
              return;
            }
            shared = early.shared;
            plan.paths = shared.pathOrder.names;
            plan.refNames = shared.refOrder.names;
          }
        }
        if (plan === null) {
          post({ t: 'error', id: m.id, error: serializeError(new Error('rows were asked for before their plan was sent')) });
          return;
        }
        request = { id: m.id, parts: planParts(plan, ROWS_PER_MESSAGE, shared), ahead: [], bytes: 0 };
        build();
        return;
      case 'ack':
        if (request !== null && request.id === m.id) {
          for (const size of request.ahead.splice(0, m.n)) request.bytes -= size;
          build();
        }
        return;
      case 'stop':
        if (request !== null && request.id === m.id) request = null;
        return;
    }
  });
}
