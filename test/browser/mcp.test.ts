/**
 * The official MCP SDK's client (issue 23) against the example MCP server,
 * with the user's part in a real Chromium: the SDK finds Gatehouse from the
 * server's 401 and RFC 9728 metadata, registers itself dynamically under the
 * open "agents" policy with its server's scope, and sends the user to
 * Gatehouse's sign-in and consent pages with PKCE and `resource`; the code the
 * browser brings back gets the SDK an audience-bound token and a tool call
 * succeeds. A user who denies consent leaves the agent with nothing.
 */
import type { Server } from 'node:http';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../src/audit/events.js';
import { listen, toolsScope } from '../../examples/mcp-server/server.js';
import { allProblems } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import { freePort, type TestGatehouse } from '../support/gatehouse.js';
import { connectAgent, finishAgentAuth, MemoryProvider } from '../support/mcp-agent.js';

const redirectUrl = 'http://127.0.0.1:7789/callback';
const suite = browserSuite({ env: { GATEHOUSE_REGISTRATION: 'open', GATEHOUSE_REGISTRATION_OPEN_POLICY: 'agents', GATEHOUSE_RATE_LIMIT_REGISTRATION: 'ip=off,client=off' } });
let gatehouse: TestGatehouse;
let mcp: { server: Server; resource: string };
let user: { username: string; password: string };

beforeAll(async () => {
  gatehouse = suite.gatehouse;
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  mcp = await listen({ issuer: gatehouse.issuer, resourceFor: () => resource }, port);
  await gatehouse.app.services.resources.add(operator, { audience: mcp.resource, name: 'MCP tools', scopes: [toolsScope], accessTokenTtl: 300, rbac: false });
  await gatehouse.app.services.registrationPolicies.set(operator, 'agents', { authMethods: ['none'], defaultAuthMethod: 'none', scopes: ['openid', 'offline_access'], resources: [mcp.resource] });
  user = await gatehouse.createUser();
});
afterAll(() => new Promise<void>((resolve) => (mcp ? mcp.server.close(() => resolve()) : resolve())));

/** Registers the agent (the SDK does it on its first 401) and returns it with the page it would open. */
async function registeredAgent() {
  const provider = new MemoryProvider(undefined, redirectUrl);
  await expect(connectAgent(mcp.resource, provider)).rejects.toBeInstanceOf(UnauthorizedError);
  const authorizationUrl = provider.authorizationUrl!;
  expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${gatehouse.issuer}/auth`);
  expect(authorizationUrl.searchParams.get('resource')).toBe(mcp.resource);
  expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
  return { provider, authorizationUrl };
}

/** Opens the agent's authorization URL and signs the user in; the agent's loopback redirect is answered by the test. */
async function signInUntilConsent(page: Page, authorizationUrl: URL) {
  await page.route(`${new URL(redirectUrl).origin}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'done' }));
  await page.goto(authorizationUrl.href);
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
}

describe('an MCP agent that registers itself, with the user in Chromium', () => {
  it('signs the user in, asks consent for the server\'s scope, and gets a token that calls a tool', async () => {
    const { provider, authorizationUrl } = await registeredAgent();
    const { page, problems } = await suite.session();
    await signInUntilConsent(page, authorizationUrl);
    // The consent page names the scope the agent registered with and asked for.
    expect(await page.textContent('main')).toContain(toolsScope);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.href.startsWith(redirectUrl));
    const callback = new URL(page.url());
    expect(callback.searchParams.get('iss')).toBe(gatehouse.issuer);
    await finishAgentAuth(mcp.resource, provider, callback.searchParams.get('code')!);
    const [, payload] = provider.tokens()!.access_token.split('.');
    expect(JSON.parse(Buffer.from(payload!, 'base64url').toString())).toMatchObject({ aud: mcp.resource, scope: toolsScope });

    const { client } = await connectAgent(mcp.resource, provider);
    const result = await client.callTool({ name: 'add', arguments: { a: 19, b: 23 } });
    expect(result.content).toEqual([{ type: 'text', text: '42' }]);
    await client.close();
    expect(allProblems(problems)).toEqual([]);

    // The code was for one use: the SDK cannot redeem it again.
    await expect(finishAgentAuth(mcp.resource, new MemoryProvider(undefined, redirectUrl), callback.searchParams.get('code')!)).rejects.toThrow();
  });

  it('leaves the agent without a token when the user denies consent', async () => {
    const { provider, authorizationUrl } = await registeredAgent();
    const { page } = await suite.session();
    await signInUntilConsent(page, authorizationUrl);
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL((url) => url.href.startsWith(redirectUrl));
    const callback = new URL(page.url());
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('code')).toBeNull();
    expect(provider.tokens()).toBeUndefined();
    await expect(connectAgent(mcp.resource, provider)).rejects.toBeInstanceOf(UnauthorizedError);
  });
});
