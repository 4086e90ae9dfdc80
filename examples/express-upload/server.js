// Starts the upload app on $PORT (default 3000) with the aggregates in ./analytics.sqlite.
//
//   node examples/express-upload/server.js
//   curl --data-binary @umami.sql.gz http://127.0.0.1:3000/imports
import knexFactory from 'knex';
import { createApp } from './app.js';

const knex = knexFactory({
  client: 'better-sqlite3',
  connection: { filename: './analytics.sqlite' },
  useNullAsDefault: true,
});

const app = createApp({
  knex,
  maxBytes: Number(process.env.MAX_UPLOAD_MB ?? 1024) * 1024 * 1024,
});

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

const server = app.listen(port, host, (err) => {
  if (err) throw err;
  const { address, port: bound } = server.address();
  console.log(`listening on http://${address}:${bound}`);
});

// Stop taking requests, let running ones finish, then close the database.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close(() => knex.destroy());
    server.closeIdleConnections();
  });
}
