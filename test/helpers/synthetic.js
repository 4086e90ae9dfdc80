// Small synthetic Umami v2 dumps in mariadb-dump's format, for tests that
// need shapes the real fixtures do not have (thousands of visitors per bucket).
import crypto from 'node:crypto';

function uuid(rnd) {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Math.floor(rnd() * 256);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function random(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const COLUMNS = ['event_id', 'website_id', 'session_id', 'created_at', 'url_path', 'referrer_domain', 'event_type', 'hostname'];

/**
 * A dump of `sessions` visitors of one site, each with `views` page views at
 * random times within `days` days from 2024-03-01, pages Zipf-like.
 */
export function syntheticDump({ sessions, views = 2, days = 20, seed = 1, site = '5e1f2d3c-0000-4000-a000-000000000001' }) {
  const rnd = random(seed);
  const lines = [
    "/*!40103 SET TIME_ZONE='+00:00' */;",
    `CREATE TABLE \`website\` (\`website_id\` varchar(36) NOT NULL, \`name\` varchar(100) NOT NULL, \`domain\` varchar(500) DEFAULT NULL);`,
    `INSERT INTO \`website\` VALUES ('${site}','Big','big.example');`,
    `CREATE TABLE \`website_event\` (${COLUMNS.map((c) => `\`${c}\` varchar(500)`).join(', ')});`,
  ];
  const start = Date.UTC(2024, 2, 1);
  const rows = [];
  for (let s = 0; s < sessions; s++) {
    const session = uuid(rnd);
    for (let v = 0; v < views; v++) {
      const t = new Date(start + Math.floor(rnd() * days * 86400) * 1000).toISOString().slice(0, 19).replace('T', ' ');
      const page = `/p/${Math.floor(1 / (rnd() + 0.002))}`;
      const ref = rnd() < 0.3 ? "'news.example'" : 'NULL';
      rows.push(`('${uuid(rnd)}','${site}','${session}','${t}','${page}',${ref},'1','big.example')`);
    }
  }
  for (let i = 0; i < rows.length; i += 2000) lines.push(`INSERT INTO \`website_event\` VALUES ${rows.slice(i, i + 2000).join(',')};`);
  return Buffer.from(lines.join('\n') + '\n');
}

export function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}
