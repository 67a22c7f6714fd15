import { createRequire } from 'node:module';

import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON lines on stdout. Anything that could hold a credential is
 * redacted by path, so a careless `log.info({ req })` still leaks nothing.
 * Not `*.code`: error objects carry codes worth reading (ECONNREFUSED, a
 * SQLSTATE); authorization codes are never logged in the first place, which
 * test/integration/logging/logging.test.ts checks by driving real flows
 * and searching the whole log for every credential they carried.
 */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  '*.headers.authorization',
  '*.headers.cookie',
  'authorization',
  'cookie',
  '*.password',
  '*.newPassword',
  '*.client_secret',
  '*.clientSecret',
  '*.client_assertion',
  '*.params.code',
  '*.body.code',
  '*.query.code',
  '*.authorization_code',
  '*.code_verifier',
  '*.refresh_token',
  '*.access_token',
  '*.id_token',
  '*.id_token_hint',
  '*.token',
  '*.secret',
  '*.totp',
  '*.otp',
  '*.recovery_code',
  '*.recoveryCode',
  '*.csrf',
  'password',
  'client_secret',
  'token',
  'secret',
];

/**
 * stdout written asynchronously: a synchronous write per request line was a
 * quarter of the token endpoint's CPU time under load (bench/RESULTS.md).
 * Lines are gathered until 4 KiB are waiting or 200 ms have passed, so a
 * busy node makes one write per dozen lines instead of one per line (a write
 * cost the token endpoint about 6 µs of its ~300 µs per request), and a quiet
 * one shows each line within 200 ms. Nothing is lost on exit: pino flushes
 * synchronously on `exit` (process.exit, a crash) and `beforeExit`; a SIGKILL
 * loses at most the last 200 ms.
 */
const stdoutDestination = () => pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 200 });

export type LogFormat = 'json' | 'pretty';

/**
 * Readable lines only for a person watching a development server in a
 * terminal; JSON wherever a program reads the output (production, tests,
 * a pipe or a file, a container's log driver), since that is what log
 * collectors parse and what the tests search.
 */
export function logFormatFor(env: string, stdoutIsTerminal: boolean | undefined): LogFormat {
  return env === 'development' && stdoutIsTerminal === true ? 'pretty' : 'json';
}

/**
 * pino-pretty as an in-process stream (not pino's worker transport): one
 * developer's terminal does not need a thread, and lines appear in order with
 * the synchronous writes start-up failures rely on. Loaded only when chosen,
 * so production never loads it.
 */
function prettyDestination(destination: NodeJS.WritableStream | undefined): pino.DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (options: object) => pino.DestinationStream;
  return pretty({
    colorize: destination === undefined,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    sync: true,
    ...(destination ? { destination } : {}),
  });
}

export function createLogger(level: string, destination?: NodeJS.WritableStream, format: LogFormat = 'json'): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    format === 'pretty' ? prettyDestination(destination) : ((destination as pino.DestinationStream | undefined) ?? stdoutDestination()),
  );
}

/**
 * The logger for the one line per request (src/observability/request-context.ts).
 * Its fields are fixed and typed (request id, method, path without query,
 * route, status, latency, client id, IP, rate-limit class) and none can hold a
 * credential, so the redaction pass, which costs ~30 µs a line against ~3 µs
 * for writing it (a tenth of the token endpoint's CPU at 3,000 requests/s),
 * protects nothing there and is skipped. Every other line keeps it.
 */
export function accessLogger(log: Logger): Logger {
  return log.child({}, { redact: { paths: [] } });
}
