/**
 * The worker side of a {@link RowsThread} started for it: serves rows
 * ({@link serveRows}) on the worker's own port, with the limits it was started with.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type RowsLimits, serveRows } from './rows-service.js';

serveRows(parentPort!, workerData as RowsLimits);
