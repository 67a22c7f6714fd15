import { describe, expect, it } from 'vitest';

import { createCoalescer } from '../../src/db/coalesce.js';

/** A batch runner whose batches the test releases by hand. */
function controlled() {
  const batches: { items: readonly number[]; release: (results?: readonly string[]) => void; fail: (error: Error) => void }[] = [];
  const run = (items: readonly number[]) => new Promise<readonly string[]>((resolve, reject) => {
    batches.push({ items, release: (results) => resolve(results ?? items.map((n) => `r${n}`)), fail: reject });
  });
  return { batches, run };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('the coalescer (group commit)', () => {
  it('runs a lone call at once, alone', async () => {
    const { batches, run } = controlled();
    const call = createCoalescer(run);
    const result = call(1);
    expect(batches.map((b) => b.items)).toEqual([[1]]);
    batches[0]!.release();
    expect(await result).toBe('r1');
  });

  it('sends the calls that arrive during a batch together in the next, each getting its own result', async () => {
    const { batches, run } = controlled();
    const call = createCoalescer(run);
    const first = call(1);
    const later = [call(2), call(3), call(4)];
    expect(batches).toHaveLength(1);
    batches[0]!.release();
    expect(await first).toBe('r1');
    await tick();
    expect(batches.map((b) => b.items)).toEqual([[1], [2, 3, 4]]);
    batches[1]!.release();
    expect(await Promise.all(later)).toEqual(['r2', 'r3', 'r4']);
  });

  it('caps a batch at maxBatch and sends the rest after it', async () => {
    const { batches, run } = controlled();
    const call = createCoalescer(run, 2);
    const all = [call(1), call(2), call(3), call(4)];
    batches[0]!.release();
    await tick();
    expect(batches[1]!.items).toEqual([2, 3]);
    batches[1]!.release();
    await tick();
    expect(batches[2]!.items).toEqual([4]);
    batches[2]!.release();
    expect(await Promise.all(all)).toEqual(['r1', 'r2', 'r3', 'r4']);
  });

  it('fails only the callers of a failed batch, and carries on with the next', async () => {
    const { batches, run } = controlled();
    const call = createCoalescer(run);
    const first = call(1);
    const second = call(2);
    batches[0]!.fail(new Error('connection lost'));
    await expect(first).rejects.toThrow('connection lost');
    await tick();
    batches[1]!.release();
    expect(await second).toBe('r2');
  });

  it('fails a batch whose runner returns the wrong number of results rather than misattributing them', async () => {
    const { batches, run } = controlled();
    const call = createCoalescer(run);
    const first = call(1);
    batches[0]!.release(['a', 'b']);
    await expect(first).rejects.toThrow(/returned 2 results/);
  });
});
