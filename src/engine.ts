/**
 * The engine: runs workflows as actor graphs, records every transition on
 * its bus and log, and offers the step-by-step API (create a workflow, add
 * tasks, execute, poll).
 *
 * @module
 */
import { createEventBus, type EventBus } from "./bus.ts";
import { systemClock } from "./clock.ts";
import { createContainer, type EngineContainer, TOKENS } from "./container.ts";
import { DuplicateTaskError, EvictedError, NotFoundError, NotSerializableError } from "./errors.ts";
import { defineWorkflow, describe, graphOf, type Plan, validateTask } from "./graph.ts";
import {
  type BuiltinProjections,
  createMemoryLogStore,
  createSnapshotLog,
  foldRun,
  type LogState,
  type MemoryLogStore,
  type RetentionPolicy,
  type RunView,
  type SnapshotLog,
  type TaskView,
} from "./log/mod.ts";
import { type ChildStart, Run, type RunEnv, type TaskLogicMode } from "./run.ts";
import { createMemoryTaskCache } from "./cache.ts";
import { BreakerRegistry, type BreakerState } from "./breaker.ts";
import { findJsonIssue } from "./json.ts";
import { loadRerun, loadRestore, rerunFrom, type Restore } from "./resume.ts";
import { Scheduler } from "./scheduler.ts";
import { PROFILES } from "./tables.ts";
import { createProjectionStore, type ProjectionStore } from "./store.ts";
import type {
  AnyFlowEvent,
  BreakerPolicy,
  Clock,
  ErrorData,
  EventDataMap,
  Executor,
  LogStore,
  Priority,
  Profile,
  RunResult,
  TaskCache,
  TaskDef,
  TaskResults,
  Workflow,
  WorkflowStatus,
} from "./types.ts";
import { createInlineExecutor } from "../workers/inline.ts";
import { createWorkerPool, defaultPoolSize } from "../workers/pool.ts";
import { taskLocation } from "./tasks.ts";
import { type ActorInspectionObserver, actorsOf, type RunActors } from "./inspect.ts";

/** Options of {@linkcode createEngine}. */
export interface EngineOptions {
  /**
   * Tasks running at once across every profile and run.
   * @default {Infinity}
   */
  concurrency?: number;
  /**
   * Tasks running at once per profile (`n` = hardware threads).
   * @default {{ cpu: n, io: 8 * n, mixed: 2 * n, memory: max(1, n / 2) }}
   */
  limits?: Partial<Record<Profile, number>>;
  /**
   * Executors per profile. Default: `io` inline; `cpu`, `mixed` and `memory`
   * each a worker pool (started on first use), or inline where `Worker` does not exist.
   */
  executors?: Partial<Record<Profile, Executor>>;
  /**
   * Worker pool sizes, or `false` to run every profile inline.
   * @default {{ cpu: n, mixed: 2 * n, memory: max(1, n / 2) }}
   */
  workers?: false | Partial<Record<"cpu" | "mixed" | "memory", number>>;
  /** Time source for timestamps, timeouts and backoff. Default: the system clock. */
  clock?: Clock;
  /**
   * Where the log's events go besides memory, and where `resume()` reads runs
   * back. Default: an in-memory store. On a durable store (a file or Deno KV
   * store from `@nerv/flow/adapters`) nothing is acknowledged before it is
   * stored: see {@linkcode LogStore}.
   */
  logStore?: LogStore;
  /**
   * Which finished runs the engine keeps in memory: in its log (events and
   * state), its projection store and its step-by-step index; `false` keeps
   * every run. Live runs are always kept. A durable log store keeps every run
   * it stored; an evicted run is read back from the log store when it answers
   * synchronously, and otherwise projections, `at(seq)`, `events(runId)`,
   * `getWorkflowStatus` and `getTaskStatus` throw `EvictedError` for it. With
   * the default memory store, evicted runs leave the store too. A policy
   * given replaces the default whole: a field left out is unlimited.
   * @default {{ runs: 1000 }}
   */
  retention?: RetentionPolicy | false;
  /** Where cached task results are kept. Default: an in-memory cache of 10,000 entries. */
  cache?: TaskCache;
  /**
   * Events the bus keeps in `history()`.
   * @default {1000}
   */
  historySize?: number;
  /**
   * Random numbers in [0, 1) for retry jitter.
   * @default {Math.random}
   */
  random?: () => number;
  /**
   * How task actors run their machine: `compiled` executes the machine
   * definition with a flat-machine executor; `interpreted` uses XState's
   * interpreter (slower; same events).
   * @default {"compiled"}
   */
  taskLogic?: TaskLogicMode;
  /**
   * How ready tasks of equal priority are ordered: `critical-path` serves the
   * task with the costliest path still behind it first; `fifo` serves them in
   * the order they became ready; `io-first` serves io-profile tasks before the
   * others (then by critical path), so that waiting on I/O overlaps CPU work
   * when tasks of several profiles compete for `concurrency`.
   * @default {"critical-path"}
   */
  ordering?: "critical-path" | "fifo" | "io-first";
  /**
   * XState inspection: receives XState's inspection events (`@xstate.actor`,
   * `@xstate.event`, `@xstate.snapshot`, `@xstate.action`) of every workflow
   * and task actor: a function, or an observer such as `inspector.inspect` from `@statelyai/inspect`.
   */
  inspect?: ((event: ActorInspectionEvent) => void) | ActorInspectionObserver<ActorInspectionEvent>;
  /** Replace components in the engine's container before it resolves them. */
  configure?: (container: EngineContainer) => void;
  /**
   * Engine-level circuit breakers by key: a task names one with `breaker: "key"`;
   * a task policy with the same key uses this one instead. Default: none.
   */
  breakers?: Readonly<Record<string, Omit<BreakerPolicy, "key">>>;
  /**
   * Tasks of a `concurrencyKey` running at once, per key (a key not listed has no limit). Default: none.
   */
  keyLimits?: Readonly<Record<string, number>>;
  /**
   * Every run's default for {@linkcode RunOptions.failFast}.
   * @default {false}
   */
  failFast?: boolean;
}

/** An XState inspection event, as the `inspect` option receives it. */
export interface ActorInspectionEvent {
  /** `@xstate.actor`, `@xstate.event`, `@xstate.snapshot`, `@xstate.action` or `@xstate.microstep`. */
  type: string;
  /** The actor it concerns (an XState actor ref). */
  actorRef: unknown;
  /** The session id of the root actor (the run's workflow actor). */
  rootId: string;
  /** The event received (`@xstate.event`) or that caused a snapshot (`@xstate.snapshot`). */
  event?: unknown;
  /** The actor's new snapshot (`@xstate.snapshot`, `@xstate.actor`). */
  snapshot?: unknown;
  /** The action executed (`@xstate.action`). */
  action?: unknown;
  /** The actor that sent the event, if any (`@xstate.event`). */
  sourceRef?: unknown;
}

/** Options of `run()` and `start()`. */
export interface RunOptions<I = unknown> {
  /** The run's input; every task sees it as `ctx.input`. */
  input?: I;
  /** Cancels the run when aborted. */
  signal?: AbortSignal;
  /** The run id. Default: a random UUID. */
  runId?: string;
  /**
   * Fail fast: at the first task that fails for good, cancel the rest of the
   * run (running tasks are aborted, waiting ones cancelled); the run ends
   * `failed` with that task's error. Default: the engine's `failFast` (false:
   * tasks that do not depend on the failed one run to their end).
   */
  failFast?: boolean;
}

/** A run's state, read from the log. */
export interface RunSnapshot {
  /** The run id. */
  runId: string;
  /** Status, times and counts. */
  workflow: RunView;
  /** Every task's status, attempts, times, result or error. */
  tasks: Record<string, TaskView>;
}

/** Options of `resume()`. */
export interface ResumeOptions {
  /** Cancels the resumed run when aborted. */
  signal?: AbortSignal;
}

/** Options of `rerun()`. */
export interface RerunOptions {
  /** The new run's id. Default: a random UUID. */
  runId?: string;
  /** Cancels the new run when aborted. */
  signal?: AbortSignal;
  /** Fail fast (see {@linkcode RunOptions.failFast}). Default: the engine's `failFast`. */
  failFast?: boolean;
}

/**
 * A started run.
 *
 * @typeParam T Each task's result by task id (typed for a workflow from `flow()`).
 */
export interface RunHandle<T extends TaskResults = TaskResults> {
  /** The run id. */
  readonly id: string;
  /** Resolves when every task ended; never rejects for a task's failure. */
  readonly result: Promise<RunResult<T>>;
  /**
   * Cancels the run: running tasks are aborted, pending ones cancelled.
   *
   * @param reason Why; the tasks' `CancelledError` carries it as `cause`.
   */
  cancel(reason?: unknown): void;
  /**
   * Changes a task's priority during the run; the scheduler serves it by its
   * new priority from now on. Emits `task.reprioritized`.
   *
   * @param taskId The task.
   * @param priority Its new priority.
   * @throws {NotFoundError} The run has no such task.
   * @throws {RangeError} Not a priority.
   * @throws {TypeError} The task has ended.
   */
  setPriority(taskId: string, priority: Priority): void;
  /**
   * The run's execution plan now: it grows with the tasks added during the run (`ctx.spawn`).
   *
   * @returns The plan.
   */
  plan(): Plan;
  /**
   * The tasks downstream of a task in the run now (tasks added during the run
   * included): what its failure would skip.
   *
   * @param taskId The task.
   * @returns Their ids, in topological order.
   * @throws {NotFoundError} The run has no such task.
   */
  descendants(taskId: string): string[];
  /**
   * The run's state now, from the log.
   *
   * @returns The snapshot.
   */
  snapshot(): RunSnapshot;
  /**
   * Plain, readable views of the run's actors now (the workflow actor and
   * every live task actor), e.g. to look at in a debugger.
   *
   * @returns The views.
   */
  actors(): RunActors;
}

/** What `getWorkflowStatus()` reports. */
export interface WorkflowStatusReport {
  /** The workflow id. */
  workflowId: string;
  /** Its latest execution, if any. */
  executionId?: string;
  /** `created` until executed. */
  status: WorkflowStatus;
  /** When the workflow was created. */
  createdAt: number;
  /** When the execution started. */
  startedAt?: number;
  /** When it ended. */
  completedAt?: number;
  /** Its duration so far or in all, in ms. */
  durationMs?: number;
  /** Each task's status, attempts, result or error. */
  tasks: Record<string, TaskView>;
  /** The run's error, when failed or cancelled. */
  error?: ErrorData;
}

/** What `getTaskStatus()` reports. */
export interface TaskStatusReport extends TaskView {
  /** The workflow id. */
  workflowId: string;
  /** The execution it belongs to; absent for a task of a workflow not executed yet (`pending`). */
  executionId?: string;
}

/** The engine. */
export interface Engine {
  /** Every transition, as typed events. */
  readonly bus: EventBus;
  /** The snapshot log: events, projections, time travel, replay. */
  readonly log: SnapshotLog;
  /** Each run's workflow status, for UIs to subscribe to. */
  readonly store: ProjectionStore;
  /** The engine's container (resolved components). */
  readonly container: EngineContainer;
  /**
   * Runs a workflow to its end.
   *
   * @param workflow A workflow from `defineWorkflow`.
   * @param options Input, signal, run id.
   * @returns The result; a failed task makes it `failed`, it does not reject.
   * @throws {TypeError} The workflow was not made by `defineWorkflow`, or the run id is taken.
   */
  run<I, T extends TaskResults = TaskResults>(workflow: Workflow<I, T>, options?: RunOptions<I>): Promise<RunResult<T>>;
  /**
   * Starts a workflow and returns at once.
   *
   * @param workflow A workflow from `defineWorkflow`.
   * @param options Input, signal, run id.
   * @returns The run's handle.
   * @throws {TypeError} The workflow was not made by `defineWorkflow`, or the run id is taken.
   */
  start<I, T extends TaskResults = TaskResults>(workflow: Workflow<I, T>, options?: RunOptions<I>): RunHandle<T>;
  /**
   * Resumes a run from the engine's log store (after a crash, in a new
   * process): the tasks that completed keep their stored results and never
   * run again; the tasks that were running, waiting or retrying run again,
   * their attempt numbers carried on (an attempt cut off by the crash is not
   * charged to the retry policy); failed and skipped tasks stay so; a run
   * that was being cancelled ends cancelled. The run keeps its id, input and
   * workflow id. A run that had already ended is not run again: its stored
   * result is returned.
   *
   * Task bodies are not in the log, so the caller passes the workflow the run
   * was started with (the same task ids; the bodies may be fixed versions).
   * Tasks the run added (`ctx.spawn`) that had ended keep their outcome; a
   * spawner whose added tasks had not all ended runs again (even if it had
   * completed), its spawns matched by id, so those tasks come back with their
   * bodies; an added task that no task adds again fails, naming its spawner.
   *
   * @param workflow The run's workflow, from `defineWorkflow`.
   * @param runId The run to resume.
   * @param options A signal that cancels it.
   * @returns The run's result, as `run()` gives it.
   * @throws {NotFoundError} The store has no events of that run, or only its creation (it never started; run it again) (as a rejection).
   * @throws {TypeError} The workflow is not the run's (name or task ids differ), or the run is live in this engine (as a rejection).
   */
  resume<I>(workflow: Workflow<I>, runId: string, options?: ResumeOptions): Promise<RunResult>;
  /**
   * Re-executes from failure: a new run of an ended run's workflow that keeps
   * the old run's completed tasks (their results, without running them; each
   * is a `task.completed` event with `rerunOf`) and runs the others (failed,
   * skipped, cancelled), with the old run's input. Tasks the old run added
   * (`ctx.spawn`) are kept the same way when completed; a spawner whose added
   * tasks did not all complete runs again, its spawns matched by id. The new
   * run's `workflow.created` event names the old run (`rerunOf`). The old run
   * is read from the engine's log store (any store: memory, file, KV).
   *
   * @param workflow The old run's workflow, from `defineWorkflow` (bodies may be fixed versions).
   * @param runId The ended run.
   * @param options The new run's id, a signal, fail fast.
   * @returns The new run's result.
   * @throws {NotFoundError} The store has no such run (as a rejection).
   * @throws {TypeError} The workflow is not the run's, the run has not ended, or the new run id is taken (as a rejection).
   */
  rerun<I>(workflow: Workflow<I>, runId: string, options?: RerunOptions): Promise<RunResult>;
  /**
   * Reads a projection from the log (see `SnapshotLog.project`).
   *
   * @param name The projection.
   * @param runId The run, for built-in projections; the latest when omitted.
   * @returns Its value.
   * @throws {NotFoundError} Unknown projection or run.
   */
  project<K extends keyof BuiltinProjections>(name: K, runId?: string): BuiltinProjections[K];
  /**
   * Reads a registered projection.
   *
   * @param name Its name.
   * @returns Its value.
   * @throws {NotFoundError} No projection has that name.
   */
  project<T = unknown>(name: string): T;
  /**
   * Step by step: creates an empty workflow. Emits `workflow.created` (its
   * run id is the workflow id) now; each `addTask` emits that task's `task.pending`.
   *
   * @param def Its name and description.
   * @returns The workflow id.
   * @throws {TypeError} The name is missing.
   */
  createWorkflow(def: { name: string; description?: string }): string;
  /**
   * Step by step: adds a task (validated now; dependencies are checked at `execute`).
   *
   * @param workflowId From `createWorkflow`.
   * @param task The task.
   * @returns The task id.
   * @throws {NotFoundError} Unknown workflow id.
   * @throws {DuplicateTaskError} The workflow already has a task with that id.
   * @throws {TypeError} The task is malformed.
   */
  addTask(workflowId: string, task: TaskDef): string;
  /**
   * Step by step: validates and starts the workflow; returns at once.
   *
   * @param workflowId From `createWorkflow`.
   * @param context The run's input.
   * @returns The execution id (a run id).
   * @throws {NotFoundError} Unknown workflow id.
   * @throws {CycleError} The tasks form a cycle (nothing is started).
   * @throws {UnknownDependencyError} A task depends on an unknown id.
   */
  execute(workflowId: string, context?: unknown): string;
  /**
   * Step by step: a workflow's (latest execution's) status, or an execution's.
   *
   * @param id A workflow id or an execution id.
   * @returns Status, times, duration, task results and error.
   * @throws {NotFoundError} Unknown id.
   */
  getWorkflowStatus(id: string): WorkflowStatusReport;
  /**
   * Step by step: a task's status in the latest execution that has it; a task
   * added to a workflow that was not executed yet is `pending`.
   *
   * @param taskId The task id.
   * @param executionId Look only in this execution.
   * @returns The task's status, attempts, times, result or error.
   * @throws {NotFoundError} No execution has that task.
   */
  getTaskStatus(taskId: string, executionId?: string): TaskStatusReport;
  /**
   * Cancels every live run, waits for them, and releases executors.
   *
   * @returns When everything is released.
   */
  close(): Promise<void>;
}

interface Draft {
  name: string;
  description: string | undefined;
  tasks: TaskDef[];
  ids: Set<string>;
  createdAt: number;
  executions: string[];
}

/**
 * Creates an engine.
 *
 * @param options Limits, executors, clock, log store, container overrides.
 * @returns The engine.
 * @throws {RangeError} A limit is not a positive integer (or `Infinity`).
 *
 * @example Running a workflow
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const wf = defineWorkflow({ name: "hello", tasks: [
 *   { id: "who", run: () => "world" },
 *   { id: "greet", dependsOn: ["who"], run: ({ deps }) => `hello ${deps.who}` },
 * ] });
 * const result = await engine.run(wf);
 * assert.equal(result.status, "completed");
 * assert.equal(result.tasks.greet.result, "hello world");
 * await engine.close();
 * ```
 *
 * @example Step by step
 * ```ts
 * import { createEngine } from "@nerv/flow";
 * const engine = createEngine();
 * const wf = engine.createWorkflow({ name: "steps" });
 * engine.addTask(wf, { id: "a", run: () => 1 });
 * engine.addTask(wf, { id: "b", dependsOn: ["a"], run: ({ deps }) => Number(deps.a) + 1 });
 * const executionId = engine.execute(wf);
 * await engine.wait(executionId);
 * console.log(engine.getWorkflowStatus(wf).status); // completed
 * console.log(engine.getTaskStatus("b").result); // 2
 * await engine.close();
 * ```
 */
export function createEngine(options: EngineOptions = {}): Engine & EngineExtras {
  const n = Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 1);
  const limits: Record<Profile, number> = {
    cpu: n,
    io: 8 * n,
    mixed: 2 * n,
    memory: Math.max(1, Math.floor(n / 2)),
    ...options.limits,
  };
  for (const p of PROFILES) checkLimit(`limits.${p}`, limits[p]);
  const concurrency = checkLimit("concurrency", options.concurrency ?? Infinity);
  const breakers = new BreakerRegistry(options.breakers);
  const taskLogic = options.taskLogic ?? "compiled";
  const ordering = options.ordering ?? "critical-path";
  if (ordering !== "critical-path" && ordering !== "fifo" && ordering !== "io-first") {
    throw new RangeError(
      `Cannot create engine: ordering ${describe(ordering)} must be "critical-path", "fifo" or "io-first"`,
    );
  }
  if (taskLogic !== "compiled" && taskLogic !== "interpreted") {
    throw new RangeError(`Cannot create engine: taskLogic ${describe(taskLogic)} must be "compiled" or "interpreted"`);
  }

  const workersAvailable = typeof globalThis.Worker === "function" && options.workers !== false;
  const container = createContainer();
  container.register(TOKENS.clock, { useValue: options.clock ?? systemClock });
  container.register(TOKENS.random, { useValue: options.random ?? Math.random });
  container.register(TOKENS.bus, { useFactory: () => createEventBus({ historySize: options.historySize }) });
  const retention = options.retention === false ? undefined : options.retention ?? { runs: DEFAULT_RETAINED_RUNS };
  let ownStore: MemoryLogStore | undefined;
  container.register(TOKENS.logStore, { useFactory: () => options.logStore ?? (ownStore = createMemoryLogStore()) });
  container.register(TOKENS.log, {
    useFactory: (c) => createSnapshotLog({ store: c.resolve(TOKENS.logStore), retention }),
  });
  container.register(TOKENS.cache, {
    useFactory: (c) => options.cache ?? createMemoryTaskCache({ clock: c.resolve(TOKENS.clock) }),
  });
  container.register(TOKENS.executors, {
    useFactory: (c) => {
      const inline = createInlineExecutor();
      const out = {} as Record<Profile, Executor>;
      for (const p of PROFILES) {
        const given = options.executors?.[p];
        if (given !== undefined) out[p] = given;
        else if (p === "io" || !workersAvailable) out[p] = inline;
        else {
          const size = (options.workers === false ? undefined : options.workers?.[p]) ?? defaultPoolSize(p, n);
          out[p] = createWorkerPool({ size, name: p, clock: c.resolve(TOKENS.clock) });
        }
      }
      return out;
    },
  });
  container.register(TOKENS.scheduler, {
    useFactory: (c) => {
      const executors = c.resolve(TOKENS.executors);
      const effective = {} as Record<Profile, number>;
      for (const p of PROFILES) effective[p] = Math.min(limits[p], executors[p].concurrency);
      return new Scheduler(effective, concurrency, options.keyLimits);
    },
  });
  options.configure?.(container);

  const clock = container.resolve(TOKENS.clock);
  const bus = container.resolve(TOKENS.bus);
  const log = container.resolve(TOKENS.log);
  const executors = container.resolve(TOKENS.executors);
  const scheduler = container.resolve(TOKENS.scheduler);
  const random = container.resolve(TOKENS.random);
  const cache = container.resolve(TOKENS.cache);
  const logStore = container.resolve(TOKENS.logStore);
  const store = createProjectionStore();
  const live = new Map<string, Run>();
  const drafts = new Map<string, Draft>();
  const executions = new Map<
    string,
    { workflowId: string; taskIds: ReadonlyMap<string, number>; run?: Run; workflow?: Workflow<unknown> }
  >();
  let draftCounter = 0;
  let fallbackAnnounced = false;
  let closed = false;

  // The projection store gets the runs a batch touched (a run's end is in the batch its
  // end flushes), and loses the runs the log evicts: O(what changed), never O(all runs).
  const syncStore = (state: LogState, batch: readonly AnyFlowEvent[]) => {
    const runs: Record<string, RunView> = Object.create(null);
    let any = false;
    let last = "";
    for (let i = 0; i < batch.length; i++) {
      const id = batch[i].runId;
      if (id === last || id in runs || log.evicted(id)) continue;
      last = id;
      runs[id] = state.project("workflowStatus", id);
      any = true;
    }
    if (any) store.update(state.seq, runs);
  };
  const unsubscribeLog = log.subscribe(syncStore);
  const unsubscribeEvict = log.onEvict((runIds) => {
    for (const id of runIds) {
      executions.delete(id);
      ownStore?.delete(id);
    }
    store.remove(runIds);
  });
  // A durable store that fails can acknowledge nothing more: every live run is cancelled (their results reject).
  if (log.durable) {
    log.whenDurable(Infinity).catch((error) => {
      for (const run of live.values()) run.cancel(error);
    });
  }
  // On a durable store, listeners hear an event once it is stored.
  const unsubscribeDurable = log.durable
    ? log.onDurable((batch) => {
      for (const event of batch) bus.emit(event);
    })
    : undefined;

  const env = {
    bus,
    log,
    clock,
    scheduler,
    executors,
    random,
    taskLogic,
    ordering,
    inspect: options.inspect as RunEnv["inspect"],
    cache,
    breakers,
    onEnd(run: Run) {
      live.delete(run.id);
    },
    startChild(workflow: Workflow<unknown>, child: ChildStart): Run {
      return start(workflow, { input: child.input, runId: child.runId, signal: child.signal }, undefined, child.parent);
    },
  };

  const start = <I>(
    workflow: Workflow<I>,
    runOptions: RunOptions<I> = {},
    workflowId?: string,
    parent?: ChildStart["parent"],
  ): Run => {
    if (closed) throw new TypeError("Cannot start a run: the engine is closed");
    const graph = graphOf(workflow);
    const id = runOptions.runId ?? crypto.randomUUID();
    if (typeof id !== "string" || id.length === 0) {
      throw new TypeError(`Cannot start a run: runId ${describe(id)} must be a non-empty string`);
    }
    if (live.has(id) || executions.has(id)) throw new TypeError(`Cannot start a run: run id "${id}" is taken`);
    if (log.durable) {
      const issue = findJsonIssue(runOptions.input);
      if (issue !== undefined) throw new NotSerializableError("input", id, issue.path, issue.what);
    }
    let notice: { profiles: Profile[]; reason: string } | undefined;
    if (!workersAvailable && !fallbackAnnounced) {
      const profiles = new Set<Profile>();
      for (const t of workflow.tasks) {
        if (t.profile !== "io" && options.executors?.[t.profile] === undefined && taskLocation(t.run) !== undefined) {
          profiles.add(t.profile);
        }
      }
      if (profiles.size > 0) {
        fallbackAnnounced = true;
        notice = {
          profiles: [...profiles],
          reason: options.workers === false ? "workers: false" : "this runtime has no Worker",
        };
      }
    }
    const run = new Run(workflow as Workflow<unknown>, graph, env, {
      id,
      workflowId: workflowId ?? workflow.name,
      input: runOptions.input,
      notice,
      parent,
      failFast: runOptions.failFast ?? options.failFast,
    });
    live.set(id, run);
    executions.set(id, { workflowId: run.workflowId, taskIds: graph.index });
    run.start(runOptions.signal);
    return run;
  };
  const startRerun = (
    workflow: Workflow<unknown>,
    graph: ReturnType<typeof graphOf>,
    restore: Restore,
    rerunOf: string,
    rerunOptions: RerunOptions,
    workflowId?: string,
  ): Run => {
    if (closed) throw new TypeError("Cannot re-run a run: the engine is closed");
    const id = rerunOptions.runId ?? crypto.randomUUID();
    if (typeof id !== "string" || id.length === 0) {
      throw new TypeError(`Cannot re-run a run: runId ${describe(id)} must be a non-empty string`);
    }
    if (live.has(id) || executions.has(id)) throw new TypeError(`Cannot re-run a run: run id "${id}" is taken`);
    const run = new Run(workflow, graph, env, {
      id,
      workflowId: workflowId ?? restore.state.workflowId,
      input: restore.state.input,
      restore,
      rerunOf,
      failFast: rerunOptions.failFast ?? options.failFast,
    });
    live.set(id, run);
    executions.set(id, { workflowId: run.workflowId, taskIds: graph.index, workflow });
    run.start(rerunOptions.signal);
    return run;
  };
  /** Step by step: the events of a workflow being built (its run id is the workflow id), when they happen. */
  const emitDraft = <T extends "workflow.created" | "task.pending">(
    workflowId: string,
    type: T,
    taskId: string | undefined,
    data: EventDataMap[T],
  ) => {
    const event = {
      type,
      seq: log.nextSeq(),
      runId: workflowId,
      workflowId,
      taskId,
      attempt: undefined,
      timestamp: clock.now(),
      data,
    } as AnyFlowEvent;
    log.append(event);
    if (!log.durable) bus.emit(event);
  };
  const handleOf = (run: Run): RunHandle => ({
    id: run.id,
    result: run.result,
    cancel: (reason?: unknown) => run.cancel(reason),
    setPriority: (taskId: string, priority: Priority) => run.setPriority(taskId, priority),
    plan: () => run.plan(),
    descendants: (taskId: string) => run.descendants(taskId),
    snapshot: () => snapshotOf(log.state(), run.id),
    actors: () => actorsOf(run, log.state()),
  });
  const runOf = (id: string): { runId: string; workflowId: string } | undefined => {
    const draft = drafts.get(id);
    if (draft !== undefined) {
      const last = draft.executions.at(-1);
      return last === undefined ? undefined : { runId: last, workflowId: id };
    }
    const exec = executions.get(id);
    return exec === undefined ? undefined : { runId: id, workflowId: exec.workflowId };
  };

  const engine: Engine & EngineExtras = {
    bus,
    log,
    store,
    container,
    run(workflow, runOptions) {
      // Misuse (not a workflow, a taken run id) throws; an input a durable store cannot keep rejects.
      try {
        // The typed view (RunResult<T>) of the engine's untyped result: flow() typed the tasks that produce it.
        return start(workflow, runOptions).result as Promise<never>;
      } catch (error) {
        if (error instanceof NotSerializableError) return Promise.reject(error);
        throw error;
      }
    },
    start(workflow, runOptions) {
      return handleOf(start(workflow, runOptions)) as RunHandle<never>;
    },
    async rerun(workflow, runId, rerunOptions = {}) {
      if (closed) throw new TypeError("Cannot re-run a run: the engine is closed");
      const graph = graphOf(workflow);
      if (typeof runId !== "string" || runId.length === 0) {
        throw new TypeError(`Cannot re-run a run: runId ${describe(runId)} must be a non-empty string`);
      }
      if (live.has(runId)) throw new TypeError(`Cannot re-run run "${runId}": it is running in this engine`);
      await log.sync().catch(() => {});
      const restore = await loadRerun(logStore, workflow.name, graph, runId);
      return startRerun(workflow as Workflow<unknown>, graph, restore, runId, rerunOptions).result;
    },
    async resume(workflow, runId, resumeOptions = {}) {
      if (closed) throw new TypeError("Cannot resume a run: the engine is closed");
      const graph = graphOf(workflow);
      if (typeof runId !== "string" || runId.length === 0) {
        throw new TypeError(`Cannot resume a run: runId ${describe(runId)} must be a non-empty string`);
      }
      const busy = () => {
        if (live.has(runId)) throw new TypeError(`Cannot resume run "${runId}": it is running in this engine`);
      };
      busy();
      const restore = await loadRestore(logStore, workflow.name, graph, runId);
      if (!("state" in restore)) return restore; // It had ended: its stored result.
      if (closed) throw new TypeError("Cannot resume a run: the engine is closed");
      busy();
      const run = new Run(workflow as Workflow<unknown>, graph, env, {
        id: runId,
        workflowId: restore.state.workflowId,
        input: restore.state.input,
        restore,
      });
      live.set(runId, run);
      executions.set(runId, { workflowId: run.workflowId, taskIds: graph.index });
      run.start(resumeOptions.signal);
      return run.result;
    },
    project(name: string, runId?: string) {
      return log.project(name as keyof BuiltinProjections, runId) as never;
    },
    createWorkflow(def) {
      if (def === null || typeof def !== "object" || typeof def.name !== "string" || def.name.length === 0) {
        throw new TypeError(`Cannot create workflow: expected { name: non-empty string }, got ${describe(def)}`);
      }
      const id = `${def.name}#${++draftCounter}`;
      emitDraft(id, "workflow.created", undefined, { name: def.name, taskIds: [] });
      drafts.set(id, {
        name: def.name,
        description: def.description,
        tasks: [],
        ids: new Set(),
        createdAt: clock.now(),
        executions: [],
      });
      return id;
    },
    addTask(workflowId, task) {
      const draft = drafts.get(workflowId);
      if (draft === undefined) throw new NotFoundError("workflow", workflowId, "; create it with createWorkflow()");
      // Validate the task's own fields now; dependencies are resolved at execute().
      validateTask(draft.name, task);
      if (draft.ids.has(task.id)) throw new DuplicateTaskError(draft.name, task.id);
      draft.ids.add(task.id);
      draft.tasks.push({ ...task });
      emitDraft(workflowId, "task.pending", task.id, { dependsOn: [...(task.dependsOn ?? [])] });
      return task.id;
    },
    execute(workflowId, context) {
      const draft = drafts.get(workflowId);
      if (draft === undefined) throw new NotFoundError("workflow", workflowId, "; create it with createWorkflow()");
      const workflow = defineWorkflow({ name: draft.name, description: draft.description, tasks: draft.tasks });
      const run = start(workflow, { input: context }, workflowId);
      const exec = executions.get(run.id)!;
      exec.run = run;
      exec.workflow = workflow as Workflow<unknown>;
      draft.executions.push(run.id);
      return run.id;
    },
    getWorkflowStatus(id) {
      let found = runOf(id);
      if (found === undefined && log.evicted(id)) {
        // An evicted run: read back from the store, or EvictedError.
        found = { runId: id, workflowId: log.state().project("workflowStatus", id).workflowId };
      }
      if (found === undefined) {
        const draft = drafts.get(id);
        if (draft === undefined) throw new NotFoundError("workflow", id);
        const tasks: Record<string, TaskView> = {};
        for (const t of draft.tasks) tasks[t.id] = { taskId: t.id, status: "pending", attempts: 0 };
        return { workflowId: id, status: "created", createdAt: draft.createdAt, tasks };
      }
      const snap = snapshotOf(log.state(), found.runId);
      const w = snap.workflow;
      const report: WorkflowStatusReport = {
        workflowId: found.workflowId,
        executionId: found.runId,
        status: w.status,
        createdAt: drafts.get(id)?.createdAt ?? w.createdAt,
        tasks: snap.tasks,
      };
      if (w.startedAt !== undefined) report.startedAt = w.startedAt;
      if (w.endedAt !== undefined) report.completedAt = w.endedAt;
      if (w.startedAt !== undefined) report.durationMs = (w.endedAt ?? clock.now()) - w.startedAt;
      if (w.error !== undefined) report.error = w.error;
      return report;
    },
    getTaskStatus(taskId, executionId) {
      const candidates = executionId !== undefined ? [executionId] : [...executions.keys()].reverse();
      for (const runId of candidates) {
        const exec = executions.get(runId);
        if (exec === undefined) {
          if (log.evicted(runId)) {
            const tasks = log.state().project("tasks", runId); // from the store, or EvictedError
            if (!Object.hasOwn(tasks, taskId)) break;
            const w = log.state().project("workflowStatus", runId);
            return { ...tasks[taskId], workflowId: w.workflowId, executionId: runId };
          }
          throw new NotFoundError("execution", runId);
        }
        if (!exec.taskIds.has(taskId)) continue;
        const view = log.state().project("tasks", runId)[taskId];
        return { ...view, workflowId: exec.workflowId, executionId: runId };
      }
      if (executionId === undefined) {
        // A task added to a workflow that has not run it yet waits.
        for (const [workflowId, draft] of [...drafts].reverse()) {
          if (draft.ids.has(taskId) && draft.executions.length === 0) {
            return { taskId, status: "pending", attempts: 0, workflowId };
          }
        }
      }
      throw new NotFoundError(
        "task",
        taskId,
        executionId === undefined ? " in any execution" : ` in execution "${executionId}"`,
      );
    },
    breakerState(key) {
      return breakers.state(key);
    },
    reexecute(executionId) {
      const exec = executions.get(executionId);
      if (exec?.workflow === undefined) {
        throw new NotFoundError("execution", executionId, "; it was not started by execute() or reexecute()");
      }
      if (exec.run !== undefined && exec.run.final === undefined) {
        throw new TypeError(`Cannot re-execute "${executionId}": it has not ended`);
      }
      const events = log.events(executionId);
      const graph = graphOf(exec.workflow);
      const restore = rerunFrom(foldRun({ events }), events, exec.workflow.name, graph, executionId);
      const run = startRerun(exec.workflow, graph, restore, executionId, {}, exec.workflowId);
      executions.get(run.id)!.run = run;
      drafts.get(exec.workflowId)?.executions.push(run.id);
      return run.id;
    },
    wait(executionId) {
      const run = executions.get(executionId)?.run;
      if (run === undefined) {
        if (log.evicted(executionId)) return Promise.reject(new EvictedError(executionId, retentionWords(retention)));
        return Promise.reject(new NotFoundError("execution", executionId, "; it was not started by execute()"));
      }
      return run.result;
    },
    async close() {
      if (closed) return;
      closed = true;
      const pending = [...live.values()];
      for (const run of pending) run.cancel(new Error("The engine was closed"));
      await Promise.allSettled(pending.map((r) => r.result));
      // Whatever was appended reaches the store before the engine says it is closed.
      await log.sync().catch(() => {});
      const seen = new Set<Executor>();
      for (const p of PROFILES) {
        const ex = executors[p];
        if (seen.has(ex)) continue;
        seen.add(ex);
        await ex.close?.();
      }
      unsubscribeLog();
      unsubscribeEvict();
      unsubscribeDurable?.();
      log.close();
    },
  };
  return engine;
}

/** Engine methods beyond the core interface. */
export interface EngineExtras {
  /**
   * Step by step: waits for an execution to end.
   *
   * @param executionId From `execute`.
   * @returns The run result.
   * @throws {NotFoundError} Unknown execution id (as a rejection).
   */
  wait(executionId: string): Promise<RunResult>;
  /**
   * Step by step: re-executes an ended execution from failure (see `Engine.rerun`):
   * a new execution keeps its completed tasks and runs the failed, skipped and
   * cancelled ones; the workflow's status then reports the new one.
   *
   * @param executionId From `execute` or `reexecute`.
   * @returns The new execution id.
   * @throws {NotFoundError} Unknown execution id.
   * @throws {TypeError} The execution has not ended.
   */
  reexecute(executionId: string): string;
  /**
   * A circuit breaker's state now.
   *
   * @param key The breaker's key.
   * @returns `closed`, `open` or `half-open`; `undefined` when no option or task defined the key yet.
   */
  breakerState(key: string): BreakerState | undefined;
}

/** Finished runs an engine keeps in memory by default. */
const DEFAULT_RETAINED_RUNS = 1000;

function retentionWords(retention: RetentionPolicy | undefined): string {
  const parts: string[] = [];
  if (retention?.runs !== undefined && retention.runs !== Infinity) {
    parts.push(`the last ${retention.runs} finished runs`);
  }
  if (retention?.ms !== undefined && retention.ms !== Infinity) parts.push(`finished runs for ${retention.ms} ms`);
  return parts.join(" and ");
}

function snapshotOf(state: LogState, runId: string): RunSnapshot {
  return { runId, workflow: state.project("workflowStatus", runId), tasks: state.project("tasks", runId) };
}

function checkLimit(name: string, value: number): number {
  if (!(value === Infinity || (Number.isInteger(value) && value >= 1))) {
    throw new RangeError(`Cannot create engine: ${name} ${describe(value)} must be an integer >= 1 or Infinity`);
  }
  return value;
}
