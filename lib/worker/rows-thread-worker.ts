/**
 * The worker side of a {@link RowsThread} started for it: serves rows
 * ({@link serveRows}) on the port its first message brings.
 */
import { parentPort } from 'node:worker_threads';
import { type RowsPort, serveRows } from './rows-service.js';

parentPort!.once('message', (m: RowsPort) => serveRows(m.port, m.limits));
