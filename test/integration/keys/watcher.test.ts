/**
 * The key watcher on a manual clock (no fixed sleeps): a staged key starts
 * signing exactly when the clock reaches its activation, the periodic check
 * runs the rotation schedule, and nothing happens before time says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import type { KeySet } from '../../../src/keys/keystore.js';
import { watchKeys, type KeyWatcher } from '../../../src/keys/watcher.js';
import { createLogger } from '../../../src/observability/logger.js';
import { manualClock, type ManualClock } from '../../support/clock.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

const activeEs256 = (keys: KeySet) => keys.statuses.find((s) => s.alg === 'ES256' && s.state === 'active')!.kid;

describe('key watcher on a manual clock', () => {
  let gh: TestGatehouse;
  let clock: ManualClock;
  let watcher: KeyWatcher;
  const changes: KeySet[] = [];

  beforeAll(async () => {
    // A publish delay and a rotation interval far beyond any test's run time: only the manual clock reaches them.
    gh = await startTestGatehouse({ env: { GATEHOUSE_KEY_PUBLISH_DELAY: '1h', GATEHOUSE_KEY_ROTATION_INTERVAL: '30d', GATEHOUSE_KEY_CHECK_INTERVAL: '1m' } });
    clock = manualClock();
    const { keystore } = gh.app.services;
    watcher = await watchKeys({
      db: gh.app.db,
      keystore,
      initial: await keystore.load(clock.now()),
      checkIntervalSeconds: 60,
      log: createLogger('silent'),
      clock,
      onChange: (keys) => changes.push(keys),
    });
  });
  afterAll(async () => {
    await watcher?.stop();
    await gh?.close();
  });

  it('switches to a staged key at its activation time, not before', async () => {
    const before = activeEs256(watcher.current());
    const staged = await gh.app.services.keystore.rotate(operator, { alg: 'ES256' }, clock.now());
    // The change notification reloads at once: the key is published as `next`, the old one still signs.
    await watcher.refresh('test');
    expect(watcher.current().statuses.find((s) => s.kid === staged.kid)?.state).toBe('next');
    expect(activeEs256(watcher.current())).toBe(before);
    const seen = changes.length;

    clock.advanceTo(new Date(staged.activateAt.getTime() - 1000));
    await watcher.idle();
    expect(activeEs256(watcher.current())).toBe(before);

    clock.advance(2000); // past the activation: the transition timer fires
    await watcher.idle();
    expect(activeEs256(watcher.current())).toBe(staged.kid);
    expect(changes.length).toBe(seen + 1);
    expect(changes.at(-1)!.statuses.find((s) => s.kid === before)?.state).toBe('retired');
  });

  it('runs the rotation schedule on the periodic check once the interval is due', async () => {
    const active = watcher.current().statuses.find((s) => s.alg === 'ES256' && s.state === 'active')!;
    const keysBefore = (await gh.app.services.keystore.list(clock.now())).length;
    const nextEs256 = async () => (await gh.app.services.keystore.list(clock.now())).find((s) => s.alg === 'ES256' && s.state === 'next')?.kid;
    clock.advance(60_000); // one check, nothing due yet
    for (let i = 0; i < 20; i += 1) await new Promise((r) => setImmediate(r));
    await watcher.idle();
    expect((await gh.app.services.keystore.list(clock.now())).length).toBe(keysBefore);
    expect(await nextEs256()).toBeUndefined();

    // To within the publish delay of the 30-day interval: the next check stages a successor.
    clock.jumpTo(new Date(active.activateAt.getTime() + 30 * 86_400_000 - 3_600_000));
    expect(await nextEs256()).toBeUndefined();
    clock.advance(60_000);
    let staged: string | undefined;
    for (let i = 0; i < 200 && !staged; i += 1) {
      await new Promise((r) => setImmediate(r));
      await watcher.idle();
      staged = await nextEs256();
    }
    expect(staged).toBeDefined();
  });
});
