/**
 * Scope and step-up checks for one operation (issue 14 §2, issue 15 §4). A
 * service client's token needs the operation's scope. A user's token needs
 * the scope and, now as well as at issuance, a role that carries it: the
 * token was cut to the user's permissions when issued (src/oidc/resources.ts),
 * and a role removed since then stops the token here within the permission
 * cache's invalidation time. Writes also need a second factor and a recent
 * sign-in: else 401 with the RFC 9470 §3 challenge
 * `insufficient_user_authentication`, naming acr_values and max_age.
 */
import type { Account } from '../accounts/accounts.js';
import { acr, acrMeets } from '../oidc/acr.js';
import { bearerChallenge, type AdminCaller } from './bearer.js';
import { isWrite, type Operation } from './operation.js';
import { AdminProblem, problemTypes } from './problem.js';

const mfaAcr = acr.multiFactor;

export interface AuthoriseDeps {
  findAccount(id: string): Promise<Account | undefined>;
  /** The admin API scopes a user holds through roles (src/rbac/effective.ts, cached). */
  heldAdminScopes(accountId: string): Promise<ReadonlySet<string>>;
  maxAuthAgeSeconds: number;
  now?: () => number;
}

export async function authorise(op: Pick<Operation, 'scope' | 'method'>, caller: AdminCaller, deps: AuthoriseDeps): Promise<void> {
  if (!caller.scopes.has(op.scope)) {
    // RFC 6750 §3.1: 403 with the scope the request needed.
    throw new AdminProblem(403, `This operation needs the scope ${op.scope}.`, {
      type: problemTypes.scope,
      challenge: bearerChallenge({ code: 'insufficient_scope', description: 'the access token lacks the scope this operation needs', extra: `scope="${op.scope}"` }),
    });
  }
  if (!caller.user) return;
  const account = await deps.findAccount(caller.user.id);
  if (!account || account.disabled || !(await deps.heldAdminScopes(account.id)).has(op.scope)) {
    throw new AdminProblem(403, `This account holds no role that grants ${op.scope}.`, {
      type: problemTypes.scope,
      challenge: bearerChallenge({ code: 'insufficient_scope', description: 'the user holds no role with the permission this operation needs', extra: `scope="${op.scope}"` }),
    });
  }
  if (!isWrite(op)) return;
  const now = Math.floor((deps.now ?? Date.now)() / 1000);
  const recent = caller.user.authTime !== undefined && now - caller.user.authTime <= deps.maxAuthAgeSeconds;
  if (!acrMeets(caller.user.acr, mfaAcr) || !recent) {
    throw new AdminProblem(401, 'Writes need a second factor and a recent sign-in: sign in again with both.', {
      type: problemTypes.stepUp,
      challenge: bearerChallenge({
        code: 'insufficient_user_authentication',
        description: 'a second factor and a recent sign-in are required',
        extra: `acr_values="${mfaAcr}", max_age=${deps.maxAuthAgeSeconds}`,
      }),
    });
  }
}
