/**
 * Text no database can store (NUL, unpaired surrogates, bytes that are not
 * UTF-8, broken percent-encoding) in every place a request carries it to the
 * database: 400 invalid_request, 401 invalid_client where the client
 * authenticates, 400 invalid_client_metadata at registration; never a 5xx
 * (issue 22 item 1). Runs on the database GATEHOUSE_TEST_DB names.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { UserAgent, formAction, hiddenField } from '../../support/user-agent.js';
import { basic } from '../../support/requests.js';

const redirectUri = 'https://rp.example.test/cb';

/** Encoded bad text: NUL, a UTF-8-encoded surrogate, an overlong `/`, a truncated sequence, broken escapes. */
const badEncoded = ['abc%00', '%ED%A0%80', '%C0%AF', '%E0%A4%A', '%zz', 'ab%'];

const form = (pairs: Record<string, string>) => Object.entries(pairs).map(([k, v]) => `${k}=${v}`).join('&');

describe('text that cannot be stored', () => {
  let gh: TestGatehouse;
  let client: { id: string; secret: string };
  let iat: string;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_LOG_LEVEL: 'info' } });
    const created = await gh.createClient({ type: 'confidential', name: 'Text', redirectUris: [redirectUri] });
    client = { id: created.clientId, secret: created.clientSecret! };
    iat = (await gh.app.services.initialAccessTokens.create(operator, { description: 'text test', expiresInSeconds: 3600, maxUses: 100 })).value;
  });
  afterAll(() => gh?.close());

  async function post(path: string, body: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${gh.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    return { status: response.status, headers: response.headers, body: await response.text() };
  }
  const errorOf = (body: string) => (JSON.parse(body) as { error?: string }).error;

  it('answers a bad client_id in the form with 401 invalid_client at every endpoint the client authenticates to', async () => {
    for (const path of ['/token', '/token/introspection', '/token/revocation', '/request']) {
      for (const bad of badEncoded) {
        const answer = await post(path, form({ grant_type: 'client_credentials', token: 'x', response_type: 'code', client_id: bad, client_secret: 'whatever' }));
        expect(answer.status, `${path} client_id=${bad}`).toBe(401);
        expect(errorOf(answer.body)).toBe('invalid_client');
      }
    }
  });

  it('answers bad Basic credentials with 401 invalid_client and a Basic challenge', async () => {
    for (const path of ['/token', '/token/introspection', '/token/revocation', '/request']) {
      for (const authorization of [
        basic('abc\u0000', 'secret'),
        `Basic ${Buffer.from('abc%00:secret').toString('base64')}`,
        `Basic ${Buffer.from(`${client.id}:%ED%A0%80`).toString('base64')}`,
        `Basic ${Buffer.concat([Buffer.from('abc'), Buffer.from([0xc0, 0xaf]), Buffer.from(':secret')]).toString('base64')}`,
      ]) {
        const answer = await post(path, form({ grant_type: 'client_credentials', token: 'x', response_type: 'code' }), { authorization });
        expect(answer.status, `${path} ${authorization}`).toBe(401);
        expect(errorOf(answer.body)).toBe('invalid_client');
        expect(answer.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
      }
    }
  });

  it('answers bad text in any other parameter with 400 invalid_request', async () => {
    const auth = { authorization: basic(client.id, client.secret) };
    for (const bad of badEncoded) {
      for (const [path, body] of [
        ['/token', form({ grant_type: 'client_credentials', scope: bad })],
        ['/token', form({ grant_type: bad })],
        ['/token/introspection', form({ token: bad })],
        ['/token/revocation', form({ token: bad, token_type_hint: 'access_token' })],
        ['/request', form({ response_type: 'code', redirect_uri: redirectUri, state: bad, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })],
        ['/token', `${bad}=1&grant_type=client_credentials`],
      ] as const) {
        const answer = await post(path, body, auth);
        expect(answer.status, `${path} ${body}`).toBe(400);
        expect(errorOf(answer.body)).toBe('invalid_request');
      }
    }
  });

  it('answers a bad query at /auth (and in any path) with 400, as a page for people', async () => {
    for (const bad of badEncoded) {
      for (const query of [`client_id=${bad}&response_type=code`, `client_id=${client.id}&response_type=code&redirect_uri=${encodeURIComponent(redirectUri)}&state=${bad}`]) {
        const response = await fetch(`${gh.issuer}/auth?${query}`, { redirect: 'manual', headers: { accept: 'text/html' } });
        expect(response.status, query).toBe(400);
        expect(response.headers.get('content-type')).toMatch(/^text\/html/);
        expect(await response.text()).toContain('invalid_request');
      }
    }
    for (const path of ['/reg/abc%00', '/interaction/abc%00', '/interaction/%ED%A0%80/login']) {
      const response = await fetch(`${gh.issuer}${path}`, { redirect: 'manual' });
      expect(response.status, path).toBe(400);
    }
  });

  it('refuses a body declared in another charset, which the library would decode past these checks', async () => {
    const answer = await post('/token', form({ grant_type: 'client_credentials' }), { 'content-type': 'application/x-www-form-urlencoded; charset=utf-16', authorization: basic(client.id, client.secret) });
    expect(answer.status).toBe(415);
    expect(errorOf(answer.body)).toBe('invalid_request');
  });

  it('answers registration metadata holding NUL or a lone surrogate with 400 invalid_client_metadata', async () => {
    const register = (raw: string | Uint8Array) =>
      fetch(`${gh.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` }, body: raw });
    const good = { redirect_uris: [redirectUri], client_name: 'ok' };
    for (const raw of [
      JSON.stringify({ ...good, client_name: 'a\u0000b' }),
      JSON.stringify({ ...good, redirect_uris: [`${redirectUri}\u0000`] }),
      JSON.stringify({ ...good, contacts: ['ops@example.test', 'x\u0000@example.test'] }),
      JSON.stringify({ ...good, 'key\u0000': 'v' }),
      '{"redirect_uris":["https://rp.example.test/cb"],"client_name":"\\ud800"}',
      '{"redirect_uris":["https://rp.example.test/cb"],"client_name":"\\udc00x"}',
      Buffer.concat([Buffer.from('{"redirect_uris":["https://rp.example.test/cb"],"client_name":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    ]) {
      const response = await register(raw);
      expect(response.status, String(raw)).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe('invalid_client_metadata');
    }
    // Text that merely looks like an escape is text: a backslash and "u0000".
    const fine = await register(JSON.stringify({ ...good, client_name: 'literally \\u0000' }));
    expect(fine.status).toBe(201);
  });

  it('answers a client assertion naming an unstorable client with 401 invalid_client', async () => {
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('abc\u0000')
      .setSubject('abc\u0000')
      .setAudience(`${gh.issuer}/token`)
      .setJti('j1')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode('x'.repeat(32)));
    const answer = await post('/token', form({ grant_type: 'client_credentials', client_assertion_type: encodeURIComponent('urn:ietf:params:oauth:client-assertion-type:jwt-bearer'), client_assertion: assertion }));
    expect(answer.status).toBe(401);
    expect(errorOf(answer.body)).toBe('invalid_client');
  });

  it('answers bad text in the sign-in form with a 400 page', async () => {
    const agent = new UserAgent();
    const url = `${gh.issuer}/auth?client_id=${client.id}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(redirectUri)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;
    const { step } = await agent.follow(url, gh.issuer);
    const csrf = hiddenField(step.body, 'csrf');
    const action = new URL(formAction(step.body, 'login'), gh.issuer).href;
    for (const bad of badEncoded) {
      const response = await fetch(action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
        body: `csrf=${encodeURIComponent(csrf)}&login=carol${bad}&password=x`,
        redirect: 'manual',
      });
      expect(response.status, bad).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    }
  });

  it('logged no server error for any of it', () => {
    expect(gh.logs.filter((l) => l.includes('"level":50')).slice(0, 3)).toEqual([]);
  });
});
