#!/usr/bin/env node
// The byte-scan floor: how fast plain Node can read a dump and walk its bytes with a minimal
// state machine (quotes and backslash escapes for mariadb-dump; tabs, newlines and escapes for
// pg_dump COPY), counting rows and building no strings. A parser cannot beat this by much.
//
//   node bench/scan-floor.js FILE [--decode] [--gzip-floor] [--format mariadb|pgdump]
//
// --decode      also turn every field into a JS string (the second reference figure)
// --gzip-floor  for a gzip file, also time `gzip -dc FILE > /dev/null` and Node's zlib alone
// The format is detected from the first bytes unless given. Gzip input (1f 8b) is decompressed
// with zlib. Prints JSON: {file, format, gzip, decode, bytes, fileBytes, rows, fields?, ms, mbPerSec}.
// `bytes` and `mbPerSec` count uncompressed bytes; rows are data rows of every table.

import { spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { MariaDbCounter, MariaDbDecoder } from './scan/mariadb.js';
import { PgCopyCounter, PgCopyDecoder } from './scan/pgcopy.js';

const SCANNERS = {
  mariadb: { count: MariaDbCounter, decode: MariaDbDecoder },
  pgdump: { count: PgCopyCounter, decode: PgCopyDecoder },
};

const HIGH_WATER_MARK = 1 << 20;

function head(file, length) {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(length);
  const got = readSync(fd, buf, 0, length, 0);
  closeSync(fd);
  return buf.subarray(0, got);
}

function detectFormat(text) {
  if (/^--\n-- PostgreSQL database dump/.test(text)) return 'pgdump';
  if (/^(\/\*M?!999999|-- (MySQL|MariaDB) dump)/.test(text)) return 'mariadb';
  throw new Error('cannot tell the dump format from its first bytes; pass --format');
}

function input(file, gzip) {
  const stream = createReadStream(file, { highWaterMark: HIGH_WATER_MARK });
  return gzip ? stream.pipe(createGunzip({ chunkSize: HIGH_WATER_MARK })) : stream;
}

async function firstBytes(file, gzip) {
  if (!gzip) return head(file, 64).toString('latin1');
  for await (const chunk of input(file, true)) return chunk.subarray(0, 64).toString('latin1');
  return '';
}

async function scan(file, { decode, format, gzip }) {
  const scanner = new SCANNERS[format][decode ? 'decode' : 'count']();
  let bytes = 0;
  const started = performance.now();
  for await (const chunk of input(file, gzip)) {
    bytes += chunk.length;
    scanner.push(chunk);
  }
  scanner.end();
  const ms = performance.now() - started;
  return {
    bytes,
    rows: scanner.rows,
    fields: scanner.fields,
    ...(decode ? { nulls: scanner.nulls, chars: scanner.chars } : {}),
    ms: Math.round(ms),
    mbPerSec: +(bytes / 1e6 / (ms / 1000)).toFixed(1),
  };
}

/** Wall time of reading and gunzipping with Node's zlib alone, no scanning. */
async function zlibFloor(file) {
  const started = performance.now();
  for await (const chunk of input(file, true)) chunk.length;
  return Math.round(performance.now() - started);
}

/** Wall time of `gzip -dc FILE > /dev/null`. */
function gzipFloor(file) {
  return new Promise((resolve, reject) => {
    const devNull = openSync('/dev/null', 'w');
    const started = performance.now();
    const child = spawn('gzip', ['-dc', file], { stdio: ['ignore', devNull, 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => {
      closeSync(devNull);
      if (code !== 0) reject(new Error(`gzip -dc exited with ${code}`));
      else resolve(Math.round(performance.now() - started));
    });
  });
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    decode: { type: 'boolean', default: false },
    'gzip-floor': { type: 'boolean', default: false },
    format: { type: 'string' },
  },
});
if (positionals.length !== 1) {
  console.error('usage: node bench/scan-floor.js FILE [--decode] [--gzip-floor] [--format mariadb|pgdump]');
  process.exit(2);
}
const file = positionals[0];
const magic = head(file, 2);
const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
const format = values.format ?? detectFormat(await firstBytes(file, gzip));
if (!(format in SCANNERS)) throw new Error(`unknown format ${format}`);

const result = { file, format, gzip, decode: values.decode, fileBytes: statSync(file).size };
Object.assign(result, await scan(file, { decode: values.decode, format, gzip }));
if (values['gzip-floor'] && gzip) {
  result.gzipFloorMs = await gzipFloor(file);
  result.gzipFloorMbPerSec = +(result.bytes / 1e6 / (result.gzipFloorMs / 1000)).toFixed(1);
  result.zlibFloorMs = await zlibFloor(file);
  result.zlibFloorMbPerSec = +(result.bytes / 1e6 / (result.zlibFloorMs / 1000)).toFixed(1);
}
console.log(JSON.stringify(result));
