/**
 * The workflow actor: one per run. It starts the run's task actors, waits
 * until every task settled, and ends completed, failed or cancelled.
 *
 * ```
 * created ─start─► running ─tasks.settled (anyFailed)─► failed
 *                     │     ─tasks.settled─► completed
 *                     └─cancel─► cancelling ─tasks.settled─► cancelled
 *                                            ─tasks.settled (failedFast)─► failed
 * ```
 *
 * @module
 */
import { setup } from "../src/deps.ts";
import type { RunStatus } from "../src/types.ts";

/** What the workflow actor asks of its run. */
export interface WorkflowHost {
  /** Emit the pending events and create the task actors that can start. */
  startTasks(): void;
  /** Abort running tasks and cancel the rest. */
  cancelTasks(reason: unknown): void;
  /** A task failed for good. */
  anyFailed(): boolean;
  /** The run was cancelled because a task failed for good (`failFast`). */
  failedFast(): boolean;
  /** The run ended. */
  finish(status: RunStatus): void;
}

/** What the workflow actor receives. */
export type WorkflowActorEvent =
  | { type: "start" }
  | { type: "cancel"; reason: unknown }
  | { type: "tasks.settled" };

/** The workflow actor machine. */
export const workflowMachine = setup({
  types: {
    context: {} as { host: WorkflowHost },
    input: {} as { host: WorkflowHost },
    events: {} as WorkflowActorEvent,
  },
  guards: {
    anyFailed: ({ context }) => context.host.anyFailed(),
    failedFast: ({ context }) => context.host.failedFast(),
  },
  actions: {
    startTasks: ({ context }) => context.host.startTasks(),
    cancelTasks: ({ context, event }) => context.host.cancelTasks((event as { reason?: unknown }).reason),
    finishCompleted: ({ context }) => context.host.finish("completed"),
    finishFailed: ({ context }) => context.host.finish("failed"),
    finishCancelled: ({ context }) => context.host.finish("cancelled"),
  },
}).createMachine({
  id: "workflow",
  context: ({ input }) => input,
  initial: "created",
  states: {
    created: { on: { start: { target: "running" } } },
    running: {
      entry: "startTasks",
      on: {
        "tasks.settled": [{ guard: "anyFailed", target: "failed" }, { target: "completed" }],
        cancel: { target: "cancelling" },
      },
    },
    cancelling: {
      entry: "cancelTasks",
      on: { "tasks.settled": [{ guard: "failedFast", target: "failed" }, { target: "cancelled" }] },
    },
    completed: { type: "final", entry: "finishCompleted" },
    failed: { type: "final", entry: "finishFailed" },
    cancelled: { type: "final", entry: "finishCancelled" },
  },
});
