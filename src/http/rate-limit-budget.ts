/**
 * One rate-limit budget (say, /token per client id: 300 per minute) with
 * local pre-counting. Asking the shared store on every request would put a
 * database round trip, and a hot row lock, on the token endpoint. Instead a
 * node leases a few points at a time from the shared counter (one atomic
 * consume of n) and spends them locally. The lease shrinks with what is left
 * (a sixteenth of the remainder, at most 100) so that near the limit every
 * node asks for one point at a time: the cluster-wide total stays exact.
 * Points a node leased but has not used for a second go back to the shared
 * counter, so traffic moving to another node does not strand them.
 *
 * Fixed windows, as rate-limiter-flexible keeps them: a window starts at a
 * key's first request and every node sees the same reset time.
 */
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

import type { LimiterFactory } from '../db/counters.js';

export interface BudgetDecision {
  allowed: boolean;
  /** The policy: `limit` requests per `windowSeconds`. */
  limit: number;
  windowSeconds: number;
  /** Requests left in this window (an estimate when several nodes share the budget). */
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

export interface Budget {
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
  /** A decision at once while the local lease lasts (no promise on the hot path); a promise when the store must be asked. */
  take(key: string): BudgetDecision | Promise<BudgetDecision>;
  /** Returns a point taken by `take` in this window (the request turned out not to count). */
  giveBack(key: string): void;
  close(): Promise<void>;
}

interface Slot {
  available: number;
  storeRemaining: number;
  windowEndsAt: number;
  lastUsedAt: number;
  fetching: Promise<void> | undefined;
}

const maxLease = 100;
const leaseDivisor = 16;
const idleReturnMs = 1000;
/** Beyond this many tracked keys (a flood from many addresses) nothing is leased ahead; each request asks the store. */
const maxSlots = 50_000;

export function createBudget(factory: LimiterFactory, name: string, limit: number, windowSeconds: number): Budget {
  const limiter: RateLimiterAbstract = factory.limiter(name, limit, windowSeconds);
  const slots = new Map<string, Slot>();

  const leaseSize = (slot: Slot) =>
    factory.shared && slots.size < maxSlots ? Math.max(1, Math.min(maxLease, Math.floor(slot.storeRemaining / leaseDivisor))) : 1;

  async function lease(key: string, slot: Slot): Promise<void> {
    const wanted = leaseSize(slot);
    let result: RateLimiterRes;
    let granted = wanted;
    try {
      result = await limiter.consume(key, wanted);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      result = error;
      // The store added all n; only the part that fitted under the limit is ours.
      granted = Math.max(0, Math.min(wanted, limit - (result.consumedPoints - wanted)));
    }
    slot.available += granted;
    slot.storeRemaining = Math.max(0, limit - result.consumedPoints);
    slot.windowEndsAt = Date.now() + Math.max(result.msBeforeNext, 0);
  }

  const decision = (slot: Slot, allowed: boolean): BudgetDecision => ({
    allowed,
    limit,
    windowSeconds,
    remaining: allowed ? slot.storeRemaining + slot.available : 0,
    resetSeconds: Math.max(1, Math.ceil((slot.windowEndsAt - Date.now()) / 1000)),
  });

  // Returns idle leases to the shared counter and forgets finished windows.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, slot] of slots) {
      if (slot.fetching) continue;
      if (now >= slot.windowEndsAt) {
        slots.delete(key);
      } else if (slot.available > 0 && now - slot.lastUsedAt > idleReturnMs && factory.shared) {
        const unused = slot.available;
        slot.available = 0;
        slot.storeRemaining += unused;
        limiter.reward(key, unused).catch(() => undefined);
      }
    }
  }, idleReturnMs);
  sweep.unref();

  /** Spends from the lease, refilling it from the shared store when it is empty. */
  async function takeFromStore(key: string): Promise<BudgetDecision> {
    for (;;) {
      const now = Date.now();
      let slot = slots.get(key);
      if (slot && !slot.fetching && now >= slot.windowEndsAt) {
        // The window is over everywhere: a leftover lease belonged to it.
        slots.delete(key);
        slot = undefined;
      }
      if (!slot) {
        slot = { available: 0, storeRemaining: limit, windowEndsAt: 0, lastUsedAt: now, fetching: undefined };
        slots.set(key, slot);
      }
      if (slot.fetching) {
        await slot.fetching;
        continue;
      }
      if (slot.available > 0) {
        slot.available -= 1;
        slot.lastUsedAt = now;
        return decision(slot, true);
      }
      if (slot.windowEndsAt > now && slot.storeRemaining === 0) return decision(slot, false);
      const current = slot;
      current.fetching = lease(key, current).finally(() => {
        current.fetching = undefined;
      });
      await current.fetching;
      if (current.available === 0) return decision(current, false);
    }
  }

  return {
    name,
    limit,
    windowSeconds,
    take(key) {
      const slot = slots.get(key);
      const now = Date.now();
      if (slot && !slot.fetching && slot.available > 0 && now < slot.windowEndsAt) {
        slot.available -= 1;
        slot.lastUsedAt = now;
        return decision(slot, true);
      }
      return takeFromStore(key);
    },
    giveBack(key) {
      const slot = slots.get(key);
      if (slot && Date.now() < slot.windowEndsAt) slot.available += 1;
    },
    async close() {
      clearInterval(sweep);
      if (!factory.shared) return;
      // Unused leases go back, so a restarting node does not shrink the cluster's budget for the rest of the window.
      await Promise.all(
        [...slots].filter(([, s]) => s.available > 0 && Date.now() < s.windowEndsAt).map(([key, s]) => limiter.reward(key, s.available).catch(() => undefined)),
      );
      slots.clear();
    },
  };
}
