/**
 * The shared proof-replay store under concurrency, on the run's backend: calls
 * that arrive together are claimed in one statement (group commit), and each
 * hash is still new exactly once, within a batch, across batches and across
 * stores (two nodes).
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Db } from '../../../src/db/index.js';
import { createReplayStore } from '../../../src/replay/store.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

let gh: TestGatehouse;

beforeAll(async () => {
  gh = await startTestGatehouse();
});
afterAll(async () => {
  await gh?.close();
});

/** The app's database, counting the statements sent through it. */
function counting(db: Db): { db: Db; statements: () => number } {
  let n = 0;
  const wrapped = new Proxy(db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property !== 'query' || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        n += 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { db: wrapped, statements: () => n };
}

const hashes = (n: number) => Array.from({ length: n }, () => randomBytes(32));

describe('the proof-replay store', () => {
  it('claims concurrent calls in few statements, and every hash exactly once', async () => {
    const { db, statements } = counting(gh.app.db);
    const store = createReplayStore(db);
    const fresh = hashes(100);
    // Every hash twice, interleaved, all at once: duplicates within and across batches.
    const results = await Promise.all([...fresh, ...fresh].map((hash) => store.claim(hash, 60)));
    const firsts = results.slice(0, 100);
    const seconds = results.slice(100);
    for (let i = 0; i < 100; i += 1) expect([firsts[i], seconds[i]].filter(Boolean), `hash ${i}`).toHaveLength(1);
    expect(results.filter(Boolean)).toHaveLength(100);
    // 200 claims; one lone statement, then the rest in batches of at most 256.
    expect(statements()).toBeLessThanOrEqual(3);
    expect(await Promise.all(fresh.slice(0, 5).map((hash) => store.claim(hash, 60)))).toEqual([false, false, false, false, false]);
  });

  it('lets two stores (two nodes) racing on the same hashes win each hash once between them', async () => {
    const a = createReplayStore(gh.app.db);
    const b = createReplayStore(gh.app.db);
    const fresh = hashes(50);
    const [fromA, fromB] = await Promise.all([Promise.all(fresh.map((h) => a.claim(h, 60))), Promise.all(fresh.map((h) => b.claim(h, 60)))]);
    fresh.forEach((_, i) => expect(Number(fromA[i]) + Number(fromB[i]), `hash ${i}`).toBe(1));
  });

  it('takes over a record that has expired but is not yet swept, in a batch too', async () => {
    const store = createReplayStore(gh.app.db);
    const [old, other] = hashes(2);
    expect(await store.claim(old!, 60)).toBe(true);
    await gh.app.db.query("UPDATE proof_replays SET expires_at = now() - interval '1 second' WHERE jti_hash = $1", [old!]);
    expect(await Promise.all([store.claim(old!, 60), store.claim(other!, 60), store.claim(old!, 60)])).toEqual([true, true, false]);
  });
});
