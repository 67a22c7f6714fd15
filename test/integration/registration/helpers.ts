/**
 * Plain-HTTP helpers for the registration suites: they send exactly the
 * request a test names (openid-client would refuse, or fix up, the invalid ones
 * these tests need to send) and return status, headers and JSON body.
 */
import type { TestGatehouse } from '../../support/gatehouse.js';
import type { NewIat } from '../../../src/registration/initial-access-tokens.js';
import { operator } from '../../../src/audit/events.js';

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const bearer = (token: string | undefined): Record<string, string> => (token === undefined ? {} : { authorization: `Bearer ${token}` });

export async function register(gh: TestGatehouse, metadata: Record<string, unknown>, token?: string): Promise<Answer> {
  return answer(
    await fetch(`${gh.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(token) },
      body: JSON.stringify(metadata),
    }),
  );
}

export interface Registered {
  client_id: string;
  client_secret?: string;
  client_secret_expires_at?: number;
  registration_access_token: string;
  registration_client_uri: string;
  [key: string]: unknown;
}

/** Registers and insists on 201 Created, showing the error body otherwise. */
export async function registerOk(gh: TestGatehouse, metadata: Record<string, unknown>, token?: string): Promise<Registered> {
  const result = await register(gh, metadata, token);
  if (result.status !== 201) throw new Error(`registration answered ${result.status}: ${JSON.stringify(result.body)}`);
  return result.body as Registered;
}

export async function readClient(client: Pick<Registered, 'registration_client_uri'>, rat: string): Promise<Answer> {
  return answer(await fetch(client.registration_client_uri, { headers: bearer(rat) }));
}

export async function updateClient(client: Pick<Registered, 'registration_client_uri'>, rat: string, metadata: Record<string, unknown>): Promise<Answer> {
  return answer(
    await fetch(client.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...bearer(rat) },
      body: JSON.stringify(metadata),
    }),
  );
}

export async function deleteClient(client: Pick<Registered, 'registration_client_uri'>, rat: string): Promise<Answer> {
  return answer(await fetch(client.registration_client_uri, { method: 'DELETE', headers: bearer(rat) }));
}

/** The metadata a registered client sends back on update (RFC 7592 §2.2): everything but the server-managed fields. */
export function forUpdate(client: Registered, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const { registration_access_token: _rat, registration_client_uri: _uri, client_secret_expires_at: _exp, client_id_issued_at: _iat, client_secret: _secret, ...metadata } = client;
  return { ...metadata, ...changes };
}

export async function mintToken(gh: TestGatehouse, input: Partial<NewIat> = {}): Promise<{ id: string; value: string }> {
  const { token, value } = await gh.app.services.initialAccessTokens.create(operator, { expiresInSeconds: 3600, ...input });
  return { id: token.id, value };
}

/** A token-endpoint client_credentials request with HTTP Basic authentication. */
export async function clientCredentials(gh: TestGatehouse, clientId: string, secret: string, params: Record<string, string> = {}): Promise<Answer> {
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');
  return answer(
    await fetch(`${gh.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
    }),
  );
}

/**
 * These suites register hundreds of clients from one loopback address; the
 * registration rate limit (tested in test/integration/rate-limits) would cut them short.
 */
export const unlimitedRegistration = { GATEHOUSE_RATE_LIMIT_REGISTRATION: 'ip=off,client=off' };

export const webClient = { redirect_uris: ['https://rp.example.test/cb'], client_name: 'Registered web app' };
