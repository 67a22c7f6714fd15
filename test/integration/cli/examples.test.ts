/**
 * Every `clients add` and `resources add` example in the CLI's --help texts
 * and in docs/cli.md, run as written against a fresh database, then a real
 * Gatehouse on that database and a real relying party: each client they make
 * gets a token (issue 22 item 4: `--scope read` made clients that never could).
 * The mTLS examples need a client certificate and the mTLS listener; their
 * token flow is test/integration/mtls's, here they are only created.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as oidc from 'openid-client';
import { afterAll, describe, expect, it } from 'vitest';

import { cli } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';

const docs = readFileSync(fileURLToPath(new URL('../../../docs/cli.md', import.meta.url)), 'utf8');

/** `$ gatehouse <command> …` lines, with backslash continuations joined. */
function examples(text: string, command: string): string[] {
  const joined = text.replace(/\\\n\s*/g, ' ');
  return [...joined.matchAll(new RegExp(`^\\s*\\$ gatehouse ${command} (.+)$`, 'gm'))].map((m) => m[1]!.trim());
}

/** Splits a shell command line: double-quoted words, plain words. */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

describe('the documented examples make working clients', () => {
  let db: TestDatabase;
  let gh: TestGatehouse | undefined;
  afterAll(async () => {
    await gh?.close();
    await db?.cleanup();
  });

  it('runs every example, and every client it makes gets a token', { timeout: 300_000 }, async () => {
    db = await freshDatabase(integrationDbKind());
    const help = async (command: string) => {
      const result = await cli(db, [...command.split(' '), '--help']);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout;
    };
    const resourceExamples = [...examples(await help('resources add'), 'resources add'), ...examples(docs, 'resources add')];
    const clientExamples = [...examples(await help('clients add'), 'clients add'), ...examples(docs, 'clients add')];
    expect(resourceExamples.length).toBeGreaterThanOrEqual(2);
    expect(clientExamples.length).toBeGreaterThanOrEqual(8);
    // The issue's own case: a scope of a resource server added without --ttl (its default applies).
    resourceExamples.push('--audience https://read.example.test --name "Read API" --scope read');
    clientExamples.push('--type service --name "Reader" --scope read');

    const audiences = new Map<string, string[]>();
    for (const example of new Set(resourceExamples)) {
      // RBAC off: this checks that the examples' clients get their scopes; with RBAC on a role must grant them first (test/integration/rbac).
      const result = await cli(db, ['resources', 'add', ...words(example), '--rbac', 'off', '--json']);
      expect(result.code, `resources add ${example}: ${result.stderr}`).toBe(0);
      const resource = JSON.parse(result.stdout) as { audience: string; scopes: string[]; access_token_ttl: number };
      expect(resource.access_token_ttl).toBeGreaterThan(0);
      audiences.set(resource.audience, resource.scopes);
    }

    const made: Array<{ example: string; client: { client_id: string; client_secret: string | null; type: string; scope: string | null; redirect_uris: string[]; token_endpoint_auth_method: string } }> = [];
    for (const example of new Set(clientExamples)) {
      const args = words(example).filter((w) => w !== '--json');
      if (args.includes('self_signed_tls_client_auth')) continue; // needs the client's certificate file: test/integration/mtls
      const result = await cli(db, ['clients', 'add', ...args, '--json']);
      expect(result.code, `clients add ${example}: ${result.stderr}`).toBe(0);
      made.push({ example, client: JSON.parse(result.stdout) });
    }
    const listed = await cli(db, ['clients', 'list']);
    expect(listed.stdout).toMatch(/SCOPES/);
    expect(listed.stdout).toContain('invoices:read');
    const reader = made.find((m) => m.example.includes('"Reader"'))!;
    const shown = await cli(db, ['clients', 'show', reader.client.client_id]);
    expect(shown.stdout).toMatch(/scopes:\s+read/);

    gh = await startTestGatehouse({ database: db });
    const user = await gh.createUser();
    let tokens = 0;
    for (const { example, client } of made) {
      if (client.token_endpoint_auth_method === 'tls_client_auth') continue; // needs the mTLS listener: test/integration/mtls
      const auth = client.client_secret ? oidc.ClientSecretBasic(client.client_secret) : oidc.None();
      const rp = await oidc.discovery(new URL(gh.issuer), client.client_id, undefined, auth, { execute: [oidc.allowInsecureRequests] });
      if (client.type === 'service') {
        const scopes = client.scope?.split(' ') ?? [];
        const audience = [...audiences].find(([, offered]) => scopes.some((s) => offered.includes(s)))?.[0];
        const token = await oidc.clientCredentialsGrant(rp, { scope: scopes.join(' '), ...(audience ? { resource: audience } : {}) });
        expect(token.access_token, example).toBeTruthy();
        if (scopes.length) expect(token.scope?.split(' ').sort(), example).toEqual(scopes.sort());
      } else {
        const verifier = oidc.randomPKCECodeVerifier();
        const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: client.redirect_uris[0]!, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 's' });
        const callback = await signInThroughPages(new UserAgent(), gh.issuer, url.href, user);
        const token = await oidc.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: verifier, expectedState: 's' });
        expect(token.access_token, example).toBeTruthy();
      }
      tokens += 1;
    }
    expect(tokens).toBe(made.filter((m) => m.client.token_endpoint_auth_method !== 'tls_client_auth').length);
    expect(tokens).toBeGreaterThanOrEqual(4);
  });
});
