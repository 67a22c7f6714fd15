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

import { acr, acrValues } from './acr.js';

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
 * Whether this request, whoever signs in, needs a second factor. `acr_values`
 * lists values in order of preference (OIDC Core §3.1.2.1); Gatehouse can
 * always meet the multi-factor one, so the first value it knows decides.
 */
export function mfaDemanded({ acrValues: requested, clientRequiresMfa, requiredForAll }: MfaDemand): boolean {
  if (requiredForAll || clientRequiresMfa) return true;
  if (typeof requested !== 'string') return false;
  const preferred = requested.split(' ').find((value) => (acrValues as readonly string[]).includes(value));
  return preferred === acr.multiFactor;
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
      if (!session?.accountId || session.acr === acr.multiFactor) return Check.NO_NEED_TO_PROMPT;
      if (mfaDemanded({ acrValues: params?.acr_values, clientRequiresMfa: clientRequiresMfa(client), requiredForAll })) return Check.REQUEST_PROMPT;
      // A session from before the account enrolled (or an operator's enrolment) must not keep skipping the factor.
      return (await hasFactor(session.accountId)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}
