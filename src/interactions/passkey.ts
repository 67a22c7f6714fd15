/**
 * The passkey pages: a passkey as the second factor after a password, a
 * passkey created during sign-in (when the request needs a factor the account
 * does not have), and sign-in with a passkey alone from the login page
 * (discoverable credentials, also offered in the username field's autofill).
 * Like the code pages, each acts only on the pending sign-in the server
 * recorded for this interaction (src/mfa/sign-ins.ts).
 *
 * A passkey assertion with user verification is phishing-resistant and
 * multi-factor on its own, so each of these ends with acr `phr`.
 *
 * Statuses: 400 malformed response or an expired challenge, 401 refused
 * passkey, 429 locked (with Retry-After), 409 a passkey already registered.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';

import type { PendingSignIn } from '../mfa/sign-ins.js';
import { acr } from '../oidc/acr.js';
import { acrDemanded } from '../oidc/second-factor-prompt.js';
import type { PasskeyCheck } from '../passkeys/passkeys.js';
import { assertionFormSchema, attestationFormSchema, passkeyFailedMessage } from '../passkeys/schemas.js';
import { passwordlessCeremony, renderLoginPage } from './login.js';
import { lockedMessage, noStore, PageError, parseForm, requireFormBody, type Details, type InteractionDeps, type PageClient, type Pages } from './pages.js';

const refusedMessage: Record<Exclude<PasskeyCheck, { ok: true }>['reason'], string> = {
  locked: '',
  invalid: passkeyFailedMessage,
  unknown_credential: 'That passkey is not registered for this account. Use another passkey, or another way to sign in.',
  cloned: 'That passkey was refused: it looks like a copy of another. Use another way to sign in and tell your administrator.',
  expired: 'This passkey request has expired. Try again.',
};

const withMethods = (amr: readonly string[], methods: readonly string[]) => [...new Set([...amr, ...methods])];

/** The pending sign-in (and its challenges) expire with the interaction. */
const expiryOf = (details: Details) => new Date(details.exp * 1000);

/** Ceremonies are per interaction and per page, so one page's challenge never answers another's. */
const ceremony = {
  secondFactor: (uid: string) => `second-factor:${uid}`,
  register: (uid: string) => `register:${uid}`,
  passwordless: passwordlessCeremony,
};

export interface PasskeyPages {
  /** Whether a request that needs a phishing-resistant sign-in still lacks a passkey after this account's code (so it registers one next). */
  needsPasskeyAfterCode(details: Details, client: PageClient, accountId: string): Promise<boolean>;
  renderAssertPage(ctx: Context, details: Details, client: PageClient, pending: PendingSignIn, error?: string, status?: number): Promise<void>;
  renderRegisterPage(ctx: Context, details: Details, client: PageClient, pending: PendingSignIn, error?: string, status?: number): Promise<void>;
  routes(router: Router, pendingAt: PendingAt): void;
}

export type PendingAt = (ctx: Context, details: Details, client: PageClient, stages: readonly PendingSignIn['stage'][]) => Promise<PendingSignIn | undefined>;

export function createPasskeyPages(pages: Pages, deps: InteractionDeps): PasskeyPages {
  const { accounts, mfa, passkeys, pendingSignIns } = deps.services;

  const demandOf = (details: Details, client: PageClient) =>
    acrDemanded({ acrValues: details.params.acr_values, clientRequiresMfa: client.requiresMfa, requiredForAll: deps.mfaRequiredForAll });

  async function renderAssertPage(ctx: Context, details: Details, client: PageClient, pending: PendingSignIn, error?: string, status = 200) {
    const options = await passkeys.authenticationOptions(ceremony.secondFactor(details.uid), pending.accountId, expiryOf(details));
    // The code is offered too unless the request asked for phishing resistance, which a code cannot give.
    const totp = demandOf(details, client) !== acr.phishingResistant && (await mfa.hasTotp(pending.accountId));
    pages.render(ctx, details, 'mfa-passkey.njk', { client: client.name, options: JSON.stringify(options), totp, error }, status);
  }

  async function renderRegisterPage(ctx: Context, details: Details, client: PageClient, pending: PendingSignIn, error?: string, status = 200) {
    const account = await accounts.findById(pending.accountId);
    if (!account) throw new PageError(400, 'This sign-in has expired. Go back to the application and start again.');
    const options = await passkeys.registrationOptions(ceremony.register(details.uid), account, expiryOf(details));
    pages.render(ctx, details, 'passkey-register.njk', { client: client.name, options: JSON.stringify(options), error }, status);
  }

  function refusal(ctx: Context, result: Exclude<PasskeyCheck, { ok: true }>): { status: number; error: string } {
    if (result.reason === 'locked') {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      return { status: 429, error: lockedMessage(result.retryAfterSeconds) };
    }
    return { status: result.reason === 'expired' ? 400 : 401, error: refusedMessage[result.reason] };
  }

  return {
    async needsPasskeyAfterCode(details, client, accountId) {
      return demandOf(details, client) === acr.phishingResistant && !(await passkeys.hasPasskey(accountId));
    },

    renderAssertPage,
    renderRegisterPage,

    routes(router, pendingAt) {
      router.post('/interaction/:uid/passkey', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        const client = await pages.clientOf(ctx, details);
        const pending = await pendingAt(ctx, details, client, ['totp']);
        if (!pending) return;
        const form = assertionFormSchema.safeParse(ctx.request.body);
        if (!form.success) return renderAssertPage(ctx, details, client, pending, passkeyFailedMessage, 400);
        const result = await passkeys.verify(ceremony.secondFactor(details.uid), pending.accountId, form.data.response, { ip: ctx.ip, ...pages.originOf(details) });
        if (!result.ok) {
          const { status, error } = refusal(ctx, result);
          return renderAssertPage(ctx, details, client, pending, error, status);
        }
        const taken = await pendingSignIns.take(details.uid, ['totp']);
        if (!taken) return pages.redirectToInteraction(ctx, details);
        await pages.finishLogin(ctx, details, { accountId: taken.accountId, acr: acr.phishingResistant, amr: withMethods(taken.amr, result.amr) });
      });

      router.post('/interaction/:uid/passkey-register', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        const client = await pages.clientOf(ctx, details);
        const pending = await pendingAt(ctx, details, client, ['passkey_enrol']);
        if (!pending) return;
        const form = attestationFormSchema.safeParse(ctx.request.body);
        if (!form.success) return renderRegisterPage(ctx, details, client, pending, form.error.issues[0]?.message ?? passkeyFailedMessage, 400);
        const user = { kind: 'user', userId: pending.accountId } as const;
        const result = await passkeys.register(user, ceremony.register(details.uid), pending.accountId, form.data.response, form.data.name || undefined, pages.originOf(details));
        if (!result.ok) {
          if (result.reason === 'duplicate') return renderRegisterPage(ctx, details, client, pending, 'That passkey is registered already. Create another one.', 409);
          const error = result.reason === 'attestation_required' ? 'This passkey cannot be used here: your organisation requires a passkey that proves its make and model.' : result.reason === 'expired' ? refusedMessage.expired : passkeyFailedMessage;
          return renderRegisterPage(ctx, details, client, pending, error, result.reason === 'expired' ? 400 : 401);
        }
        const taken = await pendingSignIns.take(details.uid, ['passkey_enrol']);
        if (!taken) return pages.redirectToInteraction(ctx, details);
        // Creating the passkey proved it (its attestation is signed by the new key, with user verification).
        const amr = withMethods(taken.amr, ['pop', result.passkey.deviceType === 'singleDevice' ? 'hwk' : 'swk', 'user']);
        await pages.finishLogin(ctx, details, { accountId: taken.accountId, acr: acr.phishingResistant, amr });
      });

      router.post('/interaction/:uid/passwordless', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        if (details.prompt.name !== 'login') throw new PageError(400, 'You are already signed in. Go back to the application.');
        const client = await pages.clientOf(ctx, details);
        const form = assertionFormSchema.safeParse(ctx.request.body);
        if (!form.success) return renderLoginPage(pages, ctx, details, client, { error: passkeyFailedMessage, passkeyRefused: true }, 400);
        const result = await passkeys.verify(ceremony.passwordless(details.uid), undefined, form.data.response, { ip: ctx.ip, ...pages.originOf(details) });
        if (!result.ok) {
          const { status, error } = refusal(ctx, result);
          // Without a password step the page cannot say whose passkey it was: the same words for an unknown one.
          return renderLoginPage(pages, ctx, details, client, { error: result.reason === 'unknown_credential' ? 'That passkey is not registered here. Sign in with your password.' : error, passkeyRefused: true }, status);
        }
        // A passkey sign-in replaces any password step begun before it.
        await pendingSignIns.cancel(details.uid);
        // User verification makes the passkey two factors at once (RFC 8176 `mfa`).
        await pages.finishLogin(ctx, details, { accountId: result.accountId, acr: acr.phishingResistant, amr: withMethods(result.amr, ['mfa']) });
      });

      router.get('/interaction/:uid/totp', noStore, async (ctx) => {
        const details = await pages.load(ctx);
        const pending = details.prompt.name === 'login' ? await pendingSignIns.find(details.uid) : undefined;
        const client = await pages.clientOf(ctx, details);
        if (pending?.stage !== 'totp' || demandOf(details, client) === acr.phishingResistant) return pages.redirectToInteraction(ctx, details);
        pages.render(ctx, details, 'mfa-totp.njk', { client: client.name, passkey: await passkeys.hasPasskey(pending.accountId) });
      });

      // The TOTP enrolment page offers a passkey instead.
      router.post('/interaction/:uid/enrol-passkey', noStore, requireFormBody, parseForm, async (ctx) => {
        const details = await pages.loadForm(ctx);
        const client = await pages.clientOf(ctx, details);
        const pending = await pendingAt(ctx, details, client, ['enrol']);
        if (!pending) return;
        await pendingSignIns.advance(details.uid, 'enrol', 'passkey_enrol', pending.amr);
        pages.redirectToInteraction(ctx, details);
      });
    },
  };
}
