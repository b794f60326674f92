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
 * @example Extension points are in `@nerv/flow/extend`
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { createMemoryLogStore, type LogStore } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 *
 * const logStore: LogStore = createMemoryLogStore();
 * const engine = createEngine({ logStore });
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * await engine.close(); // the log reaches its store
 * assert.equal((await logStore.read(result.runId)).at(-1)?.type, "workflow.completed");
 * ```
 *
 * This entry point exports what a user writes and reads: definitions,
 * the engine and its results, events, errors. Ports, their default
 * implementations, the container, the scheduler and the log's internals are
 * in `@nerv/flow/extend`.
 *
 * @module
 */
export type {
  BreakerPolicy,
  CachePolicy,
  EventOf,
  FlowEvent,
  FlowEventType,
  Priority,
  Profile,
  RetryPolicy,
  RunResult,
  RunStatus,
  TaskContext,
  TaskDef,
  TaskResult,
  TaskStatus,
  Workflow,
  WorkflowDef,
} from "./src/types.ts";
export {
  CancelledError,
  CircuitOpenError,
  CycleError,
  DuplicateTaskError,
  EngineClosedError,
  EvictedError,
  LogCorruptedError,
  NotCloneableError,
  NotFoundError,
  NotSerializableError,
  PoolClosedError,
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
export { defineWorkflow, descendants } from "./src/graph.ts";
export { plan } from "./src/graph/plan.ts";
export { mapTasks } from "./src/dynamic.ts";
export { subworkflow } from "./src/subworkflow.ts";
export { createVirtualClock } from "./src/clock.ts";
export type { EventBus } from "./src/bus.ts";
export { loadLog } from "./src/replay.ts";
export {
  createEngine,
  type Engine,
  type EngineOptions,
  type RerunOptions,
  type ResumeOptions,
  type RunHandle,
  type RunOptions,
  type RunSnapshot,
  type TaskStatusReport,
  type WorkflowStatusReport,
} from "./src/engine.ts";
export { createWorkerPool } from "./workers/pool.ts";
export { defineTasks, type TaskRef, transfer } from "./src/tasks.ts";
export { toDot, toMermaid } from "./src/graph_export.ts";
export {
  flow,
  type FlowBuilder,
  type FlowContext,
  type FlowOptions,
  isTaskCompleted,
  type TaskOptions,
  taskResult,
} from "./src/typed.ts";
