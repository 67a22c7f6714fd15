/**
 * A manual clock for code that takes a Clock (src/keys/watcher.ts): time
 * moves only when the test advances it, and timers due by then fire in order.
 */
import type { Clock } from '../../src/keys/watcher.js';

interface Pending {
  at: number;
  fn: () => void;
  every?: number;
}

export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void;
  /** Moves time to `at` (never backwards). */
  advanceTo(at: Date): void;
  /** Sets the time without firing anything on the way (a machine waking from sleep); interval timers restart from then. */
  jumpTo(at: Date): void;
  pendingTimers(): number;
}

export function manualClock(start: Date = new Date()): ManualClock {
  let now = start.getTime();
  const timers = new Set<Pending>();
  const handle = (timer: Pending) => timer as unknown as ReturnType<typeof setTimeout>;
  const clear = (timer: unknown) => void timers.delete(timer as Pending);

  function advanceTo(target: number): void {
    for (;;) {
      const due = [...timers].filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      now = Math.max(now, due.at);
      if (due.every) due.at += due.every;
      else timers.delete(due);
      due.fn();
    }
    now = Math.max(now, target);
  }

  return {
    now: () => new Date(now),
    setTimeout(fn, ms) {
      const timer = { at: now + Math.max(0, ms), fn };
      timers.add(timer);
      return handle(timer);
    },
    setInterval(fn, ms) {
      const timer = { at: now + ms, fn, every: ms };
      timers.add(timer);
      return handle(timer);
    },
    clearTimeout: clear,
    clearInterval: clear,
    advance: (ms) => advanceTo(now + ms),
    advanceTo: (at) => advanceTo(at.getTime()),
    jumpTo(at) {
      now = Math.max(now, at.getTime());
      for (const timer of timers) if (timer.every) timer.at = now + timer.every;
    },
    pendingTimers: () => timers.size,
  };
}
