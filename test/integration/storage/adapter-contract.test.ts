/**
 * The storage adapter contract oidc-provider relies on, checked against both
 * database implementations in every run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createArtifactStore } from '../../../src/artifacts/store.js';
import { removeExpiredArtifacts } from '../../../src/artifacts/cleanup.js';
import type { ClientService } from '../../../src/clients/clients.js';
import type { RegistrationService } from '../../../src/registration/registrations.js';
import { advisoryLocks, openDb, type Db } from '../../../src/db/index.js';
import { migrate } from '../../../src/db/migrate.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createAdapterFactory } from '../../../src/oidc/adapter.js';
import { freshDatabase, type TestDatabase } from '../../support/databases.js';

const noClients = { metadataForProvider: async () => undefined, remove: async () => undefined } as unknown as ClientService;
// The artifact models under test never reach the client or initial-access-token adapters.
const noRegistrations = {} as unknown as RegistrationService;

describe.each(['embedded', 'postgres'] as const)('adapter contract on %s', (kind) => {
  let database: TestDatabase;
  let db: Db;
  let adapterFor: ReturnType<typeof createAdapterFactory>;

  beforeAll(async () => {
    database = await freshDatabase(kind);
    db = await openDb({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, dbPoolMax: 5 }, createLogger('silent'));
    await migrate(db);
    adapterFor = createAdapterFactory({ artifacts: createArtifactStore(db), clients: noClients, registrations: noRegistrations });
  });
  afterAll(async () => {
    await db?.close();
    await database?.cleanup();
  });

  it('upserts, finds and overwrites by id, returning the id as jti', async () => {
    const adapter = adapterFor('AccessToken');
    await adapter.upsert('at-1', { jti: 'at-1', kind: 'AccessToken', clientId: 'c', grantId: 'g1', exp: 1 }, 60);
    expect(await adapter.find('at-1')).toMatchObject({ jti: 'at-1', clientId: 'c', grantId: 'g1' });
    await adapter.upsert('at-1', { jti: 'at-1', kind: 'AccessToken', clientId: 'c2', grantId: 'g1' }, 60);
    expect(await adapter.find('at-1')).toMatchObject({ clientId: 'c2' });
    expect(await adapter.find('at-unknown')).toBeUndefined();
  });

  it('looks one identifier up under several models in one query, and each caller gets its own model\'s row', async () => {
    const queries: string[] = [];
    const counting: Db = { ...db, query: (sql, params) => (queries.push(sql), db.query(sql, params)) };
    const store = createArtifactStore(counting);
    await store.upsert('AccessToken', 'presented-token', { kind: 'AccessToken', accountId: 'a1' }, 60);
    await store.upsert('RefreshToken', 'other-token', { kind: 'RefreshToken' }, 60);
    queries.length = 0;
    // As introspection does: the same value as every kind of token it could be, at once.
    const [access, credentials, refresh, again] = await Promise.all([
      store.find('AccessToken', 'presented-token'),
      store.find('ClientCredentials', 'presented-token'),
      store.find('RefreshToken', 'presented-token'),
      store.find('AccessToken', 'presented-token'),
    ]);
    expect(queries).toHaveLength(1);
    expect(access).toMatchObject({ kind: 'AccessToken', accountId: 'a1', jti: 'presented-token' });
    expect(again).toEqual(access);
    expect(credentials).toBeUndefined();
    expect(refresh).toBeUndefined();
    // Different identifiers are different lookups.
    queries.length = 0;
    const [one, other] = await Promise.all([store.find('RefreshToken', 'presented-token'), store.find('RefreshToken', 'other-token')]);
    expect(queries).toHaveLength(2);
    expect(one).toBeUndefined();
    expect(other).toMatchObject({ kind: 'RefreshToken', jti: 'other-token' });
    // A failed query fails every caller that shared it.
    const failing = createArtifactStore({ ...db, query: async () => Promise.reject(new Error('connection lost')) });
    const results = await Promise.allSettled([failing.find('AccessToken', 'x'), failing.find('RefreshToken', 'x')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('keeps models apart: the same id under two models is two rows', async () => {
    await adapterFor('Session').upsert('same', { uid: 'u-same', accountId: 'a' }, 60);
    await adapterFor('Interaction').upsert('same', { returnTo: '/x' }, 60);
    expect(await adapterFor('Session').find('same')).toMatchObject({ accountId: 'a' });
    expect(await adapterFor('Interaction').find('same')).toMatchObject({ returnTo: '/x' });
  });

  it('stores the identifier only as a hash: no row holds it, nor the jti', async () => {
    const secretId = 'raw-token-value-7f3a9c2e5b1d';
    await adapterFor('RefreshToken').upsert(secretId, { jti: secretId, grantId: 'g-hash', accountId: 'acc' }, 60);
    const { rows } = await db.query<{ dump: string }>("SELECT (t.*)::text AS dump FROM oidc_models t WHERE model = 'RefreshToken'");
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.dump).not.toContain(secretId);
    expect(await adapterFor('RefreshToken').find(secretId)).toMatchObject({ jti: secretId, accountId: 'acc' });
  });

  it('honours expiry: an expired row is not found, and cleanup deletes it', async () => {
    const adapter = adapterFor('AuthorizationCode');
    await adapter.upsert('short', { grantId: 'g-exp' }, 1);
    await adapter.upsert('long', { grantId: 'g-exp' }, 3600);
    expect(await adapter.find('short')).toBeDefined();
    await new Promise((r) => setTimeout(r, 1200));
    expect(await adapter.find('short')).toBeUndefined();
    expect(await adapter.find('long')).toBeDefined();
    expect(await removeExpiredArtifacts(db, createArtifactStore(db))).toBeGreaterThanOrEqual(1);
    const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM oidc_models WHERE model = 'AuthorizationCode' AND expires_at < now()");
    expect(rows[0]!.n).toBe(0);
    expect(await adapter.find('long')).toBeDefined();
  });

  it('keeps rows without expiry until destroyed', async () => {
    const adapter = adapterFor('Grant');
    await adapter.upsert('forever', { accountId: 'a' }, Number.NaN);
    expect(await adapter.find('forever')).toBeDefined();
    await adapter.destroy('forever');
    expect(await adapter.find('forever')).toBeUndefined();
  });

  it('consumes once: the row stays with `consumed` set, a second consume revokes the grant and throws invalid_grant', async () => {
    const codes = adapterFor('AuthorizationCode');
    const tokens = adapterFor('AccessToken');
    await adapterFor('Grant').upsert('g-consume', { accountId: 'a' }, 60);
    await codes.upsert('code-1', { grantId: 'g-consume' }, 60);
    await tokens.upsert('at-from-code', { grantId: 'g-consume' }, 60);
    await codes.consume('code-1');
    const consumed = await codes.find('code-1');
    expect(typeof consumed?.consumed).toBe('number');
    await expect(codes.consume('code-1')).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await tokens.find('at-from-code')).toBeUndefined();
    expect(await adapterFor('Grant').find('g-consume')).toBeUndefined();
  });

  it('consumes atomically: of twenty parallel consumes exactly one wins', async () => {
    const codes = adapterFor('AuthorizationCode');
    await codes.upsert('code-race', { grantId: 'g-race' }, 60);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume('code-race')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('finds sessions by uid and device codes by user code, both stored hashed', async () => {
    await adapterFor('Session').upsert('sess-id', { uid: 'uid-123', accountId: 'acc-1' }, 60);
    expect(await adapterFor('Session').findByUid('uid-123')).toMatchObject({ accountId: 'acc-1' });
    expect(await adapterFor('Session').findByUid('uid-nope')).toBeUndefined();
    await adapterFor('DeviceCode').upsert('dc-1', { userCode: 'ABCD-EFGH', grantId: 'g-dc' }, 60);
    expect(await adapterFor('DeviceCode').findByUserCode('ABCD-EFGH')).toMatchObject({ grantId: 'g-dc' });
    const { rows } = await db.query<{ dump: string }>('SELECT (t.*)::text AS dump FROM oidc_models t');
    for (const row of rows) {
      expect(row.dump).not.toContain('sess-id');
      expect(row.dump).not.toContain('dc-1');
    }
  });

  it('revokeByGrantId removes only that model\'s rows of that grant', async () => {
    const at = adapterFor('AccessToken');
    const rt = adapterFor('RefreshToken');
    await at.upsert('at-g', { grantId: 'g-rev' }, 60);
    await at.upsert('at-other', { grantId: 'g-keep' }, 60);
    await rt.upsert('rt-g', { grantId: 'g-rev' }, 60);
    await at.revokeByGrantId('g-rev');
    expect(await at.find('at-g')).toBeUndefined();
    expect(await at.find('at-other')).toBeDefined();
    expect(await rt.find('rt-g')).toBeDefined();
    await rt.revokeByGrantId('g-rev');
    expect(await rt.find('rt-g')).toBeUndefined();
  });

  it('runs one cleanup at a time: a second concurrent pass skips', async () => {
    const store = createArtifactStore(db);
    // Another node holds the cleanup lock: this pass skips instead of waiting.
    const held = await db.withAdvisoryLock(advisoryLocks.expiredRowCleanup, () => removeExpiredArtifacts(db, store));
    expect(held).toEqual({ acquired: true, value: undefined });
    expect(typeof (await removeExpiredArtifacts(db, store))).toBe('number');
  });
});

describe('embedded database lock', () => {
  it('refuses a second opener of the same data directory while the first holds it, and frees it on close', async () => {
    const database = await freshDatabase('embedded');
    const log = createLogger('silent');
    const first = await openDb({ databaseUrl: undefined, dataDir: database.dataDir, dbPoolMax: 2 }, log);
    try {
      await expect(openDb({ databaseUrl: undefined, dataDir: database.dataDir, dbPoolMax: 2 }, log)).rejects.toThrow(/is in use by process \d+; stop it first/);
    } finally {
      await first.close();
    }
    const second = await openDb({ databaseUrl: undefined, dataDir: database.dataDir, dbPoolMax: 2 }, log);
    expect(await second.ping()).toBe(true);
    await second.close();
    await database.cleanup();
  });
});
