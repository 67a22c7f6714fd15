import { describe, expect, it } from 'vitest';

import { createHostBudget } from '../../src/oidc/document-host-budget.js';

function budget(fetchesPerMinute: number, clientsPerHost: number, clientTtlMs = 3_600_000) {
  let at = 1_000_000;
  const subject = createHostBudget({ fetchesPerMinute, clientsPerHost, clientTtlMs, now: () => at });
  return { spend: subject.spend, advance: (ms: number) => { at += ms; } };
}

describe('the per-host budget of metadata-document fetches', () => {
  it('refuses the fetch past the minute budget and lets it through once the oldest leaves the window', () => {
    const b = budget(3, 10);
    expect(b.spend('a.test', 'https://a.test/1')).toBeUndefined();
    b.advance(20_000);
    expect(b.spend('a.test', 'https://a.test/1')).toBeUndefined();
    expect(b.spend('a.test', 'https://a.test/1')).toBeUndefined();
    expect(b.spend('a.test', 'https://a.test/1')).toMatch(/fetch budget \(3 a minute\)/);
    b.advance(39_999);
    expect(b.spend('a.test', 'https://a.test/1')).toMatch(/fetch budget/);
    b.advance(1);
    expect(b.spend('a.test', 'https://a.test/1')).toBeUndefined();
  });

  it('counts a refused fetch against nothing', () => {
    const b = budget(2, 1);
    expect(b.spend('a.test', 'https://a.test/1')).toBeUndefined();
    expect(b.spend('a.test', 'https://a.test/2')).toMatch(/already has 1 client ids/);
    expect(b.spend('a.test', 'https://a.test/1')).toBeUndefined();
    expect(b.spend('a.test', 'https://a.test/1')).toMatch(/fetch budget/);
  });

  it('caps distinct client ids per host until the oldest has outlived the cache', () => {
    const b = budget(100, 2, 10_000);
    expect(b.spend('a.test', 'https://a.test/1')).toBeUndefined();
    expect(b.spend('a.test', 'https://a.test/2')).toBeUndefined();
    expect(b.spend('a.test', 'https://a.test/3')).toMatch(/already has 2 client ids cached/);
    expect(b.spend('a.test', 'https://a.test/2')).toBeUndefined();
    b.advance(10_000);
    expect(b.spend('a.test', 'https://a.test/3')).toBeUndefined();
  });

  it('keeps hosts apart', () => {
    const b = budget(1, 1);
    expect(b.spend('a.test', 'https://a.test/1')).toBeUndefined();
    expect(b.spend('a.test', 'https://a.test/1')).toBeDefined();
    expect(b.spend('b.test', 'https://b.test/1')).toBeUndefined();
  });

  it('forgets the least recently seen host first when it holds too many', () => {
    const b = budget(1, 1);
    expect(b.spend('first.test', 'https://first.test/1')).toBeUndefined();
    for (let n = 0; n < 1000; n += 1) b.spend(`h${n}.test`, `https://h${n}.test/`);
    // first.test was forgotten, so its spent budget is too.
    expect(b.spend('first.test', 'https://first.test/1')).toBeUndefined();
  });
});
