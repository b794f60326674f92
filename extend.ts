/**
 * Extension points of nerv-flow, for those who replace or build on a part of
 * the engine rather than write workflows: the ports (`Executor`, `LogStore`,
 * `TaskCache`, `Clock`) and their default implementations, the engine's
 * container (`TOKENS`, `createContainer`), the scheduler, the snapshot log
 * and its records, projections and stores, the task-location helpers an
 * executor needs, and the full type vocabulary the public API refers to
 * (views, events, builder types). Workflows are written with `@nerv/flow`.
 *
 * @example A log store of one's own: a memory store that counts appends
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { createMemoryLogStore, type LogStore } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 *
 * const inner = createMemoryLogStore();
 * let appended = 0;
 * const logStore: LogStore = {
 *   append(events) {
 *     appended += events.length;
 *     return inner.append(events);
 *   },
 *   read: (runId) => inner.read(runId),
 * };
 * const engine = createEngine({ logStore });
 * await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * await engine.close();
 * assert.ok(appended > 0);
 * ```
 *
 * @example Replacing a component in the engine's container
 * ```ts
 * import { createEngine, createVirtualClock, defineWorkflow } from "@nerv/flow";
 * import { TOKENS } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 *
 * const clock = createVirtualClock(1_000);
 * const engine = createEngine({ configure: (c) => c.register(TOKENS.clock, { useValue: clock }) });
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * assert.equal(result.startedAt, 1_000);
 * await engine.close();
 * ```
 *
 * @module
 */
export type {
  AnyFlowEvent,
  CacheEntry,
  ChildRunOptions,
  Clock,
  DeliveredEvent,
  ErrorData,
  EventDataMap,
  Executor,
  LogStore,
  RunCheckpoint,
  RunStateData,
  StoredRun,
  TaskCache,
  TaskEventType,
  TaskFn,
  TaskPath,
  TaskPayload,
  TaskResults,
  TaskSpec,
  TaskStateData,
  TerminalTaskStatus,
  UntypedDeps,
  WorkflowStatus,
} from "./src/types.ts";
export type { FlowErrorOptions } from "./src/errors.ts";
export type { Plan, PlannedTask } from "./src/graph/plan.ts";
export type { BreakerState } from "./src/breaker.ts";
export type { MapTasksOptions } from "./src/dynamic.ts";
export type { SubworkflowOptions, SubworkflowResult } from "./src/subworkflow.ts";
export { systemClock, type VirtualClock } from "./src/clock.ts";
export { createEventBus, type EventBusOptions, type Listener, type Middleware, type Unsubscribe } from "./src/bus.ts";
export {
  type BuiltinProjections,
  createMemoryLogStore,
  createSnapshotLog,
  foldRun,
  importLog,
  type LogExport,
  type LogState,
  type MemoryLogStore,
  type ProjectionDef,
  type RetentionPolicy,
  type RunView,
  type SnapshotLog,
  type SnapshotLogOptions,
  type TaskView,
} from "./src/log/mod.ts";
export type { LoadLogOptions } from "./src/replay.ts";
export { createMemoryTaskCache, type MemoryTaskCache, type MemoryTaskCacheOptions } from "./src/cache.ts";
export { findJsonIssue, type JsonIssue } from "./src/json.ts";
export { createProjectionStore, type ProjectionStore, type StoreState } from "./src/store.ts";
export { createContainer, type EngineContainer, type Provider, type Token, TOKENS } from "./src/container.ts";
export { type Dispatchable, Scheduler } from "./src/scheduler.ts";
export type { ActorInspectionEvent } from "./src/engine.ts";
export { createInlineExecutor, type InlineExecutorOptions } from "./workers/inline.ts";
export { defaultPoolSize, type WorkerPool, type WorkerPoolOptions } from "./workers/pool.ts";
export { TASK_REF, type TaskLocation, taskLocation, type TaskRefs } from "./src/tasks.ts";
export type { TaskLogicMode } from "./src/run.ts";
export { type GraphExportOptions, MERMAID_MAX_EDGES, STATUS_COLORS, type StatusColor } from "./src/graph_export.ts";
export type { ActorInspectionObserver, ActorView, RunActors, TaskActorView } from "./src/inspect.ts";
export type {
  CompletedEvent,
  DepId,
  DepKey,
  DepsOf,
  FamilyDepId,
  FlowFamilyDef,
  FlowTaskDef,
  FlowTaskFn,
  TaskList,
} from "./src/typed.ts";
