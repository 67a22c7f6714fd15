/**
 * The pages between /authorize and the redirect back: sign-in (password, then
 * the second factor when one is needed), consent and cancel. Each step lives
 * in its own module; this one routes GET /interaction/:uid to whichever page
 * the interaction is at.
 */
import Router from '@koa/router';
import type { Middleware } from 'koa';

import { consentRoutes, renderConsentPage } from './consent.js';
import { federationRoutes } from './federation.js';
import { loginRoutes, renderLoginPage } from './login.js';
import { createPages, noStore, PageError, parseForm, requireFormBody, type InteractionDeps } from './pages.js';
import { createSecondFactor } from './second-factor.js';

export type { InteractionDeps } from './pages.js';

function interactionRouter(deps: InteractionDeps): Router {
  const router = new Router();
  const pages = createPages(deps);
  const secondFactor = createSecondFactor(pages, deps);

  router.get('/interaction/:uid', noStore, async (ctx) => {
    const details = await pages.load(ctx);
    const client = await pages.clientOf(ctx, details);
    if (details.prompt.name === 'login') {
      if (await secondFactor.show(ctx, details, client)) return;
      return renderLoginPage(pages, ctx, details, client);
    }
    if (details.prompt.name === 'consent') return renderConsentPage(pages, ctx, details, client);
    throw new PageError(400, 'This sign-in step is not supported.');
  });

  const { homeRealm } = federationRoutes(router, pages, deps, secondFactor);
  loginRoutes(router, pages, deps, secondFactor, homeRealm);
  secondFactor.routes(router);
  consentRoutes(router, pages);

  router.post('/interaction/:uid/abort', noStore, requireFormBody, parseForm, async (ctx) => {
    const details = await pages.loadForm(ctx);
    await deps.services.pendingSignIns.cancel(details.uid);
    await pages.finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' });
  });

  return router;
}

/** The pages as one koa middleware: the router's routes, then its 405/501 answers for their paths. */
export function interactionRoutes(deps: InteractionDeps): Middleware {
  const router = interactionRouter(deps);
  const routes = router.routes() as unknown as Middleware;
  const methods = router.allowedMethods() as unknown as Middleware;
  return (ctx, next) => routes(ctx, () => methods(ctx, next));
}
