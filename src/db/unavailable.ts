/**
 * Whether an error means "the database cannot be reached right now" rather
 * than "this query is wrong": the first is a 503 the client may retry
 * (RFC 9110 §15.6.4), the second a 500. One place knows the signs, for both
 * backends; the error boundary (src/http/errors.ts) asks it.
 */

/** Socket-level failures reaching the server (node's errno codes). */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * SQLSTATEs (PostgreSQL Appendix A): class 08 connection exception; 57P01
 * admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting
 * up or shutting down); 53300 too_many_connections.
 */
const unavailableStates = new Set(['57P01', '57P02', '57P03', '53300']);

/** What pg and PGlite say when the connection is gone; they carry no code. */
const unavailableMessages = [
  'Connection terminated', // pg: the server closed the socket mid-query
  'timeout exceeded when trying to connect', // pg Pool connectionTimeoutMillis
  'Client has encountered a connection error and is not queryable',
  'Cannot use a pool after calling end on the pool',
  'PGlite is closed',
];

function unavailableHere(error: { code?: unknown; message?: unknown; syscall?: unknown }): boolean {
  const code = typeof error.code === 'string' ? error.code : '';
  // A unix-socket connection to a stopped server finds no socket file; any other ENOENT is a real fault.
  if (code === 'ENOENT' && error.syscall === 'connect') return true;
  if (networkCodes.has(code) || unavailableStates.has(code) || (code.length === 5 && code.startsWith('08'))) return true;
  const message = typeof error.message === 'string' ? error.message : '';
  return unavailableMessages.some((m) => message.startsWith(m));
}

/** True when `error`, or an error it wraps (`cause`, AggregateError's `errors`), says the database is unreachable. */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 4) return false;
  const e = error as { code?: unknown; message?: unknown; syscall?: unknown; cause?: unknown; errors?: unknown };
  if (unavailableHere(e)) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}
