// Buffered file output with optional gzip: strings are encoded into a large Buffer that goes
// to the file (through zlib if asked) whenever it fills; the caller awaits `drained()` when
// `blocked` is set, so memory stays bounded whatever the file size.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

const CHUNK_BYTES = 4 << 20;
/** The most bytes one UTF-16 code unit can take in UTF-8. */
const MAX_BYTES_PER_UNIT = 3;

export class DumpOutput {
  constructor(path, { gzip = false } = {}) {
    this.file = createWriteStream(path);
    this.gzip = gzip ? createGzip({ level: 6 }) : null;
    if (this.gzip) this.gzip.pipe(this.file);
    this.sink = this.gzip ?? this.file;
    this.buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    this.offset = 0;
    this.bytes = 0;
    this.blocked = false;
  }

  write(text) {
    if (this.offset + text.length * MAX_BYTES_PER_UNIT > this.buffer.length) {
      this.flush();
      if (text.length * MAX_BYTES_PER_UNIT > this.buffer.length) {
        this.#send(Buffer.from(text, 'utf8'));
        return;
      }
    }
    this.offset += this.buffer.write(text, this.offset);
  }

  flush() {
    if (this.offset === 0) return;
    const chunk = this.buffer.subarray(0, this.offset);
    this.buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    this.offset = 0;
    this.#send(chunk);
  }

  #send(chunk) {
    this.bytes += chunk.length;
    if (!this.sink.write(chunk)) this.blocked = true;
  }

  /** Resolves once the file (or zlib) has taken what was written so far. */
  async drained() {
    if (this.blocked) await once(this.sink, 'drain');
    this.blocked = false;
  }

  async close() {
    this.flush();
    this.sink.end();
    await finished(this.file);
  }
}
