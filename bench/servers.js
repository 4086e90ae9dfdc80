// The local database servers, driven through their own command-line clients (as a user restoring
// a dump would): scratch databases, restoring a dump file (gzip or plain), running SQL, dumping.
//
// Connection: MariaDB at $MARIADB_HOST:$MARIADB_PORT as $MARIADB_USER (default 127.0.0.1:3306,
// root, no password); PostgreSQL at $PGHOST:$PGPORT as $PGUSER (default 127.0.0.1:5432, postgres).

import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';

const env = process.env;

/** Runs a command; stdin may be a file descriptor or another process's stdout. Resolves stdout. */
export function run(command, args, { stdin = 'ignore', quiet = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString();
      if (code !== 0) reject(new Error(`${command} exited with ${code}: ${stderr.trim().slice(0, 2000)}`));
      else {
        if (stderr.trim() && !quiet) process.stderr.write(stderr);
        resolve(Buffer.concat(out).toString());
      }
    });
  });
}

export function isGzip(file) {
  const fd = openSync(file, 'r');
  const magic = Buffer.alloc(2);
  readSync(fd, magic, 0, 2, 0);
  closeSync(fd);
  return magic[0] === 0x1f && magic[1] === 0x8b;
}

/** Feeds `file` to a client's stdin, through `gzip -dc` if it is gzip. */
async function pipeFile(file, command, args) {
  if (isGzip(file)) {
    return run('bash', ['-o', 'pipefail', '-c', 'gzip -dc "$1" | "${@:2}"', 'bash', file, command, ...args]);
  }
  const fd = openSync(file, 'r');
  try {
    return await run(command, args, { stdin: fd });
  } finally {
    closeSync(fd);
  }
}

const mariadbArgs = () => [
  '-h', env.MARIADB_HOST ?? '127.0.0.1', '-P', env.MARIADB_PORT ?? '3306', '-u', env.MARIADB_USER ?? 'root',
];
const pgArgs = () => [
  '-X', '-h', env.PGHOST ?? '127.0.0.1', '-p', env.PGPORT ?? '5432', '-U', env.PGUSER ?? 'postgres',
];

export const mariadb = {
  name: 'mariadb',
  format: 'mariadb',

  /** Runs SQL; returns rows as arrays of strings (tab-separated batch output). */
  async query(sql, database = '') {
    const out = await run('mariadb', [...mariadbArgs(), '-N', '-B', '-e', sql, ...(database ? [database] : [])]);
    return rows(out);
  },

  async createDatabase(name) {
    await this.query(`DROP DATABASE IF EXISTS \`${name}\`; CREATE DATABASE \`${name}\``);
  },

  async dropDatabase(name) {
    await this.query(`DROP DATABASE IF EXISTS \`${name}\``);
  },

  /** `mariadb DB < FILE` (or `gzip -dc FILE | mariadb DB`). */
  restore(file, database) {
    return pipeFile(file, 'mariadb', [...mariadbArgs(), database]);
  },

  dump(database) {
    return run('mariadb-dump', [...mariadbArgs(), database]);
  },

  async version() {
    return (await this.query('SELECT VERSION()'))[0][0];
  },
};

export const postgres = {
  name: 'pg',
  format: 'pgdump',

  async query(sql, database = 'postgres') {
    const out = await run('psql', [...pgArgs(), '-d', database, '-v', 'ON_ERROR_STOP=1', '-q', '-A', '-t',
      '-F', '\t', '-c', sql]);
    return rows(out);
  },

  async createDatabase(name) {
    await this.dropDatabase(name);
    await this.query(`CREATE DATABASE "${name}"`);
  },

  async dropDatabase(name) {
    await run('psql', [...pgArgs(), '-d', 'postgres', '-q', '-c', `DROP DATABASE IF EXISTS "${name}"`], { quiet: true });
  },

  /** `psql -q -f FILE` (or `gzip -dc FILE | psql -q -f -`), stopping at the first error. */
  restore(file, database) {
    const args = [...pgArgs(), '-d', database, '-v', 'ON_ERROR_STOP=1', '-q', '-f'];
    return isGzip(file) ? pipeFile(file, 'psql', [...args, '-']) : run('psql', [...args, file]);
  },

  dump(database) {
    return run('pg_dump', [...pgArgs().filter((a) => a !== '-X'), database]);
  },

  async version() {
    return (await this.query('SHOW server_version'))[0][0];
  },
};

export const TARGETS = { mariadb, pg: postgres };

function rows(output) {
  return output.split('\n').filter((line) => line !== '').map((line) => line.split('\t'));
}
