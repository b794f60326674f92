/**
 * The events of a run: the data each event type carries (`EventDataMap`),
 * the event envelope (`FlowEvent`) and its narrowed forms. Types only.
 *
 * @module
 */
import type { ErrorData, Priority, Profile, TaskPath, TerminalTaskStatus } from "./definitions.ts";
import type { RunStateData } from "./ports.ts";

/** The data each event type carries. */
export interface EventDataMap {
  /** A run was created. */
  "workflow.created": {
    name: string;
    taskIds: readonly string[];
    /** For a child run (`subworkflow`, `ctx.runWorkflow`): the run of the task that started it. */
    parentRunId?: string;
    /** For a child run: the task that started it. */
    parentTaskId?: string;
    /** For a re-run (`engine.rerun()`): the ended run whose completed tasks it keeps. */
    rerunOf?: string;
  };
  /** A run started. */
  "workflow.started": { input: unknown };
  /**
   * A run was resumed from its stored log: `state` is what was kept (the
   * run's state as the log had it), `rerun` the tasks that will run, and
   * `interrupted` those among them whose attempt was cut off.
   */
  "workflow.resumed": { state: RunStateData; rerun: readonly string[]; interrupted: readonly string[] };
  /** Every task completed. */
  "workflow.completed": { durationMs: number };
  /** Every task ended and at least one failed. */
  "workflow.failed": { durationMs: number; failed: readonly string[]; error: ErrorData };
  /** The run was cancelled. */
  "workflow.cancelled": { durationMs: number; reason: ErrorData };
  /** A task waits for its dependencies. */
  "task.pending": { dependsOn: readonly string[] };
  /** A task's dependencies completed; it waits for a slot. */
  "task.ready": { priority: Priority; rank: number };
  /** An attempt started. */
  "task.started": { profile: Profile };
  /** An attempt failed; another follows after `delayMs`. */
  "task.retrying": { error: ErrorData; delayMs: number };
  /**
   * The task completed; `cached` when its result came from the cache and it
   * did not run; `path` (tasks with a fallback) which body produced it;
   * `rerunOf` when a re-run kept its result from that run.
   */
  "task.completed": {
    result: unknown;
    durationMs: number;
    cached?: boolean;
    path?: TaskPath;
    /** In a re-run: the run whose result this is (the task did not run again). */
    rerunOf?: string;
  };
  /** The task failed for good (`error`); its fallback runs now, in the same attempt. */
  "task.fallback": { error: ErrorData };
  /** The task added tasks to its run (`ctx.spawn`); a `task.pending` event for each follows. */
  "task.spawned": { taskIds: readonly string[] };
  /** The task's priority changed during the run. */
  "task.reprioritized": { priority: Priority; previous: Priority };
  /** A circuit breaker opened (`taskId` is the task whose failure opened it). */
  "breaker.opened": { key: string; failures: number; cooldownMs: number };
  /** A circuit breaker's cool-down passed: one trial (`taskId`) is let through. */
  "breaker.half-opened": { key: string };
  /** A circuit breaker's trial (`taskId`) succeeded: it closed. */
  "breaker.closed": { key: string };
  /** The task failed for good. */
  "task.failed": { error: ErrorData; durationMs: number };
  /** A dependency failed, was skipped or cancelled. */
  "task.skipped": { dependency: string; dependencyStatus: TerminalTaskStatus };
  /** The task was cancelled with its run. */
  "task.cancelled": { reason: ErrorData };
  /** Told once per engine: no `Worker` here, so worker tasks of these profiles run inline. */
  "executor.inline": { profiles: readonly Profile[]; reason: string };
}

/**
 * Every event type.
 *
 * @example Listening by type
 * ```ts
 * import { createEngine, defineWorkflow, type FlowEventType } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const types: FlowEventType[] = [];
 * engine.bus.onAny((e) => types.push(e.type));
 * await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * assert.ok(types.includes("task.completed"));
 * await engine.close();
 * ```
 */
export type FlowEventType = keyof EventDataMap;

/**
 * One event on the bus and in the log.
 *
 * @example Events of a run, from the log
 * ```ts
 * import { createEngine, defineWorkflow, type FlowEvent } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * const events: readonly FlowEvent[] = engine.log.events(result.runId);
 * assert.equal(events[0].type, "workflow.created");
 * assert.equal(events.at(-1)?.type, "workflow.completed");
 * await engine.close();
 * ```
 */
export interface FlowEvent<T extends FlowEventType = FlowEventType> {
  /** What happened. */
  readonly type: T;
  /** Position in the engine's log, from 1, strictly increasing. */
  readonly seq: number;
  /** The run it belongs to. */
  readonly runId: string;
  /** The workflow (its name). */
  readonly workflowId: string;
  /** The task, for `task.*` events. */
  readonly taskId?: string;
  /** The attempt, for task events after the first start. */
  readonly attempt?: number;
  /** Clock time in ms. */
  readonly timestamp: number;
  /** Type-specific data. */
  readonly data: EventDataMap[T];
}

/** Any event, narrowed by `type`. */
export type AnyFlowEvent = { [T in FlowEventType]: FlowEvent<T> }[FlowEventType];

/** The event types that concern one task: every `task.*` and `breaker.*` event names it in `taskId`. */
export type TaskEventType = Extract<FlowEventType, `task.${string}` | `breaker.${string}`>;

/**
 * An event of type `T` as a bus listener receives it: `data` narrowed by the type, `taskId` set on task events.
 *
 * @example A listener's event, narrowed by its type
 * ```ts
 * import { createEngine, defineWorkflow, type EventOf } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const done: string[] = [];
 * const onCompleted = (e: EventOf<"task.completed">) => done.push(e.taskId);
 * engine.bus.on("task.completed", onCompleted);
 * await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * assert.deepEqual(done, ["a"]);
 * await engine.close();
 * ```
 */
export type EventOf<T extends FlowEventType> = T extends TaskEventType ? FlowEvent<T> & { readonly taskId: string }
  : FlowEvent<T>;

/** Any event as a bus listener receives it (`onAny`), narrowed by `type`: `taskId` is set on task events. */
export type DeliveredEvent = { [T in FlowEventType]: EventOf<T> }[FlowEventType];
