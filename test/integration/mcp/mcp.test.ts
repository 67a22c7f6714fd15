/**
 * The official MCP SDK's client, with its own OAuth flow, against the example MCP
 * server (examples/mcp-server) protected by Gatehouse: discovery from the 401,
 * a client identified by its metadata document (served over real TLS under a
 * test CA) or registered dynamically (open registration under an agents
 * policy, with its server's scope), code + PKCE with `resource` through
 * Gatehouse's sign-in and consent pages, and a tool call; then the refusals a
 * resource server owes.
 */
import type { Server } from 'node:http';

import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { listen, toolsScope } from '../../../examples/mcp-server/server.js';
import { startDocumentHost, type DocumentHost } from '../../support/document-host.js';
import { freePort, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { connectAgent, finishAgentAuth, MemoryProvider } from '../../support/mcp-agent.js';
import { basic, fetchNonce, proof, proofKey, tokenRequest } from '../dpop/helpers.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';

const redirectUrl = 'http://127.0.0.1:7788/callback';

let gh: TestGatehouse;
let documents: DocumentHost;
let mcp: { server: Server; resource: string };
let other: string;
let user: { username: string; password: string };

beforeAll(async () => {
  documents = await startDocumentHost(['agents.test']);
  // The server's resource indicator is its URL, which Gatehouse's settings name: pick the port first.
  const mcpPort = await freePort();
  const resource = `http://127.0.0.1:${mcpPort}/mcp`;
  other = 'https://other-api.example.test/';
  gh = await startTestGatehouse({
    env: {
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOSTS: 'agents.test',
      GATEHOUSE_TEST_OUTBOUND_RESOLVE: 'agents.test=127.0.0.1',
      GATEHOUSE_TEST_OUTBOUND_CA_FILE: documents.caFile,
      GATEHOUSE_CLIENT_METADATA_DOCUMENT_RESOURCES: `${resource},${other}`,
      GATEHOUSE_REGISTRATION: 'open',
      GATEHOUSE_REGISTRATION_OPEN_POLICY: 'agents',
      GATEHOUSE_RATE_LIMIT_REGISTRATION: 'ip=off,client=off',
    },
  });
  mcp = await listen({ issuer: gh.issuer, resourceFor: () => resource }, mcpPort);
  await gh.app.services.resources.add(operator, { audience: mcp.resource, name: 'MCP tools', scopes: [toolsScope], accessTokenTtl: 300, rbac: false });
  await gh.app.services.resources.add(operator, { audience: other, name: 'Other API', scopes: [toolsScope], accessTokenTtl: 300, rbac: false });
  // docs/mcp.md §4: agents register without a token, public clients for these two servers only.
  await gh.app.services.registrationPolicies.set(operator, 'agents', {
    authMethods: ['none'], defaultAuthMethod: 'none', scopes: ['openid', 'offline_access'], resources: [mcp.resource, other],
  });
  user = await gh.createUser();
});

afterAll(async () => {
  await gh?.close();
  mcp?.server.close();
  await documents?.close();
});

const connect = (provider: MemoryProvider) => connectAgent(mcp.resource, provider);

describe('an MCP client through Gatehouse', () => {
  it('discovers, identifies itself by metadata document, signs the user in with PKCE and calls a tool', async () => {
    const clientId = documents.url('agents.test', '/sdk-agent.json');
    documents.serve('/sdk-agent.json', {
      body: JSON.stringify({ client_id: clientId, client_name: 'SDK agent', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }),
      headers: { 'cache-control': 'max-age=300' },
    });
    const provider = new MemoryProvider(clientId, redirectUrl);

    await expect(connect(provider)).rejects.toBeInstanceOf(UnauthorizedError);
    const authorizationUrl = provider.authorizationUrl!;
    expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${gh.issuer}/auth`);
    expect(authorizationUrl.searchParams.get('client_id')).toBe(clientId);
    expect(authorizationUrl.searchParams.get('resource')).toBe(mcp.resource);
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');

    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, authorizationUrl.href, user));
    expect(callback.origin + callback.pathname).toBe(redirectUrl);
    await finishAgentAuth(mcp.resource, provider, callback.searchParams.get('code')!);
    const [, payload] = provider.tokens()!.access_token.split('.');
    expect(JSON.parse(Buffer.from(payload!, 'base64url').toString())).toMatchObject({ aud: mcp.resource, client_id: clientId, scope: toolsScope });

    const { client } = await connect(provider);
    const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
    expect(result.content).toEqual([{ type: 'text', text: '42' }]);
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    expect(JSON.parse((who.content as Array<{ text: string }>)[0]!.text)).toMatchObject({ client_id: clientId, scopes: [toolsScope] });
    await client.close();
    expect(documents.hits('/sdk-agent.json')).toBe(1);
  });
});

describe('an MCP client that registers dynamically', () => {
  it('registers with its server\'s scope, signs the user in with PKCE and resource, and calls a tool', async () => {
    const provider = new MemoryProvider(undefined, redirectUrl);
    await expect(connect(provider)).rejects.toBeInstanceOf(UnauthorizedError);
    // The SDK registered at /reg with scope = the server's scopes_supported (RFC 9728), which Gatehouse accepted.
    const registered = provider.clientInformation() as { client_id: string; scope?: string } | undefined;
    expect(registered?.client_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(registered?.scope?.split(' ')).toContain(toolsScope);
    const stored = await gh.app.services.clients.find(registered!.client_id);
    expect(stored).toMatchObject({ registrationPolicy: 'agents' });

    const authorizationUrl = provider.authorizationUrl!;
    expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${gh.issuer}/auth`);
    expect(authorizationUrl.searchParams.get('client_id')).toBe(registered!.client_id);
    expect(authorizationUrl.searchParams.get('scope')).toBe(toolsScope);
    expect(authorizationUrl.searchParams.get('resource')).toBe(mcp.resource);
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');

    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, authorizationUrl.href, user));
    expect(callback.origin + callback.pathname).toBe(redirectUrl);
    await finishAgentAuth(mcp.resource, provider, callback.searchParams.get('code')!);
    const [, payload] = provider.tokens()!.access_token.split('.');
    expect(JSON.parse(Buffer.from(payload!, 'base64url').toString())).toMatchObject({ aud: mcp.resource, client_id: registered!.client_id, scope: toolsScope });

    const { client } = await connect(provider);
    const result = await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } });
    expect(result.content).toEqual([{ type: 'text', text: '42' }]);
    await client.close();

    // The same registered client's token for the other API its policy allows: the MCP server refuses it.
    const otherToken = await tokenFor(other, provider, registered!.client_id);
    const refused = await fetch(mcp.resource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${otherToken}` }, body: '{}' });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('is refused a registration that names the scope of a server its policy does not allow', async () => {
    await gh.app.services.resources.add(operator, { audience: 'https://files.example.test/', name: 'Files', scopes: ['files:read'], accessTokenTtl: 300, rbac: false });
    const refused = await fetch(`${gh.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...new MemoryProvider(undefined, redirectUrl).clientMetadata, scope: `${toolsScope} files:read` }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(/^scope: files:read is not allowed/) });
  });
});

describe('the MCP server refuses', () => {
  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
  const post = (headers: Record<string, string>) =>
    fetch(mcp.resource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(initialize) });

  it('a request without a token, with a 401 that names its metadata', async () => {
    const response = await post({});
    expect(response.status).toBe(401);
    const challenge = response.headers.get('www-authenticate')!;
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)![1]!;
    expect(metadataUrl).toBe(`${new URL(mcp.resource).origin}/.well-known/oauth-protected-resource/mcp`);
    const metadata = (await (await fetch(metadataUrl)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({ resource: mcp.resource, authorization_servers: [gh.issuer], scopes_supported: [toolsScope] });
  });

  it('a Gatehouse token for another audience', async () => {
    const token = await tokenFor(other);
    const response = await post({ authorization: `Bearer ${token}` });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('a forged or garbled token', async () => {
    expect((await post({ authorization: 'Bearer not.a.jwt' })).status).toBe(401);
    const token = await tokenFor(mcp.resource);
    const [h, p] = token.split('.');
    expect((await post({ authorization: `Bearer ${h}.${p}.AAAA` })).status).toBe(401);
    // The right token passes the same request, so the refusals above are the token's.
    expect((await post({ authorization: `Bearer ${token}` })).status).toBe(200);
  });
});

describe('the MCP server with a DPoP-bound token', () => {
  it('accepts it with a proof for the request, and refuses it as Bearer, without a proof, or with another key\'s proof', async () => {
    const { clientId, clientSecret } = await gh.createClient({ type: 'service', name: 'DPoP agent', scope: toolsScope, dpopBoundTokens: true });
    const key = await proofKey();
    const tokenUrl = `${gh.issuer}/token`;
    const authorization = basic(clientId, clientSecret!);
    const nonce = await fetchNonce(tokenUrl, authorization, key);
    const issued = await tokenRequest(tokenUrl, { authorization, dpop: await proof(key, { htm: 'POST', htu: tokenUrl, nonce }), body: { resource: mcp.resource, scope: toolsScope } });
    expect(issued.status, JSON.stringify(issued.body)).toBe(200);
    expect(issued.body.token_type).toBe('DPoP');
    const token = issued.body.access_token as string;
    const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    const post = (headers: Record<string, string>) => fetch(mcp.resource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: initialize });

    const accepted = await post({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'POST', htu: mcp.resource, accessToken: token }) });
    expect(accepted.status).toBe(200);
    const other = await proofKey();
    const refusals: Array<[string, Record<string, string>]> = [
      ['as Bearer', { authorization: `Bearer ${token}` }],
      ['without a proof', { authorization: `DPoP ${token}` }],
      ['with another key\'s proof', { authorization: `DPoP ${token}`, dpop: await proof(other, { htm: 'POST', htu: mcp.resource, accessToken: token }) }],
      ['with a proof for GET', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: mcp.resource, accessToken: token }) }],
    ];
    for (const [name, headers] of refusals) {
      const refused = await post(headers);
      expect(refused.status, name).toBe(401);
      expect(refused.headers.get('www-authenticate'), name).toMatch(/^DPoP /);
    }
  });
});

/** A real Gatehouse token for `resource`, through the same metadata-document client (or a registered one) and pages. */
async function tokenFor(resource: string, provider = new MemoryProvider(documents.url('agents.test', '/sdk-agent.json'), redirectUrl), clientId = provider.clientMetadataUrl!): Promise<string> {
  // The SDK asks for its server's resource; a token for another one is what a confused or malicious client would hold.
  const step = await auth(provider, { serverUrl: mcp.resource });
  expect(step).toBe('REDIRECT');
  const url = new URL(provider.authorizationUrl!);
  url.searchParams.set('resource', resource);
  const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, user));
  const body = new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirectUrl, code_verifier: provider.codeVerifier(), client_id: clientId, resource });
  const response = await fetch(`${gh.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  const json = (await response.json()) as { access_token: string };
  expect(response.status, JSON.stringify(json)).toBe(200);
  return json.access_token;
}
