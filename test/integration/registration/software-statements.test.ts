/**
 * Software statements (RFC 7591 §2.3): with a trusted issuer's keys
 * configured, a statement it signed is verified and its claims take
 * precedence over the plain metadata; anything else is refused with
 * invalid_software_statement (or unapproved_software_statement for an issuer
 * nobody trusts). Without configured issuers every statement is refused.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { forUpdate, mintToken, register, registerOk, unlimitedRegistration, updateClient, type Answer } from './helpers.js';
import { operator } from '../../../src/audit/events.js';

const issuer = 'https://ssa.example.test';
const now = () => Math.floor(Date.now() / 1000);

function expectError(answer: Answer, error: string) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(400);
  expect(answer.body.error).toBe(error);
}

describe('software statements', () => {
  let gh: TestGatehouse;
  let trustedKey: CryptoKey;
  let otherKey: CryptoKey;
  const token = async (policy?: string) => (await mintToken(gh, { maxUses: 100, ...(policy ? { policy } : {}) })).value;

  const sign = (claims: JWTPayload, options: { key?: CryptoKey; iss?: string; alg?: string } = {}) =>
    new SignJWT({ iat: now(), ...claims })
      .setProtectedHeader({ alg: options.alg ?? 'ES256' })
      .setIssuer(options.iss ?? issuer)
      .sign(options.key ?? trustedKey);

  beforeAll(async () => {
    const trusted = await generateKeyPair('ES256');
    trustedKey = trusted.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const jwk = { ...(await exportJWK(trusted.publicKey)), kid: 'ssa-1', alg: 'ES256' };
    gh = await startTestGatehouse({ env: { ...unlimitedRegistration, GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS: JSON.stringify({ [issuer]: { keys: [jwk] } }) } });
    await gh.app.services.registrationPolicies.set(operator, 'partners', { redirectHosts: ['app.example.com'], requireSoftwareStatement: true });
  });
  afterAll(() => gh?.close());

  it("takes a trusted statement's claims over the plain metadata", async () => {
    const statement = await sign({ software_id: 'acme-app', client_name: 'ACME (vouched for)', redirect_uris: ['https://app.example.com/cb'], scope: 'openid' });
    const client = await registerOk(gh, { software_statement: statement, client_name: 'Anything I like', redirect_uris: ['https://app.example.com/other'], scope: 'openid email' }, await token());
    expect(client).toMatchObject({ client_name: 'ACME (vouched for)', redirect_uris: ['https://app.example.com/cb'], scope: 'openid' });
    expect(client).not.toHaveProperty('software_statement');
  });

  it('lets a statement describe a client, never hand it an id or a secret', async () => {
    const statement = await sign({ client_id: 'chosen-id', client_secret: 'chosen-secret-0123456789abcdef0123456789', redirect_uris: ['https://app.example.com/cb'] });
    const client = await registerOk(gh, { software_statement: statement }, await token());
    expect(client.client_id).not.toBe('chosen-id');
    expect(client.client_secret).not.toBe('chosen-secret-0123456789abcdef0123456789');
  });

  it('still holds what a statement asserts to the policy', async () => {
    const statement = await sign({ redirect_uris: ['https://evil.example/cb'] });
    expectError(await register(gh, { software_statement: statement }, await token('partners')), 'invalid_redirect_uri');
  });

  it('refuses a statement from an issuer nobody trusts', async () => {
    const statement = await sign({ redirect_uris: ['https://app.example.com/cb'] }, { iss: 'https://someone-else.example' });
    expectError(await register(gh, { software_statement: statement, redirect_uris: ['https://app.example.com/cb'] }, await token()), 'unapproved_software_statement');
  });

  it('refuses a statement that is forged, expired, issued in the future, undated or not a JWT', async () => {
    const body = { redirect_uris: ['https://app.example.com/cb'] };
    const statements = {
      forged: await sign(body, { key: otherKey }),
      expired: await sign({ ...body, exp: now() - 3600 }),
      future: await sign({ ...body, iat: now() + 3600 }),
      undated: await new SignJWT(body).setProtectedHeader({ alg: 'ES256' }).setIssuer(issuer).sign(trustedKey),
      unsecured: `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...body, iss: issuer, iat: now() })).toString('base64url')}.`,
      garbage: 'not-a-jwt',
    };
    for (const [name, statement] of Object.entries(statements)) {
      const answer = await register(gh, { software_statement: statement, ...body }, await token());
      expect(answer.body.error, name).toBe('invalid_software_statement');
      expect(answer.status, name).toBe(400);
    }
  });

  it('refuses a shared-secret (HS256) statement even when it names a trusted issuer', async () => {
    const statement = await new SignJWT({ redirect_uris: ['https://app.example.com/cb'], iat: now() })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(issuer)
      .sign(new TextEncoder().encode('a-shared-secret-anyone-could-have-0123456789'));
    expectError(await register(gh, { software_statement: statement }, await token()), 'invalid_software_statement');
  });

  it('requires a statement, on registration and on update, when the policy says so', async () => {
    expectError(await register(gh, { redirect_uris: ['https://app.example.com/cb'] }, await token('partners')), 'invalid_client_metadata');
    const statement = await sign({ redirect_uris: ['https://app.example.com/cb'], client_name: 'Vouched' });
    const client = await registerOk(gh, { software_statement: statement }, await token('partners'));
    expectError(await updateClient(client, client.registration_access_token, forUpdate(client, { client_name: 'Unvouched' })), 'invalid_client_metadata');
    const renewed = await updateClient(client, client.registration_access_token, forUpdate(client, { software_statement: statement, client_name: 'Ignored' }));
    expect(renewed.status).toBe(200);
    expect(renewed.body.client_name).toBe('Vouched');
  });

  describe('without trusted issuers configured', () => {
    let plain: TestGatehouse;
    beforeAll(async () => {
      plain = await startTestGatehouse({ env: unlimitedRegistration });
    });
    afterAll(() => plain?.close());

    it('refuses every statement rather than ignoring it', async () => {
      const statement = await sign({ redirect_uris: ['https://app.example.com/cb'] });
      const answer = await register(plain, { software_statement: statement, redirect_uris: ['https://app.example.com/cb'] }, (await mintToken(plain)).value);
      expectError(answer, 'invalid_software_statement');
    });
  });
});
