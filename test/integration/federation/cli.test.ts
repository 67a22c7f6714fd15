/**
 * `gatehouse upstreams …` (issue 20) as an operator runs it, in-process
 * against a fresh database: presets, the secret on stdin and never printed,
 * private_key_jwt's public key, update/disable/enable/delete, a user's links.
 */
import { afterAll, describe, expect, test } from 'vitest';

import { cli, withServices } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

let db: TestDatabase | undefined;
afterAll(() => db?.cleanup());

describe('gatehouse upstreams', () => {
  test('add from presets, show, update, disable/enable, delete; links list/remove', { timeout: 240_000 }, async () => {
    db = await freshDatabase(integrationDbKind());
    const secret = 'google-client-secret-8Gq2x9';
    const google = await cli(db, ['upstreams', 'add', 'google', '--preset', 'google', '--client-id', 'abc.apps.googleusercontent.com', '--client-secret-stdin', '--linking', 'jit-create', '--json'], { stdin: `${secret}\n` });
    expect(google.code, google.stderr).toBe(0);
    expect(google.stdout).not.toContain(secret);
    expect(JSON.parse(google.stdout)).toMatchObject({ name: 'google', issuer: 'https://accounts.google.com', has_client_secret: true, client_auth: 'client_secret_basic', linking: 'jit-create' });

    const entra = await cli(db, ['upstreams', 'add', 'corp', '--preset', 'entra', '--tenant', 'corp.onmicrosoft.com', '--client-id', 'app-id', '--client-auth', 'private_key_jwt', '--domain', 'corp.example']);
    expect(entra.code, entra.stderr).toBe(0);
    expect(entra.stdout).toMatch(/^issuer: +https:\/\/login\.microsoftonline\.com\/corp\.onmicrosoft\.com\/v2\.0$/m);
    expect(entra.stdout).toMatch(/^jwks uri: +http.*\/federation\/jwks$/m);
    expect(entra.stderr).toMatch(/register the jwks uri above at the upstream, or this public key/);
    const publicJwk = JSON.parse(entra.stderr.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(publicJwk).toMatchObject({ kty: 'EC', alg: 'ES256' });
    expect(publicJwk).not.toHaveProperty('d');

    // Refusals the operator can fix, with exit 1 and a sentence.
    const common = await cli(db, ['upstreams', 'add', 'multi', '--preset', 'entra', '--client-id', 'x']);
    expect(common.code).toBe(1);
    expect(common.stderr).toMatch(/needs --tenant/);
    const noIssuer = await cli(db, ['upstreams', 'add', 'idp', '--preset', 'oidc', '--client-id', 'x']);
    expect(noIssuer.stderr).toMatch(/--preset oidc needs --issuer/);
    const httpIssuer = await cli(db, ['upstreams', 'add', 'idp', '--preset', 'oidc', '--issuer', 'http://idp.example', '--client-id', 'x']);
    expect(httpIssuer.code).toBe(1);
    expect((await cli(db, ['upstreams', 'add', 'google', '--preset', 'google', '--client-id', 'y'])).stderr).toMatch(/already exists/);
    expect((await cli(db, ['upstreams', 'add', 'x', '--preset', 'nope', '--client-id', 'y'])).code).not.toBe(0);
    expect((await cli(db, ['upstreams', 'update', 'google'])).stderr).toMatch(/nothing to change/);
    expect((await cli(db, ['upstreams', 'show', 'nowhere'])).stderr).toMatch(/no such upstream: nowhere/);

    const updated = await cli(db, ['upstreams', 'update', 'google', '--second-factor', 'trust-upstream', '--domain', 'gmail.example', '--json']);
    expect(JSON.parse(updated.stdout)).toMatchObject({ second_factor: 'trust-upstream', domains: ['gmail.example'] });
    expect((await cli(db, ['upstreams', 'disable', 'google'])).stdout).toBe('disabled upstream google\n');
    expect(JSON.parse((await cli(db, ['upstreams', 'show', 'google', '--json'])).stdout)).toMatchObject({ enabled: false });
    expect((await cli(db, ['upstreams', 'enable', 'google'])).code).toBe(0);
    const table = await cli(db, ['upstreams', 'list']);
    expect(table.stdout).toMatch(/^NAME +ISSUER/);
    expect(table.stdout).toMatch(/^corp +https:\/\/login\.microsoftonline\.com/m);
    expect(table.stdout).not.toContain(secret);

    const accountId = await withServices(db, async (services, raw) => {
      const account = await services.accounts.create({ kind: 'operator' }, { username: 'alice', password: 'correct horse battery staple' });
      await raw.query('INSERT INTO federation_links (issuer, subject, account_id) VALUES ($1, $2, $3)', ['https://accounts.google.com', '1234567890', account.id]);
      return account.id;
    });
    const links = JSON.parse((await cli(db, ['upstreams', 'links', 'list', 'alice', '--json'])).stdout) as Array<{ subject: string; upstream: string }>;
    expect(links).toEqual([expect.objectContaining({ subject: '1234567890', issuer: 'https://accounts.google.com' })]);
    expect((await cli(db, ['upstreams', 'links', 'remove', 'alice', '--issuer', 'https://accounts.google.com', '--subject', 'nope'])).stderr).toMatch(/no such link/);
    expect((await cli(db, ['upstreams', 'links', 'remove', accountId, '--issuer', 'https://accounts.google.com', '--subject', '1234567890'])).code).toBe(0);
    expect((await cli(db, ['upstreams', 'links', 'list', 'alice'])).stdout).toMatch(/alice has no linked upstream identities/);

    expect((await cli(db, ['upstreams', 'delete', 'corp'])).stdout).toBe('deleted upstream corp\n');
    expect((await cli(db, ['upstreams', 'delete', 'corp'])).code).toBe(1);
    const help = await cli(db, ['upstreams', 'add', '--help']);
    expect(help.stdout).toMatch(/--client-secret-stdin/);
    expect(help.stdout).toMatch(/federation\/callback/);
  });
});
