/**
 * docs/resource-servers.md, step by step: the operator registers an API and
 * two clients with the CLI (a worker bound to the API as its default
 * resource, and the API itself allowed to introspect the API's tokens); the
 * worker gets a JWT without naming a resource, the API introspects it, the
 * worker revokes it and the API sees it inactive.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cli } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

const api = 'https://api.example.com';

describe('an API introspecting JWT access tokens, set up with the CLI', () => {
  let database: TestDatabase;
  let gh: TestGatehouse | undefined;
  const made: Record<string, { client_id: string; client_secret: string; introspects: string[]; default_resource: string | null }> = {};

  const run = async (args: string[]) => {
    const result = await cli(database, args);
    if (result.code !== 0) throw new Error(`gatehouse ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return result.stdout;
  };

  beforeAll(async () => {
    database = await freshDatabase(integrationDbKind());
    await run(['resources', 'add', '--audience', api, '--name', 'Orders API', '--scope', 'orders:read', '--ttl', '10m', '--rbac', 'off']);
    made.worker = JSON.parse(await run(['clients', 'add', '--type', 'service', '--name', 'Billing worker', '--default-resource', api, '--json']));
    made.api = JSON.parse(await run(['clients', 'add', '--type', 'service', '--name', 'Orders API', '--introspect', api, '--json']));
  }, 120_000);
  afterAll(async () => {
    await gh?.close();
    await database?.cleanup();
  });

  it('stores what the flags say, shows it, and refuses audiences that are not registered', async () => {
    expect(made.worker).toMatchObject({ default_resource: api, introspects: [] });
    expect(made.api).toMatchObject({ default_resource: null, introspects: [api] });
    const shown = await run(['clients', 'show', made.api!.client_id]);
    expect(shown).toMatch(new RegExp(`introspects:\\s+${api}`));
    const unknown = await cli(database, ['clients', 'update', made.api!.client_id, '--introspect', 'https://nowhere.example.com']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no resource server with audience https://nowhere.example.com');
    const nothing = await cli(database, ['clients', 'update', made.api!.client_id]);
    expect(nothing.code).not.toBe(0);
    expect(nothing.stderr).toContain('nothing to change');
    // A client whose access cannot be set is not left behind half made.
    const bad = await cli(database, ['clients', 'add', '--type', 'service', '--name', 'Half made', '--default-resource', 'https://nowhere.example.com']);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).not.toContain('client_secret');
    const gateway = JSON.parse(await run(['clients', 'update', made.api!.client_id, '--introspect', '*', '--json']));
    expect(gateway.introspects).toEqual(['*']);
    const back = JSON.parse(await run(['clients', 'update', made.api!.client_id, '--introspect', api, '--no-default-resource', '--json']));
    expect(back).toMatchObject({ introspects: [api], default_resource: null });
  }, 180_000);

  it('lets the API introspect the worker\'s JWT and see it revoked', async () => {
    gh = await startTestGatehouse({ database });
    const rp = (c: { client_id: string; client_secret: string }) =>
      oidc.discovery(new URL(gh!.issuer), c.client_id, undefined, oidc.ClientSecretBasic(c.client_secret), { execute: [oidc.allowInsecureRequests] });
    const worker = await rp(made.worker!);
    const orders = await rp(made.api!);

    const { access_token: token } = await oidc.clientCredentialsGrant(worker, { scope: 'orders:read' });
    expect(token.split('.')).toHaveLength(3);
    expect(await oidc.tokenIntrospection(orders, token)).toMatchObject({ active: true, aud: api, client_id: made.worker!.client_id, scope: 'orders:read', token_type: 'Bearer' });

    await oidc.tokenRevocation(worker, token);
    expect(await oidc.tokenIntrospection(orders, token)).toEqual({ active: false });
    // The half-made client above was removed again.
    expect((await gh.app.services.clients.list()).map((c) => c.name).filter((n) => n !== 'Gatehouse console').sort()).toEqual(['Billing worker', 'Orders API']);
  });
});
