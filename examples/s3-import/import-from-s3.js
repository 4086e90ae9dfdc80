// Imports a dump stored in S3 (or anything that speaks the S3 API) by
// streaming the object's body into the import: nothing is downloaded first.
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createImportPipeline } from 'umami-aggregate';

/**
 * @param {object} options
 * @param {import('@aws-sdk/client-s3').S3Client} options.s3Client
 * @param {string} options.bucket
 * @param {string} options.key        a dump, plain or gzipped (recognised from its bytes, not its name)
 * @param {import('knex').Knex} options.knex
 * @param {AbortSignal} [options.signal]  cancels both the download and the import
 * @param {object} [options.importOptions]  more createImportPipeline options (timezone, mode, …)
 * @returns the import's summary
 */
export async function importFromS3({ s3Client, bucket, key, knex, signal, importOptions = {} }) {
  const object = await s3Client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });

  let importer;
  try {
    importer = createImportPipeline({
      ...importOptions,
      knex,
      signal,
      source: `s3://${bucket}/${key}`,
      bytesTotal: object.ContentLength, // the stored size: progress can show a percentage
    });
  } catch (err) {
    object.Body.destroy(); // release the connection the body holds
    throw err;
  }

  // In Node.js the body is a Readable. pipeline() destroys it if the import fails,
  // and rejects with the import's UmamiAggregateError.
  await pipeline(object.Body, importer);
  return importer.summary;
}
