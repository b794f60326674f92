/**
 * What a run's collaborators (cache, resilience, children, restore, spawn)
 * may ask of the run that hosts them: its events, its actors' deliveries and
 * its attempts' outcomes. They share the run's {@linkcode TaskTable} and keep
 * their own state; they never reach the actors, the scheduler's queue or the
 * log directly.
 *
 * @module
 */
import type { TaskActorEvent } from "../../actors/task_machine.ts";
import type { NotSerializableError } from "../errors.ts";
import type { EventDataMap, FlowEventType } from "../types.ts";
import type { Context, ContextHost } from "./context.ts";

/** The run, as its collaborators see it. */
export interface RunCore extends ContextHost {
  /** Appends an event of the run (of task `i`, or of the run when `i` is -1) to the log and the bus. */
  emit<T extends FlowEventType>(
    type: T,
    i: number,
    attempt: number | undefined,
    data: EventDataMap[T],
    timestamp?: number,
  ): void;
  /** Sends an event to a task's actor (if alive), then lets the scheduler fill free slots. */
  deliver(i: number, event: TaskActorEvent): void;
  /** Runs a task's attempt (the `TaskHost` action). */
  execute(i: number): void;
  /** An attempt failed: the task retries, fails, or runs its fallback. */
  fail(i: number, error: unknown): void;
  /** An attempt's body (or fallback) returned. */
  onResult(i: number, attempt: number, result: unknown, fallback: boolean): void;
  /** Why a task's result cannot be kept, if it cannot. */
  unstorable(i: number, result: unknown): NotSerializableError | undefined;
  /** A context for task `i` on the run's own signal. */
  context(i: number, attempt: number): Context;
}
