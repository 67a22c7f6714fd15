/**
 * `gatehouse clients add --dpop`, `--profile fapi2` and `private_key_jwt`
 * with `--jwks`, as a real child process: what the flags store, and the
 * combinations refused before anything is stored.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, describe, expect, test } from 'vitest';

import { cli, withServices } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

let db: TestDatabase | undefined;
let tmp: string | undefined;
afterAll(async () => {
  await db?.cleanup();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('gatehouse clients add: DPoP and FAPI 2.0 flags', () => {
  test('stores the flags, and refuses what the profile or the binding forbids', { timeout: 240_000 }, async () => {
    db = await freshDatabase(integrationDbKind());
    tmp = await mkdtemp(path.join(os.tmpdir(), 'gh-dpop-cli-'));
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = path.join(tmp, 'jwks.json');
    await writeFile(jwks, JSON.stringify({ keys: [await exportJWK(publicKey)] }));
    const privateJwks = path.join(tmp, 'private.json');
    await writeFile(privateJwks, JSON.stringify({ keys: [await exportJWK(privateKey)] }));

    const dpop = await cli(db, ['clients', 'add', '--type', 'service', '--name', 'DPoP worker', '--dpop', '--json']);
    expect(dpop.code, dpop.stderr).toBe(0);
    expect(JSON.parse(dpop.stdout)).toMatchObject({ dpop_bound_access_tokens: true, security_profile: null, token_endpoint_auth_method: 'client_secret_basic' });

    const fapi = await cli(db, ['clients', 'add', '--type', 'confidential', '--name', 'FAPI app', '--redirect-uri', 'https://app.example.com/cb', '--auth-method', 'private_key_jwt', '--jwks', jwks, '--profile', 'fapi2', '--json']);
    expect(fapi.code, fapi.stderr).toBe(0);
    const made = JSON.parse(fapi.stdout) as Record<string, unknown>;
    expect(made).toMatchObject({ security_profile: 'fapi2', token_endpoint_auth_method: 'private_key_jwt', client_secret: null });
    const stored = await withServices(db, (services) => services.clients.metadataForProvider(String(made.client_id)));
    expect(stored).toMatchObject({ security_profile: 'fapi2', jwks: { keys: [expect.objectContaining({ kty: 'EC' })] } });
    expect(stored).not.toHaveProperty('client_secret');

    const refusals: Array<[string[], RegExp]> = [
      [['--type', 'confidential', '--redirect-uri', 'https://app.example.com/cb', '--profile', 'fapi2'], /FAPI 2\.0 client/],
      [['--type', 'public', '--redirect-uri', 'https://app.example.com/cb', '--profile', 'fapi2'], /FAPI 2\.0 client/],
      [['--type', 'service', '--dpop', '--bound-tokens', '--auth-method', 'tls_client_auth', '--tls-subject-dn', 'CN=w'], /not both/],
      [['--type', 'service', '--auth-method', 'private_key_jwt'], /private_key_jwt needs/],
      [['--type', 'service', '--auth-method', 'private_key_jwt', '--jwks', privateJwks], /public keys/],
      [['--type', 'service', '--profile', 'fapi1'], /fapi1/],
    ];
    for (const [args, message] of refusals) {
      const result = await cli(db, ['clients', 'add', '--name', 'Refused', ...args]);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
    const listed = JSON.parse((await cli(db, ['clients', 'list', '--json'])).stdout) as unknown[];
    expect(listed).toHaveLength(2);
  });
});
