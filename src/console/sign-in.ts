/**
 * The console's sign-in (issue 16 §1), as a backend for frontend: the
 * operator signs in at Gatehouse's own authorization endpoint with the
 * built-in client (code + PKCE S256, state, nonce); the backend redeems the
 * code at /token, verifies the ID token (signature, iss, aud, nonce) and
 * admits only an enabled admin account whose sign-in used a second factor
 * (`acr` urn:gatehouse:acr:mfa or stronger). The admin access token stays on
 * the server, sealed (src/console-sessions/); the browser holds an opaque
 * __Host- cookie.
 */
import { createHash, randomBytes } from 'node:crypto';

import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import type { Context } from 'koa';

import type { AccountService } from '../accounts/accounts.js';
import type { ConsoleSessions } from '../console-sessions/console-sessions.js';
import type { Views } from '../http/views.js';
import { PageError } from '../interactions/pages.js';
import { acr, acrMeets } from '../oidc/acr.js';
import { adminAudience } from '../resources/admin-audience.js';
import { consoleClientId, consoleScope, consoleUrl } from './built-in-client.js';
import { clearCookie, pendingCookie, readCookie, sessionCookie, setCookie } from './cookies.js';
import { postForm } from './self-request.js';

export interface SignInDeps {
  issuer: string;
  /** This node's own listener, for the code redemption (src/console/self-request.ts). */
  selfUrl: () => string;
  sessions: ConsoleSessions;
  accounts: Pick<AccountService, 'findById'>;
  publicJwks: { keys: JWK[] };
  views: Views;
  render(ctx: Context, template: string, data: Record<string, unknown>, status?: number): void;
}

/** A console page id (views/static/console/app.js), the only place a sign-in may return to. */
const returnPage = /^[a-z][a-z-]{0,30}$/;
const random = () => randomBytes(32).toString('base64url');
const challengeOf = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

export function consoleSignIn(deps: SignInDeps) {
  const redirectUri = consoleUrl(deps.issuer, '/callback');
  const jwks = createLocalJWKSet(deps.publicJwks);

  function refuse(ctx: Context, reason: 'not_admin' | 'no_second_factor' | 'failed', status = 403): void {
    clearCookie(ctx, pendingCookie);
    deps.render(ctx, 'console-refused.njk', { reason }, status);
  }

  return {
    /**
     * GET /console/login[?step_up=1][&return=<page>]: to /auth. `step_up` answers the admin API's RFC 9470
     * challenge: a fresh sign-in with the second factor (max_age=0, acr_values mfa, prompt=login);
     * `return` names the console page to come back to (a page id, nothing else: no open redirect).
     */
    login(ctx: Context): void {
      const state = random();
      const nonce = random();
      const verifier = random();
      const back = typeof ctx.query.return === 'string' && returnPage.test(ctx.query.return) ? ctx.query.return : '';
      setCookie(ctx, pendingCookie, deps.sessions.sealPending({ state, nonce, verifier, back }), 600);
      const url = new URL(`${deps.issuer.replace(/\/$/, '')}/auth`);
      url.search = new URLSearchParams({
        client_id: consoleClientId,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: consoleScope,
        resource: adminAudience,
        state,
        nonce,
        code_challenge: challengeOf(verifier),
        code_challenge_method: 'S256',
        ...(ctx.query.step_up === '1' ? { prompt: 'login', max_age: '0', acr_values: acr.multiFactor } : {}),
      }).toString();
      ctx.status = 303;
      ctx.redirect(url.toString());
    },

    /** GET /console/callback?code&state (RFC 6749 §4.1.2), or ?error. */
    async callback(ctx: Context): Promise<void> {
      const pending = deps.sessions.openPending(readCookie(ctx, pendingCookie));
      const { code, state, error } = ctx.query;
      if (!pending || typeof state !== 'string' || state !== pending.state) throw new PageError(400, 'This sign-in link has expired or was not started here. Open the console again.');
      if (typeof error === 'string' || typeof code !== 'string' || code.length > 500) return refuse(ctx, 'failed', 400);
      const answer = await postForm(deps.selfUrl(), '/token', {
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        client_id: consoleClientId,
        code_verifier: pending.verifier!,
        resource: adminAudience,
      });
      const tokens = answer.body as { access_token?: unknown; id_token?: unknown; expires_in?: unknown } | undefined;
      if (answer.status !== 200 || typeof tokens?.access_token !== 'string' || typeof tokens.id_token !== 'string') return refuse(ctx, 'failed', 400);
      let claims;
      try {
        ({ payload: claims } = await jwtVerify(tokens.id_token, jwks, { issuer: deps.issuer, audience: consoleClientId, requiredClaims: ['sub', 'nonce', 'auth_time'] }));
      } catch {
        return refuse(ctx, 'failed', 400);
      }
      if (claims.nonce !== pending.nonce) return refuse(ctx, 'failed', 400);
      const account = await deps.accounts.findById(String(claims.sub));
      if (!account || account.disabled || !account.admin) return refuse(ctx, 'not_admin');
      if (!acrMeets(claims.acr, acr.multiFactor)) return refuse(ctx, 'no_second_factor');
      const lifetime = typeof tokens.expires_in === 'number' && tokens.expires_in > 0 ? Math.min(tokens.expires_in, 3600) : 300;
      const { id } = await deps.sessions.start({
        accountId: account.id,
        accessToken: tokens.access_token,
        authTime: new Date(Number(claims.auth_time) * 1000),
        expiresAt: new Date(Date.now() + lifetime * 1000),
      });
      clearCookie(ctx, pendingCookie);
      setCookie(ctx, sessionCookie, id, lifetime);
      ctx.status = 303;
      ctx.redirect(consoleUrl(deps.issuer, pending.back ? `/#/${pending.back}` : '/'));
    },

  };
}
