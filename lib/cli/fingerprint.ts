/**
 * The SHA-256 of a file, computed on another thread while the import reads
 * the same file: the second core does the hashing, the import does not.
 */
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const fs = require('node:fs');
const hash = crypto.createHash('sha256');
fs.createReadStream(workerData, { highWaterMark: 1 << 20 })
  .on('data', (chunk) => hash.update(chunk))
  .on('error', (err) => parentPort.postMessage({ error: err.message }))
  .on('end', () => parentPort.postMessage({ digest: hash.digest('hex') }));
`;

export function hashFileInWorker(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: file });
    worker.once('message', (m: { digest?: string; error?: string }) => {
      void worker.terminate();
      if (m.digest) resolve(m.digest);
      else reject(new Error(`cannot hash ${file}: ${m.error}`));
    });
    worker.once('error', reject);
  });
}
