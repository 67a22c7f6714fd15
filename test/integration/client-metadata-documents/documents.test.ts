/**
 * Client ID Metadata Documents: a client whose client_id is the https URL of its
 * metadata, fetched from a real TLS server under a test CA (test/support/document-host.ts)
 * through the address guard, with the operator's allow-list and policy.
 */
import { createHash, randomBytes } from 'node:crypto';

import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { loadConfig } from '../../../src/config/index.js';
import { startDocumentHost, type DocumentHost } from '../../support/document-host.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { formAction, hiddenField, UserAgent } from '../../support/user-agent.js';

const api = 'https://tools.example.test/mcp';
const closedApi = 'https://closed.example.test/';
const redirectUri = 'http://127.0.0.1:7777/callback';

let host: DocumentHost;
let gh: TestGatehouse;
let user: { username: string; password: string };

function document(clientId: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ client_id: clientId, client_name: 'Agent Smith', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], ...extra });
}

const verifier = randomBytes(32).toString('base64url');
const challenge = createHash('sha256').update(verifier).digest('base64url');

function authorizationUrl(clientId: string, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...extra });
  return `${gh.issuer}/auth?${params}`;
}

/** The first answer of /auth: a redirect into the sign-in pages, or an error page. */
async function authorize(clientId: string, extra: Record<string, string> = {}) {
  const response = await fetch(authorizationUrl(clientId, extra), { redirect: 'manual' });
  return { status: response.status, location: response.headers.get('location'), body: await response.text() };
}

function refusedLogs(clientId: string): string[] {
  return gh.logs.filter((line) => line.includes('client_metadata_document.') && line.includes(clientId));
}

beforeAll(async () => {
  host = await startDocumentHost(['cimd.test', 'private.test', 'stranger.test', 'elsewhere.test', 'flood.test', 'busy.test']);
  gh = await startTestGatehouse({
    env: {
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOSTS: 'cimd.test,private.test,flood.test,busy.test',
      // cimd.test serves 16 client ids and fewer than 25 fetches in this file; flood.test and busy.test spend the budgets.
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOST_CLIENTS: '18',
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOST_FETCHES_PER_MINUTE: '25',
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_RESOURCES: api,
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_MAX_BYTES: '1024',
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_TIMEOUT: '1s',
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_CACHE_MIN: '0',
      // private.test answers with an RFC 1918 address: the guard must refuse it although the name is allowed.
      GATEHOUSE_TEST_OUTBOUND_RESOLVE: 'cimd.test=127.0.0.1,private.test=10.20.30.40,stranger.test=127.0.0.1,elsewhere.test=127.0.0.1,flood.test=127.0.0.1,busy.test=127.0.0.1',
      GATEHOUSE_TEST_OUTBOUND_CA_FILE: host.caFile,
    },
  });
  await gh.app.services.resources.add(operator, { audience: api, name: 'Tools', scopes: ['mcp:tools'], accessTokenTtl: 300, rbac: false });
  await gh.app.services.resources.add(operator, { audience: closedApi, name: 'Closed', scopes: ['read'], accessTokenTtl: 300, rbac: false });
  user = await gh.createUser();
});

afterAll(async () => {
  await gh?.close();
  await host?.close();
});

describe('a client identified by its metadata document', () => {
  it('signs a user in through the consent page that names its host, and gets a token for an allowed resource only', async () => {
    const clientId = host.url('cimd.test', '/good.json');
    host.serve('/good.json', { body: document(clientId), headers: { 'cache-control': 'max-age=300' } });
    const discovery = (await (await fetch(`${gh.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(discovery.client_id_metadata_document_supported).toBe(true);

    const agent = new UserAgent();
    let { step } = await agent.follow(authorizationUrl(clientId, { resource: api, scope: 'openid mcp:tools' }), gh.issuer);
    expect(step.body).toContain('/login"');
    const login = await agent.request(new URL(formAction(step.body, 'login'), gh.issuer).href, { form: { csrf: hiddenField(step.body, 'csrf'), login: user.username, password: user.password } });
    ({ step } = await agent.follow(login.location!, gh.issuer));
    // The consent page leads with the host, the one name the client cannot choose; its self-chosen name is secondary.
    expect(step.body).toMatch(/<h1>Allow <span class="document-host">cimd\.test:\d+<\/span> access\?<\/h1>/);
    expect(step.body).toContain('It calls itself <em>Agent Smith</em>');
    const confirmed = await agent.request(new URL(formAction(step.body, 'confirm'), gh.issuer).href, { form: { csrf: hiddenField(step.body, 'csrf') } });
    const { url: callback } = await agent.follow(confirmed.location!, gh.issuer);
    const code = new URL(callback).searchParams.get('code');
    expect(code, callback).toBeTruthy();

    const token = await fetch(`${gh.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri, code_verifier: verifier, client_id: clientId, resource: api }),
    });
    const body = (await token.json()) as { access_token: string };
    expect(token.status, JSON.stringify(body)).toBe(200);
    const claims = decodeJwt(body.access_token);
    expect(claims.aud).toBe(api);
    expect(claims.client_id).toBe(clientId);
    expect(claims.scope).toBe('mcp:tools');
    // One fetch for /auth, the pages and /token: the document is cached per its max-age.
    expect(host.hits('/good.json')).toBe(1);

    // A registered resource server the operator did not open to metadata-document clients.
    const closed = await authorize(clientId, { resource: closedApi });
    expect(closed.location).toContain('error=invalid_target');
  });

  it('re-reads a changed document only when its caching says so', async () => {
    const clientId = host.url('cimd.test', '/changing.json');
    host.serve('/changing.json', (n) => ({ body: document(clientId, { client_name: `version ${n}` }), headers: { 'cache-control': n === 1 ? 'max-age=60' : 'max-age=1' } }));
    expect((await authorize(clientId)).status).toBe(303);
    expect((await authorize(clientId)).status).toBe(303);
    expect(host.hits('/changing.json')).toBe(1);
  });

  it('keeps a short-lived document no longer than its max-age', async () => {
    const clientId = host.url('cimd.test', '/short.json');
    host.serve('/short.json', { body: document(clientId), headers: { 'cache-control': 'max-age=1' } });
    expect((await authorize(clientId)).status).toBe(303);
    expect((await authorize(clientId)).status).toBe(303);
    expect(host.hits('/short.json')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await authorize(clientId)).status).toBe(303);
    expect(host.hits('/short.json')).toBe(2);
  });
});

describe('documents the guards refuse before anything is trusted', () => {
  it('does not fetch from a host that is not on the allow-list', async () => {
    const clientId = host.url('stranger.test', '/stranger.json');
    host.serve('/stranger.json', { body: document(clientId) });
    const answer = await authorize(clientId);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('invalid_client');
    expect(host.hits('/stranger.json')).toBe(0);
    expect(refusedLogs(clientId).join('\n')).toContain('not on GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOSTS');
  });

  it('does not connect to an allowed name that resolves to a private address', async () => {
    const clientId = host.url('private.test', '/private.json');
    const answer = await authorize(clientId);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('invalid_client');
    expect(refusedLogs(clientId).join('\n')).toContain('special-use address');
  });

  it('refuses an oversized document, announced or streamed', async () => {
    const announced = host.url('cimd.test', '/big.json');
    host.serve('/big.json', { body: document(announced, { padding: 'x'.repeat(2000) }) });
    expect((await authorize(announced)).status).toBe(400);
    const streamed = host.url('cimd.test', '/big-chunked.json');
    host.serve('/big-chunked.json', { body: document(streamed, { padding: 'x'.repeat(2000) }), headers: { 'transfer-encoding': 'chunked' } });
    expect((await authorize(streamed)).status).toBe(400);
  });

  it('gives up on a slow host within the configured time', async () => {
    const clientId = host.url('cimd.test', '/slow.json');
    host.serve('/slow.json', { body: document(clientId), delayMs: 4000 });
    const started = Date.now();
    const answer = await authorize(clientId);
    expect(answer.status).toBe(400);
    // The configured second, not the library's 2.5 s, and the failure is remembered rather than tried again at once.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(refusedLogs(clientId).join('\n')).toContain('aborted due to timeout');
    expect(host.hits('/slow.json')).toBe(1);
  });

  it('follows no redirect, to another host or its own', async () => {
    const clientId = host.url('cimd.test', '/moved.json');
    host.serve('/moved.json', { status: 302, headers: { location: host.url('elsewhere.test', '/target.json') }, body: '' });
    expect((await authorize(clientId)).status).toBe(400);
    expect(host.hits('/target.json')).toBe(0);
  });

  it.each([
    ['a shared-secret auth method', { token_endpoint_auth_method: 'client_secret_basic' }],
    ['a private_key_jwt client', { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [] } }],
    ['a redirect URI on another host', { redirect_uris: ['https://evil.example/callback'] }],
    ['first_party', { first_party: true }],
    ['client_credentials', { grant_types: ['client_credentials'] }],
    ['a scope beyond the allowed ones', { scope: 'openid admin:read' }],
    ['a resource beyond the allowed ones', { resources: [closedApi] }],
    ['a jwks_uri to fetch', { jwks_uri: 'https://cimd.test/jwks' }],
  ])('refuses a document with %s', async (_name, extra) => {
    const pathname = `/policy-${randomBytes(4).toString('hex')}.json`;
    const clientId = host.url('cimd.test', pathname);
    host.serve(pathname, { body: document(clientId, extra) });
    const answer = await authorize(clientId);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(/invalid_client/);
  });

  it('refuses a document whose client_id is not its own URL', async () => {
    const clientId = host.url('cimd.test', '/impostor.json');
    host.serve('/impostor.json', { body: document(host.url('cimd.test', '/someone-else.json')) });
    expect((await authorize(clientId)).status).toBe(400);
  });
});

describe('per-host budgets', () => {
  it('fetches at most the configured number of client ids of one host, and still serves those it has', async () => {
    const ids = Array.from({ length: 19 }, (_, n) => host.url('flood.test', `/flood-${n}.json`));
    ids.forEach((id, n) => host.serve(`/flood-${n}.json`, { body: document(id), headers: { 'cache-control': 'max-age=0' } }));
    for (const id of ids.slice(0, 18)) expect((await authorize(id)).status, id).toBe(303);
    const refused = await authorize(ids[18]!);
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('invalid_client');
    // Refused before any request leaves Gatehouse, and the reason is in the log, not the answer.
    expect(host.hits('/flood-18.json')).toBe(0);
    expect(refused.body).not.toContain('client ids cached');
    expect(refusedLogs(ids[18]!).join('\n')).toContain('already has 18 client ids cached');
    // A client id already counted keeps working (fetched again: its document said max-age=0).
    expect((await authorize(ids[0]!)).status).toBe(303);
    expect(host.hits('/flood-0.json')).toBe(2);
  });

  it('fetches from one host at most the configured number of times a minute', async () => {
    const clientId = host.url('busy.test', '/busy.json');
    host.serve('/busy.json', { body: document(clientId), headers: { 'cache-control': 'max-age=0' } });
    for (let n = 0; n < 25; n += 1) expect((await authorize(clientId)).status).toBe(303);
    expect(host.hits('/busy.json')).toBe(25);
    const refused = await authorize(clientId);
    expect(refused.status).toBe(400);
    expect(host.hits('/busy.json')).toBe(25);
    expect(refusedLogs(clientId).join('\n')).toContain('fetch budget (25 a minute) is spent');
    // Another host's budget is its own.
    expect((await authorize(host.url('cimd.test', '/good.json'))).status).toBe(303);
  });
});

describe('the test-only override of the address guard', () => {
  it('cannot be turned on in production', () => {
    const production = { NODE_ENV: 'production', GATEHOUSE_ISSUER: 'https://id.example.com', GATEHOUSE_MASTER_KEY: 'k'.repeat(43), DATABASE_URL: 'postgres://db/gatehouse' };
    expect(() => loadConfig({ ...production, GATEHOUSE_TEST_OUTBOUND_RESOLVE: 'cimd.test=127.0.0.1' })).toThrow(/GATEHOUSE_TEST_OUTBOUND_RESOLVE/);
    expect(() => loadConfig({ ...production, GATEHOUSE_TEST_OUTBOUND_CA_FILE: host.caFile })).toThrow(/GATEHOUSE_TEST_OUTBOUND_CA_FILE/);
  });
});
