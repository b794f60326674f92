/**
 * Stall detection's verdict: a run whose unfinished tasks can no longer make
 * progress (nothing runs anywhere, nothing waits for the store, a timer or a
 * slot that can come free) fails them all with one {@linkcode RunStalledError}
 * naming them. When a run has stalled is the run's to decide (it knows what
 * is in flight); this module only fails the stuck tasks in the table.
 *
 * @module
 */
import { RunStalledError } from "../errors.ts";
import { serializeError } from "../serialize.ts";
import type { RunCore } from "./_host.ts";
import { CODE, type TaskTable, UNSETTLED } from "./task_table.ts";

/** What failing the stuck tasks changed in the run's counters. */
export interface Stalled {
  /** The error each stuck task failed with (the run's too). */
  error: RunStalledError;
  /** Stuck tasks that were in the ready queue. */
  dequeued: number;
  /** Stuck tasks whose actor was alive (dropped now). */
  dropped: number;
}

/**
 * Fails every task of the run that did not end with a `RunStalledError`
 * (one `task.failed` event each).
 *
 * @param t The run's table.
 * @param run The run.
 * @param now The time.
 * @returns The error and what changed.
 */
export function failStalled(t: TaskTable, run: RunCore, now: number): Stalled {
  const g = t.g;
  const stuck: number[] = [];
  for (let i = 0; i < g.n; i++) if (t.status[i] === UNSETTLED) stuck.push(i);
  const error = new RunStalledError(run.id, stuck.map((i) => g.ids[i]));
  const data = { error: serializeError(error), durationMs: 0 };
  let dequeued = 0;
  let dropped = 0;
  for (const i of stuck) {
    if (t.queued[i] === 1) {
      t.queued[i] = 0;
      dequeued++;
    }
    if (t.actors[i] !== undefined) {
      t.actors[i] = undefined;
      dropped++;
    }
    t.spawned[i] = 1;
    t.status[i] = CODE.failed;
    t.errors[i] = error;
    if (!Number.isNaN(t.startedAt[i])) t.endedAt[i] = now;
    if (t.firstFailure < 0) t.firstFailure = i;
    t.settled++;
    run.emit("task.failed", i, t.attempts[i] || undefined, data, now);
  }
  return { error, dequeued, dropped };
}
