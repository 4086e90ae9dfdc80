// One registry of error codes, each documented in the README.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ERROR_CODES, UmamiAggregateError, isUmamiAggregateError } from '../dist/lib/index.js';

t.test('every error code is documented in the README', async (t) => {
  const readme = fs.readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
  for (const code of Object.keys(ERROR_CODES)) t.match(readme, new RegExp(`\\| \`${code}\` \\|`), `${code} documented`);
  const documented = [...readme.matchAll(/^\| `(UA_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  t.same(documented.filter((c) => !(c in ERROR_CODES)), [], 'no documented code is missing from the registry');
});

t.test('errors carry code and context', async (t) => {
  const e = new UmamiAggregateError('UA_SYNTAX', 'x', { table: 't', offset: 5 });
  t.ok(isUmamiAggregateError(e));
  t.equal(e.code, 'UA_SYNTAX');
  t.same(e.context, { table: 't', offset: 5 });
  t.ok(e instanceof Error);
});
