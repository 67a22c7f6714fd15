/**
 * Self-service sign-up (issue 19 §5), `GATEHOUSE_SIGNUP`:
 *
 * `open`: anyone submits a username, an address and a password. What
 * depends only on what was typed (the shape, the password rules) is judged
 * at once, so the page can say why a password is refused. Everything that
 * depends on who exists happens after the answer, which is the same "check
 * your email" whether the names are free or not (no enumeration oracle,
 * as for recovery, src/mail/recovery.ts): a free pair becomes an account
 * with `email_verified` false and a verification link; a taken address
 * gets its owner a "you already have an account" message instead; a taken
 * username with a free address tells that address to choose another
 * username. Only the mailbox's owner learns anything.
 *
 * Until verified, the account may sign in; its `email_verified` claim is
 * false, which relying parties that need a real address check (OIDC Core
 * §5.1). The address cannot be used to take an older account: it would have
 * been "taken", and its owner told.
 *
 * `invite`: only through an operator's invitation (invitations.ts); the
 * address is the invited one and verified. The invitee holds a credential,
 * so a taken username is answered plainly ("choose another").
 *
 * Rate limits: per client IP on every submission (the page answers 429 with
 * Retry-After, which says nothing about any account), and per address in
 * the background (silently, as recovery's per-account limit).
 */
import type { AccountService, Account } from '../accounts/accounts.js';
import { AccountError } from '../accounts/accounts.js';
import { recordAs, system, type Audit } from '../audit/events.js';
import type { LimiterFactory } from '../db/counters.js';
import type { Db } from '../db/index.js';
import type { MailService } from '../mail/mail.js';
import type { EmailVerification } from '../mail/verification.js';
import type { Invitation, InvitationService } from './invitations.js';
import { invitationSignupSchema, signupSchema, type SignupInput } from './schemas.js';

export type SignupMode = 'off' | 'open' | 'invite';

export interface SignupSettings {
  mode: SignupMode;
  issuer: string;
  perAddress: { count: number; windowSeconds: number };
  perIp: { count: number; windowSeconds: number };
}

/** A form the page must show again, with the sentence that says what to change. */
export interface FormRefusal {
  ok: false;
  field: 'username' | 'email' | 'password';
  message: string;
}

export type AcceptResult =
  | { ok: true; account: Account }
  | FormRefusal
  | { ok: false; reason: 'gone' }
  | { ok: false; reason: 'email_taken' };

export interface SignupService {
  readonly mode: SignupMode;
  /** Spends one of the client address's submissions; refused with the seconds until the next. */
  admit(ip: string): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
  /** The open form judged on what was typed alone; the parsed input, or why not. */
  check(input: unknown): { ok: true; input: SignupInput } | FormRefusal;
  /** Open sign-up, in the background once `after` settles (the page passes the end of its answer). */
  request(input: SignupInput, origin: { ip: string }, after?: Promise<unknown>): void;
  /** Resolves when every background request has finished (tests, shutdown). */
  idle(): Promise<void>;
  /** The open invitation a link names, for the page that shows its address. */
  openInvitation(token: string): Promise<Invitation | undefined>;
  /** Sign-up through an invitation: the account at once, its address verified. */
  acceptInvitation(token: string, input: unknown): Promise<AcceptResult>;
}

export interface SignupDeps {
  db: Db;
  mail: MailService;
  accounts: AccountService;
  verification: EmailVerification;
  invitations: InvitationService;
  counters: LimiterFactory;
  audit: Audit;
  settings: SignupSettings;
}

const firstIssue = (error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): FormRefusal => {
  const issue = error.issues[0];
  const field = issue?.path[0];
  return { ok: false, field: field === 'email' || field === 'password' ? field : 'username', message: field === 'email' ? 'Enter a valid email address.' : (issue?.message ?? 'Check the form.') };
};

export function createSignupService(deps: SignupDeps): SignupService {
  const { db, mail, accounts, verification, invitations, audit, settings } = deps;
  const perIp = deps.counters.limiter('signup_ip', settings.perIp.count, settings.perIp.windowSeconds);
  const perAddress = deps.counters.limiter('signup_address', settings.perAddress.count, settings.perAddress.windowSeconds);
  const inFlight = new Set<Promise<void>>();
  const failed = (reason: string, subject?: string) => audit.record({ type: 'signup.requested', outcome: 'failure', subject, detail: { reason } });

  function passwordRefusal(password: string, identifiers: string[]): FormRefusal | undefined {
    const refusal = accounts.passwordRefusal(password, identifiers);
    return refusal ? { ok: false, field: 'password', message: refusal.charAt(0).toUpperCase() + refusal.slice(1) + '.' } : undefined;
  }

  async function start(input: SignupInput): Promise<void> {
    // A limiter that refuses, or whose store fails, sends nothing (fail closed).
    if (!(await perAddress.consume(input.email.toLowerCase()).then(() => true, () => false))) return failed('rate_limited');
    const owner = await accounts.find(input.email);
    if (owner) {
      await db.transaction((tx) => mail.queue(tx, 'signup_existing_account', owner, { recovery: `${settings.issuer}/recovery` }));
      await mail.kick();
      return failed('email_taken', owner.id);
    }
    if (await accounts.find(input.username)) {
      await db.transaction((tx) => mail.queue(tx, 'signup_username_taken', { id: null, username: '', email: input.email }, { wanted: input.username, signup: `${settings.issuer}/signup` }));
      await mail.kick();
      return failed('username_taken');
    }
    let account: Account;
    try {
      account = await accounts.create(system, { username: input.username, email: input.email, password: input.password, emailVerified: false }, { via: 'signup' });
    } catch (error) {
      // Taken between the look-up and the insert by a parallel request: that one won.
      if (error instanceof AccountError) return failed('taken_concurrently');
      throw error;
    }
    await verification.send({ kind: 'user', userId: account.id }, account.id);
    recordAs(audit, { kind: 'user', userId: account.id }, { type: 'signup.requested', subject: account.id, detail: { created: true } });
  }

  return {
    mode: settings.mode,

    async admit(ip) {
      try {
        await perIp.consume(ip);
        return { ok: true };
      } catch (error) {
        // rate-limiter-flexible rejects with its RateLimiterRes (msBeforeNext) when over the limit.
        const ms = (error as { msBeforeNext?: unknown }).msBeforeNext;
        return { ok: false, retryAfterSeconds: typeof ms === 'number' ? Math.max(1, Math.ceil(ms / 1000)) : settings.perIp.windowSeconds };
      }
    },

    check(input) {
      const parsed = signupSchema.safeParse(input);
      if (!parsed.success) return firstIssue(parsed.error);
      return passwordRefusal(parsed.data.password, [parsed.data.username, parsed.data.email]) ?? { ok: true, input: parsed.data };
    },

    request(input, _origin, after = Promise.resolve()) {
      if (settings.mode !== 'open') return;
      const job = after
        .then(() => start(input))
        .catch((error: unknown) => failed(`error: ${error instanceof Error ? error.message.slice(0, 200) : 'unknown'}`))
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
    },

    async idle() {
      while (inFlight.size) await Promise.all([...inFlight]);
    },

    openInvitation: async (token) => (settings.mode === 'invite' ? invitations.open(token) : undefined),

    async acceptInvitation(token, input) {
      if (settings.mode !== 'invite') return { ok: false, reason: 'gone' };
      const invitation = await invitations.open(token);
      if (!invitation) return { ok: false, reason: 'gone' };
      const parsed = invitationSignupSchema.safeParse(input);
      if (!parsed.success) return firstIssue(parsed.error);
      const { username, password } = parsed.data;
      const refused = passwordRefusal(password, [username, invitation.email]);
      if (refused) return refused;
      if (await accounts.find(invitation.email)) return { ok: false, reason: 'email_taken' };
      const taken: FormRefusal = { ok: false, field: 'username', message: 'That username is taken. Choose another.' };
      if (await accounts.find(username)) return taken;
      // Spent before the account exists: of two submissions of one link, only one gets past here.
      const spent = await invitations.spend(token);
      if (!spent) return { ok: false, reason: 'gone' };
      try {
        const account = await accounts.create(system, { username, email: spent.email, emailVerified: true, password }, { via: 'invitation', invitation: spent.id });
        await invitations.accepted(spent, account.id);
        return { ok: true, account };
      } catch (error) {
        await invitations.release(spent);
        if (error instanceof AccountError) return taken;
        throw error;
      }
    },
  };
}
