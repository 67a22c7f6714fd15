/**
 * The operator's side of registration, through the real `gatehouse` CLI in a
 * child process: policies, initial access tokens (shown once, listed without
 * their value, revoked), and `clients list|show|disable|remove` on a client a
 * real server registered with one of those tokens. One scenario, commands in
 * order: the embedded database serves one process at a time.
 */
import { afterAll, describe, expect, test } from 'vitest';

import { cli } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';
import { startTestGatehouse } from '../../support/gatehouse.js';
import { registerOk, unlimitedRegistration } from './helpers.js';

async function ok(database: TestDatabase, args: string[]): Promise<string> {
  const result = await cli(database, args);
  expect(result.code, `gatehouse ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

describe('registration from the operator CLI', () => {
  let database: TestDatabase | undefined;
  afterAll(() => database?.cleanup());

  test('policies, initial access tokens and the registered clients they let in', { timeout: 240_000 }, async () => {
    database = await freshDatabase(integrationDbKind());
    const db = database;

    const policy = JSON.parse(await ok(db, ['policies', 'set', 'partners', '--redirect-hosts', '*.partner.example', '--max-clients-per-token', '2', '--secret-lifetime', '90d', '--description', 'Partner apps', '--json'])) as Record<string, unknown>;
    expect(policy).toMatchObject({ name: 'partners', redirect_hosts: ['*.partner.example'], max_clients_per_token: 2, secret_lifetime_seconds: 90 * 86_400 });
    const badPolicy = await cli(db, ['policies', 'set', 'broken', '--grant-types', 'password']);
    expect(badPolicy.code).toBe(1);
    expect(badPolicy.stderr).toMatch(/--grant-types "password": /);

    const minted = await cli(db, ['iat', 'create', '--policy', 'partners', '--expires', '7d', '--uses', '3', '--description', 'ACME integration', '--json']);
    expect(minted.code).toBe(0);
    expect(minted.stderr).toMatch(/shown only this once/);
    const token = JSON.parse(minted.stdout) as { id: string; token: string; status: string; max_uses: number; expires_at: string };
    expect(token).toMatchObject({ status: 'active', max_uses: 3 });
    expect(new Date(token.expires_at).getTime() - Date.now()).toBeGreaterThan(7 * 86_400_000 - 120_000);

    expect((await cli(db, ['iat', 'create', '--policy', 'no-such-policy'])).stderr).toMatch(/no such policy: no-such-policy/);
    expect((await cli(db, ['iat', 'create', '--expires', 'soon'])).stderr).toMatch(/--expires/);
    expect((await cli(db, ['iat', 'create', '--uses', '0'])).stderr).toMatch(/--uses/);

    // A real server registers a client with the token, then stops (the embedded database serves one process).
    const gh = await startTestGatehouse({ database: db, env: unlimitedRegistration });
    let clientId: string;
    try {
      clientId = (await registerOk(gh, { client_name: 'ACME portal', redirect_uris: ['https://eu.partner.example/cb'] }, token.token)).client_id;
    } finally {
      await gh.close();
    }

    const listed = await ok(db, ['iat', 'list', '--json']);
    expect(listed).not.toContain(token.token);
    expect(JSON.parse(listed)).toEqual([expect.objectContaining({ id: token.id, uses: 1, max_uses: 3, policy: 'partners', description: 'ACME integration', status: 'active' })]);

    expect(await ok(db, ['clients', 'list'])).toMatch(new RegExp(`${clientId}\\s+ACME portal\\s+confidential\\s+enabled\\s+iat ${token.id}`));
    const shown = await ok(db, ['clients', 'show', clientId]);
    expect(shown).toMatch(new RegExp(`registered by:\\s+initial access token ${token.id} \\(ACME integration\\)`));
    expect(shown).toMatch(/policy:\s+partners/);
    expect(shown).toMatch(/registered at:\s+\d{4}-\d\d-\d\dT/);
    expect(shown).toMatch(/secret expires:\s+\d{4}-\d\d-\d\dT/);
    expect(JSON.parse(await ok(db, ['clients', 'show', clientId, '--json']))).toMatchObject({ source: 'registration', registered_by: token.id, registration_policy: 'partners' });

    expect(await ok(db, ['iat', 'revoke', token.id])).toMatch(/revoked/);
    expect(JSON.parse(await ok(db, ['iat', 'list', '--json']))[0]).toMatchObject({ status: 'revoked' });
    expect((await cli(db, ['iat', 'revoke', token.id])).stderr).toMatch(/already revoked/);
    expect((await cli(db, ['iat', 'revoke', 'ffffffffffffffff'])).stderr).toMatch(/no such initial access token/);

    const inUse = await cli(db, ['policies', 'remove', 'partners']);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/still used/);

    await ok(db, ['clients', 'disable', clientId]);
    expect(JSON.parse(await ok(db, ['clients', 'show', clientId, '--json']))).toMatchObject({ disabled: true });
    await ok(db, ['clients', 'remove', clientId]);
    // Only the console's built-in client (seeded by the server's start-up) is left.
    expect((JSON.parse(await ok(db, ['clients', 'list', '--json'])) as Array<{ client_id: string }>).map((c) => c.client_id)).toEqual(['gatehouse-console']);
  });
});
