// The checklist of ../shared/reference/dump-formats.md, case by case, on
// hand-written fragments (the real-tool output is in variants.test.js).
import t from 'tap';
import { DumpScanner } from '../dist/lib/index.js';

function rows(text, options) {
  const s = new DumpScanner(options);
  const out = [];
  for (const b of [...s.write(Buffer.from(text)), ...s.end()]) for (const r of b.rows) out.push([b.table, ...r]);
  return out;
}

const MY = "/*!40101 SET NAMES utf8mb4 */;\n";
const PG = "-- PostgreSQL database dump\nSET standard_conforming_strings = on;\n";

t.test('mysqldump statement shapes', async (t) => {
  t.same(rows(MY + "INSERT DELAYED IGNORE INTO `t` VALUES (1);\nREPLACE INTO `t` VALUES (2);\nINSERT IGNORE INTO `t` VALUES (3);\n"), [['t', '1'], ['t', '2'], ['t', '3']]);
  t.same(rows(MY + 'INSERT INTO `we``ird` VALUES (1);\n'), [['we`ird', '1']], 'doubled backtick in an identifier');
  t.same(rows(MY + 'INSERT INTO t VALUES (1);\n'), [['t', '1']], '--skip-quote-names');
  t.same(rows(MY + 'INSERT INTO "t" ("a") VALUES (1);\n'), [['t', '1']], '--compatible=ansi');
  t.same(rows(MY + 'USE `db1`;\nINSERT INTO `t` VALUES (1);\nUSE `db2`;\nINSERT INTO `t` VALUES (2);\n').length, 2, 'several databases');
  t.same(rows(MY + "SET @OLD_AUTOCOMMIT=@@AUTOCOMMIT, @@AUTOCOMMIT=0;\nLOCK TABLES `t` WRITE;\n/*!40000 ALTER TABLE `t` DISABLE KEYS */;\nINSERT INTO `t` VALUES (1);\n/*!40000 ALTER TABLE `t` ENABLE KEYS */;\nUNLOCK TABLES;\nCOMMIT;\n"), [['t', '1']]);
  t.same(rows(MY + 'CREATE TABLE `empty` (`a` int);\nLOCK TABLES `empty` WRITE;\nUNLOCK TABLES;\n'), [], 'an empty table has no INSERT');
  t.same(rows(MY + "# a comment\nINSERT INTO `t` VALUES (1) /* trailing */;\n-- done\n").length, 1, 'comments');
  t.same(rows(MY + "INSERT INTO `t` VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a);\nINSERT INTO `t` VALUES (2);\n"), [['t', '1'], ['t', '2']], 'an upsert tail is skipped');
});

t.test('mysqldump values', async (t) => {
  const [r] = rows(MY + "INSERT INTO `t` VALUES (-12,3.50,1e-7,NULL,'NULL',_binary 'b\\0c',0x4F4B,b'0101',x'4142',_utf8mb4'ü',NULL);\n");
  t.same(r, ['t', '-12', '3.50', '1e-7', null, 'NULL', 'b\0c', 'OK', '5', 'AB', 'ü', null]);
  t.same(rows(MY + "INSERT INTO `t` VALUES ('0000-00-00 00:00:00','2024-01-02 03:04:05.123456');\n")[0].slice(1), ['0000-00-00 00:00:00', '2024-01-02 03:04:05.123456'], 'dates verbatim');
});

t.test('triggers and routines between DELIMITER ;; lines', async (t) => {
  const text = MY + "DELIMITER ;;\n/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON `t` FOR EACH ROW BEGIN\n  INSERT INTO `log` VALUES ('x;y'); SET @a = 1;\nEND */;;\nCREATE PROCEDURE p() BEGIN SELECT ';'; END ;;\nDELIMITER ;\nINSERT INTO `t` VALUES (1);\n";
  t.same(rows(text), [['t', '1']], 'bodies are not read as data; the next INSERT is');
});

t.test('pg_dump: comments, dollar quotes, meta-commands, identifiers', async (t) => {
  const text = PG + "\\restrict abc123\n/* outer /* nested */ still comment */\nCREATE FUNCTION f() RETURNS void AS $_$ BEGIN INSERT INTO x VALUES ('a;b'); COPY x FROM stdin; END $_$ LANGUAGE plpgsql;\nCREATE FUNCTION g() RETURNS text AS $$ select ';' $$ LANGUAGE sql;\n\\connect other\nCOPY public.\"user\" (\"we\"\"ird\", b) FROM stdin;\n1\tx\n\\.\n\\unrestrict abc123\n";
  const r = rows(text);
  t.same(r, [['user', '1', 'x']]);
});

t.test('pg_dump --inserts: E strings, standard_conforming_strings off, raw newlines', async (t) => {
  t.same(rows(PG + "INSERT INTO public.t VALUES (E'\\x41\\101\\u00e9\\n', 'a\\b');\n")[0].slice(1), ['AAé\n', 'a\\b']);
  t.same(rows("SET standard_conforming_strings = off;\nINSERT INTO public.t VALUES ('a\\\\b', 'it''s');\n")[0].slice(1), ['a\\b', "it's"]);
  t.same(rows(PG + "INSERT INTO public.t VALUES\n\t('line1\nline2\tend', NULL),\n\t('x', 'y');\n").map((r) => r.slice(1)), [['line1\nline2\tend', null], ['x', 'y']]);
});

t.test('COPY text format', async (t) => {
  const r = rows(PG + 'COPY public.t (a) FROM stdin;\n\\\\N\n\\N\n\\101\\x41\\b\\f\\v\\z\nCRLF\r\n\\.\r\n');
  t.same(r.map((x) => x[1]), ['\\N', null, 'AA\b\f\vz', 'CRLF']);
});

t.test('timestamptz offsets are kept as text for the parser', async (t) => {
  const r = rows(PG + 'COPY public.t (a) FROM stdin;\n2024-01-08 21:43:19-05\n2024-01-09 08:13:19.853794+05:30\n1900-01-01 05:53:28+05:53:28\ninfinity\n\\.\n');
  t.same(r.map((x) => x[1]), ['2024-01-08 21:43:19-05', '2024-01-09 08:13:19.853794+05:30', '1900-01-01 05:53:28+05:53:28', 'infinity']);
});
