/**
 * Email (issue 19 §3) against a real SMTP server on loopback that the test
 * reads: password recovery end to end through the pages (the link works
 * once, expires, is superseded, is bound to its account, asks for the second
 * factor, ends every session and refresh token, sends the reset notice), the
 * same answer for unknown names, the per-account rate limit, email
 * verification and the `email_verified` claim, new-device notices, and
 * delivery that retries while the SMTP server is down.
 */
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { createSmtpTransport } from '../../../src/mail/transport.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { linkIn, startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../../support/smtp.js';
import { cli } from '../../support/cli.js';
import { hiddenField, signInThroughPages, UserAgent, type Step } from '../../support/user-agent.js';
import { adminCaller, adminServiceClient, createContract } from '../admin/helpers.js';

const redirectUri = 'https://rp.example.test/callback';
const newPassword = 'a brand new passphrase 42';

describe('email: recovery, verification and notices', () => {
  let gh: TestGatehouse;
  let smtp: TestSmtpServer;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    gh = await startTestGatehouse({
      env: {
        GATEHOUSE_SMTP_URL: smtp.url,
        GATEHOUSE_MAIL_FROM: 'Gatehouse <id@example.test>',
        // The loopback test server offers no STARTTLS (a test below shows the default refuses it).
        GATEHOUSE_SMTP_REQUIRE_TLS: 'false',
        GATEHOUSE_MAIL_RETRY: '1s',
        GATEHOUSE_PASSWORD_RESET_LIMIT_IP: '100000/1h',
        GATEHOUSE_LOCKOUT_MAX_FAILURES_PER_IP: '100000',
      },
    });
    const created = await gh.createClient({ type: 'confidential', name: 'RP', redirectUris: [redirectUri], scope: 'openid email offline_access' });
    rp = await oidc.discovery(new URL(gh.issuer), created.clientId, undefined, oidc.ClientSecretBasic(created.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(async () => {
    await gh?.close();
    await smtp?.close();
  });

  const url = (path: string) => new URL(path, gh.issuer).href;
  const emailOf = (user: { username: string }) => `${user.username}@example.test`;

  async function signIn(user: { username: string; password: string }, agent = new UserAgent()) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const authorization = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri, scope: 'openid email offline_access', prompt: 'consent', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = new URL(await signInThroughPages(agent, gh.issuer, authorization.href, user));
    return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
  }

  /** The "forgot password" form, filled and sent; resolves once the background request has run. */
  async function requestReset(login: string, agent = new UserAgent()): Promise<Step> {
    const form = await agent.request(url('/recovery'));
    expect(form.status).toBe(200);
    const answer = await agent.request(url('/recovery'), { form: { csrf: hiddenField(form.body, 'csrf'), login } });
    await gh.app.services.passwordRecovery.idle();
    return answer;
  }

  const resetMails = (email: string) => smtp.to(email).filter((m) => m.subject === 'Reset your password');

  async function nextResetMail(email: string, before: number): Promise<ReceivedMail> {
    return smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Reset your password' && resetMails(email).indexOf(m) >= before);
  }

  /** Opens the emailed link: the token moves into a cookie, and the form is shown. */
  async function openLink(link: string, agent = new UserAgent()): Promise<{ agent: UserAgent; page: Step }> {
    const landed = await agent.request(link);
    expect(landed.status).toBe(303);
    expect(landed.location).toBe(url('/recovery/reset'));
    return { agent, page: await agent.request(url('/recovery/reset')) };
  }

  async function submitReset(agent: UserAgent, page: Step, fields: Record<string, string> = {}): Promise<Step> {
    return agent.request(url('/recovery/reset'), { form: { csrf: hiddenField(page.body, 'csrf'), password: newPassword, password2: newPassword, ...fields } });
  }

  async function linkFor(user: { username: string }): Promise<string> {
    const before = resetMails(emailOf(user)).length;
    await requestReset(user.username);
    return linkIn(await nextResetMail(emailOf(user), before), `${gh.issuer}/recovery/reset?token=`);
  }

  it('resets a password end to end: once, ending every session and refresh token, with a notice', async () => {
    const user = await gh.createUser();
    const tokens = await signIn(user);
    const login = await new UserAgent().follow(oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).href, gh.issuer);
    expect(login.step.body).toContain('href="/recovery"');

    const link = await linkFor(user);
    const mail = resetMails(emailOf(user)).at(-1)!;
    expect(mail.html).toContain(link);
    expect(mail.parsed.from?.text).toContain('id@example.test');
    // Nothing usable at rest: the token is in no table, only its hash.
    const token = new URL(link).searchParams.get('token')!;
    const dump = JSON.stringify((await gh.app.db.query('SELECT * FROM email_links WHERE account_id = $1', [user.id])).rows);
    expect(dump).not.toContain(token);

    const { agent, page } = await openLink(link);
    expect(page.status).toBe(200);
    expect(page.body).toContain(user.username);
    expect(page.body).not.toContain('name="code"');
    const mismatch = await agent.request(url('/recovery/reset'), { form: { csrf: hiddenField(page.body, 'csrf'), password: newPassword, password2: `${newPassword}!` } });
    expect(mismatch.status).toBe(400);
    const short = await submitReset(agent, page, { password: 'short', password2: 'short' });
    expect(short.status).toBe(400);
    expect(short.body).toContain('at least 12 characters');

    const done = await submitReset(agent, page);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your password is changed');
    expect((await gh.app.services.accounts.authenticate(user.username, user.password)).ok).toBe(false);
    expect((await gh.app.services.accounts.authenticate(user.username, newPassword)).ok).toBe(true);
    expect(await gh.app.services.sessions.listSessions(user.id)).toEqual([]);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const notice = await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'Your password was reset');
    expect(notice.text).toContain(user.username);
    expect(smtp.to(emailOf(user)).some((m) => m.subject === 'Your password was changed')).toBe(false);

    // Replayed: the same link, in this browser or another, is gone.
    expect((await agent.request(url('/recovery/reset'))).status).toBe(410);
    expect((await openLink(link)).page.status).toBe(410);
    expect((await submitReset(agent, page)).status).toBe(410);

    // Delivered messages keep neither recipient nor body.
    const outbox = await gh.app.services.mail.outbox.of(user.id);
    expect(outbox.every((m) => m.state !== 'delivered' || (m.recipient === null && m.text_body === null))).toBe(true);
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ type: string }>("SELECT type FROM audit_events WHERE subject = $1 AND type LIKE 'password_reset.%' ORDER BY seq", [user.id]);
    expect(rows.map((r) => r.type)).toEqual(['password_reset.requested', 'password_reset.completed']);
  });

  it('answers an unknown name exactly as a known one, and sends nothing', async () => {
    const user = await gh.createUser();
    const known = await requestReset(user.username);
    const unknown = await requestReset(`nobody-${Date.now()}@example.test`);
    expect(unknown.status).toBe(known.status);
    expect(unknown.body).toBe(known.body);
    await nextResetMail(emailOf(user), 0);
    expect(smtp.received.some((m) => m.to.some((t) => t.startsWith('nobody-')))).toBe(false);
  });

  it('refuses an expired link, a superseded one, and one bound to another account', async () => {
    const user = await gh.createUser();
    const expired = await linkFor(user);
    await gh.app.db.query("UPDATE email_links SET expires_at = now() - interval '1 second' WHERE account_id = $1", [user.id]);
    expect((await openLink(expired)).page.status).toBe(410);

    const first = await linkFor(user);
    const second = await linkFor(user);
    expect((await openLink(first)).page.status).toBe(410);
    const opened = await openLink(second);
    expect(opened.page.status).toBe(200);

    // Another account's link in the same browser: the form of the first link does not carry over.
    const other = await gh.createUser();
    const otherLink = await linkFor(other);
    const swapped = await opened.agent.request(otherLink);
    expect(swapped.status).toBe(303);
    expect((await submitReset(opened.agent, opened.page)).status).toBe(403);
    expect((await gh.app.services.accounts.authenticate(other.username, other.password)).ok).toBe(true);
    expect((await gh.app.services.accounts.authenticate(user.username, user.password)).ok).toBe(true);

    const garbage = await new UserAgent().request(url('/recovery/reset?token=not-a-token'));
    expect(garbage.status).toBe(410);
  });

  it('limits reset messages per account, with the same answer past the limit', async () => {
    const user = await gh.createUser();
    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push(await requestReset(i % 2 ? emailOf(user) : user.username));
    await nextResetMail(emailOf(user), 2);
    await gh.app.mailWorker!.runOnce();
    expect(resetMails(emailOf(user))).toHaveLength(3);
    expect(new Set(answers.map((a) => `${a.status} ${a.body}`)).size).toBe(1);
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ detail: { reason?: string } }>("SELECT detail FROM audit_events WHERE subject = $1 AND type = 'password_reset.requested' AND outcome = 'failure'", [user.id]);
    expect(rows.map((r) => r.detail.reason)).toEqual(['rate_limited']);
  });

  it('asks for the second factor of an account that has one', async () => {
    const user = await gh.createUser();
    const seed = gh.app.services.mfa.newSeed();
    const enrolled = await gh.app.services.mfa.confirmEnrolment(operator, user.id, seed, await generate({ secret: seed, epoch: Math.floor(Date.now() / 1000) - 30 }));
    expect(enrolled.ok).toBe(true);
    await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'A second factor was added to your account');
    const { agent, page } = await openLink(await linkFor(user));
    expect(page.body).toContain('name="code"');
    expect((await submitReset(agent, page)).status).toBe(400);
    const wrong = await submitReset(agent, page, { code: '000000' });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toContain('did not work');
    expect((await gh.app.services.accounts.authenticate(user.username, user.password)).ok).toBe(true);
    const codes = enrolled.ok ? enrolled.recoveryCodes : [];
    const done = await submitReset(agent, page, { code: codes[0]! });
    expect(done.status).toBe(200);
    expect((await gh.app.services.accounts.authenticate(user.username, newPassword)).ok).toBe(true);
    await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'A recovery code was used');
    // Changes made by an operator send their notices too.
    await gh.app.services.mfa.reset(operator, user.id);
    await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'A second factor was removed from your account');
    await gh.app.services.accounts.setPassword(operator, user.id, 'set by the operator today');
    const changed = await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'Your password was changed');
    expect(changed.text).toContain('Every session and token of the account has been ended');
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ detail: { kind: string } }>("SELECT detail FROM audit_events WHERE subject = $1 AND type = 'notice.queued' ORDER BY seq", [user.id]);
    expect(rows.map((r) => r.detail.kind)).toEqual(expect.arrayContaining(['notice_factor_added', 'notice_recovery_code_used', 'notice_password_reset', 'notice_factor_removed', 'notice_password_changed']));
  });

  it('verifies an address: on demand and when it changes; email_verified follows', async () => {
    const user = await gh.createUser({ emailVerified: false });
    const sent = await gh.app.services.emailVerification.send(operator, user.id);
    expect(sent.sentTo).toBe(emailOf(user));
    const mail = await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'Confirm your email address');
    const link = linkIn(mail, `${gh.issuer}/verify-email?token=`);
    // Fetching the link (as a mail scanner does) verifies nothing.
    const landing = await new UserAgent().request(link);
    expect(landing.status).toBe(200);
    expect((await gh.app.services.accounts.findById(user.id))!.emailVerified).toBe(false);
    const before = await signIn(user);
    expect((await oidc.fetchUserInfo(rp, before.access_token, user.id)).email_verified).toBe(false);

    const confirmed = await new UserAgent().request(url('/verify-email'), { form: { token: hiddenField(landing.body, 'token') } });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toContain('Address confirmed');
    expect((await gh.app.services.accounts.findById(user.id))!.emailVerified).toBe(true);
    const after = await signIn(user);
    expect((await oidc.fetchUserInfo(rp, after.access_token, user.id)).email_verified).toBe(true);
    expect((await new UserAgent().request(url('/verify-email'), { form: { token: hiddenField(landing.body, 'token') } })).status).toBe(410);

    // A new address is unverified, gets its own link, and a link to the old one no longer works.
    const stale = await gh.app.services.emailVerification.send(operator, user.id);
    const staleMail = await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'Confirm your email address' && m !== mail);
    await gh.app.services.accounts.updateProfile(operator, user.id, { email: `moved-${user.username}@example.test` });
    expect(stale.expiresAt.getTime()).toBeGreaterThan(Date.now());
    expect((await new UserAgent().request(linkIn(staleMail, `${gh.issuer}/verify-email?token=`))).status).toBe(410);
    const moved = await smtp.waitFor((m) => m.to.includes(`moved-${user.username}@example.test`) && m.subject === 'Confirm your email address');
    expect(moved.text).toContain('/verify-email?token=');
    expect((await gh.app.services.accounts.findById(user.id))!.emailVerified).toBe(false);
  });

  it('sends verification links from the admin API and the CLI', async () => {
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Record<string, unknown>;
    const call = adminCaller(gh, createContract(document));
    const writer = await (await adminServiceClient(gh, ['admin:users.write'])).token();
    const reader = await (await adminServiceClient(gh, ['admin:users.read'])).token();
    const user = await gh.createUser({ emailVerified: false });
    const path = `/users/${user.id}/email-verification`;
    expect((await call('POST', path, { token: reader })).status).toBe(403);
    expect((await call('POST', '/users/no-such-user/email-verification', { token: writer })).status).toBe(404);
    const sent = await call('POST', path, { token: writer });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ sent_to: emailOf(user) });
    const bare = await gh.createUser({ email: undefined });
    await gh.app.services.accounts.updateProfile(operator, bare.id, { email: null });
    const none = await call('POST', `/users/${bare.id}/email-verification`, { token: writer });
    expect(none.status).toBe(409);
    expect(none.headers.get('content-type')).toContain('application/problem+json');
    await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'Confirm your email address');

    const env = { GATEHOUSE_ISSUER: gh.issuer, GATEHOUSE_SMTP_URL: smtp.url, GATEHOUSE_MAIL_FROM: 'id@example.test', GATEHOUSE_SMTP_REQUIRE_TLS: 'false' };
    const viaCli = await cli(gh.database, ['users', 'verify-email', user.username, '--send', '--json'], { env });
    expect(viaCli.stderr).toBe('');
    expect(viaCli.code).toBe(0);
    expect(JSON.parse(viaCli.stdout)).toMatchObject({ id: user.id, sent_to: emailOf(user) });
    await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'Confirm your email address' && smtp.to(emailOf(user)).indexOf(m) >= 1);
    expect((await cli(gh.database, ['users', 'verify-email', user.username], { env })).code).not.toBe(0);
    expect((await cli(gh.database, ['users', 'verify-email', bare.username, '--send'], { env })).stderr).toContain('no email address');
    const marked = await cli(gh.database, ['users', 'verify-email', user.username, '--mark'], { env });
    expect(marked.code).toBe(0);
    expect((await gh.app.services.accounts.findById(user.id))!.emailVerified).toBe(true);
  });

  it('tells of a sign-in from a new device, not from a known one', async () => {
    const user = await gh.createUser();
    const laptop = new UserAgent({ 'user-agent': 'Laptop/1.0' });
    await signIn(user, laptop);
    await signIn(user, laptop);
    const phone = new UserAgent({ 'user-agent': 'Phone/2.0' });
    await signIn(user, phone);
    const notice = await smtp.waitFor((m) => m.to.includes(emailOf(user)) && m.subject === 'New sign-in to your account');
    expect(notice.text).toContain('Phone/2.0');
    await signIn(user, laptop);
    await signIn(user, phone);
    await gh.app.mailWorker!.runOnce();
    expect(smtp.to(emailOf(user)).filter((m) => m.subject === 'New sign-in to your account')).toHaveLength(1);
    const stored = JSON.stringify((await gh.app.db.query('SELECT * FROM known_devices WHERE account_id = $1', [user.id])).rows);
    expect(stored).not.toContain('Phone');
    expect(stored).not.toContain(laptop.cookies.get('gatehouse.device'));
  });

  it('retries delivery while the SMTP server is down, and delivers when it is back', async () => {
    await smtp.close();
    try {
      const user = await gh.createUser();
      await requestReset(user.username);
      await gh.app.mailWorker!.runOnce();
      const [pending] = (await gh.app.services.mail.outbox.of(user.id)).filter((m) => m.kind === 'password_reset');
      expect(pending).toMatchObject({ state: 'pending', attempts: 1 });
      expect(pending!.last_error).toMatch(/ECONNREFUSED|connect/i);
    } finally {
      smtp = await startSmtpServer({ port: smtp.port });
    }
    await gh.app.db.query("UPDATE mail_outbox SET next_attempt_at = now() WHERE state = 'pending'");
    await gh.app.mailWorker!.runOnce();
    const delivered = await smtp.waitFor((m) => m.subject === 'Reset your password');
    expect(delivered.text).toContain('/recovery/reset?token=');
  });

  it('refuses to send without TLS unless told otherwise', async () => {
    const transport = createSmtpTransport({ smtpUrl: smtp.url, from: 'id@example.test', requireTls: true });
    try {
      await expect(transport.send({ to: 'someone@example.test', subject: 's', text: 't', html: 'h' })).rejects.toThrow(/STARTTLS|TLS/i);
    } finally {
      transport.close();
    }
  });
});

describe('email: without an SMTP server', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse();
  });
  afterAll(() => gh?.close());

  it('offers no reset and queues nothing', async () => {
    const user = await gh.createUser();
    const page = await new UserAgent().request(new URL('/recovery', gh.issuer).href);
    expect(page.status).toBe(404);
    expect(page.body).toContain('Ask your administrator');
    await expect(gh.app.services.emailVerification.send(operator, user.id)).rejects.toThrow(/not configured/);
    expect(gh.app.mailWorker).toBeUndefined();
  });
});
