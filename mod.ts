/**
 * nerv-flow: a Deno-first actor-model runtime for parallel workflows.
 *
 * A workflow is a graph of tasks with dependencies. Each run is an XState v5
 * workflow actor that creates one task actor per task; a task's guards hold
 * it until its dependencies completed, then the scheduler dispatches it by
 * priority and critical-path rank to an executor. Every transition is an
 * event on a typed bus and in an Immutable.js snapshot log that serves
 * projections, time travel and replay.
 *
 * @example Quick start
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 *
 * const wf = defineWorkflow({
 *   name: "ingest",
 *   tasks: [
 *     { id: "fetch", run: () => ["a b", "b c"] },
 *     { id: "count", dependsOn: ["fetch"], run: ({ deps }) => (deps.fetch as string[]).join(" ").split(" ").length },
 *     { id: "report", dependsOn: ["count"], priority: "high", run: ({ deps }) => `${deps.count} words` },
 *   ],
 * });
 * const engine = createEngine();
 * engine.bus.on("task.completed", (e) => console.log(e.taskId, "done"));
 * const result = await engine.run(wf);
 * assert.equal(result.tasks.report.result, "4 words");
 * await engine.close();
 * ```
 *
 * @module
 */
export type {
  AnyFlowEvent,
  BreakerPolicy,
  CacheEntry,
  CachePolicy,
  ChildRunOptions,
  Clock,
  ErrorData,
  EventDataMap,
  Executor,
  FlowEvent,
  FlowEventType,
  LogStore,
  Priority,
  Profile,
  RetryPolicy,
  RunCheckpoint,
  RunResult,
  RunStateData,
  RunStatus,
  StoredRun,
  TaskCache,
  TaskContext,
  TaskDef,
  TaskFn,
  TaskPath,
  TaskPayload,
  TaskResult,
  TaskSpec,
  TaskStateData,
  TaskStatus,
  TerminalTaskStatus,
  Workflow,
  WorkflowDef,
  WorkflowStatus,
} from "./src/types.ts";
export {
  CancelledError,
  CircuitOpenError,
  CycleError,
  DuplicateTaskError,
  type FlowErrorOptions,
  LogCorruptedError,
  NotCloneableError,
  NotFoundError,
  NotSerializableError,
  RunStalledError,
  SpawnError,
  SubworkflowError,
  TaskFailedError,
  TaskModuleError,
  TaskSkippedError,
  TaskTimeoutError,
  UnknownDependencyError,
  WorkerCrashedError,
} from "./src/errors.ts";
export { defineWorkflow, type Plan, plan, type PlannedTask } from "./src/graph.ts";
export type { BreakerState } from "./src/breaker.ts";
export { mapTasks, type MapTasksOptions } from "./src/dynamic.ts";
export { subworkflow, type SubworkflowOptions } from "./src/subworkflow.ts";
export { createVirtualClock, systemClock, type VirtualClock } from "./src/clock.ts";
export {
  createEventBus,
  type EventBus,
  type EventBusOptions,
  type Listener,
  type Middleware,
  type Unsubscribe,
} from "./src/bus.ts";
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
  type RunView,
  type SnapshotLog,
  type SnapshotLogOptions,
  type TaskView,
} from "./src/log.ts";
export { loadLog, type LoadLogOptions } from "./src/replay.ts";
export { createMemoryTaskCache, type MemoryTaskCache, type MemoryTaskCacheOptions } from "./src/cache.ts";
export { findJsonIssue, type JsonIssue } from "./src/json.ts";
export { createProjectionStore, type ProjectionStore, type StoreState } from "./src/store.ts";
export { createContainer, type EngineContainer, type Provider, type Token, TOKENS } from "./src/container.ts";
export { type Dispatchable, Scheduler } from "./src/scheduler.ts";
export {
  type ActorInspectionEvent,
  createEngine,
  type Engine,
  type EngineExtras,
  type EngineOptions,
  type ResumeOptions,
  type RunHandle,
  type RunOptions,
  type RunSnapshot,
  type TaskStatusReport,
  type WorkflowStatusReport,
} from "./src/engine.ts";
export { createInlineExecutor, type InlineExecutorOptions } from "./workers/inline.ts";
export { createWorkerPool, defaultPoolSize, type WorkerPool, type WorkerPoolOptions } from "./workers/pool.ts";
export { defineTasks, TASK_REF, type TaskLocation, taskLocation, type TaskRef, transfer } from "./src/tasks.ts";
export type { TaskLogicMode } from "./src/run.ts";
export { type GraphExportOptions, STATUS_COLORS, type StatusColor, toDot, toMermaid } from "./src/graph_export.ts";
export type { ActorInspectionObserver, ActorView, RunActors, TaskActorView } from "./src/inspect.ts";
export { instrument, type InstrumentOptions, SPAN_ATTRIBUTES, TRACER_NAME } from "./src/otel.ts";
