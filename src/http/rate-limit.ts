/**
 * The rate-limit middleware: per client IP, then per client id, with a budget
 * for each endpoint class. Over a budget: 429 with `Retry-After` and the IETF
 * `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-09,
 * structured-field lists), a JSON error on protocol endpoints and a page for
 * people. Within budget the same two fields tell clients where they stand.
 *
 * The JSON error is `temporarily_unavailable`: RFC 6749 has no code for "too
 * many requests"; this registered one means "temporarily overloaded" and
 * clients already treat it as retryable, while `slow_down` (RFC 8628) has a
 * device-flow meaning ("add 5 s to your polling interval") that would
 * mislead, and `invalid_request` says the request itself is wrong. The 429
 * status carries the precise meaning.
 *
 * A request's client-id point is given back when the request turns out not
 * to be that client (authentication failed, unknown client): anyone can
 * write someone else's client_id, and must not be able to spend that
 * client's budget. Failed attempts still spend the sender's IP budget.
 */
import type { Context } from 'koa';
import type { Logger } from 'pino';

import type { Config, RateLimitClass } from '../config/index.js';
import type { Views } from './views.js';
import { addressBucket } from './client-ip.js';
import { createBudget, type Budget, type BudgetDecision } from './rate-limit-budget.js';
import { claimedClient, endpointClass, isPageRoute, mayCarryClientInBody, settledClient } from './rate-limit-classes.js';
import type { LimiterFactory } from '../db/counters.js';
import { readBodyAhead } from './request-limits.js';
import { authenticatesClient, createClientAuthFailures, type ClientAuthFailures } from './client-auth-failures.js';
import { initialAccessTokenBucket, type UsableInitialAccessToken } from './registration-budget.js';

interface ClassBudgets {
  ip: Budget | undefined;
  client: Budget | undefined;
}

export interface RateLimits {
  budgets: Record<RateLimitClass, ClassBudgets>;
  /** `/reg` with a valid initial access token, per token (src/http/registration-budget.ts). */
  registrationPerToken: Budget | undefined;
  /** Failed client authentications per IP and client id (src/http/client-auth-failures.ts). */
  clientAuthFailures: ClientAuthFailures | undefined;
  close(): Promise<void>;
}

/** Built once per process (leases outlive a provider swap). */
export function createRateLimits(factory: LimiterFactory, config: Config['rateLimits'], onError: (error: unknown) => void = () => undefined): RateLimits {
  const budgets = {} as Record<RateLimitClass, ClassBudgets>;
  for (const [cls, budget] of Object.entries(config.budgets) as Array<[RateLimitClass, Config['rateLimits']['budgets'][RateLimitClass]]>) {
    budgets[cls] = {
      ip: config.enabled && budget.ip ? createBudget(factory, `rl.${cls}.ip`, budget.ip.count, budget.ip.windowSeconds) : undefined,
      client: config.enabled && budget.client ? createBudget(factory, `rl.${cls}.client`, budget.client.count, budget.client.windowSeconds) : undefined,
    };
  }
  const perToken = config.registrationPerToken;
  const registrationPerToken = config.enabled && perToken ? createBudget(factory, 'rl.registration.token', perToken.count, perToken.windowSeconds) : undefined;
  return {
    budgets,
    registrationPerToken,
    clientAuthFailures: config.enabled ? createClientAuthFailures(factory, config.clientAuthFailures, onError) : undefined,
    async close() {
      const open = Object.values(budgets).flatMap((b) => [b.ip, b.client].filter((budget) => budget !== undefined));
      await Promise.all([...open.map((budget) => budget.close()), registrationPerToken?.close()]);
    },
  };
}

interface Applied {
  policy: string;
  decision: BudgetDecision;
}

function setRateLimitFields(ctx: Context, applied: readonly Applied[]): void {
  if (applied.length === 0) return;
  ctx.set('RateLimit-Policy', applied.map((a) => `"${a.policy}";q=${a.decision.limit};w=${a.decision.windowSeconds}`).join(', '));
  ctx.set('RateLimit', applied.map((a) => `"${a.policy}";r=${a.decision.remaining};t=${a.decision.resetSeconds}`).join(', '));
}

export interface RateLimitDeps {
  limits: RateLimits;
  views: Views;
  log: Logger;
  onLimited?: (cls: RateLimitClass, key: 'ip' | 'client') => void;
  /** Whether a presented initial access token may register now (its id), for the per-token registration budget. */
  usableInitialAccessToken?: UsableInitialAccessToken;
}

/** A request let through: `settle` runs once it has been answered. */
export interface Admission {
  settle(ctx: Context): void | Promise<void>;
}

export interface RateLimiter {
  /** Spends the request's budgets. Undefined when over one: the 429 has been answered. */
  admit(ctx: Context): Promise<Admission | undefined>;
}

const unlimited: Admission = { settle: () => undefined };

export function rateLimiter(deps: RateLimitDeps): RateLimiter {
  const { limits, views, log } = deps;

  function refuse(ctx: Context, cls: RateLimitClass, key: 'ip' | 'client', applied: Applied[]): undefined {
    const retryAfter = applied.at(-1)!.decision.resetSeconds;
    deps.onLimited?.(cls, key);
    ctx.state.rateLimited = `${cls}.${key}`;
    ctx.status = 429;
    ctx.set('Retry-After', String(retryAfter));
    ctx.set('Cache-Control', 'no-store');
    setRateLimitFields(ctx, applied);
    if (isPageRoute(ctx)) {
      ctx.type = 'html';
      ctx.body = views.render('too-many-requests.njk', { retryAfter, requestId: ctx.state.requestId });
    } else if (ctx.path.startsWith('/admin/')) {
      // The admin API answers every error as RFC 9457 problem details (docs/admin-api.md).
      ctx.type = 'application/problem+json';
      ctx.body = { type: 'about:blank', title: 'Too Many Requests', status: 429, detail: `Too many requests. Retry in ${retryAfter} seconds.`, instance: `urn:gatehouse:request:${ctx.state.requestId}` };
    } else {
      ctx.body = { error: 'temporarily_unavailable', error_description: `Too many requests. Retry in ${retryAfter} seconds.` };
    }
    return undefined;
  }

  return {
    async admit(ctx) {
      const cls = endpointClass(ctx);
      const budgets = cls ? limits.budgets[cls] : undefined;
      const failures = authenticatesClient(ctx) ? limits.clientAuthFailures : undefined;
      if (!cls || !budgets || (!budgets.ip && !budgets.client && !failures)) return unlimited;

      const applied: Applied[] = [];
      const address = addressBucket(ctx.ip);
      let claimed: { client: string | undefined } | undefined;
      const claimedOnce = async () => {
        if (!claimed) {
          const needsBody = mayCarryClientInBody(ctx) && !/^Basic\s/i.test(ctx.get('Authorization')) && typeof ctx.query.client_id !== 'string';
          claimed = { client: claimedClient(ctx, needsBody ? await readBodyAhead(ctx) : undefined) };
        }
        return claimed.client;
      };
      let spentClient: string | undefined;
      try {
        if (budgets.ip) {
          const token = cls === 'registration' && limits.registrationPerToken && deps.usableInitialAccessToken ? await initialAccessTokenBucket(ctx, deps.usableInitialAccessToken) : undefined;
          const [budget, key, policy] = token ? [limits.registrationPerToken!, token, `${cls}-token`] : [budgets.ip, address, `${cls}-ip`];
          const taken = budget.take(key);
          const decision = taken instanceof Promise ? await taken : taken;
          applied.push({ policy, decision });
          if (!decision.allowed) return refuse(ctx, cls, 'ip', applied);
        }
        // Before the client budget: a request refused for failed authentications must not spend the claimed client's requests.
        if (failures) {
          const refused = failures.check(address, await claimedOnce());
          if (refused) return refuse(ctx, cls, refused.key, [{ policy: refused.policy, decision: refused.decision }]);
        }
        if (budgets.client) {
          const client = await claimedOnce();
          if (client) {
            const taken = budgets.client.take(client);
            const decision = taken instanceof Promise ? await taken : taken;
            applied.push({ policy: `${cls}-client`, decision });
            if (!decision.allowed) return refuse(ctx, cls, 'client', applied);
            spentClient = client;
          }
        }
      } catch (error) {
        if ((error as { status?: number }).status) throw error; // an HttpProblem from reading the body
        // The store and its in-memory insurance both failed: serve rather than refuse everyone.
        log.error({ err: error, requestId: ctx.state.requestId }, 'rate limiter unavailable; request not limited');
      }
      setRateLimitFields(ctx, applied);
      if (!spentClient && !failures) return unlimited;
      const client = spentClient;
      return {
        settle(answered) {
          if (client && (settledClient(answered) !== client || answered.status === 401)) budgets.client?.giveBack(client);
          return failures?.settle(answered, address, claimed?.client);
        },
      };
    },
  };
}
