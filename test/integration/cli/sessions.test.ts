/**
 * `gatehouse sessions …` and `clients add --backchannel-logout-uri` as an
 * operator runs them. The sessions are the library's own rows, as the
 * adapter stores them after a sign-in (src/oidc/adapter.ts).
 */
import { randomBytes } from 'node:crypto';

import type { Db } from '../../../src/db/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { cli, withServices } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

const id = () => randomBytes(16).toString('base64url');

/** A passkey row as registration stores it (the key itself is not needed to list, rename or remove it). */
async function seedPasskey(db: Pick<Db, 'query'>, accountId: string, name: string): Promise<string> {
  const id = `pk-${name}-${accountId.slice(0, 8)}`;
  await db.query(
    `INSERT INTO passkeys (id, account_id, credential_id, public_key, counter, transports, device_type, backed_up, aaguid, attestation, name)
     VALUES ($1, $2, $3, $4, 0, '["internal"]', 'multiDevice', true, '00000000-0000-0000-0000-000000000000', 'none', $5)`,
    [id, accountId, Buffer.from(id).toString('base64url'), Buffer.from('public key'), name],
  );
  return id;
}

describe('gatehouse sessions', () => {
  let db: TestDatabase;
  let clientId: string;
  let accountId: string;

  /** One signed-in session with its grant, as the library saves them. */
  const seed = () =>
    withServices(db, async (services) => {
      const grantId = id();
      const uid = id();
      await services.artifacts.upsert('Grant', grantId, { accountId, clientId, openid: { scope: 'openid' }, iat: Math.floor(Date.now() / 1000), kind: 'Grant' }, 3600);
      await services.artifacts.upsert('Session', id(), { uid, accountId, loginTs: Math.floor(Date.now() / 1000), amr: ['pwd'], authorizations: { [clientId]: { sid: id(), grantId } }, kind: 'Session' }, 3600);
      return { uid, grantId };
    });

  beforeAll(async () => {
    db = await freshDatabase(integrationDbKind());
    const added = await cli(db, ['clients', 'add', '--type', 'confidential', '--name', 'RP', '--redirect-uri', 'https://rp.example.test/cb', '--backchannel-logout-uri', 'https://rp.example.test/logout', '--backchannel-logout-session-required', '--json']);
    expect(added.code, added.stderr).toBe(0);
    clientId = (JSON.parse(added.stdout) as { client_id: string }).client_id;
    accountId = await withServices(db, async (services) => (await services.accounts.create(operator, { username: 'alice', password: 'correct horse battery staple' })).id);
  }, 120_000);
  afterAll(() => db?.cleanup());

  it('refuses a back-channel logout URI that is not https, and one on a service client', async () => {
    const plain = await cli(db, ['clients', 'add', '--type', 'confidential', '--name', 'X', '--redirect-uri', 'https://x.example.test/cb', '--backchannel-logout-uri', 'http://x.example.test/logout']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/--backchannel-logout-uri/);
    const service = await cli(db, ['clients', 'add', '--type', 'service', '--name', 'S', '--backchannel-logout-uri', 'https://x.example.test/logout']);
    expect(service.code).not.toBe(0);
    expect(service.stderr).toMatch(/no user sessions/);
  });

  it('lists sessions and grants, ends one session with its grant', { timeout: 120_000 }, async () => {
    const { uid, grantId } = await seed();
    const sessions = JSON.parse((await cli(db, ['sessions', 'list', 'alice', '--json'])).stdout) as Array<{ id: string; clients: string[]; amr: string[] }>;
    expect(sessions).toEqual([expect.objectContaining({ id: uid, clients: [clientId], amr: ['pwd'] })]);
    const grants = JSON.parse((await cli(db, ['sessions', 'list', 'alice', '--grants', '--json'])).stdout) as Array<{ id: string; client_id: string }>;
    expect(grants).toEqual([expect.objectContaining({ id: grantId, client_id: clientId })]);
    const table = await cli(db, ['sessions', 'list', 'alice']);
    expect(table.stdout).toMatch(new RegExp(`^SESSION.*\\n${uid}`, 'm'));

    expect((await cli(db, ['sessions', 'revoke', 'alice'])).stderr).toMatch(/name one session, or give --all or --grant/);
    const unknown = await cli(db, ['sessions', 'revoke', 'alice', 'no-such-session']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no session no-such-session/);
    expect((await cli(db, ['sessions', 'revoke', 'nobody', '--all'])).stderr).toMatch(/no such account: nobody/);

    const ended = await cli(db, ['sessions', 'revoke', 'alice', uid]);
    expect(ended.code, ended.stderr).toBe(0);
    expect((await cli(db, ['sessions', 'list', 'alice'])).stdout.trim()).toBe('no sessions');
    expect((await cli(db, ['sessions', 'list', 'alice', '--grants'])).stdout.trim()).toBe('no grants');
    const queued = await withServices(db, (services) => services.sessions.logouts.of(accountId));
    expect(queued).toEqual([expect.objectContaining({ client_id: clientId, state: 'pending', reason: 'session_revoked' })]);
  });

  it('revokes a grant, then signs out everywhere; both audited with the operator as actor', { timeout: 120_000 }, async () => {
    const { grantId } = await seed();
    expect((await cli(db, ['sessions', 'revoke', 'alice', '--grant', grantId])).stdout.trim()).toBe(`grant ${grantId} revoked`);
    expect((await cli(db, ['sessions', 'revoke', 'alice', '--grant', grantId])).code).not.toBe(0);
    await seed();
    await seed();
    const all = await cli(db, ['sessions', 'revoke', 'alice', '--all']);
    // Revoking a grant leaves its session (the user is still signed in to Gatehouse): three sessions, each with a sid to tell the client.
    expect(all.stdout.trim()).toBe('signed out everywhere: 3 session(s) ended, 2 grant(s) revoked, 3 back-channel logout(s) queued');
    const types = await withServices(db, async (_services, database) =>
      (await database.query<{ type: string; actor: string }>("SELECT type, actor FROM audit_events WHERE subject = $1 AND type IN ('grant.revoked', 'session.revoked', 'sessions.revoked') ORDER BY seq", [accountId])).rows);
    expect(types).toEqual([
      { type: 'session.revoked', actor: 'operator' },
      { type: 'grant.revoked', actor: 'operator' },
      { type: 'sessions.revoked', actor: 'operator' },
    ]);
  });

  it("users passkeys: lists, renames and removes an account's passkeys, with --json and clean failures", async () => {
    const passkeyId = await withServices(db, (_services, handle) => seedPasskey(handle, accountId, 'Laptop'));
    const table = await cli(db, ['users', 'passkeys', 'alice']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+KIND\s+BACKED UP\s+CREATED\s+LAST USED$/m);
    expect(table.stdout).toContain('Laptop');
    expect(table.stdout).toContain('synced');
    const listed = await cli(db, ['users', 'passkeys', 'list', 'alice', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id: passkeyId, name: 'Laptop', device_type: 'multiDevice', last_used_at: null })]);

    const renamed = await cli(db, ['users', 'passkeys', 'rename', 'alice', passkeyId, 'Old laptop', '--json']);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(JSON.parse(renamed.stdout)).toEqual({ id: passkeyId, name: 'Old laptop' });
    const badName = await cli(db, ['users', 'passkeys', 'rename', 'alice', passkeyId, 'x'.repeat(65)]);
    expect(badName.code).not.toBe(0);
    expect(badName.stderr).toMatch(/1 to 64 characters/);

    const missing = await cli(db, ['users', 'passkeys', 'remove', 'alice', 'no-such-passkey']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/has no passkey no-such-passkey/);
    expect((await cli(db, ['users', 'passkeys', 'list', 'nobody'])).stderr).toMatch(/no such account: nobody/);
    const removed = await cli(db, ['users', 'passkeys', 'remove', 'alice', passkeyId]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/no longer signs in/);
    expect((await cli(db, ['users', 'passkeys', 'alice'])).stdout).toMatch(/alice has no passkeys/);
    expect((await cli(undefined, ['users', 'passkeys', 'remove', '--help'])).stdout).toMatch(/remove \[options\] <user> <passkey-id>/);
  });

  it('has help for the group and each command', async () => {
    const help = await cli(undefined, ['sessions', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/list \[options\] <user>/);
    expect(help.stdout).toMatch(/revoke \[options\] <user> \[session\]/);
    expect((await cli(undefined, ['sessions', 'revoke', '--help'])).stdout).toMatch(/--all/);
  });
});
