/** The consent page: what the client asks for, and the grant that records the answer. */
import type Router from '@koa/router';
import type { Context } from 'koa';

import { widenGrant } from '../oidc/grants.js';
import { noStore, PageError, parseForm, providerOf, requireFormBody, type Details, type PageClient, type Pages } from './pages.js';
import { describeScope } from './scopes.js';

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

export function renderConsentPage(pages: Pages, ctx: Context, details: Details, client: PageClient) {
  const d = details.prompt.details as ConsentDetails;
  pages.render(ctx, details, 'consent.njk', {
    client: client.name,
    documentHost: client.documentHost,
    scopes: (d.missingOIDCScope ?? []).map((s) => ({ name: s, description: describeScope(s) })),
    claims: d.missingOIDCClaims ?? [],
    resources: Object.entries(d.missingResourceScopes ?? {}).map(([audience, scopes]) => ({ audience, scopes })),
  });
}

export function consentRoutes(router: Router, pages: Pages) {
  router.post('/interaction/:uid/confirm', noStore, requireFormBody, parseForm, async (ctx) => {
    const details = await pages.loadForm(ctx);
    if (details.prompt.name !== 'consent' || !details.session?.accountId) throw new PageError(400, 'There is nothing to confirm. Go back to the application.');
    const provider = providerOf(ctx);
    const clientId = String(details.params.client_id);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId });
    if (!grant) throw new PageError(400, 'This authorization has expired. Go back to the application and start again.');
    const d = details.prompt.details as ConsentDetails;
    widenGrant(grant, { oidcScopes: d.missingOIDCScope ?? [], claims: d.missingOIDCClaims ?? [], resourceScopes: d.missingResourceScopes ?? {} });
    const grantId = await grant.save();
    await pages.finish(ctx, { consent: { grantId } });
  });
}
