/**
 * The task actor: one per task of a run.
 *
 * ```
 * pending ─(depsBlocked)─► skipped
 *    │ (depsCompleted)
 *    ▼
 *  ready ─dispatch─► running ─run.done─► completed
 *    ▲                  │ run.error (canRetry) ─► retrying ─retry.due─► ready
 *    │                  │ run.error ─► failed
 *    └─ any state but a final one ─cancel─► cancelled
 * ```
 *
 * The machine holds the rules (guards and transitions); its actions call the
 * run that owns it ({@linkcode TaskHost}) to queue, execute, time and settle.
 * The engine runs this definition either through XState's interpreter or
 * through {@linkcode compileFlatMachine}, which executes the same definition
 * ~6× faster; a property test holds both to the same event stream.
 *
 * @module
 */
import { setup } from "../src/deps.ts";
import type { TerminalTaskStatus } from "../src/types.ts";

/** What a task actor asks of the run that owns it. */
export interface TaskHost {
  /** A dependency failed, was skipped or cancelled. */
  depsBlocked(index: number): boolean;
  /** Every dependency completed. */
  depsCompleted(index: number): boolean;
  /** Another attempt is allowed. */
  canRetry(index: number): boolean;
  /** Put the task in the ready queue. */
  enqueue(index: number): void;
  /** Take it out of the ready queue. */
  dequeue(index: number): void;
  /** Start an attempt. */
  execute(index: number): void;
  /** End an attempt: free the slot, clear the timeout, abort the signal if `event` cancels. */
  release(index: number, event: TaskActorEvent): void;
  /** Keep the error of an attempt that will be retried. */
  recordError(index: number, error: unknown): void;
  /** Start the backoff timer. */
  scheduleRetry(index: number): void;
  /** Stop the backoff timer. */
  cancelRetry(index: number): void;
  /**
   * The task reached a terminal status; `event` took it there, and its result (`run.done`) or error (`run.error`) is
   * the task's to keep (one action rather than two: each action costs an XState actor ~215 bytes of allocation).
   */
  settle(index: number, status: TerminalTaskStatus, event: TaskActorEvent): void;
}

/** The task actor's context: its run and its index there. */
export interface TaskActorContext {
  /** The run that owns the actor. */
  readonly host: TaskHost;
  /** The task's index in the workflow graph. */
  readonly index: number;
}

/** What a task actor receives. */
export type TaskActorEvent =
  | { type: "deps.changed" }
  | { type: "dispatch" }
  | { type: "run.done"; result: unknown }
  | { type: "run.error"; error: unknown }
  | { type: "retry.due" }
  | { type: "cancel"; reason: unknown };

/** The task actor machine. */
export const taskMachine = setup({
  types: {
    context: {} as TaskActorContext,
    input: {} as TaskActorContext,
    events: {} as TaskActorEvent,
  },
  guards: {
    depsBlocked: ({ context }) => context.host.depsBlocked(context.index),
    depsCompleted: ({ context }) => context.host.depsCompleted(context.index),
    canRetry: ({ context }) => context.host.canRetry(context.index),
  },
  actions: {
    enqueue: ({ context }) => context.host.enqueue(context.index),
    dequeue: ({ context }) => context.host.dequeue(context.index),
    execute: ({ context }) => context.host.execute(context.index),
    release: ({ context, event }) => context.host.release(context.index, event),
    recordError: ({ context, event }) => context.host.recordError(context.index, (event as { error?: unknown }).error),
    scheduleRetry: ({ context }) => context.host.scheduleRetry(context.index),
    cancelRetry: ({ context }) => context.host.cancelRetry(context.index),
    settleCompleted: ({ context, event }) => context.host.settle(context.index, "completed", event),
    settleFailed: ({ context, event }) => context.host.settle(context.index, "failed", event),
    settleSkipped: ({ context, event }) => context.host.settle(context.index, "skipped", event),
    settleCancelled: ({ context, event }) => context.host.settle(context.index, "cancelled", event),
  },
}).createMachine({
  id: "task",
  context: ({ input }) => input,
  initial: "pending",
  states: {
    pending: {
      always: [
        { guard: "depsBlocked", target: "skipped" },
        { guard: "depsCompleted", target: "ready" },
      ],
      on: {
        "deps.changed": [
          { guard: "depsBlocked", target: "skipped" },
          { guard: "depsCompleted", target: "ready" },
        ],
        cancel: { target: "cancelled" },
      },
    },
    ready: {
      entry: "enqueue",
      on: {
        dispatch: { target: "running" },
        cancel: { target: "cancelled", actions: "dequeue" },
      },
    },
    running: {
      entry: "execute",
      exit: "release",
      on: {
        "run.done": { target: "completed" },
        "run.error": [
          { guard: "canRetry", target: "retrying", actions: "recordError" },
          { target: "failed" },
        ],
        cancel: { target: "cancelled" },
      },
    },
    retrying: {
      entry: "scheduleRetry",
      exit: "cancelRetry",
      on: {
        "retry.due": { target: "ready" },
        cancel: { target: "cancelled" },
      },
    },
    completed: { type: "final", entry: "settleCompleted" },
    failed: { type: "final", entry: "settleFailed" },
    skipped: { type: "final", entry: "settleSkipped" },
    cancelled: { type: "final", entry: "settleCancelled" },
  },
});
