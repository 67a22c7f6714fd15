/**
 * The device authorization grant (RFC 8628, issue 18 item 1) end to end:
 * openid-client v6 initiates and polls while a person enters the code
 * through Gatehouse's pages (code, confirmation naming the client with the
 * §5.4 warning, sign-in, consent, success); then the refusals: a wrong
 * code, an expired one, a denied request, a replayed device_code, polling
 * before the interval (`slow_down`), a client not registered for the grant,
 * and code guessing locked out per address. One Gatehouse for the file.
 */
import { createHash } from 'node:crypto';

import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { hiddenField, UserAgent, type Step } from '../../support/user-agent.js';
import { acrMfa, enrolTotp, totp } from '../mfa/sign-in-flow.js';

const grantType = 'urn:ietf:params:oauth:grant-type:device_code';
const maxGuesses = 6;

describe('device authorization grant (RFC 8628)', () => {
  let gh: TestGatehouse;
  let tv: oidc.Configuration;
  let tvClientId: string;

  const rpFor = (clientId: string) => oidc.discovery(new URL(gh.issuer), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
  const page = (path: string) => new URL(path, gh.issuer).href;

  /** The code page, then the code as typed: answers the confirmation page (or the error). */
  async function enterCode(agent: UserAgent, typed: string): Promise<Step> {
    const entry = await agent.request(page('/device'));
    expect(entry.status).toBe(200);
    return agent.request(page('/device'), { form: { xsrf: hiddenField(entry.body, 'xsrf'), user_code: typed } });
  }

  /** Confirmation → sign-in → consent → the success page. */
  async function approve(agent: UserAgent, confirmation: Step, user: { username: string; password: string }, seed?: string): Promise<Step> {
    const form = { xsrf: hiddenField(confirmation.body, 'xsrf'), user_code: hiddenField(confirmation.body, 'user_code'), confirm: 'yes' };
    let step = await agent.request(page('/device'), { form });
    for (let i = 0; i < 12; i += 1) {
      if (step.location) {
        step = await agent.request(step.location);
        continue;
      }
      if (step.body.includes('Device connected')) return step;
      expect(step.status, step.body.slice(0, 300)).toBe(200);
      const csrf = hiddenField(step.body, 'csrf');
      const login = /action="(\/interaction\/[^"]+\/login)"/.exec(step.body)?.[1];
      const confirm = /action="(\/interaction\/[^"]+\/confirm)"/.exec(step.body)?.[1];
      const secondFactor = /action="(\/interaction\/[^"]+\/totp)"/.exec(step.body)?.[1];
      if (secondFactor && seed) step = await agent.request(page(secondFactor), { form: { csrf, code: await totp(seed) } });
      else if (login) step = await agent.request(page(login), { form: { csrf, login: user.username, password: user.password } });
      else if (confirm) step = await agent.request(page(confirm), { form: { csrf } });
      else throw new Error(`unexpected page: ${step.body.slice(0, 300)}`);
    }
    throw new Error('the device flow did not reach its success page');
  }

  const auditCount = async (type: string) => {
    await gh.app.audit.flush();
    return (await gh.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE type = $1', [type])).rows[0]!.n;
  };

  const tokenRequest = (clientId: string, deviceCode: string) =>
    fetch(`${gh.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: grantType, device_code: deviceCode, client_id: clientId }) });

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_DEVICE_POLL_INTERVAL: '1s', GATEHOUSE_DEVICE_CODE_MAX_GUESSES_PER_IP: String(maxGuesses) } });
    tvClientId = (await gh.createClient({ type: 'public', name: 'Living-room TV', deviceFlow: true, scope: 'openid profile' })).clientId;
    tv = await rpFor(tvClientId);
  });
  afterAll(() => gh?.close());

  it('discovery advertises the endpoint, and a code has the RFC 8628 §6.1 shape and the interval', async () => {
    expect(tv.serverMetadata().device_authorization_endpoint).toBe(`${gh.issuer}/device/auth`);
    expect(tv.serverMetadata().grant_types_supported).toContain(grantType);
    const response = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    expect(response.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(response.verification_uri).toBe(`${gh.issuer}/device`);
    expect(response.interval).toBe(1);
    expect(response.expires_in).toBe(600);
    // The user code is stored only as a digest (DESIGN invariant 1).
    const stored = await gh.app.db.query<{ payload: string }>("SELECT payload::text FROM oidc_models WHERE model = 'DeviceCode'");
    for (const row of stored.rows) expect(row.payload).not.toContain(response.user_code.replace('-', ''));
  });

  it('openid-client polls while the user enters the code (any case, no dash), confirms and signs in; the device gets tokens once', async () => {
    const user = await gh.createUser();
    const response = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid profile' });
    const polling = oidc.pollDeviceAuthorizationGrant(tv, response);
    const agent = new UserAgent();
    const confirmation = await enterCode(agent, response.user_code.replace('-', '').toLowerCase());
    expect(confirmation.status).toBe(200);
    expect(confirmation.body).toContain('Living-room TV');
    expect(confirmation.body).toContain(response.user_code);
    expect(confirmation.body).toMatch(/If someone sent you this code/);
    expect(confirmation.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(confirmation.body).not.toMatch(/<script|onfocus=|style=/);
    const done = await approve(agent, confirmation, user);
    expect(done.body).toContain('Living-room TV');
    const tokens = await polling;
    expect(tokens.claims()).toMatchObject({ sub: user.id, aud: tvClientId });
    expect(tokens.access_token).toBeTruthy();

    // RFC 8628 §3.5 / RFC 6749 §10.5: the device code is single use.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const replay = await tokenRequest(tvClientId, response.device_code);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
    // The same user code cannot approve a second time.
    const again = await enterCode(new UserAgent(), response.user_code);
    expect(again.body).toMatch(/already been used/);
    expect(await auditCount('device.authorization_requested')).toBeGreaterThanOrEqual(2);
    expect(await auditCount('device.approved')).toBe(1);
  });

  it('the sign-in asks an enrolled user for the second factor; the device\'s ID token says so', async () => {
    const user = await gh.createUser();
    const { seed } = await enrolTotp(gh, user.id, { longAgo: true });
    // Without the code the flow stops on the second-factor page: approve() finds no form it knows.
    const stopped = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const stoppedAgent = new UserAgent();
    await expect(approve(stoppedAgent, await enterCode(stoppedAgent, stopped.user_code), user)).rejects.toThrow(/unexpected page/);
    // A confirmation posted from another browser (no session, so no xsrf) is a plain 400 page.
    const elsewhere = await enterCode(new UserAgent(), stopped.user_code);
    expect(elsewhere.body).toMatch(/already been used/);
    const pending = await tokenRequest(tvClientId, stopped.device_code);
    expect(((await pending.json()) as { error: string }).error).toBe('authorization_pending');

    const response = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const polling = oidc.pollDeviceAuthorizationGrant(tv, response);
    const agent = new UserAgent();
    await approve(agent, await enterCode(agent, response.user_code), user, seed);
    const tokens = await polling;
    expect(tokens.claims()).toMatchObject({ sub: user.id, acr: acrMfa });
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
  });

  it('verification_uri_complete fills the code in without submitting it (no auto-posting script)', async () => {
    const response = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const agent = new UserAgent();
    const filled = await agent.request(response.verification_uri_complete!);
    expect(filled.status).toBe(200);
    expect(filled.body).toContain(`value="${response.user_code}"`);
    expect(filled.body).not.toContain('<script');
  });

  it('a wrong code is refused with a plain message and audited', async () => {
    const before = await auditCount('device.code_rejected');
    const wrong = await enterCode(new UserAgent(), 'BCDF-GHJK');
    expect(wrong.status).toBe(200);
    expect(wrong.body).toMatch(/That code is not right/);
    expect(await auditCount('device.code_rejected')).toBe(before + 1);
    // A form without the page's xsrf value, or no form at all: a plain 4xx page, never a 5xx.
    for (const body of ['', 'user_code=BCDF-GHJK', 'xsrf=forged&user_code=BCDF-GHJK']) {
      const answer = await fetch(page('/device'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body });
      expect(answer.status, body).toBeLessThan(500);
      expect(answer.status, body).toBeGreaterThanOrEqual(400);
    }
    // A resume link for no interaction, without a session: a plain page too.
    const resume = await fetch(page('/device/aBcD1234'));
    expect(resume.status).toBe(400);
    expect(await resume.text()).toMatch(/expired/);
    // Garbage and empty input are the same plain page, never a 5xx.
    for (const typed of ['', '\u00e9\u00e9\u00e9\u00e9-\u00e9\u00e9', 'x'.repeat(40)]) {
      const answer = await enterCode(new UserAgent(), typed);
      expect(answer.status, typed).toBeLessThan(500);
    }
  });

  it('a denied request: the device is told access_denied', async () => {
    const response = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const polling = oidc.pollDeviceAuthorizationGrant(tv, response);
    const agent = new UserAgent();
    const confirmation = await enterCode(agent, response.user_code);
    const cancelled = await agent.request(page('/device'), { form: { xsrf: hiddenField(confirmation.body, 'xsrf'), user_code: response.user_code, abort: 'yes' } });
    expect(cancelled.body).toMatch(/Cancelled/);
    await expect(polling).rejects.toMatchObject({ error: 'access_denied' });
    expect(await auditCount('device.denied')).toBeGreaterThanOrEqual(1);
  });

  it('an expired code is refused on the page and answered expired_token to the device', async () => {
    const response = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const digest = createHash('sha256').update(response.user_code.replace('-', '')).digest();
    const updated = await gh.app.db.query(
      "UPDATE oidc_models SET payload = jsonb_set(payload, '{exp}', to_jsonb(floor(extract(epoch FROM now()))::int - 1)) WHERE model = 'DeviceCode' AND user_code_hash = $1",
      [digest],
    );
    expect(updated.rowCount).toBe(1);
    const page = await enterCode(new UserAgent(), response.user_code);
    expect(page.body).toMatch(/expired/);
    const poll = await tokenRequest(tvClientId, response.device_code);
    expect(((await poll.json()) as { error: string }).error).toBe('expired_token');
  });

  it('a device polling before its interval is answered slow_down, then authorization_pending', async () => {
    const response = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const first = await tokenRequest(tvClientId, response.device_code);
    expect(((await first.json()) as { error: string }).error).toBe('authorization_pending');
    const fast = await tokenRequest(tvClientId, response.device_code);
    expect(fast.status).toBe(400);
    expect(((await fast.json()) as { error: string }).error).toBe('slow_down');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(((await (await tokenRequest(tvClientId, response.device_code)).json()) as { error: string }).error).toBe('authorization_pending');
    expect(await auditCount('device.slow_down')).toBeGreaterThanOrEqual(1);
  });

  it('a client not registered for the grant is refused unauthorized_client', async () => {
    const web = await gh.createClient({ type: 'public', name: 'Web app', redirectUris: ['http://127.0.0.1/cb'] });
    await expect(oidc.initiateDeviceAuthorization(await rpFor(web.clientId), { scope: 'openid' })).rejects.toMatchObject({ error: 'unauthorized_client' });
    // A service client cannot be registered for it at all.
    await expect(gh.createClient({ type: 'service', name: 'svc', deviceFlow: true })).rejects.toThrow();
  });

  // Last: it spends this address's guesses.
  it('guessing codes from one address is locked out: even the right code is then refused with 429', async () => {
    const response = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    let refusedAfter = 0;
    for (let i = 0; i < maxGuesses + 2; i += 1) {
      const answer = await enterCode(new UserAgent(), 'ZZZZ-ZZZZ');
      if (answer.status === 429) break;
      refusedAfter += 1;
    }
    expect(refusedAfter).toBeLessThanOrEqual(maxGuesses);
    const right = await enterCode(new UserAgent(), response.user_code);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(right.body).toMatch(/Too many attempts/);
    expect(await auditCount('device.locked')).toBe(1);
  });
});
