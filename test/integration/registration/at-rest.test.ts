/**
 * DESIGN invariant 1 for registration: after tokens are minted, clients
 * registered, updated (rotating secret and registration access token) and a
 * client deleted, a dump of every table holds none of the credentials handed
 * out, raw or in the encodings a leak would take.
 */
import { createHash } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { dumpDatabase } from '../../support/dump.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { deleteClient, forUpdate, mintToken, registerOk, unlimitedRegistration, updateClient, webClient, type Registered } from './helpers.js';
import { operator } from '../../../src/audit/events.js';

describe('registration leaves nothing usable at rest', () => {
  let gh: TestGatehouse;
  const credentials = new Map<string, string>();
  let tokenId = '';

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: unlimitedRegistration });
    await gh.app.services.registrationPolicies.set(operator, 'expiring', { secretLifetimeSeconds: 3600 });
    const token = await mintToken(gh, { policy: 'expiring', maxUses: 5 });
    tokenId = token.id;
    credentials.set('initial access token', token.value);

    const kept = await registerOk(gh, webClient, token.value);
    credentials.set('client secret', kept.client_secret!);
    credentials.set('registration access token', kept.registration_access_token);
    const renewed = (await updateClient(kept, kept.registration_access_token, forUpdate(kept, { client_name: 'Renamed' }))).body as Registered;
    credentials.set('rotated client secret', renewed.client_secret!);
    credentials.set('rotated registration access token', renewed.registration_access_token);

    const removed = await registerOk(gh, webClient, token.value);
    credentials.set('deleted client secret', removed.client_secret!);
    credentials.set('deleted client registration access token', removed.registration_access_token);
    expect((await deleteClient(removed, removed.registration_access_token)).status).toBe(204);

    const unused = await mintToken(gh);
    credentials.set('unused initial access token', unused.value);
  });
  afterAll(() => gh?.close());

  it('produced the credentials it is about to look for', () => {
    expect(credentials.size).toBe(8);
    for (const value of credentials.values()) expect(value.length).toBeGreaterThanOrEqual(32);
  });

  it('finds none of them in a dump of every table, raw, base64 or hex', async () => {
    const dump = await dumpDatabase(gh.app.db);
    expect(dump).toContain(tokenId);
    for (const [name, value] of credentials) {
      for (const form of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex'), Buffer.from(value, 'base64url').toString('hex')]) {
        expect(dump.includes(form), `${name} found in the database`).toBe(false);
      }
    }
  });

  it('keeps initial access tokens as their SHA-256 and client secrets as AES-GCM ciphertext', async () => {
    const { rows: tokens } = await gh.app.db.query<{ token_hash: Buffer }>('SELECT token_hash FROM initial_access_tokens WHERE id = $1', [tokenId]);
    expect(Buffer.from(tokens[0]!.token_hash).equals(createHash('sha256').update(credentials.get('initial access token')!).digest())).toBe(true);

    const { rows: clients } = await gh.app.db.query<{ metadata: Record<string, unknown>; secret_ciphertext: string }>("SELECT metadata, secret_ciphertext FROM clients WHERE source = 'registration'");
    expect(clients).toHaveLength(1);
    expect(clients[0]!.metadata).not.toHaveProperty('client_secret');
    expect(clients[0]!.secret_ciphertext).toMatch(/^v1\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });
});
