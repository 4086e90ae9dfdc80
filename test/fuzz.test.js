// Damaged dumps (cut off, flipped bytes, inserted quotes) never crash, hang
// or throw anything but a typed error.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Aggregator, DumpScanner, EventParser, isUmamiAggregateError } from '../dist/lib/index.js';
import { random } from './helpers/synthetic.js';

const samples = path.join(import.meta.dirname, 'fixtures', 'samples');


/** The whole import core on a buffer, in chunks; returns events or throws. */
function importCore(buf, chunk) {
  const parser = new EventParser({ maxRejected: 1e9 });
  const scanner = new DumpScanner({ select: parser.select, maxValueBytes: 1 << 20 });
  const agg = new Aggregator();
  const take = (batches) => {
    for (const b of batches) {
      const out = [];
      parser.parse(b, out);
      for (const o of out) if (o.kind === 'events') agg.add(o.events);
    }
  };
  for (let i = 0; i < buf.length; i += chunk) take(scanner.write(buf.subarray(i, i + chunk)));
  take(scanner.end());
  parser.finish();
  agg.flush(true);
  return parser.events;
}

function excerpt(file) {
  return fs.readFileSync(path.join(samples, file));
}

const FILES = ['umami-v2-mariadb.sql', 'umami-v2-postgres.sql', 'umami-v3-postgres-inserts.sql', 'umami-v1-mariadb.sql'];

t.test('the undamaged dumps import cleanly', async (t) => {
  for (const f of FILES) t.ok(importCore(excerpt(f), 4096) > 0, f);
});

t.test('random damage: only typed errors, no crash, no hang', async (t) => {
  const rnd = random(20261128);
  const counts = { ok: 0, typed: 0 };
  const codes = new Set();
  for (let k = 0; k < 600; k++) {
    const file = FILES[k % FILES.length];
    const src = excerpt(file);
    let buf = Buffer.from(src);
    const kind = k % 3;
    if (kind === 0) {
      buf = buf.subarray(0, Math.floor(rnd() * buf.length));
    } else if (kind === 1) {
      for (let f = 0; f < 1 + Math.floor(rnd() * 20); f++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
    } else {
      const bytes = ["'", '"', '\\', '`', '(', ')', ';', '\t', '\n', '$$', '/*', '--', '\\.'];
      for (let f = 0; f < 1 + Math.floor(rnd() * 10); f++) {
        const at = Math.floor(rnd() * buf.length);
        buf = Buffer.concat([buf.subarray(0, at), Buffer.from(bytes[Math.floor(rnd() * bytes.length)]), buf.subarray(at)]);
      }
    }
    const chunk = 1 + Math.floor(rnd() * 5000);
    const started = Date.now();
    try {
      importCore(buf, chunk);
      counts.ok++;
    } catch (err) {
      if (!isUmamiAggregateError(err)) {
        t.fail(`case ${k} (${file}, damage ${kind}, chunk ${chunk}) threw an untyped error: ${err?.stack ?? err}`);
        continue;
      }
      counts.typed++;
      codes.add(err.code);
    }
    if (Date.now() - started > 5000) t.fail(`case ${k} took ${Date.now() - started} ms`);
  }
  t.pass(`600 damaged inputs: ${counts.ok} imported, ${counts.typed} typed errors (${[...codes].sort().join(', ')})`);
  t.ok(counts.typed > 50, 'damage is detected often');
});
