/**
 * Self-service sign-up (issue 19 §5) against a real SMTP server on loopback
 * that the test reads, on both backends: open sign-up from an interrupted
 * sign-in (verification link that works once, then back to the application),
 * the same answer and no second account when a name is taken (the owner is
 * told instead), the password rules with their reason, CSRF; sign-up by
 * invitation (CLI and admin API, single use, expiry, the fixed and verified
 * address); `off` (no page, no link); and the rate limits (429 with
 * Retry-After per client address, silent per email address).
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { cli } from '../../support/cli.js';
import { linkIn, startSmtpServer, type TestSmtpServer } from '../../support/smtp.js';
import { hiddenField, signInThroughPages, UserAgent, type Step } from '../../support/user-agent.js';
import { adminCaller, adminServiceClient, createContract } from '../admin/helpers.js';

const redirectUri = 'https://rp.example.test/callback';
const goodPassword = 'a sturdy passphrase for signing up 7';
const mailEnv = (smtp: TestSmtpServer) => ({
  GATEHOUSE_SMTP_URL: smtp.url,
  GATEHOUSE_MAIL_FROM: 'Gatehouse <id@example.test>',
  GATEHOUSE_SMTP_REQUIRE_TLS: 'false',
  GATEHOUSE_LOCKOUT_MAX_FAILURES_PER_IP: '100000',
});

let counter = 0;
const fresh = (prefix: string) => `${prefix}${Date.now().toString(36)}${(counter += 1)}`;

/** The sign-up form, filled and sent; resolves once the background work has run. */
async function signUp(gh: TestGatehouse, fields: { username: string; email: string; password?: string }, agent = new UserAgent(), query = ''): Promise<{ form: Step; answer: Step }> {
  const form = await agent.request(new URL(`/signup${query}`, gh.issuer).href);
  expect(form.status).toBe(200);
  const extra: Record<string, string> = form.body.includes('name="interaction"') ? { interaction: hiddenField(form.body, 'interaction') } : {};
  const answer = await agent.request(new URL('/signup', gh.issuer).href, { form: { csrf: hiddenField(form.body, 'csrf'), ...extra, username: fields.username, email: fields.email, password: fields.password ?? goodPassword } });
  await gh.app.services.signups.idle();
  return { form, answer };
}

async function loginPage(gh: TestGatehouse, rp: oidc.Configuration, agent = new UserAgent()) {
  const authorization = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid email', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
  return agent.follow(authorization.href, gh.issuer);
}

async function relyingParty(gh: TestGatehouse) {
  const created = await gh.createClient({ type: 'confidential', name: 'RP', redirectUris: [redirectUri], scope: 'openid email' });
  return oidc.discovery(new URL(gh.issuer), created.clientId, undefined, oidc.ClientSecretBasic(created.clientSecret!), { execute: [oidc.allowInsecureRequests] });
}

describe('sign-up: open', () => {
  let gh: TestGatehouse;
  let smtp: TestSmtpServer;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    gh = await startTestGatehouse({ env: { ...mailEnv(smtp), GATEHOUSE_SIGNUP: 'open', GATEHOUSE_SIGNUP_LIMIT_IP: '100000/1h' } });
    rp = await relyingParty(gh);
  });
  afterAll(async () => {
    await gh?.close();
    await smtp?.close();
  });

  it('signs up from an interrupted sign-in: a verification link that works once, then back to the application', async () => {
    const agent = new UserAgent();
    const { step: login, url: loginUrl } = await loginPage(gh, rp, agent);
    const uid = new URL(loginUrl).pathname.split('/').at(-1)!;
    expect(login.body).toContain(`href="/signup?interaction=${uid}"`);
    const username = fresh('sam');
    const email = `${username}@example.test`;
    const { form, answer } = await signUp(gh, { username, email }, agent, `?interaction=${uid}`);
    expect(form.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(form.body).not.toMatch(/<script>|style="/);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('Check your email');
    expect(answer.body).toContain(`href="/interaction/${uid}"`);

    const account = (await gh.app.services.accounts.find(username))!;
    expect(account).toMatchObject({ email, emailVerified: false, admin: false, disabled: false });
    const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Confirm your email address');
    const link = linkIn(mail, `${gh.issuer}/verify-email?token=`);
    const landing = await new UserAgent().request(link);
    expect(landing.status).toBe(200);
    const confirmed = await new UserAgent().request(new URL('/verify-email', gh.issuer).href, { form: { token: hiddenField(landing.body, 'token') } });
    expect(confirmed.status).toBe(200);
    expect((await gh.app.services.accounts.findById(account.id))!.emailVerified).toBe(true);
    expect((await new UserAgent().request(new URL('/verify-email', gh.issuer).href, { form: { token: hiddenField(landing.body, 'token') } })).status).toBe(410);
    expect((await new UserAgent().request(link)).status).toBe(410);

    // The interrupted authorization goes on, in the same browser, with the new account.
    const callback = new URL(await signInThroughPages(agent, gh.issuer, new URL(`/interaction/${uid}`, gh.issuer).href, { username, password: goodPassword }));
    expect(callback.origin + callback.pathname).toBe(redirectUri);
    expect(callback.searchParams.get('code')).toBeTruthy();

    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ type: string; detail: Record<string, unknown> }>("SELECT type, detail FROM audit_events WHERE subject = $1 AND type IN ('account.created', 'signup.requested', 'email.verification_sent', 'account.email_verified') ORDER BY seq", [account.id]);
    expect(rows.map((r) => r.type)).toEqual(['account.created', 'email.verification_sent', 'signup.requested', 'account.email_verified']);
    expect(rows[0]!.detail).toMatchObject({ via: 'signup' });
    // Nothing usable at rest: the password only as its argon2 hash.
    expect(JSON.stringify((await gh.app.db.query('SELECT * FROM accounts WHERE id = $1', [account.id])).rows)).not.toContain(goodPassword);
  });

  it('answers a taken username or address as a free one, makes no second account, and tells the mailbox instead', async () => {
    const owner = await gh.createUser();
    const ownerEmail = `${owner.username}@example.test`;
    const accountsBefore = (await gh.app.services.accounts.list()).length;
    const freeName = fresh('free');
    const takenName = await signUp(gh, { username: owner.username, email: `${freeName}@example.test` });
    const takenAddress = await signUp(gh, { username: fresh('other'), email: ownerEmail });
    const free = await signUp(gh, { username: freeName, email: `${fresh('new')}@example.test` });
    const neutral = (step: Step) => `${step.status} ${step.body.replace(/<strong>[^<]*@example\.test<\/strong>/, 'ADDRESS')}`;
    expect(neutral(takenName.answer)).toBe(neutral(free.answer));
    expect(neutral(takenAddress.answer)).toBe(neutral(free.answer));
    expect(free.answer.status).toBe(200);

    expect((await gh.app.services.accounts.list()).length).toBe(accountsBefore + 1);
    expect((await gh.app.services.accounts.find(owner.username))!.id).toBe(owner.id);
    expect((await gh.app.services.accounts.authenticate(owner.username, goodPassword)).ok).toBe(false);
    const notice = await smtp.waitFor((m) => m.to.includes(ownerEmail) && m.subject === 'You already have an account');
    expect(notice.text).toContain(owner.username);
    expect(notice.text).toContain(`${gh.issuer}/recovery`);
    const retry = await smtp.waitFor((m) => m.to.includes(`${freeName}@example.test`) && m.subject === 'Choose another username');
    expect(retry.text).toContain(owner.username);
    expect(smtp.to(ownerEmail).some((m) => m.subject === 'Confirm your email address')).toBe(false);

    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ detail: { reason?: string } }>("SELECT detail FROM audit_events WHERE type = 'signup.requested' AND outcome = 'failure' ORDER BY seq");
    expect(rows.map((r) => r.detail.reason)).toEqual(expect.arrayContaining(['username_taken', 'email_taken']));
  });

  it('refuses a common password, or one made from the names, saying why, and creates nothing', async () => {
    const username = fresh('pat');
    const email = `${username}@example.test`;
    const common = await signUp(gh, { username, email, password: 'password1234' });
    expect(common.answer.status).toBe(400);
    expect(common.answer.body).toContain('common or breached passwords');
    expect(common.answer.body).toContain(`value="${username}"`);
    const own = await signUp(gh, { username, email, password: `${username}${username}` });
    expect(own.answer.status).toBe(400);
    expect(own.answer.body).toContain('made from your username');
    const short = await signUp(gh, { username, email, password: 'short' });
    expect(short.answer.body).toContain('at least 12 characters');
    const badAddress = await signUp(gh, { username, email: 'not an address' });
    expect(badAddress.answer.status).toBe(400);
    expect(badAddress.answer.body).toContain('valid email address');
    expect(await gh.app.services.accounts.find(username)).toBeUndefined();
    await gh.app.mailWorker!.runOnce();
    expect(smtp.to(email)).toHaveLength(0);
  });

  it('refuses a form without its CSRF token, another method, and offers no invitations', async () => {
    const agent = new UserAgent();
    await agent.request(new URL('/signup', gh.issuer).href);
    const username = fresh('eve');
    const forged = await agent.request(new URL('/signup', gh.issuer).href, { form: { username, email: `${username}@example.test`, password: goodPassword } });
    expect(forged.status).toBe(403);
    // A token from another browser's form cookie does not carry over.
    const other = await new UserAgent().request(new URL('/signup', gh.issuer).href);
    const crossed = await agent.request(new URL('/signup', gh.issuer).href, { form: { csrf: hiddenField(other.body, 'csrf'), username, email: `${username}@example.test`, password: goodPassword } });
    expect(crossed.status).toBe(403);
    await gh.app.services.signups.idle();
    expect(await gh.app.services.accounts.find(username)).toBeUndefined();
    expect((await agent.request(new URL('/signup', gh.issuer).href, { method: 'PUT' })).status).toBe(405);
    expect((await agent.request(new URL('/signup/invitation?token=' + 'a'.repeat(43), gh.issuer).href)).status).toBe(404);
  });
});

describe('sign-up: by invitation', () => {
  let gh: TestGatehouse;
  let smtp: TestSmtpServer;
  let rp: oidc.Configuration;
  const env = () => ({ GATEHOUSE_ISSUER: gh.issuer, ...mailEnv(smtp), GATEHOUSE_SIGNUP: 'invite' });

  beforeAll(async () => {
    smtp = await startSmtpServer();
    gh = await startTestGatehouse({ env: { ...mailEnv(smtp), GATEHOUSE_SIGNUP: 'invite', GATEHOUSE_SIGNUP_LIMIT_IP: '100000/1h' } });
    rp = await relyingParty(gh);
  });
  afterAll(async () => {
    await gh?.close();
    await smtp?.close();
  });

  async function invite(email: string): Promise<string> {
    const result = await cli(gh.database, ['users', 'invite', email, '--json'], { env: env() });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { link: string; email: string; emailed: boolean };
    expect(printed).toMatchObject({ email, emailed: true });
    return printed.link;
  }

  async function openInvitation(link: string, agent = new UserAgent()): Promise<{ agent: UserAgent; page: Step }> {
    const landed = await agent.request(link);
    expect(landed.status).toBe(303);
    expect(landed.location).toBe(new URL('/signup/invitation', gh.issuer).href);
    return { agent, page: await agent.request(landed.location!) };
  }

  const accept = (agent: UserAgent, page: Step, username: string, password = goodPassword) =>
    agent.request(new URL('/signup/invitation', gh.issuer).href, { form: { csrf: hiddenField(page.body, 'csrf'), username, password } });

  it('refuses sign-up without an invitation, and the sign-in page offers none', async () => {
    const page = await new UserAgent().request(new URL('/signup', gh.issuer).href);
    expect(page.status).toBe(403);
    expect(page.body).toContain('by invitation only');
    expect(page.body).not.toContain('name="password"');
    const posted = await new UserAgent().request(new URL('/signup', gh.issuer).href, { form: { csrf: 'x', username: fresh('nope'), email: 'nope@example.test', password: goodPassword } });
    expect(posted.status).toBe(403);
    const { step } = await loginPage(gh, rp);
    expect(step.status).toBe(200);
    expect(step.body).not.toContain('/signup');
    expect((await new UserAgent().request(new URL('/signup/invitation', gh.issuer).href)).status).toBe(410);
    expect((await new UserAgent().request(new URL('/signup/invitation?token=not-a-token', gh.issuer).href)).status).toBe(410);
  });

  it('accepts an invitation once, with the invited address verified', async () => {
    const email = `${fresh('ivy')}@example.test`;
    const link = await invite(email);
    const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'You are invited to create an account');
    expect(linkIn(mail, `${gh.issuer}/signup/invitation?token=`)).toBe(link);
    const token = new URL(link).searchParams.get('token')!;
    expect(JSON.stringify((await gh.app.db.query('SELECT * FROM invitations')).rows)).not.toContain(token);

    const { agent, page } = await openInvitation(link);
    expect(page.status).toBe(200);
    expect(page.body).toContain(email);
    expect(page.body).not.toContain('name="email"');
    const username = fresh('ivy');
    const common = await accept(agent, page, username, 'qwertyuiop123');
    expect(common.status).toBe(400);
    expect(common.body).toContain('common or breached passwords');
    const taken = await accept(agent, page, (await gh.createUser()).username);
    expect(taken.status).toBe(400);
    expect(taken.body).toContain('username is taken');

    const done = await accept(agent, page, username);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your account is ready');
    const account = (await gh.app.services.accounts.find(username))!;
    expect(account).toMatchObject({ email, emailVerified: true });
    expect((await gh.app.services.accounts.authenticate(username, goodPassword)).ok).toBe(true);

    // Used: neither the same form nor the link works again, in this browser or another.
    expect((await accept(agent, page, fresh('twice'))).status).toBe(410);
    expect((await openInvitation(link)).page.status).toBe(410);
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ type: string; actor: string }>("SELECT type, actor FROM audit_events WHERE type IN ('invitation.created', 'invitation.accepted') ORDER BY seq");
    expect(rows.map((r) => `${r.type} ${r.actor}`)).toEqual(expect.arrayContaining(['invitation.created operator', `invitation.accepted ${account.id}`]));
  });

  it('refuses an expired invitation', async () => {
    const email = `${fresh('old')}@example.test`;
    const link = await invite(email);
    const { agent, page } = await openInvitation(link);
    expect(page.status).toBe(200);
    await gh.app.db.query("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = $1", [email]);
    const late = await accept(agent, page, fresh('late'));
    expect(late.status).toBe(410);
    expect(late.body).toContain('does not work');
    expect((await openInvitation(link)).page.status).toBe(410);
    expect(await gh.app.services.accounts.find(email)).toBeUndefined();
  });

  it('creates invitations through the admin API with admin:users.write, the link shown once', async () => {
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Record<string, unknown>;
    const call = adminCaller(gh, createContract(document));
    const writer = await (await adminServiceClient(gh, ['admin:users.write'])).token();
    const reader = await (await adminServiceClient(gh, ['admin:users.read'])).token();
    const email = `${fresh('api')}@example.test`;
    expect((await call('POST', '/invitations', { token: reader, body: { email } })).status).toBe(403);
    expect((await call('POST', '/invitations', { body: { email } })).status).toBe(401);
    const created = await call('POST', '/invitations', { token: writer, body: { email } });
    expect(created.status).toBe(201);
    const body = created.body as { link: string; email: string; expires_at: string; emailed: boolean };
    expect(body).toMatchObject({ email, emailed: true });
    expect(Date.parse(body.expires_at) - Date.now()).toBeGreaterThan(6 * 86_400_000);
    expect(body.link).toMatch(new RegExp(`^${gh.issuer}/signup/invitation\\?token=[A-Za-z0-9_-]{43}$`));
    const existing = await gh.createUser();
    const conflict = await call('POST', '/invitations', { token: writer, body: { email: `${existing.username}@example.test` } });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).toContain('application/problem+json');
    expect((await call('POST', '/invitations', { token: writer, body: { email: 'not an address' } })).status).toBe(400);
    expect((await call('POST', '/invitations', { token: writer, body: { email, role: 'admin' } })).status).toBe(400);
    const { agent, page } = await openInvitation(body.link);
    const username = fresh('api');
    expect((await accept(agent, page, username)).status).toBe(200);
    expect((await gh.app.services.accounts.find(username))!.email).toBe(email);
  });
});

describe('sign-up: off', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse();
  });
  afterAll(() => gh?.close());

  it('serves no sign-up page, no invitation, and no link on the sign-in page', async () => {
    expect((await new UserAgent().request(new URL('/signup', gh.issuer).href)).status).toBe(404);
    expect((await new UserAgent().request(new URL('/signup?interaction=abc', gh.issuer).href)).status).toBe(404);
    expect((await new UserAgent().request(new URL('/signup/invitation?token=' + 'a'.repeat(43), gh.issuer).href)).status).toBe(404);
    const rp = await relyingParty(gh);
    const { step } = await loginPage(gh, rp);
    expect(step.status).toBe(200);
    expect(step.body).toContain('Sign in');
    expect(step.body).not.toContain('Create an account');
    const result = await cli(gh.database, ['users', 'invite', 'someone@example.test'], { env: { GATEHOUSE_ISSUER: gh.issuer } });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('GATEHOUSE_SIGNUP=invite');
  });
});

describe('sign-up: rate limits', () => {
  let gh: TestGatehouse;
  let smtp: TestSmtpServer;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    gh = await startTestGatehouse({ env: { ...mailEnv(smtp), GATEHOUSE_SIGNUP: 'open', GATEHOUSE_SIGNUP_LIMIT_IP: '3/1h', GATEHOUSE_SIGNUP_LIMIT_ADDRESS: '1/1h' } });
  });
  afterAll(async () => {
    await gh?.close();
    await smtp?.close();
  });

  it('limits messages per address silently, and submissions per client address with 429 and Retry-After', async () => {
    const email = `${fresh('busy')}@example.test`;
    const first = await signUp(gh, { username: fresh('busy'), email });
    const second = await signUp(gh, { username: fresh('busy'), email });
    expect(second.answer.status).toBe(first.answer.status);
    expect(second.answer.body).toBe(first.answer.body);
    await smtp.waitFor((m) => m.to.includes(email));
    await gh.app.mailWorker!.runOnce();
    expect(smtp.to(email)).toHaveLength(1);
    expect((await gh.app.services.accounts.list()).filter((a) => a.email === email)).toHaveLength(1);

    // The form itself is not counted, only submissions: the fourth is refused.
    await signUp(gh, { username: fresh('busy'), email: `${fresh('third')}@example.test` });
    const agent = new UserAgent();
    const form = await agent.request(new URL('/signup', gh.issuer).href);
    expect(form.status).toBe(200);
    const username = fresh('fourth');
    const limited = await agent.request(new URL('/signup', gh.issuer).href, { form: { csrf: hiddenField(form.body, 'csrf'), username, email: `${username}@example.test`, password: goodPassword } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body).toContain('Too many attempts');
    await gh.app.services.signups.idle();
    expect(await gh.app.services.accounts.find(username)).toBeUndefined();
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ detail: { reason?: string } }>("SELECT detail FROM audit_events WHERE type = 'signup.requested' AND outcome = 'failure'");
    expect(rows.map((r) => r.detail.reason)).toEqual(['rate_limited']);
  });
});
