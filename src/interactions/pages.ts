/**
 * What every interaction page shares: loading the interaction the cookie
 * names, the CSRF check, rendering under the page CSP, and handing a result
 * back to the provider. Routes parse the form, call a service, and render or
 * finish; nothing here touches the database.
 */
import { randomBytes } from 'node:crypto';

import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';

import type { EventOrigin } from '../audit/events.js';
import { documentHost } from '../oidc/client-metadata-documents.js';
import { clientRequiresMfa } from '../oidc/second-factor-prompt.js';
import { contentSecurityPolicy, formTargetFor } from '../http/headers.js';
import type { Services } from '../services.js';
import type { Csrf } from './csrf.js';
import type { Views } from '../http/views.js';

export interface InteractionDeps {
  services: Pick<Services, 'accounts' | 'mfa' | 'passkeys' | 'pendingSignIns' | 'upstreams' | 'federatedSignIns' | 'passwordRecovery' | 'notices' | 'signups'>;
  views: Views;
  csrf: Csrf;
  /** GATEHOUSE_MFA_REQUIRED. */
  mfaRequiredForAll: boolean;
}

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The client as the pages need it. */
export interface PageClient {
  id: string;
  name: string;
  requiresMfa: boolean;
  /** The host of a client known only by its metadata document's URL (src/oidc/client-metadata-documents.ts): the one name it cannot choose. */
  documentHost?: string | undefined;
}

const uidPattern = /^[A-Za-z0-9_-]{1,64}$/;
const deviceCookie = 'gatehouse.device';
const devicePattern = /^[A-Za-z0-9_-]{43}$/;
/** 400 days: the longest a browser keeps a cookie (RFC 6265bis §5.5). */
const deviceCookieMaxAgeMs = 400 * 86_400_000;

export class PageError extends Error {
  override name = 'PageError';
  constructor(readonly status: number, readonly userMessage: string) {
    super(userMessage);
  }
}

export function providerOf(ctx: Context): Provider {
  // The provider is the root koa app (DESIGN: "the provider handle"), so the app
  // serving this request is the current provider, even across a key swap.
  return ctx.app as unknown as Provider;
}

export async function noStore(ctx: Context, next: Next) {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  await next();
}

export function requireFormBody(ctx: Context, next: Next) {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new PageError(415, 'This form must be sent as a web form.');
  return next();
}

export const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb', onError: () => {
  throw new PageError(413, 'The form was too large or malformed.');
} });

/** A form field as a bounded string, for echoing back into a re-rendered form. */
export function formField(ctx: Context, name: string, max: number): string {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value.slice(0, max) : '';
}

/** The same sentence whether the account, the address, or a name that matches no account is locked. */
export function lockedMessage(retryAfterSeconds: number): string {
  const minutes = Math.max(1, Math.ceil(retryAfterSeconds / 60));
  return `Too many failed attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
}

export function createPages(deps: InteractionDeps) {
  const { views, csrf, services } = deps;

  /**
   * The device cookie (random, no meaning of its own) and the notice of a
   * sign-in from a new device or network (src/mail/notices.ts). A notice that
   * cannot be queued never fails the sign-in: the service audits it.
   */
  async function noticeSignIn(ctx: Context, accountId: string) {
    let deviceId = ctx.cookies.get(deviceCookie, { signed: false });
    if (!deviceId || !devicePattern.test(deviceId)) {
      deviceId = randomBytes(32).toString('base64url');
      ctx.cookies.set(deviceCookie, deviceId, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: false, overwrite: true, path: '/', maxAge: deviceCookieMaxAgeMs });
    }
    await services.notices.signedIn(accountId, { deviceId, ip: ctx.ip, userAgent: ctx.get('user-agent') }).catch(() => undefined);
  }

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

  async function finish(ctx: Context, result: InteractionResults) {
    const url = await providerOf(ctx).interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(url);
  }

  /** The client this interaction serves, for the audit events the services record (the request context adds the IP and request id). */
  const originOf = (details: Details): EventOrigin => ({ clientId: String(details.params.client_id) });

  return {
    load,
    finish,
    originOf,
    /** The services a page renders from (the login page's passkey challenge). */
    services,

    /**
     * Ends the login step with every factor proven: the account service resets
     * its failure count and records `login.success`, then the provider records
     * the session with its acr and amr.
     */
    async finishLogin(ctx: Context, details: Details, login: { accountId: string; acr: string; amr: string[] }) {
      // The account may have been disabled (or removed) while its second factor was being entered.
      const account = await services.accounts.completeSignIn(login.accountId, { acr: login.acr, amr: login.amr }, originOf(details));
      if (!account) throw new PageError(403, 'This account cannot sign in. Contact your administrator.');
      await noticeSignIn(ctx, login.accountId);
      // Only a password proves the account an upstream identity waits to be linked to (`link-after-sign-in`).
      if (login.amr.includes('pwd')) await services.federatedSignIns.linkPending(details.uid, login.accountId, originOf(details));
      ctx.state.loginOutcome = 'success';
      await finish(ctx, { login: { accountId: login.accountId, acr: login.acr, amr: login.amr, remember: true } });
    },

    /** Loads the interaction and checks the form's CSRF token against it. */
    async loadForm(ctx: Context): Promise<Details> {
      const details = await load(ctx);
      const body = ctx.request.body as Record<string, unknown> | undefined;
      if (!csrf.verify(details.uid, body?.csrf)) throw new PageError(403, 'This form has expired. Go back to the application and start again.');
      return details;
    },

    /** `formTargets`: more origins a form may lead to (an upstream home-realm discovery sends the login form to). */
    render(ctx: Context, details: Details, template: string, data: Record<string, unknown>, status = 200, formTargets: readonly string[] = []) {
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('Content-Security-Policy', contentSecurityPolicy([...formTargetFor(details.params.redirect_uri), ...formTargets]));
      ctx.body = views.render(template, { uid: details.uid, csrf: csrf.tokenFor(details.uid), ...data });
    },

    async clientOf(ctx: Context, details: Details): Promise<PageClient> {
      const id = String(details.params.client_id);
      const client = await providerOf(ctx).Client.find(id);
      return { id, name: client?.clientName ?? id, requiresMfa: clientRequiresMfa(client as { [key: string]: unknown } | undefined), documentHost: documentHost(client) };
    },

    /** The enabled upstreams for the login page, the origins home-realm discovery may send its form to, and a pending link's note. */
    async upstreamChoices(details: Details): Promise<{ upstreams: Array<{ name: string; displayName: string }>; formTargets: string[]; notice: string | undefined }> {
      const enabled = (await services.upstreams.list()).filter((u) => u.enabled);
      const origins = enabled.filter((u) => u.domains.length > 0).flatMap((u) => [new URL(u.issuer).origin, ...(u.endpoints ? [new URL(u.endpoints.authorization).origin] : [])]);
      const waiting = await services.federatedSignIns.pendingLink(details.uid);
      return {
        upstreams: enabled.map((u) => ({ name: u.name, displayName: u.displayName })),
        formTargets: [...new Set(origins)],
        notice: waiting ? `Sign in with your password to link your ${waiting.displayName} account to it.` : undefined,
      };
    },

    /** Back to the interaction's own URL, which shows whatever step the sign-in is at. */
    redirectToInteraction(ctx: Context, details: Details) {
      ctx.status = 303;
      ctx.redirect(`/interaction/${details.uid}`);
    },
  };
}

export type Pages = ReturnType<typeof createPages>;
