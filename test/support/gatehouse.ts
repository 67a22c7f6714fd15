/**
 * Boots a real Gatehouse (the same startGatehouse that `npm start` runs, on
 * the same composition root, src/core.ts) on a free loopback port against a fresh database of the kind GATEHOUSE_TEST_DB
 * names, with logs captured for assertions.
 */
import { Writable } from 'node:stream';

import type { NewAccount } from '../../src/accounts/schemas.js';
import { operator } from '../../src/audit/events.js';
import type { NewClient } from '../../src/clients/schemas.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { startGatehouse, type Gatehouse } from '../../src/server.js';
import { freshDatabase, integrationDbKind, type TestDbKind, type TestDatabase } from './databases.js';
import { freePort } from './ports.js';

export { freePort };

export interface TestGatehouse {
  issuer: string;
  app: Gatehouse;
  database: TestDatabase;
  /** Every JSON log line written so far. */
  logs: string[];
  /** Seeds as the operator would (`gatehouse users add`), audited as such. */
  createUser(overrides?: Partial<NewAccount>): Promise<{ id: string; username: string; password: string }>;
  createClient(input: NewClient): Promise<{ clientId: string; clientSecret: string | undefined }>;
  close(): Promise<void>;
}


let userCounter = 0;

/** `issuerHost: 'localhost'` for WebAuthn, which refuses an IP address as its RP ID (§5.1.3); `issuerPath` for an issuer with a path, e.g. `/tenant`. */
export async function startTestGatehouse(
  options: { env?: Record<string, string>; kind?: TestDbKind; database?: TestDatabase; issuerPath?: string; issuerHost?: string } = {},
): Promise<TestGatehouse> {
  const database = options.database ?? (await freshDatabase(options.kind ?? integrationDbKind()));
  const port = await freePort();
  const issuer = `http://${options.issuerHost ?? '127.0.0.1'}:${port}${options.issuerPath ?? ''}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    GATEHOUSE_HOST: '127.0.0.1',
    GATEHOUSE_PORT: String(port),
    GATEHOUSE_ISSUER: issuer,
    GATEHOUSE_DATA_DIR: database.dataDir,
    GATEHOUSE_LOG_LEVEL: 'info',
    // Functional suites drive whole flows at machine speed from one address: budgets high enough
    // never to bite, but on, so every flow still passes through the limiter. The protection
    // suites (test/integration/protection) set their own.
    GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=1000000/1m,client=1000000/1m',
    GATEHOUSE_RATE_LIMIT_AUTHORIZATION: 'ip=1000000/1m,client=1000000/1m',
    GATEHOUSE_RATE_LIMIT_INTROSPECTION: 'ip=1000000/1m,client=1000000/1m',
    GATEHOUSE_RATE_LIMIT_REGISTRATION: 'ip=1000000/1m,client=1000000/1m',
    GATEHOUSE_RATE_LIMIT_INTERACTION: 'ip=1000000/1m,client=off',
    GATEHOUSE_RATE_LIMIT_REGISTRATION_TOKEN: '1000000/1m',
    GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES: 'ip=1000000/1m,client=1000000/1m',
    GATEHOUSE_RATE_LIMIT_OTHER: 'ip=1000000/1m,client=off',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  const app = await startGatehouse(config, createLogger(config.logLevel, sink));

  return {
    issuer,
    app,
    database,
    logs,
    async createUser(overrides = {}) {
      userCounter += 1;
      const username = overrides.username ?? `user${userCounter}-${Math.random().toString(36).slice(2, 8)}`;
      const password = overrides.password ?? 'correct horse battery staple';
      const account = await app.services.accounts.create(operator, { email: `${username}@example.test`, emailVerified: true, name: `User ${username}`, ...overrides, username, password });
      return { id: account.id, username, password };
    },
    async createClient(input) {
      const { client, clientSecret } = await app.services.clients.create(operator, input);
      return { clientId: client.clientId, clientSecret };
    },
    async close() {
      await app.close();
      if (!options.database) await database.cleanup();
    },
  };
}
