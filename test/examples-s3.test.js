// examples/s3-import: dumps stored in a real s3rver on loopback, imported into
// a fresh SQLite database through the AWS SDK.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import t from 'tap';
import S3rver from 's3rver';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { importFromS3 } from '../examples/s3-import/import-from-s3.js';
import { getImport } from '../dist/lib/index.js';
import { cliAggregates } from './helpers/cli.js';
import { freshDatabase } from './helpers/db.js';
import { diffAggregates, readAggregates, readJsonFile } from './helpers/expected.js';

const root = path.join(import.meta.dirname, '..');
const sample = path.join(root, 'test', 'fixtures', 'samples', 'umami-v2-mariadb.sql');
const expected = readJsonFile(path.join(root, 'test', 'fixtures', 'samples', 'umami-v2.expected.json'));

// One s3rver for the file, with a bucket `dumps` holding the sample plain and gzipped.
const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'ua-s3rver-'));
const s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: storage, configureBuckets: [{ name: 'dumps' }] });
const { port } = await s3rver.run();
const s3Client = new S3Client({
  endpoint: `http://127.0.0.1:${port}`,
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
});
t.teardown(async () => {
  s3Client.destroy();
  await s3rver.close();
  fs.rmSync(storage, { recursive: true, force: true });
});

const plain = fs.readFileSync(sample);
const gzipped = zlib.gzipSync(plain);
await s3Client.send(new PutObjectCommand({ Bucket: 'dumps', Key: 'umami/2024.sql', Body: plain }));
await s3Client.send(new PutObjectCommand({ Bucket: 'dumps', Key: 'umami/2024.sql.gz', Body: gzipped }));
await s3Client.send(new PutObjectCommand({ Bucket: 'dumps', Key: 'umami/cut.sql', Body: plain.subarray(0, 600_000) }));

const fromCli = await cliAggregates(t, sample);

t.test('the CLI import of the sample matches the expected aggregates', async (t) => {
  t.same(diffAggregates(expected, fromCli), []);
});

for (const [key, size, compression] of [
  ['umami/2024.sql', plain.length, 'none'],
  ['umami/2024.sql.gz', gzipped.length, 'gzip'],
]) {
  t.test(`s3://dumps/${key}`, async (t) => {
    const { knex } = await freshDatabase(t, 'sqlite', 's3');
    const summary = await importFromS3({ s3Client, bucket: 'dumps', key, knex });
    t.match(summary, { source: `s3://dumps/${key}`, compression, bytesRead: size, events: 3006, pageViews: 2613 });
    const actual = await readAggregates(knex);
    t.same(diffAggregates(expected, actual), [], 'tables equal the expected aggregates');
    t.same(actual, fromCli, 'tables equal the CLI import of the same dump');
    t.match(await getImport(knex, summary.importId), { status: 'completed', source: `s3://dumps/${key}`, bytesTotal: size, events: 3006 });
  });
}

t.test('a cut-off object fails with the import error; nothing is committed', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 's3cut');
  await t.rejects(importFromS3({ s3Client, bucket: 'dumps', key: 'umami/cut.sql', knex }), { code: 'UA_UNEXPECTED_END' });
  t.equal(Number((await knex('analytics_daily').count({ n: '*' }))[0].n), 0);
});

t.test('a missing object fails before anything is imported', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 's3missing');
  await t.rejects(importFromS3({ s3Client, bucket: 'dumps', key: 'umami/nope.sql', knex }), { name: 'NoSuchKey' });
  t.notOk(await knex.schema.hasTable('analytics_imports'), 'the database was not touched');
});

t.test('aborting the signal while the object streams in commits nothing', async (t) => {
  const { knex } = await freshDatabase(t, 'sqlite', 's3abort');
  const controller = new AbortController();
  // Abort as soon as the object's body starts to arrive.
  const client = {
    async send(command, options) {
      const response = await s3Client.send(command, options);
      setImmediate(() => controller.abort());
      return response;
    },
  };
  await t.rejects(importFromS3({ s3Client: client, bucket: 'dumps', key: 'umami/2024.sql', knex, signal: controller.signal }), { code: 'UA_ABORTED' });
  t.equal(Number((await knex('analytics_daily').count({ n: '*' }))[0].n), 0);
});
