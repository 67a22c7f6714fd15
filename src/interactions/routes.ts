/**
 * The pages between /authorize and the redirect back: sign-in, consent and
 * cancel. Routes parse the form, call a service, and render or hand the result
 * to the provider; nothing here touches the database.
 */
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';

import type { AccountService } from '../accounts/accounts.js';
import { loginFormSchema } from '../accounts/schemas.js';
import { acr } from '../oidc/acr.js';
import { widenGrant } from '../oidc/grants.js';
import { contentSecurityPolicy, formTargetFor } from '../security/headers.js';
import type { Csrf } from './csrf.js';
import { describeScope } from './scopes.js';
import type { Views } from './views.js';

export interface InteractionDeps {
  accounts: AccountService;
  views: Views;
  csrf: Csrf;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

const uidPattern = /^[A-Za-z0-9_-]{1,64}$/;

export class PageError extends Error {
  override name = 'PageError';
  constructor(readonly status: number, readonly userMessage: string) {
    super(userMessage);
  }
}

function providerOf(ctx: Context): Provider {
  // The provider is the root koa app (DESIGN: "the provider handle"), so the app
  // serving this request is the current provider, even across a key swap.
  return ctx.app as unknown as Provider;
}

async function noStore(ctx: Context, next: Next) {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  await next();
}

function requireFormBody(ctx: Context, next: Next) {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new PageError(415, 'This form must be sent as a web form.');
  return next();
}

const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb', onError: () => {
  throw new PageError(413, 'The form was too large or malformed.');
} });

export function interactionRoutes(deps: InteractionDeps): Router {
  const { accounts, views, csrf } = deps;
  const router = new Router();

  async function load(ctx: Context): Promise<Details> {
    const uid = ctx.params.uid;
    if (!uid || !uidPattern.test(uid)) throw new PageError(400, 'This sign-in link is not valid.');
    const details = await providerOf(ctx)
      .interactionDetails(ctx.req, ctx.res)
      .catch((error: unknown) => {
        // The interaction cookie is missing or expired: opened in another browser, or too late.
        if (error instanceof errors.SessionNotFound) throw new PageError(400, 'This sign-in link has expired or was opened in another browser. Go back to the application and start again.');
        throw error;
      });
    if (details.uid !== uid) throw new PageError(400, 'This sign-in link belongs to another sign-in. Start again from the application.');
    return details;
  }

  function checkCsrf(ctx: Context, details: Details) {
    const body = ctx.request.body as Record<string, unknown> | undefined;
    if (!csrf.verify(details.uid, body?.csrf)) throw new PageError(403, 'This form has expired. Go back to the application and start again.');
  }

  function render(ctx: Context, details: Details, template: string, data: Record<string, unknown>, status = 200) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Content-Security-Policy', contentSecurityPolicy(formTargetFor(details.params.redirect_uri)));
    ctx.body = views.render(template, { uid: details.uid, csrf: csrf.tokenFor(details.uid), ...data });
  }

  async function clientName(ctx: Context, details: Details): Promise<string> {
    const client = await providerOf(ctx).Client.find(String(details.params.client_id));
    return client?.clientName ?? String(details.params.client_id);
  }

  async function finish(ctx: Context, result: InteractionResults) {
    const url = await providerOf(ctx).interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(url);
  }

  router.get('/interaction/:uid', noStore, async (ctx) => {
    const details = await load(ctx);
    const client = await clientName(ctx, details);
    if (details.prompt.name === 'login') {
      return render(ctx, details, 'login.njk', { client, login: typeof details.params.login_hint === 'string' ? details.params.login_hint : '' });
    }
    if (details.prompt.name === 'consent') {
      const d = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      return render(ctx, details, 'consent.njk', {
        client,
        scopes: (d.missingOIDCScope ?? []).map((s) => ({ name: s, description: describeScope(s) })),
        claims: d.missingOIDCClaims ?? [],
        resources: Object.entries(d.missingResourceScopes ?? {}).map(([audience, scopes]) => ({ audience, scopes })),
      });
    }
    throw new PageError(400, 'This sign-in step is not supported.');
  });

  router.post('/interaction/:uid/login', noStore, requireFormBody, parseForm, async (ctx) => {
    const details = await load(ctx);
    checkCsrf(ctx, details);
    if (details.prompt.name !== 'login') throw new PageError(400, 'You are already signed in. Go back to the application.');
    const client = await clientName(ctx, details);
    const form = loginFormSchema.safeParse(ctx.request.body);
    if (!form.success) {
      const login = typeof (ctx.request.body as Record<string, unknown>).login === 'string' ? String((ctx.request.body as Record<string, unknown>).login).slice(0, 254) : '';
      return render(ctx, details, 'login.njk', { client, login, error: form.error.issues[0]?.message ?? 'Check the form and try again.' }, 400);
    }
    const result = await accounts.authenticate(form.data.login, form.data.password);
    if (!result.ok) {
      const error = result.reason === 'disabled' ? 'This account cannot sign in. Contact your administrator.' : 'Username or password is incorrect.';
      ctx.state.loginOutcome = result.reason;
      return render(ctx, details, 'login.njk', { client, login: form.data.login, error }, result.reason === 'disabled' ? 403 : 401);
    }
    ctx.state.loginOutcome = 'success';
    await finish(ctx, { login: { accountId: result.account.id, acr: acr.password, amr: ['pwd'], remember: true } });
  });

  router.post('/interaction/:uid/confirm', noStore, requireFormBody, parseForm, async (ctx) => {
    const details = await load(ctx);
    checkCsrf(ctx, details);
    if (details.prompt.name !== 'consent' || !details.session?.accountId) throw new PageError(400, 'There is nothing to confirm. Go back to the application.');
    const provider = providerOf(ctx);
    const clientId = String(details.params.client_id);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId });
    if (!grant) throw new PageError(400, 'This authorization has expired. Go back to the application and start again.');
    const d = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    widenGrant(grant, { oidcScopes: d.missingOIDCScope ?? [], claims: d.missingOIDCClaims ?? [], resourceScopes: d.missingResourceScopes ?? {} });
    const grantId = await grant.save();
    await finish(ctx, { consent: { grantId } });
  });

  router.post('/interaction/:uid/abort', noStore, requireFormBody, parseForm, async (ctx) => {
    const details = await load(ctx);
    checkCsrf(ctx, details);
    await finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' });
  });

  return router;
}
