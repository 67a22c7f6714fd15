/** The password page, through the lockout; a right password either finishes the login or starts the second factor. */
import type Router from '@koa/router';
import type { Context } from 'koa';

import { loginFormSchema } from '../accounts/schemas.js';
import { acr } from '../oidc/acr.js';
import { formField, lockedMessage, noStore, PageError, parseForm, requireFormBody, type Details, type InteractionDeps, type PageClient, type Pages } from './pages.js';

/** The passkey ceremony of the login page (a passkey alone, src/interactions/passkey.ts). */
export const passwordlessCeremony = (uid: string) => `passwordless:${uid}`;

/**
 * The password form, the upstream providers' buttons, a note when an upstream
 * identity waits to be linked, and the passkey button. The page itself writes
 * nothing: the passkey challenge is issued only when the button or the
 * username field's autofill asks for it (POST …/passwordless-options below),
 * so a crawler, a prefetch or a reload costs no database row. After a
 * refused passkey the autofill is not offered again on the page that says so:
 * an authenticator that answers by itself would otherwise try it in a loop.
 */
export async function renderLoginPage(pages: Pages, ctx: Context, details: Details, client: PageClient, form: { login?: string; error?: string; notice?: string; passkeyRefused?: boolean } = {}, status = 200) {
  const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
  const choices = await pages.upstreamChoices(details);
  pages.render(ctx, details, 'login.njk', { client: client.name, login: form.login ?? hint, error: form.error, notice: form.notice ?? choices.notice, upstreams: choices.upstreams, passkeys: true, autofill: !form.passkeyRefused, recovery: pages.services.passwordRecovery.enabled, signup: pages.services.signups.mode === 'open' }, status, choices.formTargets);
}

/** The second-factor step a password sign-in hands over to (src/interactions/second-factor.ts); true when it answered. */
export interface SecondFactorStep {
  begin(ctx: Context, details: Details, client: PageClient, accountId: string, amr: string[]): Promise<boolean>;
}

/** Home-realm discovery (src/interactions/federation.ts): true when it sent the browser upstream. */
export type HomeRealm = (ctx: Context, details: Details, login: string) => Promise<boolean>;

export function loginRoutes(router: Router, pages: Pages, deps: InteractionDeps, secondFactor: SecondFactorStep, homeRealm: HomeRealm) {
  const { accounts, passkeys, pendingSignIns } = deps.services;

  /**
   * The passwordless ceremony's options (WebAuthn §5.5) as JSON for
   * views/static/passkeys.js. A POST with the page's CSRF token: it writes a
   * challenge, so a cross-site page must not be able to make one, and a GET
   * would be prefetched. A new request replaces the ceremony's challenge, so
   * only the latest options verify.
   */
  router.post('/interaction/:uid/passwordless-options', noStore, requireFormBody, parseForm, async (ctx) => {
    const details = await pages.loadForm(ctx);
    if (details.prompt.name !== 'login') throw new PageError(400, 'You are already signed in. Go back to the application.');
    ctx.body = await passkeys.authenticationOptions(passwordlessCeremony(details.uid), undefined, new Date(details.exp * 1000));
  });

  router.post('/interaction/:uid/login', noStore, requireFormBody, parseForm, async (ctx) => {
    const details = await pages.loadForm(ctx);
    if (details.prompt.name !== 'login') throw new PageError(400, 'You are already signed in. Go back to the application.');
    const client = await pages.clientOf(ctx, details);
    // An email whose domain an upstream claims goes there, password or not.
    if (await homeRealm(ctx, details, formField(ctx, 'login', 254).trim())) return;
    const form = loginFormSchema.safeParse(ctx.request.body);
    if (!form.success) {
      return renderLoginPage(pages, ctx, details, client, { login: formField(ctx, 'login', 254), error: form.error.issues[0]?.message ?? 'Check the form and try again.' }, 400);
    }
    const login = form.data.login;
    // The service audits the outcome (login.failure, login.locked).
    const result = await accounts.signIn(login, form.data.password, { ip: ctx.ip, ...pages.originOf(details) });
    if (!result.ok) {
      ctx.state.loginOutcome = result.reason;
      if (result.reason === 'locked') {
        ctx.set('Retry-After', String(result.retryAfterSeconds));
        return renderLoginPage(pages, ctx, details, client, { login, error: lockedMessage(result.retryAfterSeconds) }, 429);
      }
      // One answer for an unknown name, a wrong password and a disabled account (right password or
      // not): which of them it was is for the audit log (recorded by the service), not for whoever typed it.
      return renderLoginPage(pages, ctx, details, client, { login, error: 'Username or password is incorrect.' }, 401);
    }

    // A password typed again (back button, another account) replaces any second-factor step begun before it.
    await pendingSignIns.cancel(details.uid);
    // An upstream identity waiting for this password sign-in (`link-after-sign-in`) is linked when it completes.
    if (await secondFactor.begin(ctx, details, client, result.account.id, ['pwd'])) return;
    await pages.finishLogin(ctx, details, { accountId: result.account.id, acr: acr.password, amr: ['pwd'] });
  });
}
