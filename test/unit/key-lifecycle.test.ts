import { describe, expect, it } from 'vitest';

import { keyStatuses, nextTransition, type KeyRecord } from '../../src/keys/lifecycle.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);
const key = (kid: string, activate: number, extra: Partial<KeyRecord> = {}): KeyRecord => ({ kid, alg: 'ES256', createdAt: t(0), activateAt: t(activate), retiredAt: null, revokedAt: null, ...extra });
const states = (records: KeyRecord[], now: number, retention = 100) => Object.fromEntries(keyStatuses(records, t(now), retention).map((s) => [s.kid, s.state]));

describe('key lifecycle', () => {
  it('publishes a staged key before it signs, then retires the old one for the retention period', () => {
    const keys = [key('old', 0), key('new', 50)];
    expect(states(keys, 10)).toEqual({ old: 'active', new: 'next' });
    expect(states(keys, 50)).toEqual({ old: 'retired', new: 'active' });
    expect(states(keys, 149)).toEqual({ old: 'retired', new: 'active' });
    expect(states(keys, 150)).toEqual({ old: 'expired', new: 'active' });
  });

  it('has exactly one active key per algorithm at any instant', () => {
    const keys = [key('a', 0), key('b', 10), key('c', 20), { ...key('r', 5), alg: 'RS256' }];
    for (let now = 0; now < 200; now += 3) {
      const active = keyStatuses(keys, t(now), 100).filter((s) => s.state === 'active');
      expect(active.filter((s) => s.alg === 'ES256')).toHaveLength(1);
      if (now >= 5) expect(active.filter((s) => s.alg === 'RS256')).toHaveLength(1);
    }
  });

  it('retires by hand: the key stops signing at retiredAt, stays published for the retention', () => {
    const keys = [key('a', 0, { retiredAt: t(30) }), key('b', 30)];
    expect(states(keys, 29)).toEqual({ a: 'active', b: 'next' });
    expect(states(keys, 31)).toEqual({ a: 'retired', b: 'active' });
    expect(states(keys, 131)).toEqual({ a: 'expired', b: 'active' });
  });

  it('removes a revoked key at once, whatever its state was', () => {
    const keys = [key('a', 0, { revokedAt: t(20), retiredAt: t(20) }), key('b', 20)];
    expect(states(keys, 19)).toEqual({ a: 'active', b: 'next' });
    expect(states(keys, 20)).toEqual({ a: 'revoked', b: 'active' });
  });

  it('names the next instant the set changes', () => {
    const keys = [key('old', 0), key('new', 50)];
    expect(nextTransition(keys, t(10), 100)).toEqual(t(50));
    expect(nextTransition(keys, t(60), 100)).toEqual(t(150));
    expect(nextTransition(keys, t(200), 100)).toBeUndefined();
  });
});
