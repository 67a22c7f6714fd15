/**
 * A budget of failed client authentications, per client IP and per client id,
 * apart from the request budgets (which a client guessing secrets would not
 * notice: /token allows 1,200 requests a minute per address). A request from
 * an address, or naming a client, that has used up its failures in the window
 * is answered 429 with `Retry-After` by the rate limiter before the library
 * reads the secret; the failures themselves still reach the audit log and the
 * invalid_client alert (src/audit/alerts.ts) as before.
 *
 * Failures are counted in the shared store once answered (`invalid_client`);
 * a success costs nothing, so a busy client's many parallel requests never
 * spend this budget. Which keys are blocked is known locally from the count
 * the store returns, so the check costs no round trip. A node learns of a
 * block the others caused at its own next failure for that key, so across N
 * nodes at most N-1 failures (plus those already in flight) get past the limit.
 *
 * Counting per client id means that someone who knows a client id can spend
 * that client's failures, as the account lockout lets someone spend an
 * account's (src/accounts/lockout.ts): the window is short, and the per-IP
 * budget stops one address from doing it for many clients.
 */
import type { Context } from 'koa';
import { RateLimiterRes } from 'rate-limiter-flexible';

import type { RateLimitBudget, Threshold } from '../config/index.js';
import type { LimiterFactory } from '../db/counters.js';
import type { BudgetDecision } from './rate-limit-budget.js';

/** Endpoints where oidc-provider authenticates the client (lib/shared/client_auth.js). */
const authenticatingPaths = new Set(['/token', '/token/introspection', '/token/revocation', '/request']);

export const authenticatesClient = (ctx: Context) => ctx.method === 'POST' && authenticatingPaths.has(ctx.path);

/** Beyond this many blocked keys (a flood of made-up client ids), the oldest are forgotten first. */
const maxBlocked = 50_000;

export interface FailureRefusal {
  key: 'ip' | 'client';
  policy: string;
  decision: BudgetDecision;
}

interface Counter {
  threshold: Threshold;
  policy: string;
  count(key: string): Promise<void>;
  blockedFor(key: string): number;
}

function createCounter(factory: LimiterFactory, name: string, policy: string, threshold: Threshold, onError: (error: unknown) => void): Counter {
  const limiter = factory.limiter(name, threshold.count, threshold.windowSeconds);
  /** Key → when its window ends, for keys that reached the limit. */
  const blocked = new Map<string, number>();
  return {
    threshold,
    policy,
    async count(key) {
      let result: RateLimiterRes;
      try {
        result = await limiter.consume(key, 1);
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) return onError(error);
        result = error;
      }
      if (result.consumedPoints < threshold.count) return;
      if (blocked.size >= maxBlocked) blocked.delete(blocked.keys().next().value!);
      blocked.set(key, Date.now() + Math.max(result.msBeforeNext, 1000));
    },
    blockedFor(key) {
      const until = blocked.get(key);
      if (until === undefined) return 0;
      const left = until - Date.now();
      if (left > 0) return Math.ceil(left / 1000);
      blocked.delete(key);
      return 0;
    },
  };
}

export interface ClientAuthFailures {
  /** A refusal when the address or the claimed client has no failures left in its window. */
  check(address: string, client: string | undefined): FailureRefusal | undefined;
  /**
   * Once answered: counts the request against both when client authentication
   * failed. Awaited before the answer goes out, so a client that waits for it
   * (one guess after another) meets the block on its very next request.
   */
  settle(ctx: Context, address: string, client: string | undefined): Promise<void> | undefined;
}

export function createClientAuthFailures(factory: LimiterFactory, budget: RateLimitBudget, onError: (error: unknown) => void): ClientAuthFailures | undefined {
  const ip = budget.ip && createCounter(factory, 'rl.client_auth_failures.ip', 'client-auth-failures-ip', budget.ip, onError);
  const client = budget.client && createCounter(factory, 'rl.client_auth_failures.client', 'client-auth-failures-client', budget.client, onError);
  if (!ip && !client) return undefined;

  const refusal = (counter: Counter, key: 'ip' | 'client', seconds: number): FailureRefusal => ({
    key,
    policy: counter.policy,
    decision: { allowed: false, limit: counter.threshold.count, windowSeconds: counter.threshold.windowSeconds, remaining: 0, resetSeconds: seconds },
  });

  return {
    check(address, claimed) {
      const ipSeconds = ip ? ip.blockedFor(address) : 0;
      if (ip && ipSeconds > 0) return refusal(ip, 'ip', ipSeconds);
      const clientSeconds = client && claimed ? client.blockedFor(claimed) : 0;
      if (client && clientSeconds > 0) return refusal(client, 'client', clientSeconds);
      return undefined;
    },
    settle(ctx, address, claimed) {
      const body = ctx.body as { error?: unknown } | undefined;
      if (!body || typeof body !== 'object' || body.error !== 'invalid_client') return undefined;
      return Promise.all([ip?.count(address), claimed ? client?.count(claimed) : undefined]).then(() => undefined);
    },
  };
}
