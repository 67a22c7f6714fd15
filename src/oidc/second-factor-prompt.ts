/**
 * When a sign-in needs a second factor, and the interaction policy that asks
 * for one. oidc-provider's `login` prompt compares `acr` only for an
 * *essential* acr claim (lib/helpers/interaction_policy/prompts/login.js);
 * `acr_values` alone never makes it prompt. The extra check below does, so
 * an existing password-only session meets the second factor (step-up), and
 * `prompt=none` answers `login_required`, the error the library gives every
 * unmet check of the `login` prompt (OIDC Core §3.1.2.6).
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';

import { acr, acrMeets, acrValues, type AcrValue } from './acr.js';

/** The check's reason, as it appears in an interaction's `prompt.reasons`. */
export const mfaRequiredReason = 'mfa_required';

export interface MfaDemand {
  /** The request's `acr_values` (after the client's `default_acr_values`), as received. */
  acrValues: unknown;
  /** The client's `require_mfa` metadata. */
  clientRequiresMfa: boolean;
  /** GATEHOUSE_MFA_REQUIRED. */
  requiredForAll: boolean;
}

/**
 * The strongest sign-in this request needs, whoever signs in: a password
 * alone, a second factor, or a phishing-resistant one (a passkey).
 * `acr_values` lists values in order of preference (OIDC Core §3.1.2.1);
 * Gatehouse can always meet each of its own values (an account without the
 * factor enrols one), so the first value it knows decides.
 */
export function acrDemanded({ acrValues: requested, clientRequiresMfa, requiredForAll }: MfaDemand): AcrValue {
  const preferred = typeof requested === 'string' ? requested.split(' ').find((value): value is AcrValue => (acrValues as readonly string[]).includes(value)) : undefined;
  if (preferred === acr.phishingResistant) return preferred;
  if (requiredForAll || clientRequiresMfa || preferred === acr.multiFactor) return acr.multiFactor;
  return acr.password;
}

/** Whether this request, whoever signs in, needs a second factor (of either kind). */
export function mfaDemanded(demand: MfaDemand): boolean {
  return acrDemanded(demand) !== acr.password;
}

export function clientRequiresMfa(client: { [key: string]: unknown } | undefined): boolean {
  return client?.['require_mfa'] === true;
}

export interface PolicyDeps {
  requiredForAll: boolean;
  /** Whether the account has an active second factor (an account that has one always uses it). */
  hasFactor(accountId: string): Promise<boolean>;
}

/** The library's default prompts, with the multi-factor check added to `login`. */
export function interactionPolicyFor({ requiredForAll, hasFactor }: PolicyDeps): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  const { Check } = interactionPolicy;
  policy.get('login')!.checks.add(
    new Check(mfaRequiredReason, 'multi-factor authentication is required', 'login_required', async (ctx: KoaContextWithOIDC) => {
      const { session, params, client } = ctx.oidc;
      // No session: the library's own no_session check already asks for a login.
      if (!session?.accountId) return Check.NO_NEED_TO_PROMPT;
      const demanded = acrDemanded({ acrValues: params?.acr_values, clientRequiresMfa: clientRequiresMfa(client), requiredForAll });
      if (!acrMeets(session.acr, demanded)) return Check.REQUEST_PROMPT;
      if (acrMeets(session.acr, acr.multiFactor)) return Check.NO_NEED_TO_PROMPT;
      // A session from before the account enrolled (or an operator's enrolment) must not keep skipping the factor.
      return (await hasFactor(session.accountId)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}
