/**
 * The worker pool's abort handling: one listener per abort signal (shared by
 * the tasks that carry it), settling a task, and the grace period after which
 * a worker still holding an aborted task is terminated and replaced.
 *
 * Private to `workers/pool.ts`. Time (the grace period) only through the
 * `Clock` port.
 *
 * @module
 */
import { serializeError } from "../src/serialize.ts";
import type { Clock } from "../src/types.ts";
import type { Pending } from "./_pool_queue.ts";
import type { Slot } from "./_pool_slots.ts";

interface Watch {
  pending: Set<Pending>;
  listener: () => void;
}

/** What abort handling needs from the rest of the pool. */
export interface AbortHooks {
  /** Drops settled tasks from the queue. */
  dropSettled(): void;
  /** Terminates and replaces a worker; only `culprit` of what it holds fails. */
  die(slot: Slot, cause: unknown, culprit: Pending): void;
}

/** Watches the tasks' abort signals and settles tasks. */
export class Aborts {
  readonly #watched = new Map<AbortSignal, Watch>();
  readonly #clock: Clock;
  readonly #graceMs: number;
  readonly #hooks: AbortHooks;

  /**
   * @param clock The time source of the grace period.
   * @param graceMs How long an aborted task may keep its worker.
   * @param hooks The rest of the pool.
   */
  constructor(clock: Clock, graceMs: number, hooks: AbortHooks) {
    this.#clock = clock;
    this.#graceMs = graceMs;
    this.#hooks = hooks;
  }

  /**
   * Watches a task's signal until the task settles.
   *
   * @param p The task.
   */
  watch(p: Pending): void {
    let w = this.#watched.get(p.signal);
    if (w === undefined) {
      const signal = p.signal;
      const pending = new Set<Pending>();
      const listener = () => this.#onAbort(signal, pending);
      w = { pending, listener };
      this.#watched.set(signal, w);
      signal.addEventListener("abort", listener, { once: true });
    }
    w.pending.add(p);
  }

  /**
   * Settles a task once (later calls are no-ops) and stops watching its signal.
   *
   * @param p The task.
   * @param ok Whether it resolves.
   * @param value Its value or error.
   */
  settle(p: Pending, ok: boolean, value: unknown): void {
    if (p.done) return;
    p.done = true;
    this.#unwatch(p);
    if (ok) p.resolve(value);
    else p.reject(value);
  }

  #unwatch(p: Pending): void {
    const w = this.#watched.get(p.signal);
    if (w === undefined) return;
    w.pending.delete(p);
    if (w.pending.size === 0) {
      this.#watched.delete(p.signal);
      p.signal.removeEventListener("abort", w.listener);
    }
  }

  #onAbort(signal: AbortSignal, pending: Set<Pending>): void {
    this.#watched.delete(signal);
    const reason = signal.reason;
    const bySlot = new Map<Slot, Pending[]>();
    let unsent = false;
    for (const p of [...pending]) {
      const slot = p.slot;
      this.settle(p, false, reason);
      if (slot !== undefined) {
        let list = bySlot.get(slot);
        if (list === undefined) bySlot.set(slot, list = []);
        list.push(p);
      } else unsent = true;
    }
    // Drop the aborted tasks from the queue now: `queued` counts only live ones,
    // and their payloads are not kept until the next batch comes back.
    if (unsent) this.#hooks.dropSettled();
    for (const [slot, list] of bySlot) {
      // Ask the worker to abort (bodies that await see it), then give it a
      // grace period before terminating it (bodies that spin never yield).
      slot.api.abort(list.map((p) => p.id), serializeError(reason)).catch(() => {});
      if (slot.graceTimer === undefined) {
        slot.graceTimer = this.#clock.setTimeout(() => {
          slot.graceTimer = undefined;
          // Still held by this worker (its batch has not come back): terminate it.
          if (!slot.dead && list.some((p) => p.slot === slot)) this.#hooks.die(slot, reason, list[0]);
        }, this.#graceMs);
      }
    }
  }
}
