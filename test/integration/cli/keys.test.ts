/** `gatehouse keys …` as an operator runs it: rotate, retire, revoke (with confirmation), rewrap. */
import { randomBytes } from 'node:crypto';

import { afterAll, describe, expect, it } from 'vitest';

import { cli, withServices } from '../../support/cli.js';
import { dumpDatabase } from '../../support/dump.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

describe('gatehouse keys', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => Promise.all(databases.map((d) => d.cleanup())));

  it('rotates, retires and revokes keys, and refuses a revoke without --yes', { timeout: 240_000 }, async () => {
    const db = await freshDatabase(integrationDbKind());
    databases.push(db);
    await withServices(db, (services) => services.keystore.ensureActiveKeys());

    const staged = await cli(db, ['keys', 'rotate', '--json']);
    expect(staged.code, staged.stderr).toBe(0);
    const stagedKey = JSON.parse(staged.stdout) as { kid: string; alg: string; activate_at: string };
    expect(stagedKey.alg).toBe('ES256');
    expect(new Date(stagedKey.activate_at).getTime() - Date.now()).toBeGreaterThan(23 * 3600 * 1000);

    const now = await cli(db, ['keys', 'rotate', '--alg', 'RS256', '--now']);
    expect(now.code, now.stderr).toBe(0);
    expect(now.stderr).toMatch(/signs now/);
    const rsKid = now.stdout.trim();

    const list = JSON.parse((await cli(db, ['keys', 'list', '--json'])).stdout) as Array<{ kid: string; state: string; alg: string }>;
    expect(list.find((k) => k.kid === stagedKey.kid)?.state).toBe('next');
    expect(list.find((k) => k.kid === rsKid)?.state).toBe('active');
    expect(list.filter((k) => k.alg === 'RS256' && k.state === 'retired')).toHaveLength(1);

    const activeEs = list.find((k) => k.alg === 'ES256' && k.state === 'active')!.kid;
    const retired = await cli(db, ['keys', 'retire', '--', activeEs]);
    expect(retired.code, retired.stderr).toBe(0);
    expect(retired.stderr).toContain(`key ${stagedKey.kid} signs in its place (the staged key was activated early)`);

    const refused = await cli(db, ['keys', 'revoke', '--', rsKid]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/stops verifying everywhere\. Run again with --yes/);
    const revoked = await cli(db, ['keys', 'revoke', '--yes', '--', rsKid]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = JSON.parse((await cli(db, ['keys', 'list', '--json'])).stdout) as Array<{ kid: string; state: string; alg: string }>;
    expect(after.find((k) => k.kid === rsKid)?.state).toBe('revoked');
    expect(after.filter((k) => k.alg === 'RS256' && k.state === 'active')).toHaveLength(1);

    const unknown = await cli(db, ['keys', 'retire', 'no-such-kid']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('gatehouse: no key no-such-kid\n');
    const badAlg = await cli(db, ['keys', 'rotate', '--alg', 'HS256']);
    expect(badAlg.code).not.toBe(0);
  });

  it('re-seals every secret under a new master secret, and the old secret alone then opens nothing', { timeout: 240_000 }, async () => {
    const db = await freshDatabase(integrationDbKind());
    databases.push(db);
    const oldKey = randomBytes(32).toString('base64url');
    const newKey = randomBytes(32).toString('base64url');
    const created = await cli(db, ['clients', 'add', '--type', 'service', '--name', 'svc', '--json'], { env: { GATEHOUSE_MASTER_KEY: oldKey } });
    expect(created.code, created.stderr).toBe(0);
    const { client_id: clientId, client_secret: secret } = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    expect((await cli(db, ['keys', 'rotate', '--now'], { env: { GATEHOUSE_MASTER_KEY: oldKey } })).code).toBe(0);

    const missingPrevious = await cli(db, ['keys', 'list'], { env: { GATEHOUSE_MASTER_KEY: newKey } });
    expect(missingPrevious.code).toBe(0); // listing reads no private key

    const rewrap = await cli(db, ['keys', 'rewrap'], { env: { GATEHOUSE_MASTER_KEY: newKey, GATEHOUSE_MASTER_KEY_PREVIOUS: oldKey } });
    expect(rewrap.code, rewrap.stderr).toBe(0);
    expect(rewrap.stdout).toMatch(/signing keys: [1-9]\d* re-sealed/);
    const again = await cli(db, ['keys', 'rewrap'], { env: { GATEHOUSE_MASTER_KEY: newKey } });
    expect(again.stdout).toMatch(/signing keys: 0 re-sealed/);

    await withServices(db, async (services, handle) => {
      const dump = await dumpDatabase(handle);
      expect(dump).not.toContain(secret);
      expect(await services.clients.metadataForProvider(clientId)).toMatchObject({ client_secret: secret });
      const keys = await services.keystore.load();
      expect(keys.jwks.keys.length).toBeGreaterThan(0);
    }, { GATEHOUSE_MASTER_KEY: newKey });
  });
});
