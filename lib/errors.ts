/**
 * The one registry of errors this library raises. Every error is an
 * {@link UmamiAggregateError} whose `code` is one of the keys below; codes are
 * stable across releases and each is documented in the README.
 */
export const ERROR_CODES = {
  UA_INVALID_OPTION: 'an option has a wrong type or value',
  UA_USAGE: 'the command line cannot be understood',
  UA_INPUT_UNREADABLE: 'the input file cannot be opened or read',
  UA_EMPTY_INPUT: 'the input holds no bytes',
  UA_NOT_SQL_DUMP: 'the input is neither an SQL dump nor JSON events',
  UA_UNSUPPORTED_COMPRESSION: 'the input is compressed with a format that is not decoded in the stream',
  UA_PG_CUSTOM_FORMAT: 'the input is a pg_dump custom-format archive',
  UA_CORRUPT_COMPRESSION: 'the compressed input cannot be decompressed',
  UA_UNEXPECTED_END: 'the input ends inside a statement, row or string',
  UA_SYNTAX: 'a byte that cannot appear at this point of a dump',
  UA_VALUE_TOO_LARGE: 'a single value is larger than maxValueBytes',
  UA_NO_UMAMI_TABLES: 'the dump holds no Umami event table',
  UA_TOO_MANY_REJECTED: 'more rows were rejected than maxRejected allows',
  UA_INVALID_JSON: 'JSON input that cannot be parsed',
  UA_ALREADY_IMPORTED: 'this input was already imported in merge mode',
  UA_RESUME_MISMATCH: 'the interrupted import of this input ran with other options (mode, time zone, top entries)',
  UA_ABORTED: 'the import was aborted',
  UA_TIMEOUT: 'the import took longer than the configured timeout',
  UA_DATABASE: 'the target database refused a statement',
  UA_UNSUPPORTED_DATABASE: 'the database URL names a database this library does not write to',
  UA_SPILL_FAILED: 'aggregates over the memory limit could not be written to or read from their temporary folder',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes that mean the input itself is bad (an HTTP endpoint answers these with 400). */
export const INPUT_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'UA_EMPTY_INPUT',
  'UA_NOT_SQL_DUMP',
  'UA_UNSUPPORTED_COMPRESSION',
  'UA_PG_CUSTOM_FORMAT',
  'UA_CORRUPT_COMPRESSION',
  'UA_UNEXPECTED_END',
  'UA_SYNTAX',
  'UA_VALUE_TOO_LARGE',
  'UA_NO_UMAMI_TABLES',
  'UA_TOO_MANY_REJECTED',
  'UA_INVALID_JSON',
]);

/** Where in the input an error was found. */
export interface ErrorContext {
  /** Table whose data was being read. */
  table?: string;
  /** Byte offset in the (decompressed) input. */
  offset?: number;
  /** 1-based line number, when known. */
  line?: number;
  /** Anything else worth knowing (option name, database error code, …). */
  [key: string]: unknown;
}

export class UmamiAggregateError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UmamiAggregateError';
    this.code = code;
    this.context = context;
  }
}

/** Also true for errors of another copy of this library (two versions installed side by side). */
export function isUmamiAggregateError(err: unknown): err is UmamiAggregateError {
  if (err instanceof UmamiAggregateError) return true;
  if (!(err instanceof Error) || err.name !== 'UmamiAggregateError') return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code in ERROR_CODES;
}

/** Formats the place of an error as ` in \`table\` at byte N`. */
export function where(context: ErrorContext): string {
  let s = '';
  if (context.table) s += ` in \`${context.table}\``;
  if (context.offset !== undefined) s += ` at byte ${context.offset}`;
  if (context.line !== undefined) s += ` (line ${context.line})`;
  return s;
}

export function invalidOption(name: string, expected: string, got: unknown): UmamiAggregateError {
  let shown: string;
  try {
    shown = typeof got === 'string' ? JSON.stringify(got) : String(got);
  } catch {
    shown = typeof got;
  }
  return new UmamiAggregateError('UA_INVALID_OPTION', `option ${name} must be ${expected}, got ${shown}`, { option: name });
}

/** A file that cannot be opened or read (its system error code, or message). */
export function inputUnreadable(file: string, err: unknown): UmamiAggregateError {
  return new UmamiAggregateError('UA_INPUT_UNREADABLE', `cannot read ${file}: ${(err as { code?: string }).code ?? (err as Error).message}`);
}
