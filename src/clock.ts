/**
 * Time as a port: the system clock, and a virtual clock that tests drive
 * instead of sleeping.
 *
 * @module
 */
import type { Clock } from "./types.ts";

/**
 * The host's clock: `Date.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "@nerv/flow/extend";
 * const t = systemClock.now();
 * console.log(t > 0); // true
 * ```
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle: unknown) => globalThis.clearTimeout(handle as number),
});

/** A clock whose time moves only when told to. */
export interface VirtualClock extends Clock {
  /** Timers waiting to fire. */
  readonly pending: number;
  /**
   * Moves time forward, firing every timer due on the way, in order.
   *
   * @param ms How far to move.
   */
  advance(ms: number): void;
  /**
   * Jumps to the next timer and fires every timer due then.
   *
   * @returns `false` when no timer is pending.
   */
  next(): boolean;
  /**
   * Lets `promise` settle while firing timers: waits for the host to go idle
   * (a zero-delay host timer), fires the next virtual timer, and repeats.
   *
   * @param promise What to wait for.
   * @returns What it resolves to.
   */
  runUntil<T>(promise: Promise<T>): Promise<T>;
}

interface Timer {
  at: number;
  order: number;
  fn: () => void;
  cleared: boolean;
}

/**
 * A clock that moves only on `advance()`, `next()` or `runUntil()`.
 *
 * @param start The starting time in ms.
 * @returns The clock.
 *
 * @example Backoff without sleeping
 * ```ts
 * import { createEngine, createVirtualClock, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const clock = createVirtualClock();
 * const engine = createEngine({ clock });
 * let calls = 0;
 * const wf = defineWorkflow({ name: "flaky", tasks: [{
 *   id: "f", retry: { maxAttempts: 3, initialDelayMs: 60_000, maxDelayMs: 600_000 },
 *   run: () => { if (++calls < 3) throw new Error("not yet"); return calls; },
 * }] });
 * const result = await clock.runUntil(engine.run(wf));
 * assert.equal(result.tasks.f.result, 3);
 * assert.equal(clock.now(), 180_000); // 60 s, then 120 s of virtual time
 * await engine.close();
 * ```
 */
export function createVirtualClock(start = 0): VirtualClock {
  let now = start;
  let order = 0;
  const timers: Timer[] = [];
  const fireDue = (until: number) => {
    for (;;) {
      let best = -1;
      for (let i = 0; i < timers.length; i++) {
        const t = timers[i];
        if (
          t.at <= until &&
          (best < 0 || t.at < timers[best].at || (t.at === timers[best].at && t.order < timers[best].order))
        ) best = i;
      }
      if (best < 0) break;
      const [t] = timers.splice(best, 1);
      if (t.at > now) now = t.at;
      t.fn();
    }
    if (until > now) now = until;
  };
  const hostIdle = () => new Promise<void>((resolve) => globalThis.setTimeout(resolve, 0));
  return {
    now: () => now,
    setTimeout(fn: () => void, ms: number) {
      const timer: Timer = { at: now + Math.max(0, ms), order: order++, fn, cleared: false };
      timers.push(timer);
      return timer;
    },
    clearTimeout(handle: unknown) {
      const i = timers.indexOf(handle as Timer);
      if (i >= 0) timers.splice(i, 1);
    },
    get pending() {
      return timers.length;
    },
    advance(ms: number) {
      if (!(ms >= 0)) throw new RangeError(`Cannot advance the clock by ${ms} ms: expected a number >= 0`);
      fireDue(now + ms);
    },
    next() {
      if (timers.length === 0) return false;
      let at = Infinity;
      for (const t of timers) if (t.at < at) at = t.at;
      fireDue(at);
      return true;
    },
    async runUntil<T>(promise: Promise<T>): Promise<T> {
      let settled = false;
      const done = promise.finally(() => {
        settled = true;
      });
      done.catch(() => {});
      while (!settled) {
        await hostIdle();
        if (!settled) this.next();
      }
      return await done;
    },
  };
}
