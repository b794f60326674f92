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
 * @example Quick start (typed: `deps`, `input` and results follow from the definitions)
 * ```ts
 * import { createEngine, flow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 *
 * const wf = flow<{ unit: string }>("ingest")
 *   .task("fetch", () => ["a b", "b c"])
 *   .task("count", { dependsOn: ["fetch"], run: ({ deps }) => deps.fetch.join(" ").split(" ").length })
 *   .task("report", { dependsOn: ["count"], priority: "high", run: ({ deps, input }) => `${deps.count} ${input.unit}` })
 *   .build();
 * const engine = createEngine();
 * engine.bus.on("task.completed", (e) => console.log(e.taskId, "done"));
 * const result = await engine.run(wf, { input: { unit: "words" } });
 * const report: string | undefined = result.tasks.report.result;
 * assert.equal(report, "4 words");
 * await engine.close();
 * ```
 *
 * @example The object form (untyped `deps` and results), the same `Workflow`
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 *
 * const wf = defineWorkflow({
 *   name: "ingest",
 *   tasks: [
 *     { id: "fetch", run: () => ["a b", "b c"] },
 *     { id: "count", dependsOn: ["fetch"], run: ({ deps }) => String(deps.fetch).split(/[ ,]/).length },
 *   ],
 * });
 * const engine = createEngine();
 * const result = await engine.run(wf);
 * assert.equal(result.tasks.count.result, 4);
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
  DeliveredEvent,
  ErrorData,
  EventDataMap,
  EventOf,
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
  TaskEventType,
  TaskFn,
  TaskPath,
  TaskPayload,
  TaskResult,
  TaskResults,
  TaskSpec,
  TaskStateData,
  TaskStatus,
  TerminalTaskStatus,
  UntypedDeps,
  Workflow,
  WorkflowDef,
  WorkflowStatus,
} from "./src/types.ts";
export {
  CancelledError,
  CircuitOpenError,
  CycleError,
  DuplicateTaskError,
  EvictedError,
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
  WorkerStartError,
} from "./src/errors.ts";
export { defineWorkflow, descendants, type Plan, plan, type PlannedTask } from "./src/graph.ts";
export type { BreakerState } from "./src/breaker.ts";
export { mapTasks, type MapTasksOptions } from "./src/dynamic.ts";
export { subworkflow, type SubworkflowOptions, type SubworkflowResult } from "./src/subworkflow.ts";
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
  type RetentionPolicy,
  type RunView,
  type SnapshotLog,
  type SnapshotLogOptions,
  type TaskView,
} from "./src/log/mod.ts";
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
  type RerunOptions,
  type ResumeOptions,
  type RunHandle,
  type RunOptions,
  type RunSnapshot,
  type TaskStatusReport,
  type WorkflowStatusReport,
} from "./src/engine.ts";
export { createInlineExecutor, type InlineExecutorOptions } from "./workers/inline.ts";
export { createWorkerPool, defaultPoolSize, type WorkerPool, type WorkerPoolOptions } from "./workers/pool.ts";
export {
  defineTasks,
  TASK_REF,
  type TaskLocation,
  taskLocation,
  type TaskRef,
  type TaskRefs,
  transfer,
} from "./src/tasks.ts";
export type { TaskLogicMode } from "./src/run.ts";
export {
  type GraphExportOptions,
  MERMAID_MAX_EDGES,
  STATUS_COLORS,
  type StatusColor,
  toDot,
  toMermaid,
} from "./src/graph_export.ts";
export type { ActorInspectionObserver, ActorView, RunActors, TaskActorView } from "./src/inspect.ts";
export { instrument, type InstrumentOptions, SPAN_ATTRIBUTES, TRACER_NAME } from "./src/otel.ts";
export {
  type CompletedEvent,
  type DepId,
  type DepKey,
  type DepsOf,
  type FamilyDepId,
  flow,
  type FlowBuilder,
  type FlowContext,
  type FlowFamilyDef,
  type FlowOptions,
  type FlowTaskDef,
  type FlowTaskFn,
  isTaskCompleted,
  type TaskList,
  type TaskOptions,
  taskResult,
} from "./src/typed.ts";
