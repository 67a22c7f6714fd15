/**
 * The CLI against a running server on the embedded database (issue 14 §3):
 * the server holds PGlite, so `users add` goes over the owner-only admin
 * socket in the data directory; the new user then signs in without a restart.
 */
import { stat } from 'node:fs/promises';

import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { adminSocketPath } from '../../../src/cli/socket-client.js';
import { cli } from '../../support/cli.js';
import { freshDatabase, type TestDatabase } from '../../support/databases.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';

describe('CLI over the admin socket of a running embedded server', () => {
  let db: TestDatabase;
  let gh: TestGatehouse;
  beforeAll(async () => {
    db = await freshDatabase('embedded');
    gh = await startTestGatehouse({ database: db });
  });
  afterAll(async () => {
    await gh?.close();
    await db?.cleanup();
  });

  it('is owner-only, runs users add on the server, and the user signs in at once', async () => {
    const socket = adminSocketPath(db.dataDir);
    expect((await stat(socket)).mode & 0o777).toBe(0o600);

    const added = await cli(db, ['users', 'add', 'zoe', '--password-stdin'], { stdin: 'correct horse battery staple\n' });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    const account = await gh.app.services.accounts.find('zoe');
    expect(added.stdout.trim()).toBe(account?.id);
    expect(account).toBeDefined();
    // A real sign-in through the pages of the same running server, code + PKCE, no restart.
    const rp = await gh.createClient({ type: 'confidential', name: 'Notes', firstParty: true, redirectUris: ['https://rp.example.test/callback'] });
    const config = await oidc.discovery(new URL(gh.issuer), rp.clientId, undefined, oidc.ClientSecretBasic(rp.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: 'https://rp.example.test/callback',
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, { username: 'zoe', password: 'correct horse battery staple' }));
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()!.sub).toBe(account!.id);

    const listed = await cli(db, ['users', 'list', '--json']);
    expect(JSON.parse(listed.stdout).map((u: { username: string }) => u.username)).toContain('zoe');
    const failed = await cli(db, ['users', 'add', 'zoe', '--password-stdin'], { stdin: 'correct horse battery staple\n' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^gatehouse: an account named zoe already exists/);

    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ actor: string }>("SELECT actor FROM audit_events WHERE type = 'account.created' AND subject = $1", [account!.id]);
    expect(rows.map((r) => r.actor)).toEqual(['operator']);
  }, 120_000);
});
