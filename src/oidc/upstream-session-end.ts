/**
 * The library's side of ending the upstream session at RP-initiated logout
 * (src/federation/session-end.ts), around two oidc-provider routes:
 *   - `resume` (/auth/:uid after an interaction): once the library has logged
 *     the account into its session (lib/actions/authorization/resume.js:98-108
 *     at v9.13.3, `ctx.oidc.result` and `ctx.oidc.session`), an upstream
 *     sign-in made in that interaction is bound to the session's uid;
 *   - `end_session_confirm`: when the user chose to sign out of Gatehouse
 *     (`logout=yes`, the session destroyed: lib/actions/end_session.js:153-172)
 *     and the library answers 303 to where logout continues, the browser goes
 *     to the upstream's end_session_endpoint first, and /federation/logout-return
 *     sends it on to that same place. "No, stay signed in" keeps the Gatehouse
 *     session, so the upstream's is left alone.
 */
import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { UpstreamSessionEnd } from '../federation/session-end.js';

interface LoginResult {
  login?: { amr?: unknown };
}

export function bindUpstreamSession(service: UpstreamSessionEnd, sessionTtlSeconds: number) {
  return async function bindOnResume(ctx: Context, next: Next): Promise<void> {
    await next();
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc as KoaContextWithOIDC['oidc'] | undefined;
    const login = (oidc?.result as LoginResult | undefined)?.login;
    const interaction = oidc?.entities.Interaction;
    if (!login || !interaction || !oidc?.session?.uid) return;
    const federated = Array.isArray(login.amr) && login.amr.includes('fed');
    await service.bindSession(interaction.uid, oidc.session.uid, federated, sessionTtlSeconds);
  };
}

export function endUpstreamSession(service: UpstreamSessionEnd) {
  return async function endOnLogout(ctx: Context, next: Next): Promise<void> {
    await next();
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc as KoaContextWithOIDC['oidc'] | undefined;
    const session = oidc?.session;
    const continueTo = ctx.response.get('Location');
    if (ctx.status !== 303 || !continueTo || !oidc?.params?.logout || !session?.uid) return;
    const upstream = await service.endSession(session.uid, continueTo, session.accountId);
    if (!upstream) return;
    ctx.status = 303;
    ctx.redirect(upstream.href);
  };
}
