/**
 * Sign-in through an upstream identity provider (issue 20). The login page
 * links to GET /interaction/:uid/upstream/:name, which sends the browser
 * upstream; the upstream returns to one fixed redirect URI,
 * /federation/callback, which only looks up the interaction the state belongs
 * to and bounces the browser to /interaction/:uid/upstream-return, where the
 * interaction's cookie (path-scoped to /interaction/:uid) proves it is the
 * same browser. There the service checks the answer and picks the account;
 * the local rules (disabled, lockout, second factor) run as after a password.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';

import { acr } from '../oidc/acr.js';
import { accountLinkReturnPath, isAccountLink, type FederatedOutcome } from '../federation/sign-ins.js';
import { renderLoginPage, type HomeRealm, type SecondFactorStep } from './login.js';
import { lockedMessage, noStore, PageError, type Details, type InteractionDeps, type PageClient, type Pages } from './pages.js';

const namePattern = /^[a-z0-9][a-z0-9-]{1,39}$/;

/** What the login page says when an upstream sign-in ends without one. */
const refusals: Record<string, string> = {
  unknown_user: 'There is no account for you here yet. Ask your administrator for access.',
  email_taken: 'An account with your email address already exists. Sign in with your password instead.',
  disabled: 'This account cannot sign in. Contact your administrator.',
  upstream_disabled: 'Signing in with that provider is turned off.',
};
const failedMessage = 'Signing in with that provider did not work. Try again, or sign in with your password.';

export function federationRoutes(router: Router, pages: Pages, deps: InteractionDeps, secondFactor: SecondFactorStep): { homeRealm: HomeRealm } {
  const { federatedSignIns, upstreams, pendingSignIns } = deps.services;
  const expiryOf = (details: Details) => new Date(details.exp * 1000);

  async function sendUpstream(ctx: Context, details: Details, upstreamName: string): Promise<boolean> {
    const url = await federatedSignIns.begin(upstreamName, { uid: details.uid, expiresAt: expiryOf(details) }, pages.originOf(details)).catch((error: unknown) => {
      // The upstream's discovery could not be fetched or read: the log has why, the page says little.
      ctx.state.federationError = error;
      return null;
    });
    if (url === undefined) return false;
    if (url === null) throw new PageError(502, 'That sign-in provider cannot be reached right now. Try again later, or sign in with your password.');
    ctx.status = 303;
    ctx.redirect(url.href);
    return true;
  }

  async function answer(ctx: Context, details: Details, client: PageClient, outcome: FederatedOutcome) {
    switch (outcome.kind) {
      case 'signed-in': {
        await pendingSignIns.cancel(details.uid);
        if (outcome.upstreamMfa) return pages.finishLogin(ctx, details, { accountId: outcome.accountId, acr: acr.multiFactor, amr: outcome.amr });
        if (await secondFactor.begin(ctx, details, client, outcome.accountId, outcome.amr)) return;
        return pages.finishLogin(ctx, details, { accountId: outcome.accountId, acr: acr.password, amr: outcome.amr });
      }
      case 'link-required':
        return renderLoginPage(pages, ctx, details, client, { notice: `Sign in with your password to link your ${outcome.upstream.displayName} account to it.` });
      case 'refused':
        return renderLoginPage(pages, ctx, details, client, { error: refusals[outcome.reason] ?? failedMessage }, 403);
      case 'locked':
        ctx.set('Retry-After', String(outcome.retryAfterSeconds));
        return renderLoginPage(pages, ctx, details, client, { error: lockedMessage(outcome.retryAfterSeconds) }, 429);
      case 'failed':
        return renderLoginPage(pages, ctx, details, client, { error: failedMessage }, 400);
    }
  }

  router.get('/interaction/:uid/upstream/:name', noStore, async (ctx) => {
    const details = await pages.load(ctx);
    if (details.prompt.name !== 'login') throw new PageError(400, 'You are already signed in. Go back to the application.');
    const name = ctx.params.name ?? '';
    if (!namePattern.test(name) || !(await sendUpstream(ctx, details, name))) throw new PageError(404, 'There is no such sign-in provider.');
  });

  // The one redirect URI registered at every upstream.
  router.get('/federation/callback', noStore, async (ctx) => {
    const state = typeof ctx.query.state === 'string' && ctx.query.state.length <= 100 ? ctx.query.state : undefined;
    const uid = state ? await federatedSignIns.interactionOf(state) : undefined;
    if (!uid) throw new PageError(400, 'This sign-in has expired or was already used. Go back to the application and start again.');
    ctx.status = 303;
    // A link started from the account page goes back there (its session says which account; the service checks the state is that account's).
    if (isAccountLink(uid)) return ctx.redirect(`${accountLinkReturnPath}?${ctx.querystring}`);
    ctx.redirect(`/interaction/${uid}/upstream-return?${ctx.querystring}`);
  });

  router.get('/interaction/:uid/upstream-return', noStore, async (ctx) => {
    const details = await pages.load(ctx);
    if (details.prompt.name !== 'login') throw new PageError(400, 'You are already signed in. Go back to the application.');
    const client = await pages.clientOf(ctx, details);
    const outcome = await federatedSignIns.complete(details.uid, new URLSearchParams(ctx.querystring), { ...pages.originOf(details), expiresAt: expiryOf(details) });
    ctx.state.loginOutcome = outcome.kind === 'signed-in' ? 'success' : outcome.kind;
    await answer(ctx, details, client, outcome);
  });

  return {
    async homeRealm(ctx, details, login) {
      if (!login.includes('@')) return false;
      const upstream = await upstreams.forEmail(login);
      return upstream ? sendUpstream(ctx, details, upstream.name) : false;
    },
  };
}
