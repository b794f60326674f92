/**
 * The shapes users write and read: priorities, profiles and statuses, the
 * policies (retry, cache, breaker), task and workflow definitions, the task
 * context, and run and task results. Types only; depends on no other
 * module.
 *
 * @module
 */

/**
 * How urgent a task is; the ready queue serves higher priorities first.
 *
 * @example A task served before others
 * ```ts
 * import { createEngine, defineWorkflow, type Priority } from "@nerv/flow";
 * const urgent: Priority = "critical";
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", priority: urgent, run: () => 1 }] });
 * const engine = createEngine();
 * console.log((await engine.run(wf)).status); // completed
 * await engine.close();
 * ```
 */
export type Priority = "low" | "medium" | "high" | "critical";

/**
 * The workload profile of a task: which executor pool runs it.
 *
 * @example An io task (runs inline, many at once)
 * ```ts
 * import { defineWorkflow, type Profile } from "@nerv/flow";
 * const profile: Profile = "io";
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "fetch", profile, run: () => "page" }] });
 * console.log(wf.tasks[0].profile); // io
 * ```
 */
export type Profile = "cpu" | "io" | "mixed" | "memory";

/**
 * Where a task is in its life. The last four are terminal.
 *
 * @example Reading statuses
 * ```ts
 * import { createEngine, defineWorkflow, type TaskStatus } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * const status: TaskStatus = result.tasks.a.status;
 * assert.equal(status, "completed");
 * await engine.close();
 * ```
 */
export type TaskStatus =
  | "pending"
  | "ready"
  | "running"
  | "retrying"
  | "completed"
  | "failed"
  | "skipped"
  | "cancelled";

/** A task status that ends the task. */
export type TerminalTaskStatus = "completed" | "failed" | "skipped" | "cancelled";

/** Where a run is. The last three are terminal. */
export type WorkflowStatus = "created" | "running" | "completed" | "failed" | "cancelled";

/**
 * A run's terminal status.
 *
 * @example A failed run
 * ```ts
 * import { createEngine, defineWorkflow, type RunStatus } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => { throw new Error("no"); } }] });
 * const status: RunStatus = (await engine.run(wf)).status;
 * assert.equal(status, "failed");
 * await engine.close();
 * ```
 */
export type RunStatus = "completed" | "failed" | "cancelled";

/**
 * Retry policy: exponential backoff, capped, with optional jitter.
 *
 * @example Three attempts
 * ```ts
 * import { createEngine, defineWorkflow, type RetryPolicy } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const retry: RetryPolicy = { maxAttempts: 3, initialDelayMs: 1 };
 * let calls = 0;
 * const flaky = () => {
 *   if (++calls < 3) throw new Error("not yet");
 *   return calls;
 * };
 * const engine = createEngine();
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", retry, run: flaky }] }));
 * assert.equal(result.tasks.a.result, 3);
 * assert.equal(result.tasks.a.attempts, 3);
 * await engine.close();
 * ```
 */
export interface RetryPolicy {
  /** Attempts in all, the first included; at least 1. */
  maxAttempts: number;
  /**
   * Delay before the second attempt, in milliseconds.
   * @default {100}
   */
  initialDelayMs?: number;
  /**
   * Each further delay is the previous one times this; at least 1.
   * @default {2}
   */
  factor?: number;
  /**
   * No delay is longer than this, in milliseconds.
   * @default {30000}
   */
  maxDelayMs?: number;
  /**
   * Share of each delay drawn at random, in [0, 1]: a delay `d` becomes a
   * value in `[d * (1 - jitter), d]`.
   * @default {0}
   */
  jitter?: number;
}

/** The dependency results of a task that was not typed by the typed builder (`flow()`): any id, unknown results. */
export type UntypedDeps = Readonly<Record<string, unknown>>;

/**
 * What a task body receives.
 *
 * @typeParam I The run's input.
 * @typeParam D The dependency results by id (typed by `flow()`; untyped by default).
 *
 * @example What a task body reads
 * ```ts
 * import { createEngine, defineWorkflow, type TaskContext } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const greet = (ctx: TaskContext<{ greeting: string }>) => `${ctx.input.greeting} ${ctx.deps.who}`;
 * const wf = defineWorkflow<{ greeting: string }>({
 *   name: "w",
 *   tasks: [{ id: "who", run: () => "world" }, { id: "greet", dependsOn: ["who"], run: greet }],
 * });
 * const engine = createEngine();
 * const result = await engine.run(wf, { input: { greeting: "hello" } });
 * assert.equal(result.tasks.greet.result, "hello world");
 * await engine.close();
 * ```
 */
export interface TaskContext<I = unknown, D = UntypedDeps> {
  /** The run's input, as given to `run()` / `start()`. */
  readonly input: I;
  /** The results of the task's dependencies, by task id. */
  readonly deps: D;
  /** Aborted when the attempt times out or the run is cancelled. */
  readonly signal: AbortSignal;
  /** The attempt number, from 1. */
  readonly attempt: number;
  /** The task's id. */
  readonly taskId: string;
  /** The run's id. */
  readonly runId: string;
  /** The workflow's id: its name, or for a workflow of the step-by-step API its workflow id (`name#n`). */
  readonly workflowId: string;
  /** The task's `metadata` (frozen; an empty object when it has none). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /**
   * Adds tasks to the run while this attempt runs (inline tasks only: not in
   * a worker). They may depend on any task of the run, this one included (they
   * then start once it completed), and on each other; they are validated like
   * a workflow's tasks.
   *
   * @param tasks The tasks to add.
   * @returns Their ids.
   * @throws {SpawnError} A duplicate id, an unknown dependency, a cycle or a malformed task (in `cause`); this task then fails with it.
   * @throws {TypeError} The attempt is over.
   */
  spawn(tasks: readonly TaskDef[]): readonly string[];
  /**
   * Runs another workflow as a child run of this task (inline tasks only: not
   * in a worker), on the same engine, bus and log. Its `workflow.created`
   * event names this run and task (`parentRunId`, `parentTaskId`); this
   * attempt's signal cancels it (a timeout, a cancelled run). See `subworkflow()`.
   *
   * @param workflow A workflow from `defineWorkflow`.
   * @param options The child's input and run id.
   * @returns The child's result (it does not reject for a failed or cancelled child).
   * @throws {TypeError} The workflow was not made by `defineWorkflow`, or the run id is taken.
   * @throws {EngineClosedError} The engine is closed (a `TypeError`).
   */
  runWorkflow<J>(workflow: Workflow<J>, options?: ChildRunOptions<J>): Promise<RunResult>;
}

/** Options of `TaskContext.runWorkflow()`. */
export interface ChildRunOptions<J = unknown> {
  /** The child run's input. */
  input?: J;
  /** The child run's id. Default: a random UUID. */
  runId?: string;
}

/**
 * A task body: a plain (sync or async) function of the task context.
 *
 * @typeParam I The run's input.
 * @typeParam R What it returns (its promise's value for an async body).
 * @typeParam D Its dependency results by id.
 */
export type TaskFn<I = unknown, R = unknown, D = UntypedDeps> = (ctx: TaskContext<I, D>) => R | Promise<R>;

/**
 * Result caching of one task (opt-in): a completed result is kept under a key
 * made of the workflow, the task id, `version` and a stable hash of the
 * task's input and dependency results (or of what `key` returns), and served
 * instead of running the task until `ttlMs` has passed.
 *
 * @example A result served from the cache the second time
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", cache: { ttlMs: 60_000 }, run: () => 42 }] });
 * const engine = createEngine();
 * await engine.run(wf);
 * const again = await engine.run(wf);
 * assert.equal(again.tasks.a.cached, true);
 * assert.equal(again.tasks.a.result, 42);
 * await engine.close();
 * ```
 */
export interface CachePolicy<I = unknown> {
  /** How long an entry is served after it was stored, in milliseconds (> 0). */
  ttlMs: number;
  /**
   * What identifies the task's input, as JSON data (plain objects, arrays,
   * strings, finite numbers, booleans, null). Default: `{ input, deps }`.
   */
  key?: (ctx: TaskContext<I>) => unknown;
  /**
   * Part of the key: change it when the task's code changes, so older entries are not served.
   * @default {""}
   */
  version?: string;
}

/**
 * A circuit breaker shared by the tasks that name its key (see
 * `TaskDef.breaker`); an engine-level breaker of the same key (`EngineOptions.breakers`) wins.
 *
 * @example A breaker shared by tasks that call one service
 * ```ts
 * import { type BreakerPolicy, defineWorkflow } from "@nerv/flow";
 * const breaker: BreakerPolicy = { key: "search-api", threshold: 5, windowMs: 10_000, cooldownMs: 30_000 };
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "search", breaker, run: () => [] }] });
 * console.log(wf.tasks[0].id); // search
 * ```
 */
export interface BreakerPolicy {
  /** Tasks with the same key share one breaker, across runs of the engine. */
  key: string;
  /**
   * Failed attempts within `windowMs` that open the breaker.
   * @default {5}
   */
  threshold?: number;
  /**
   * The window failures are counted in, in milliseconds.
   * @default {60000}
   */
  windowMs?: number;
  /**
   * How long the breaker stays open before it lets one trial through, in milliseconds.
   * @default {30000}
   */
  cooldownMs?: number;
}

/** Which body produced a task's result. */
export type TaskPath = "primary" | "fallback";

/**
 * One task of a workflow, as a user writes it.
 *
 * @example A task with its dependencies, timeout and fallback
 * ```ts
 * import { createEngine, defineWorkflow, type TaskDef } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const fetchPage: TaskDef = { id: "fetch", run: () => "<html>" };
 * const parse: TaskDef = {
 *   id: "parse",
 *   dependsOn: ["fetch"],
 *   timeoutMs: 1_000,
 *   run: ({ deps }) => String(deps.fetch).length,
 *   fallback: () => 0,
 * };
 * const engine = createEngine();
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [fetchPage, parse] }));
 * assert.equal(result.tasks.parse.result, 6);
 * await engine.close();
 * ```
 */
export interface TaskDef<I = unknown> {
  /** Unique within the workflow. */
  id: string;
  /** A human name; defaults to the id. */
  name?: string;
  /** What the task does. */
  description?: string;
  /** Ids of the tasks that must complete before this one starts. */
  dependsOn?: readonly string[];
  /** The task body. */
  run: TaskFn<I>;
  /**
   * Ready tasks of higher priority are dispatched first.
   * @default {"medium"}
   */
  priority?: Priority;
  /** Each attempt is aborted and fails with `TaskTimeoutError` after this many milliseconds. */
  timeoutMs?: number;
  /**
   * The task's expected cost (e.g. milliseconds), for the critical-path rank:
   * the scheduler favours tasks with the most costly work still behind them.
   * @default {1}
   */
  cost?: number;
  /** Retry failed attempts (errors and timeouts) with exponential backoff. */
  retry?: RetryPolicy;
  /**
   * Which executor runs the body.
   * @default {"io"}
   */
  profile?: Profile;
  /** Free-form labels. */
  tags?: readonly string[];
  /** Free-form data carried with the task. */
  metadata?: Readonly<Record<string, unknown>>;
  /** Serve a stored result instead of running the task (see {@linkcode CachePolicy}). Default: no caching. */
  cache?: CachePolicy<I>;
  /**
   * A circuit breaker around the task: a policy, or the key of an engine-level
   * breaker (`EngineOptions.breakers`). While it is open the task fails with
   * `CircuitOpenError` without running (or takes its fallback). Default: none.
   */
  breaker?: BreakerPolicy | string;
  /**
   * An alternative body, run on the main thread when the task has failed for
   * good (after its retries, or refused by an open breaker); its result
   * completes the task with `path: "fallback"`, its error fails it. Default: none.
   */
  fallback?: TaskFn<I>;
  /**
   * Tasks sharing a key run at most `EngineOptions.keyLimits[key]` at once
   * (besides their profile's limit). Default: none.
   */
  concurrencyKey?: string;
}

/**
 * A workflow as a user writes it.
 *
 * @example The object form
 * ```ts
 * import { defineWorkflow, type WorkflowDef } from "@nerv/flow";
 * const def: WorkflowDef = { name: "w", description: "two steps", tasks: [{ id: "a", run: () => 1 }] };
 * console.log(defineWorkflow(def).tasks.length); // 1
 * ```
 */
export interface WorkflowDef<I = unknown> {
  /** The workflow's name; also its id in events. */
  name: string;
  /** What the workflow does. */
  description?: string;
  /** The tasks; order does not matter. */
  tasks: readonly TaskDef<I>[];
}

/** A task after validation: every optional field resolved. */
export interface TaskSpec<I = unknown> {
  /** Unique within the workflow. */
  readonly id: string;
  /** A human name. */
  readonly name: string;
  /** What the task does. */
  readonly description: string | undefined;
  /** Ids of its dependencies. */
  readonly dependsOn: readonly string[];
  /** The task body. */
  readonly run: TaskFn<I>;
  /** Its priority. */
  readonly priority: Priority;
  /** Attempt timeout in milliseconds, if any. */
  readonly timeoutMs: number | undefined;
  /** Its expected cost, for the critical-path rank. */
  readonly cost: number;
  /** Its retry policy, resolved (one attempt when none was given). */
  readonly retry: Readonly<Required<RetryPolicy>>;
  /** Its workload profile. */
  readonly profile: Profile;
  /** Its labels. */
  readonly tags: readonly string[];
  /** Its metadata. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Its cache policy, if it has one. */
  readonly cache: Readonly<CachePolicy<I>> | undefined;
  /** Its breaker: a resolved policy, the key of an engine-level breaker, or none. */
  readonly breaker: Readonly<Required<BreakerPolicy>> | string | undefined;
  /** Its fallback body, if any. */
  readonly fallback: TaskFn<I> | undefined;
  /** Its concurrency key, if any. */
  readonly concurrencyKey: string | undefined;
}

/** Task results by task id: what a typed workflow (`flow()`) knows of its tasks. */
export type TaskResults = Readonly<Record<string, unknown>>;

/**
 * A validated workflow, ready to run any number of times.
 *
 * @typeParam I The run's input.
 * @typeParam T Each task's result by task id, when the workflow was made by `flow()` (the result types of
 *   `RunResult.tasks`); any id and unknown results otherwise.
 *
 * @example A workflow is what defineWorkflow and flow() return
 * ```ts
 * import { defineWorkflow, type Workflow } from "@nerv/flow";
 * const wf: Workflow = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] });
 * console.log(wf.name, wf.tasks.map((t) => t.id)); // w [ "a" ]
 * ```
 */
export interface Workflow<I = unknown, T extends TaskResults = TaskResults> {
  /** The workflow's name. */
  readonly name: string;
  /** What it does. */
  readonly description: string | undefined;
  /** Its tasks, resolved, in definition order. */
  readonly tasks: readonly TaskSpec<I>[];
  /** Never set: carries the task result types (`T`) for the type checker. */
  readonly "~results"?: T;
}

/**
 * The outcome of one task in a run.
 *
 * @typeParam R What its body returns (awaited).
 *
 * @example One task's outcome
 * ```ts
 * import { createEngine, defineWorkflow, type TaskResult } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * const a: TaskResult = result.tasks.a;
 * assert.deepEqual([a.status, a.result, a.attempts], ["completed", 1, 1]);
 * await engine.close();
 * ```
 */
export interface TaskResult<R = unknown> {
  /** Its terminal status. */
  status: TerminalTaskStatus;
  /** What the body returned, when completed. */
  result?: R;
  /** Why it failed, was skipped or cancelled. */
  error?: Error;
  /** Attempts made (0 for a cache hit). */
  attempts: number;
  /** `true` when the result came from the cache and the task did not run. */
  cached?: boolean;
  /** For a completed task that has a fallback: which body produced the result. */
  path?: TaskPath;
  /** When the first attempt started (clock ms). */
  startedAt?: number;
  /** When the task ended (clock ms). */
  completedAt?: number;
  /** From the first start to the end, in ms. */
  durationMs?: number;
}

/**
 * The outcome of a run.
 *
 * @typeParam T Each task's result by task id (a workflow from `flow()` knows them); any id and unknown results by default.
 *
 * @example A run's outcome
 * ```ts
 * import { createEngine, defineWorkflow, type RunResult } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const result: RunResult = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * assert.equal(result.status, "completed");
 * assert.ok(result.completedAt >= result.startedAt);
 * await engine.close();
 * ```
 */
export interface RunResult<T extends TaskResults = TaskResults> {
  /** The run's id. */
  runId: string;
  /** The workflow's id (its name). */
  workflowId: string;
  /** `completed` when every task completed; `failed` when a task failed; `cancelled`. */
  status: RunStatus;
  /** Per task, by id. */
  tasks: { -readonly [K in keyof T]: TaskResult<T[K]> };
  /** For a failed run the first failure; for a cancelled run the reason. */
  error?: Error;
  /** When the run started (clock ms). */
  startedAt: number;
  /** When it ended (clock ms). */
  completedAt: number;
  /** Its duration in ms. */
  durationMs: number;
}

/** A serialized error as it stands in events and the log. */
export interface ErrorData {
  /** The error's name. */
  name: string;
  /** Its message. */
  message: string;
  /** Its stack, if any. */
  stack?: string;
  /** Its cause, serialized. */
  cause?: unknown;
  /** Own enumerable fields (e.g. `taskId`). */
  [field: string]: unknown;
}
