import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON lines on stdout. Anything that could hold a credential is
 * redacted by path, so a careless `log.info({ req })` still leaks nothing.
 * Not `*.code`: error objects carry codes worth reading (ECONNREFUSED, a
 * SQLSTATE); authorization codes are never logged in the first place, which
 * test/integration/protection/logging.test.ts checks by driving real flows
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

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream | undefined,
  );
}
