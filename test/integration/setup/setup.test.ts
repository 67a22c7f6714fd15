/**
 * First run (issue 16 §4): a one-time link creates the first administrator
 * with a password and TOTP; it works once, for an hour, only while no
 * administrator exists; nothing usable is stored; the start page answers `/`.
 */
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { internalDetail } from '../../support/requests.js';
import { hiddenField, UserAgent, type Step } from '../../support/user-agent.js';
import { cli } from '../../support/cli.js';
import { freshDatabase } from '../../support/databases.js';
import { integrationDbKind } from '../../support/databases.js';

let gh: TestGatehouse;
beforeAll(async () => {
  gh = await startTestGatehouse();
});
afterAll(async () => {
  await gh?.close();
});

const seedOf = (html: string) => /id="totp-secret">([A-Z2-7 ]+)</.exec(html)![1]!.replaceAll(' ', '');

/** Follows the link as a browser would: the token moves into a cookie, then the form. */
async function openLink(agent: UserAgent, token: string): Promise<Step> {
  const first = await agent.request(`${gh.issuer}/setup?token=${token}`);
  expect(first.status).toBe(303);
  expect(first.location).toBe(`${gh.issuer}/setup`);
  return agent.request(`${gh.issuer}/setup`);
}

function formFor(page: Step, fields: Partial<Record<'username' | 'email' | 'password' | 'password2' | 'code', string>>) {
  return { csrf: hiddenField(page.body, 'csrf'), username: 'root-admin', email: 'root@example.com', password: 'correct horse battery', password2: 'correct horse battery', code: '000000', ...fields };
}

describe('first-run setup link', () => {
  it('refuses malformed, unknown and expired links with a plain page', async () => {
    const agent = new UserAgent();
    // A NUL never reaches the page: the edge refuses it (400) before any handler runs.
    const nul = await agent.request(`${gh.issuer}/setup?token=${'%00'.repeat(43)}`);
    expect(nul.status).toBe(400);
    expect(nul.body).not.toMatch(internalDetail);
    for (const token of ['short', 'x'.repeat(43)]) {
      const step = await agent.request(`${gh.issuer}/setup?token=${token}`);
      expect([303, 410]).toContain(step.status);
      const page = step.status === 303 ? await agent.request(`${gh.issuer}/setup`) : step;
      expect(page.status).toBe(410);
      expect(page.body).toContain('This setup link does not work');
      expect(page.body).not.toMatch(internalDetail);
    }
    const expired = await gh.app.services.setup.issueLink();
    await gh.app.db.query("UPDATE setup_links SET expires_at = now() - interval '1 second'");
    const page = await openLink(new UserAgent(), expired!.token);
    expect(page.status).toBe(410);
    // Without a cookie at all.
    expect((await new UserAgent().request(`${gh.issuer}/setup`)).status).toBe(410);
  });

  it('creates the administrator once, with its second factor, and then no link works', async () => {
    const link = await gh.app.services.setup.issueLink();
    const spare = await gh.app.services.setup.issueLink();
    expect(link && spare).toBeTruthy();
    const agent = new UserAgent();
    const page = await openLink(agent, link!.token);
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toContain('no-store');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.body).not.toContain(link!.token);
    const seed = seedOf(page.body);
    // A reload shows the seed the app already scanned.
    expect(seedOf((await agent.request(`${gh.issuer}/setup`)).body)).toBe(seed);

    // Nothing usable at rest: the token only as a hash, the seed only sealed.
    const { rows } = await gh.app.db.query<Record<string, unknown>>('SELECT * FROM setup_links');
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(link!.token);
    expect(dump).not.toContain(seed);

    // Bad input loses nothing: each answer is the form again, and the link still works.
    const wrongCode = await agent.request(`${gh.issuer}/setup`, { form: formFor(page, { code: (await generate({ secret: seed })) === '123456' ? '654321' : '123456' }) });
    expect(wrongCode.status).toBe(400);
    expect(wrongCode.body).toContain('not the one your authenticator app shows');
    expect(wrongCode.body).toContain('value="root-admin"');
    const mismatch = await agent.request(`${gh.issuer}/setup`, { form: formFor(page, { password2: 'something else entirely', code: await generate({ secret: seed }) }) });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toContain('not the same');
    const shortPassword = await agent.request(`${gh.issuer}/setup`, { form: formFor(page, { password: 'short', password2: 'short', code: await generate({ secret: seed }) }) });
    expect(shortPassword.status).toBe(400);
    expect(shortPassword.body).toContain('at least 12 characters');
    const noCsrf = await agent.request(`${gh.issuer}/setup`, { form: { ...formFor(page, { code: await generate({ secret: seed }) }), csrf: 'forged' } });
    expect(noCsrf.status).toBe(403);
    const otherBrowser = await new UserAgent().request(`${gh.issuer}/setup`, { form: formFor(page, { code: await generate({ secret: seed }) }) });
    expect(otherBrowser.status).toBe(410);
    expect(await gh.app.services.setup.needed()).toBe(true);

    const done = await agent.request(`${gh.issuer}/setup`, { form: formFor(page, { code: await generate({ secret: seed }) }) });
    expect(done.status).toBe(200);
    expect(done.body).toContain('Administrator created');
    const codes = [...done.body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]);
    expect(codes.length).toBeGreaterThanOrEqual(8);

    const account = await gh.app.services.accounts.find('root-admin');
    expect(account?.admin).toBe(true);
    expect(await gh.app.services.mfa.hasFactor(account!.id)).toBe(true);
    expect((await gh.app.services.accounts.authenticate('root-admin', 'correct horse battery')).ok).toBe(true);
    await gh.app.audit.flush();
    const { rows: events } = await gh.app.db.query<{ type: string; actor: string }>("SELECT type, actor FROM audit_events WHERE type LIKE 'setup.%' OR subject = $1 ORDER BY seq", [account!.id]);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['setup.link_issued', 'account.created', 'mfa.enrolled', 'setup.completed']));

    // Spent, and the spare link issued before the administrator existed is dead too.
    expect((await agent.request(`${gh.issuer}/setup`, { form: formFor(page, { username: 'second-admin', email: '', code: await generate({ secret: seed }) }) })).status).toBe(410);
    expect((await openLink(new UserAgent(), spare!.token)).status).toBe(410);
    expect(await gh.app.services.setup.needed()).toBe(false);
    expect(await gh.app.services.setup.issueLink()).toBeUndefined();
    expect(await gh.app.services.accounts.find('second-admin')).toBeUndefined();
  });

  it('answers / with a start page that links discovery', async () => {
    const response = await fetch(`${gh.issuer}/`);
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body).toContain('/.well-known/openid-configuration');
    expect(response.headers.get('content-security-policy')).not.toContain('unsafe-inline');
  });
});

describe('gatehouse admin setup-link', () => {
  it('prints a working link while no administrator exists, and refuses once one does', async () => {
    const database = await freshDatabase(integrationDbKind());
    const help = await cli(database, ['admin', 'setup-link', '--help']);
    expect(help.stdout).toContain('one-time link');
    const printed = await cli(database, ['admin', 'setup-link', '--json']);
    expect(printed.code).toBe(0);
    const { url } = JSON.parse(printed.stdout) as { url: string };
    expect(url).toMatch(/\/setup\?token=[A-Za-z0-9_-]{43}$/);
    const added = await cli(database, ['users', 'add', 'ops', '--password-stdin'], { stdin: 'correct horse battery staple\n' });
    expect(added.code).toBe(0);
    expect((await cli(database, ['users', 'set-admin', 'ops'])).code).toBe(0);
    const refused = await cli(database, ['admin', 'setup-link']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('an administrator already exists');
  });
});
