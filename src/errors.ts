/**
 * Typed errors. Misuse is a `TypeError` (wrong shape) or `RangeError` (out of
 * range); conditions a caller handles get classes that carry their data.
 *
 * @module
 */

/** Options shared by the error classes: the underlying cause, if any. */
export interface FlowErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
}

/**
 * Thrown by {@linkcode defineWorkflow} when two tasks share an id.
 *
 * @example Catching it
 * ```ts
 * import { defineWorkflow, DuplicateTaskError } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const run = () => 1;
 * assert.throws(
 *   () => defineWorkflow({ name: "w", tasks: [{ id: "a", run }, { id: "a", run }] }),
 *   DuplicateTaskError,
 * );
 * ```
 */
export class DuplicateTaskError extends Error {
  /** The workflow being defined. */
  readonly workflow: string;
  /** The repeated task id. */
  readonly taskId: string;
  /**
   * Creates the error.
   *
   * @param workflow The workflow being defined.
   * @param taskId The repeated task id.
   */
  constructor(workflow: string, taskId: string) {
    super(`Cannot define workflow "${workflow}": task id "${taskId}" is used twice`);
    this.name = "DuplicateTaskError";
    this.workflow = workflow;
    this.taskId = taskId;
  }
}

/**
 * Thrown when a task depends on an id that no task of the workflow has, or on
 * itself.
 *
 * @example Catching it
 * ```ts
 * import { defineWorkflow, UnknownDependencyError } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => defineWorkflow({ name: "w", tasks: [{ id: "a", dependsOn: ["x"], run: () => 1 }] }),
 *   UnknownDependencyError,
 * );
 * ```
 */
export class UnknownDependencyError extends Error {
  /** The workflow being defined. */
  readonly workflow: string;
  /** The task that names the dependency. */
  readonly taskId: string;
  /** The dependency id that was not found (or the task itself). */
  readonly dependency: string;
  /**
   * Creates the error.
   *
   * @param workflow The workflow being defined.
   * @param taskId The task that names the dependency.
   * @param dependency The dependency id that was not found.
   */
  constructor(workflow: string, taskId: string, dependency: string) {
    super(
      taskId === dependency
        ? `Cannot define workflow "${workflow}": task "${taskId}" depends on itself`
        : `Cannot define workflow "${workflow}": task "${taskId}" depends on unknown task "${dependency}"`,
    );
    this.name = "UnknownDependencyError";
    this.workflow = workflow;
    this.taskId = taskId;
    this.dependency = dependency;
  }
}

/**
 * Thrown when the tasks' dependencies form a cycle. `cycle` is the path,
 * first id repeated at the end: `["a", "b", "c", "a"]`.
 *
 * @example Reading the cycle
 * ```ts
 * import { CycleError, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const run = () => 1;
 * try {
 *   defineWorkflow({ name: "w", tasks: [
 *     { id: "a", dependsOn: ["b"], run },
 *     { id: "b", dependsOn: ["a"], run },
 *   ] });
 * } catch (e) {
 *   assert.ok(e instanceof CycleError);
 *   assert.equal(e.cycle.length, 3);
 * }
 * ```
 */
export class CycleError extends Error {
  /** The workflow being defined. */
  readonly workflow: string;
  /** The ids along the cycle, the first repeated at the end. */
  readonly cycle: readonly string[];
  /**
   * Creates the error.
   *
   * @param workflow The workflow being defined.
   * @param cycle The ids along the cycle, the first repeated at the end.
   */
  constructor(workflow: string, cycle: readonly string[]) {
    super(`Cannot define workflow "${workflow}": tasks form a cycle ${cycle.join(" → ")}`);
    this.name = "CycleError";
    this.workflow = workflow;
    this.cycle = cycle;
  }
}

/**
 * The error a task fails with when an attempt runs longer than its
 * `timeoutMs`. The task's signal is aborted with it.
 *
 * @example Recognising a timeout in a run result
 * ```ts
 * import { TaskTimeoutError } from "@nerv/flow";
 * const e = new TaskTimeoutError("fetch", 1, 50);
 * console.log(e.message); // Task "fetch" timed out after 50 ms (attempt 1)
 * ```
 */
export class TaskTimeoutError extends Error {
  /** The task that timed out. */
  readonly taskId: string;
  /** The attempt that timed out, from 1. */
  readonly attempt: number;
  /** The timeout in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Creates the error.
   *
   * @param taskId The task that timed out.
   * @param attempt The attempt that timed out, from 1.
   * @param timeoutMs The timeout in milliseconds.
   */
  constructor(taskId: string, attempt: number, timeoutMs: number) {
    super(`Task "${taskId}" timed out after ${timeoutMs} ms (attempt ${attempt})`);
    this.name = "TaskTimeoutError";
    this.taskId = taskId;
    this.attempt = attempt;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The error of a failed run: names the first task that failed for good, its
 * last attempt, and carries the task's own error as `cause`.
 *
 * @example Reading a failed run
 * ```ts
 * import { createEngine, defineWorkflow, TaskFailedError } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const wf = defineWorkflow({ name: "w", tasks: [
 *   { id: "boom", run: () => { throw new Error("no"); } },
 * ] });
 * const result = await engine.run(wf);
 * assert.ok(result.error instanceof TaskFailedError);
 * assert.equal(result.error.taskId, "boom");
 * await engine.close();
 * ```
 */
export class TaskFailedError extends Error {
  /** The task that failed. */
  readonly taskId: string;
  /** Its last attempt, from 1. */
  readonly attempt: number;
  /**
   * Creates the error.
   *
   * @param taskId The task that failed.
   * @param attempt Its last attempt, from 1.
   * @param options `cause`: the task's own error.
   */
  constructor(taskId: string, attempt: number, options?: FlowErrorOptions) {
    const cause = options?.cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`Task "${taskId}" failed after ${attempt} attempt${attempt === 1 ? "" : "s"}: ${reason}`, {
      cause,
    });
    this.name = "TaskFailedError";
    this.taskId = taskId;
    this.attempt = attempt;
  }
}

/**
 * The error of a task that was skipped because a dependency failed, was
 * skipped or was cancelled.
 *
 * @example
 * ```ts
 * import { TaskSkippedError } from "@nerv/flow";
 * const e = new TaskSkippedError("report", "parse", "failed");
 * console.log(e.message); // Task "report" was skipped: dependency "parse" failed
 * ```
 */
export class TaskSkippedError extends Error {
  /** The skipped task. */
  readonly taskId: string;
  /** The dependency that blocked it. */
  readonly dependency: string;
  /** How that dependency ended: failed, skipped or cancelled. */
  readonly dependencyStatus: string;
  /**
   * The task whose failure (or cancellation) started the chain of skips: the
   * dependency itself, or, when the dependency was skipped, its own ancestor.
   */
  readonly ancestor: string;
  /** How the ancestor ended: failed or cancelled. */
  readonly ancestorStatus: string;
  /**
   * Creates the error.
   *
   * @param taskId The skipped task.
   * @param dependency The dependency that blocked it.
   * @param dependencyStatus How that dependency ended.
   * @param ancestor The task whose failure started the skips (default: `dependency`).
   * @param ancestorStatus How the ancestor ended (default: `dependencyStatus`).
   */
  constructor(
    taskId: string,
    dependency: string,
    dependencyStatus: string,
    ancestor: string = dependency,
    ancestorStatus: string = dependencyStatus,
  ) {
    super(skippedMessage(taskId, dependency, dependencyStatus, ancestor, ancestorStatus));
    this.name = "TaskSkippedError";
    this.taskId = taskId;
    this.dependency = dependency;
    this.dependencyStatus = dependencyStatus;
    this.ancestor = ancestor;
    this.ancestorStatus = ancestorStatus;
  }
}

/**
 * The message of a {@linkcode TaskSkippedError}.
 *
 * @param taskId The skipped task.
 * @param dependency The dependency that blocked it.
 * @param status How that dependency ended.
 * @param ancestor The task whose failure started the skips.
 * @param ancestorStatus How the ancestor ended.
 * @returns The message.
 */
export function skippedMessage(
  taskId: string,
  dependency: string,
  status: string,
  ancestor: string = dependency,
  ancestorStatus: string = status,
): string {
  const base = `Task "${taskId}" was skipped: dependency "${dependency}" ${status}`;
  return ancestor === dependency ? base : `${base} (ancestor task "${ancestor}" ${ancestorStatus})`;
}

/**
 * The reason given to tasks cancelled with their run, unless the caller gave
 * one.
 *
 * @example
 * ```ts
 * import { CancelledError } from "@nerv/flow";
 * console.log(new CancelledError("run-1").message); // Run "run-1" was cancelled
 * ```
 */
export class CancelledError extends Error {
  /** The run that was cancelled. */
  readonly runId: string;
  /**
   * Creates the error.
   *
   * @param runId The run that was cancelled.
   * @param options `cause`: the reason given to `cancel()` or the signal.
   */
  constructor(runId: string, options?: FlowErrorOptions) {
    super(`Run "${runId}" was cancelled`, options);
    this.name = "CancelledError";
    this.runId = runId;
  }
}

/**
 * Thrown by the step-by-step API and by projections when an id is unknown.
 *
 * @example
 * ```ts
 * import { createEngine, NotFoundError } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * assert.throws(() => engine.getWorkflowStatus("nope"), NotFoundError);
 * await engine.close();
 * ```
 */
export class NotFoundError extends Error {
  /** What kind of id it is. */
  readonly kind: "workflow" | "task" | "run" | "projection";
  /** The id that was not found. */
  readonly id: string;
  /**
   * Creates the error.
   *
   * @param kind What kind of id it is.
   * @param id The id that was not found.
   * @param hint Extra words for the message.
   */
  constructor(kind: NotFoundError["kind"], id: string, hint = "") {
    super(`Cannot find ${kind} "${id}"${hint}`);
    this.name = "NotFoundError";
    this.kind = kind;
    this.id = id;
  }
}

/**
 * A run that ended was evicted from the engine's memory under its retention
 * policy (`EngineOptions.retention`), and the log store cannot serve it
 * synchronously: read it from the store (`foldRun(await store.readRun(id))`)
 * instead. A `NotFoundError` with `kind` `"run"`, so code that handles unknown
 * runs handles it too.
 *
 * @example
 * ```ts
 * import { createEngine, defineWorkflow, EvictedError } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine({ retention: { runs: 1 } });
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] });
 * const first = await engine.run(wf);
 * await engine.run(wf);
 * assert.throws(() => engine.project("workflowStatus", first.runId), EvictedError);
 * await engine.close();
 * ```
 */
export class EvictedError extends NotFoundError {
  /** The retention policy that evicted it, in words (e.g. `"the last 1000 finished runs"`). */
  readonly retention: string;
  /**
   * Creates the error.
   *
   * @param runId The evicted run.
   * @param retention The policy, in words.
   */
  constructor(runId: string, retention: string) {
    super(
      "run",
      runId,
      `: it ended and was evicted from memory (retention keeps ${retention}); read it from a durable log store`,
    );
    this.name = "EvictedError";
    this.retention = retention;
  }
}

/**
 * A worker could not load a task's module or find the task in it.
 *
 * @example
 * ```ts
 * import { TaskModuleError } from "@nerv/flow";
 * const e = new TaskModuleError("file:///tasks.ts", "parse", "no such export", { taskId: "parse-1" });
 * console.log(e.message); // Cannot run task "parse" of file:///tasks.ts: no such export
 * console.log(e.exportName, e.taskId); // parse parse-1
 * ```
 */
export class TaskModuleError extends Error {
  /** The task module's URL. */
  readonly moduleUrl: string;
  /** The task's export name in its module (its `defineTasks()` key). */
  readonly exportName: string;
  /** The id of the workflow task that referenced it, when the executor knows it. */
  readonly taskId: string | undefined;
  /**
   * Creates the error.
   *
   * @param moduleUrl The task module's URL.
   * @param exportName The task's export name in it.
   * @param reason What went wrong.
   * @param options `cause`: the loader's error; `taskId`: the workflow task that referenced it.
   */
  constructor(
    moduleUrl: string,
    exportName: string,
    reason: string,
    options?: FlowErrorOptions & { taskId?: string },
  ) {
    super(
      `Cannot run task "${exportName}" of ${moduleUrl || "a defineTasks() call without a module"}: ${reason}`,
      options !== undefined && "cause" in options ? { cause: options.cause } : undefined,
    );
    this.name = "TaskModuleError";
    this.moduleUrl = moduleUrl;
    this.exportName = exportName;
    this.taskId = options?.taskId;
  }
}

/**
 * A worker died (an uncaught error, `self.close()`, termination) while it
 * held the task; the task's retry policy decides what follows.
 *
 * @example
 * ```ts
 * import { WorkerCrashedError } from "@nerv/flow";
 * console.log(new WorkerCrashedError("cpu#1", "t").message); // Worker cpu#1 died while running task "t"
 * ```
 */
export class WorkerCrashedError extends Error {
  /** The worker's name. */
  readonly worker: string;
  /** The task it held. */
  readonly taskId: string;
  /**
   * Creates the error.
   *
   * @param worker The worker's name.
   * @param taskId The task it held.
   * @param options `cause`: what killed it.
   */
  constructor(worker: string, taskId: string, options?: FlowErrorOptions) {
    super(`Worker ${worker} died while running task "${taskId}"`, options);
    this.name = "WorkerCrashedError";
    this.worker = worker;
    this.taskId = taskId;
  }
}

/**
 * A value could not be cloned across a worker boundary (functions, symbols,
 * class instances with private state, …).
 *
 * @example
 * ```ts
 * import { NotCloneableError } from "@nerv/flow";
 * console.log(new NotCloneableError("t", "input").message);
 * // Cannot send task "t" to a worker: its input cannot be cloned
 * ```
 */
export class NotCloneableError extends TypeError {
  /** The task. */
  readonly taskId: string;
  /** What could not be cloned. */
  readonly part: "input" | "result";
  /**
   * Creates the error.
   *
   * @param taskId The task.
   * @param part `input` (input or dependency results) or `result`.
   * @param options `cause`: the clone error.
   */
  constructor(taskId: string, part: "input" | "result", options?: FlowErrorOptions) {
    super(
      part === "input"
        ? `Cannot send task "${taskId}" to a worker: its input cannot be cloned`
        : `Cannot return the result of task "${taskId}" from its worker: the value cannot be cloned`,
      options,
    );
    this.name = "NotCloneableError";
    this.taskId = taskId;
    this.part = part;
  }
}

/**
 * A value that must be stored as JSON is not JSON data: a task's result or
 * the run's input on a durable log store, a cached task's result on a
 * durable cache, or a cache key. JSON data is plain objects, arrays,
 * strings, finite numbers, booleans and null (`undefined` object fields are
 * dropped, as `JSON.stringify` does); `path` says where the culprit is.
 *
 * @example
 * ```ts
 * import { NotSerializableError } from "@nerv/flow";
 * const e = new NotSerializableError("result", "parse", "$.when", "a Date");
 * console.log(e.message); // Cannot store the result of task "parse" as JSON: $.when is a Date
 * ```
 */
export class NotSerializableError extends TypeError {
  /** What was being stored. */
  readonly part: "input" | "result" | "cache key";
  /** The task (for `result` and `cache key`) or the run (for `input`). */
  readonly owner: string;
  /** Where in the value the culprit is, from `$` (the value itself). */
  readonly path: string;
  /** What the culprit is, e.g. `a function`, `a Date`, `NaN`, `a cycle`. */
  readonly what: string;
  /**
   * Creates the error.
   *
   * @param part What was being stored.
   * @param owner The task id (result, cache key) or the run id (input).
   * @param path Where in the value the culprit is.
   * @param what What the culprit is.
   */
  constructor(part: "input" | "result" | "cache key", owner: string, path: string, what: string) {
    super(
      `Cannot store the ${part} of ${part === "input" ? "run" : "task"} "${owner}" as JSON: ${path} is ${what}`,
    );
    this.name = "NotSerializableError";
    this.part = part;
    this.owner = owner;
    this.path = path;
    this.what = what;
  }
}

/**
 * A stored log is damaged before its end: a record that is not valid (bad
 * JSON, a checksum mismatch) is followed by valid ones. A damaged tail (a
 * half-written last record, garbage bytes after the last valid one) is not
 * this error: the store recovers up to the last valid record and reports it.
 *
 * @example
 * ```ts
 * import { LogCorruptedError } from "@nerv/flow";
 * const e = new LogCorruptedError("/var/flow.log", 12, 3456, "checksum mismatch");
 * console.log(e.message);
 * // Cannot open log "/var/flow.log": line 12 (byte 3456) is damaged (checksum mismatch) and valid records follow it
 * ```
 */
export class LogCorruptedError extends Error {
  /** The log's path or name. */
  readonly path: string;
  /** The damaged line, from 1. */
  readonly line: number;
  /** Its byte offset in the file. */
  readonly offset: number;
  /** What is wrong with it. */
  readonly reason: string;
  /**
   * Creates the error.
   *
   * @param path The log's path or name.
   * @param line The damaged line, from 1.
   * @param offset Its byte offset.
   * @param reason What is wrong with it.
   */
  constructor(path: string, line: number, offset: number, reason: string) {
    super(
      `Cannot open log "${path}": line ${line} (byte ${offset}) is damaged (${reason}) and valid records follow it`,
    );
    this.name = "LogCorruptedError";
    this.path = path;
    this.line = line;
    this.offset = offset;
    this.reason = reason;
  }
}

/**
 * The error of a task refused by an open circuit breaker: the task did not
 * run. A task with a fallback takes it instead.
 *
 * @example Recognising a fast failure
 * ```ts
 * import { CircuitOpenError } from "@nerv/flow";
 * const e = new CircuitOpenError("call", "search-api", 5000);
 * console.log(e.message); // Task "call" did not run: circuit "search-api" is open (retry after 5000 ms)
 * ```
 */
export class CircuitOpenError extends Error {
  /** The task that was refused. */
  readonly taskId: string;
  /** The breaker's key. */
  readonly key: string;
  /** Milliseconds until the breaker lets a trial through. */
  readonly retryAfterMs: number;
  /**
   * Creates the error.
   *
   * @param taskId The task that was refused.
   * @param key The breaker's key.
   * @param retryAfterMs Milliseconds until the breaker lets a trial through.
   */
  constructor(taskId: string, key: string, retryAfterMs: number) {
    super(`Task "${taskId}" did not run: circuit "${key}" is open (retry after ${retryAfterMs} ms)`);
    this.name = "CircuitOpenError";
    this.taskId = taskId;
    this.key = key;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Thrown by `ctx.spawn()` (and failing the spawning task) when the tasks it
 * adds cannot join the run: a duplicate id, an unknown dependency or a cycle
 * is reported by the wrapped typed error in `cause`.
 *
 * @example Reading it
 * ```ts
 * import { DuplicateTaskError, SpawnError } from "@nerv/flow";
 * const e = new SpawnError("split", new DuplicateTaskError("w", "item-1"));
 * console.log(e.message);
 * ```
 */
export class SpawnError extends Error {
  /** The task that tried to add tasks. */
  readonly taskId: string;
  /**
   * Creates the error.
   *
   * @param taskId The spawning task.
   * @param cause Why the tasks were rejected (`DuplicateTaskError`, `UnknownDependencyError`, `CycleError`, `TypeError`, `RangeError`).
   */
  constructor(taskId: string, cause: Error) {
    super(`Task "${taskId}" could not add tasks to its run: ${cause.message}`, { cause });
    this.name = "SpawnError";
    this.taskId = taskId;
  }
}

/**
 * A worker pool could not start a worker: its entry script failed to load
 * (not found, not a module, a syntax or import error, blocked), or there is
 * no entry at all (the package was bundled, so its own worker entry is not
 * beside it). The pool backs off between attempts and, after a few, fails
 * the tasks waiting for a worker with this error instead of starting workers
 * without end; it tries again later for new tasks.
 *
 * @example
 * ```ts
 * import { WorkerStartError } from "@nerv/flow";
 * const e = new WorkerStartError("cpu", "https://example.com/worker.js", 3, "the script failed to load");
 * console.log(e.message);
 * // Worker pool "cpu" could not start a worker from "https://example.com/worker.js" (3 attempts): the script failed to load
 * ```
 */
export class WorkerStartError extends Error {
  /** The pool's name. */
  readonly pool: string;
  /** The worker script's URL, or `undefined` when the pool has none. */
  readonly entry: string | undefined;
  /** Failed starts in a row. */
  readonly attempts: number;
  /**
   * Creates the error.
   *
   * @param pool The pool's name.
   * @param entry The worker script's URL, or `undefined` when the pool has none.
   * @param attempts Failed starts in a row.
   * @param reason What went wrong.
   * @param options `cause`: the worker's error.
   */
  constructor(pool: string, entry: string | undefined, attempts: number, reason: string, options?: FlowErrorOptions) {
    super(
      entry === undefined
        ? `Worker pool "${pool}" has no worker entry: ${reason}`
        : `Worker pool "${pool}" could not start a worker from "${entry}" (${attempts} attempt${
          attempts === 1 ? "" : "s"
        }): ${reason}`,
      options,
    );
    this.name = "WorkerStartError";
    this.pool = pool;
    this.entry = entry;
    this.attempts = attempts;
  }
}

/**
 * The error of a run that could make no more progress: tasks had not ended,
 * yet none was running, waiting for a slot, a timer, the store or a child
 * run. The run fails with it (as `RunResult.error` and the stuck tasks'
 * error) instead of never resolving.
 *
 * @example Reading it
 * ```ts
 * import { RunStalledError } from "@nerv/flow";
 * const e = new RunStalledError("run-1", ["b", "c"]);
 * console.log(e.message); // Run "run-1" stalled: tasks "b", "c" can make no progress
 * ```
 */
export class RunStalledError extends Error {
  /** The run. */
  readonly runId: string;
  /** The tasks that had not ended. */
  readonly taskIds: readonly string[];
  /**
   * Creates the error.
   *
   * @param runId The run.
   * @param taskIds The tasks that had not ended.
   */
  constructor(runId: string, taskIds: readonly string[]) {
    const shown = taskIds.slice(0, 10).map((id) => `"${id}"`).join(", ");
    const more = taskIds.length > 10 ? ` and ${taskIds.length - 10} more` : "";
    super(`Run "${runId}" stalled: tasks ${shown}${more} can make no progress`);
    this.name = "RunStalledError";
    this.runId = runId;
    this.taskIds = taskIds;
  }
}

/**
 * The error of a task whose child run (`subworkflow()`, `ctx.runWorkflow`)
 * failed or was cancelled: it names the child workflow and the child's run
 * id; `cause` is the child run's error (e.g. the `TaskFailedError` of the
 * child task that failed).
 *
 * @example Reading it
 * ```ts
 * import { SubworkflowError } from "@nerv/flow";
 * const e = new SubworkflowError("enrich", "run-7", "failed", new Error("boom"));
 * console.log(e.message); // Subworkflow "enrich" (run "run-7") failed: boom
 * ```
 */
export class SubworkflowError extends Error {
  /** The child workflow's name. */
  readonly workflow: string;
  /** The child run's id. */
  readonly runId: string;
  /** How the child run ended: failed or cancelled. */
  readonly status: string;
  /**
   * Creates the error.
   *
   * @param workflow The child workflow's name.
   * @param runId The child run's id.
   * @param status How the child run ended.
   * @param cause The child run's error.
   */
  constructor(workflow: string, runId: string, status: string, cause?: Error) {
    super(
      `Subworkflow "${workflow}" (run "${runId}") ${status}${cause === undefined ? "" : `: ${cause.message}`}`,
      cause === undefined ? undefined : { cause },
    );
    this.name = "SubworkflowError";
    this.workflow = workflow;
    this.runId = runId;
    this.status = status;
  }
}

/**
 * Thrown (or rejected) when a run is started, resumed or re-run on an engine
 * that was closed. A `TypeError`, as before it had a class of its own.
 *
 * @example
 * ```ts
 * import { createEngine, defineWorkflow, EngineClosedError } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * await engine.close();
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] });
 * assert.throws(() => engine.start(wf), EngineClosedError);
 * ```
 */
export class EngineClosedError extends TypeError {
  /** What was refused: `start a run`, `re-run a run`, `resume a run`. */
  readonly action: string;
  /**
   * Creates the error.
   *
   * @param action What was refused, e.g. `start a run`.
   */
  constructor(action: string) {
    super(`Cannot ${action}: the engine is closed`);
    this.name = "EngineClosedError";
    this.action = action;
  }
}

/**
 * A worker pool refused a task because it was closed.
 *
 * @example
 * ```ts
 * import { PoolClosedError } from "@nerv/flow";
 * console.log(new PoolClosedError("cpu", "t").message); // Cannot run task "t": worker pool cpu is closed
 * ```
 */
export class PoolClosedError extends Error {
  /** The pool's name. */
  readonly pool: string;
  /** The task it refused. */
  readonly taskId: string;
  /**
   * Creates the error.
   *
   * @param pool The pool's name.
   * @param taskId The task it refused.
   */
  constructor(pool: string, taskId: string) {
    super(`Cannot run task "${taskId}": worker pool ${pool} is closed`);
    this.name = "PoolClosedError";
    this.pool = pool;
    this.taskId = taskId;
  }
}
