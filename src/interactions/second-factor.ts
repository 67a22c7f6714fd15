/**
 * The second-factor pages: TOTP code, recovery code, enrolment (when a sign-in
 * needs a factor the account does not have yet), and recovery codes shown
 * once. Each page acts only on the pending sign-in the server recorded for
 * this interaction (src/mfa/sign-ins.ts), never on anything the form claims.
 *
 * Statuses: 400 malformed input or no password step, 401 wrong code, 429
 * locked (with Retry-After), 409 a factor set up elsewhere in the meantime.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';

import { recoveryCodeMessage, recoveryFormSchema, totpCodeMessage, totpFormSchema } from '../mfa/schemas.js';
import type { PendingSignIn, SignInStage } from '../mfa/sign-ins.js';
import type { SecondFactorResult } from '../mfa/mfa.js';
import { acr } from '../oidc/acr.js';
import { acrDemanded, mfaRequiredReason } from '../oidc/second-factor-prompt.js';
import { renderLoginPage } from './login.js';
import { createPasskeyPages } from './passkey.js';
import { lockedMessage, noStore, PageError, parseForm, providerOf, requireFormBody, type Details, type InteractionDeps, type PageClient, type Pages } from './pages.js';

type Method = 'totp' | 'recovery_code';

const wrongCode: Record<Method, string> = {
  totp: 'That code did not work. Check your authenticator app and try again.',
  recovery_code: 'That recovery code did not work. Check it and try again.',
};

/** RFC 6238 §5.2: a code is good once; the app shows the next one within 30 seconds. */
const spentCode = 'That code was already used. Wait for the next code to appear in your authenticator app and enter it.';

/** RFC 8176: `otp` for a TOTP code; a recovery code is a look-up secret, which has no value of its own, so `mfa`. */
const amrOf: Record<Method, string> = { totp: 'otp', recovery_code: 'mfa' };

const withMethod = (amr: readonly string[], method: string) => [...new Set([...amr, method])];

/** The pending sign-in expires with its interaction. */
const expiryOf = (details: Details) => new Date(details.exp * 1000);

export function createSecondFactor(pages: Pages, deps: InteractionDeps) {
  const { accounts, mfa, passkeys, pendingSignIns } = deps.services;
  const passkeyPages = createPasskeyPages(pages, deps);

  function renderCodePage(ctx: Context, details: Details, client: PageClient, error?: string, status = 200) {
    pages.render(ctx, details, 'mfa-totp.njk', { client: client.name, error }, status);
  }

  function renderRecoveryPage(ctx: Context, details: Details, client: PageClient, error?: string, status = 200) {
    pages.render(ctx, details, 'mfa-recovery.njk', { client: client.name, error }, status);
  }

  async function renderEnrolPage(ctx: Context, details: Details, client: PageClient, pending: PendingSignIn, error?: string, status = 200) {
    const account = await accounts.findById(pending.accountId);
    if (!account || !pending.enrolmentSeed) throw new PageError(400, 'This sign-in has expired. Go back to the application and start again.');
    const display = await mfa.describeEnrolment(account.username, pending.enrolmentSeed);
    pages.render(ctx, details, 'mfa-enrol.njk', { client: client.name, account: account.username, ...display, error }, status);
  }

  async function renderDonePage(ctx: Context, details: Details, client: PageClient, pending: PendingSignIn) {
    const { recoveryCodesLeft } = await mfa.status(pending.accountId);
    pages.render(ctx, details, 'mfa-done.njk', { client: client.name, recovered: pending.stage === 'recovered', left: recoveryCodesLeft });
  }

  /**
   * An existing session that only lacks the second factor (step-up): the
   * password is not asked again. Only for an account that already has a
   * factor: enrolling one needs the password in this same sign-in, or a
   * stolen session cookie could attach the thief's authenticator.
   */
  async function stepUpAccount(ctx: Context, details: Details): Promise<string | undefined> {
    const accountId = details.session?.accountId;
    const reasons = details.prompt.reasons;
    if (!accountId || reasons.length === 0 || !reasons.every((r) => r === mfaRequiredReason)) return undefined;
    // The interaction remembers the session it started from; after a sign-out since, that is not a first factor any more.
    if ((await providerOf(ctx).Session.get(ctx)).accountId !== accountId) return undefined;
    const account = await accounts.findById(accountId);
    if (!account || account.disabled) return undefined;
    return (await mfa.hasFactor(accountId)) ? accountId : undefined;
  }

  /** The pending sign-in a form needs, or undefined once it has answered for itself. */
  async function pendingAt(ctx: Context, details: Details, client: PageClient, stages: readonly SignInStage[]): Promise<PendingSignIn | undefined> {
    if (details.prompt.name !== 'login') throw new PageError(400, 'You are already signed in. Go back to the application.');
    const pending = await pendingSignIns.find(details.uid);
    if (!pending) {
      await renderLoginPage(pages, ctx, details, client, { error: 'Sign in with your password first.' }, 400);
      return undefined;
    }
    if (!stages.includes(pending.stage)) {
      pages.redirectToInteraction(ctx, details);
      return undefined;
    }
    return pending;
  }

  /** How the page answers a refused code (the service has audited it). */
  function refusal(ctx: Context, method: Method, result: Exclude<SecondFactorResult, { ok: true }>) {
    if (result.reason === 'locked') {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      return { status: 429, error: lockedMessage(result.retryAfterSeconds) };
    }
    if (result.reason === 'spent') return { status: 401, error: spentCode };
    return { status: 401, error: wrongCode[method] };
  }

  return {
    /**
     * After a right password: starts the second factor when the account has
     * one (always used) or the request, client or operator demands one (an
     * account without it enrols now). False when the password is enough.
     */
    async begin(ctx: Context, details: Details, client: PageClient, accountId: string, amr: string[]): Promise<boolean> {
      const hasFactor = await mfa.hasFactor(accountId);
      const demanded = acrDemanded({ acrValues: details.params.acr_values, clientRequiresMfa: client.requiresMfa, requiredForAll: deps.mfaRequiredForAll });
      if (!hasFactor && demanded === acr.password) return false;
      const origin = pages.originOf(details);
      if (hasFactor) await pendingSignIns.start(details.uid, expiryOf(details), { accountId, stage: 'totp', amr }, origin);
      // Only a passkey is phishing-resistant; for a plain second factor the account may pick either (the TOTP page offers a passkey).
      else if (demanded === acr.phishingResistant) await pendingSignIns.start(details.uid, expiryOf(details), { accountId, stage: 'passkey_enrol', amr }, origin);
      else await pendingSignIns.start(details.uid, expiryOf(details), { accountId, stage: 'enrol', amr, enrolmentSeed: mfa.newSeed() }, origin);
      pages.redirectToInteraction(ctx, details);
      return true;
    },

    /** GET /interaction/:uid at the login prompt: renders the second-factor page the sign-in is at; false when none. */
    async show(ctx: Context, details: Details, client: PageClient): Promise<boolean> {
      let pending = await pendingSignIns.find(details.uid);
      if (!pending) {
        const accountId = await stepUpAccount(ctx, details);
        if (!accountId) return false;
        const amr = details.session?.amr ?? ['pwd'];
        await pendingSignIns.startStepUp(details.uid, expiryOf(details), { accountId, amr, fromAcr: details.session?.acr }, pages.originOf(details));
        pending = { accountId, stage: 'totp', amr, enrolmentSeed: undefined };
      }
      // A passkey is the stronger of the two, so an account that has one is asked for it first.
      if (pending.stage === 'totp' && (await passkeys.hasPasskey(pending.accountId))) await passkeyPages.renderAssertPage(ctx, details, client, pending);
      else if (pending.stage === 'totp') renderCodePage(ctx, details, client);
      else if (pending.stage === 'enrol') await renderEnrolPage(ctx, details, client, pending);
      else if (pending.stage === 'passkey_enrol') await passkeyPages.renderRegisterPage(ctx, details, client, pending);
      else await renderDonePage(ctx, details, client, pending);
      return true;
    },

    routes(router: Router) {
      passkeyPages.routes(router, pendingAt);
      router.post('/interaction/:uid/totp', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        const client = await pages.clientOf(ctx, details);
        const pending = await pendingAt(ctx, details, client, ['totp']);
        if (!pending) return;
        const form = totpFormSchema.safeParse(ctx.request.body);
        if (!form.success) return renderCodePage(ctx, details, client, totpCodeMessage, 400);
        const result = await mfa.verifyTotp(pending.accountId, form.data.code, { ip: ctx.ip, ...pages.originOf(details) });
        if (!result.ok) {
          const { status, error } = refusal(ctx, 'totp', result);
          return renderCodePage(ctx, details, client, error, status);
        }
        // Two different valid codes sent at once can both pass; only one request finishes the login.
        // A request for a phishing-resistant sign-in from an account with only a code: the code proves it is them, then a passkey is created.
        if (await passkeyPages.needsPasskeyAfterCode(details, client, pending.accountId)) {
          await pendingSignIns.advance(details.uid, 'totp', 'passkey_enrol', withMethod(pending.amr, amrOf.totp));
          return pages.redirectToInteraction(ctx, details);
        }
        const taken = await pendingSignIns.take(details.uid, ['totp']);
        if (!taken) return pages.redirectToInteraction(ctx, details);
        await pages.finishLogin(ctx, details, { accountId: taken.accountId, acr: acr.multiFactor, amr: withMethod(taken.amr, amrOf.totp) });
      });

      router.get('/interaction/:uid/recovery', noStore, async (ctx) => {
        const details = await pages.load(ctx);
        const pending = details.prompt.name === 'login' ? await pendingSignIns.find(details.uid) : undefined;
        if (pending?.stage !== 'totp') return pages.redirectToInteraction(ctx, details);
        renderRecoveryPage(ctx, details, await pages.clientOf(ctx, details));
      });

      router.post('/interaction/:uid/recovery', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        const client = await pages.clientOf(ctx, details);
        const pending = await pendingAt(ctx, details, client, ['totp']);
        if (!pending) return;
        const form = recoveryFormSchema.safeParse(ctx.request.body);
        if (!form.success) return renderRecoveryPage(ctx, details, client, recoveryCodeMessage, 400);
        const result = await mfa.useRecoveryCode(pending.accountId, form.data.code, { ip: ctx.ip, ...pages.originOf(details) });
        if (!result.ok) {
          const { status, error } = refusal(ctx, 'recovery_code', result);
          return renderRecoveryPage(ctx, details, client, error, status);
        }
        // The user sees how many codes are left, and may replace them, before the login finishes.
        await pendingSignIns.advance(details.uid, 'totp', 'recovered', withMethod(pending.amr, amrOf.recovery_code));
        pages.redirectToInteraction(ctx, details);
      });

      router.post('/interaction/:uid/enrol', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        const client = await pages.clientOf(ctx, details);
        const pending = await pendingAt(ctx, details, client, ['enrol']);
        if (!pending) return;
        const form = totpFormSchema.safeParse(ctx.request.body);
        if (!form.success) return renderEnrolPage(ctx, details, client, pending, totpCodeMessage, 400);
        const user = { kind: 'user', userId: pending.accountId } as const;
        const result = await mfa.confirmEnrolment(user, pending.accountId, pending.enrolmentSeed!, form.data.code, pages.originOf(details));
        if (!result.ok) {
          if (result.reason === 'already_enrolled') {
            await pendingSignIns.cancel(details.uid);
            throw new PageError(409, 'Two-step verification is already set up for this account. Go back to the application and sign in again.');
          }
          return renderEnrolPage(ctx, details, client, pending, 'That code did not work. Check that the time on your device is set automatically, and try again.', 401);
        }
        if (!(await pendingSignIns.advance(details.uid, 'enrol', 'enrolled', withMethod(pending.amr, amrOf.totp)))) return pages.redirectToInteraction(ctx, details);
        // Shown in this response only: reloading the page shows the "continue" page, never the codes.
        pages.render(ctx, details, 'mfa-recovery-codes.njk', { client: client.name, codes: result.recoveryCodes, enrolled: true });
      });

      router.post('/interaction/:uid/recovery-codes', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        const client = await pages.clientOf(ctx, details);
        const pending = await pendingAt(ctx, details, client, ['enrolled', 'recovered']);
        if (!pending) return;
        const codes = await mfa.regenerateRecoveryCodes({ kind: 'user', userId: pending.accountId }, pending.accountId, pages.originOf(details));
        if (!codes) throw new PageError(409, 'Two-step verification was turned off for this account. Go back to the application and sign in again.');
        pages.render(ctx, details, 'mfa-recovery-codes.njk', { client: client.name, codes, enrolled: false });
      });

      router.post('/interaction/:uid/continue', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        if (details.prompt.name !== 'login') throw new PageError(400, 'You are already signed in. Go back to the application.');
        const taken = await pendingSignIns.take(details.uid, ['enrolled', 'recovered']);
        if (!taken) return pages.redirectToInteraction(ctx, details);
        await pages.finishLogin(ctx, details, { accountId: taken.accountId, acr: acr.multiFactor, amr: taken.amr });
      });
    },
  };
}

export type SecondFactor = ReturnType<typeof createSecondFactor>;
