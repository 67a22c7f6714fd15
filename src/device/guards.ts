/**
 * The two limits of the device authorization grant (RFC 8628) that the
 * library leaves to us. A user code is short enough to type, so guessing
 * one is stopped per address (§5.1: with 20^8 codes and ten guesses per
 * window, a guess wins with odds of about 2^-31); and a device that polls the
 * token endpoint faster than its `interval` is answered `slow_down` (§3.5).
 * Both counters live in the database, so every node sees every guess and
 * every poll (DESIGN invariant 2).
 */
import { createHash } from 'node:crypto';

import type { RateLimiterAbstract } from 'rate-limiter-flexible';

import { addressBucket } from '../accounts/address-bucket.js';
import { createLockoutStore } from '../accounts/lockout-store.js';
import type { LimiterFactory } from '../db/counters.js';
import type { Db } from '../db/index.js';

export interface DeviceFlowSettings {
  maxGuessesPerIp: number;
  windowSeconds: number;
  pollInterval: number;
}

export type Guess =
  | {
      allowed: true;
      /** The code named a device authorization: the guess is given back. */
      found(): Promise<void>;
      /** It named none: the guess stays counted; `locked` says it was the address's last. */
      missed(): { locked: boolean };
    }
  | { allowed: false; retryAfterSeconds: number };

export interface DeviceFlowGuards {
  readonly pollInterval: number;
  /**
   * Counts a user-code entry from `ip` before the code is looked up (as the
   * sign-in lockout does, src/accounts/lockout.ts: counting afterwards would
   * let parallel guesses all pass the check), refused when the address has
   * used its guesses.
   */
  guess(ip: string): Promise<Guess>;
  /** Whether this poll for `deviceCode` came sooner than the interval after the last one. */
  pollTooSoon(deviceCode: string): Promise<boolean>;
}

export function createDeviceFlowGuards(db: Db, counters: LimiterFactory, settings: DeviceFlowSettings): DeviceFlowGuards {
  const store = createLockoutStore(db);
  const { maxGuessesPerIp, windowSeconds, pollInterval } = settings;
  let polls: RateLimiterAbstract | undefined;
  return {
    pollInterval,
    async guess(ip) {
      const bucket = `device:${addressBucket(ip)}`;
      const reserved = await store.reserve(bucket, maxGuessesPerIp, windowSeconds);
      if (!reserved) return { allowed: false, retryAfterSeconds: Math.max(1, await store.secondsLeft(bucket, windowSeconds)) };
      return {
        allowed: true,
        found: () => store.release(bucket, reserved.window),
        missed: () => ({ locked: reserved.failures >= maxGuessesPerIp }),
      };
    },
    async pollTooSoon(deviceCode) {
      polls ??= counters.limiter('rl.device-poll', 1, pollInterval);
      // The counter is keyed by a digest: a device code is a credential (DESIGN invariant 1).
      const key = createHash('sha256').update(deviceCode).digest('base64url');
      try {
        await polls.consume(key, 1);
        return false;
      } catch (rejection) {
        if (rejection instanceof Error) throw rejection;
        return true;
      }
    },
  };
}
