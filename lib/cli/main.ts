#!/usr/bin/env node
/**
 * The command line: `umami-aggregate import <file|-> [options]`,
 * `umami-aggregate imports`, `umami-aggregate init`.
 * Exit 0 on success; on failure one line on stderr and a non-zero code.
 */
import { run } from './commands.js';

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Only reached for a bug: commands report their own errors.
    process.stderr.write(`umami-aggregate: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
