/**
 * The engine: the composition root. `createEngine` checks its options
 * (`engine/options.ts`), registers the engine's components in its container
 * (clock, bus, log store, log, cache, executors, scheduler; a user overrides
 * one by registering it in `configure`), resolves them, ties the log to the
 * bus and the projection store, and puts together the run API
 * (`engine/runs.ts`) and the step-by-step API (`engine/steps.ts`) behind the
 * one {@linkcode Engine} interface.
 *
 * @module
 */
import { createEventBus, type EventBus } from "./bus.ts";
import { systemClock } from "./clock.ts";
import { createContainer, type EngineContainer, TOKENS } from "./container.ts";
import { type BuiltinProjections, createSnapshotLog, type LogState, type SnapshotLog } from "./log/mod.ts";
import { ENGINE_LISTENERS } from "./log/log.ts";
import type { ChildStart, Run, RunEnv } from "./run.ts";
import { createMemoryTaskCache } from "./cache.ts";
import { BreakerRegistry, type BreakerState } from "./breaker.ts";
import { Scheduler } from "./scheduler.ts";
import { PROFILES } from "./tables.ts";
import { createProjectionStore, type ProjectionStore } from "./store.ts";
import type { AnyFlowEvent, Executor, Profile, RunResult, TaskDef, TaskResults, Workflow } from "./types.ts";
import { createInlineExecutor } from "../workers/inline.ts";
import { createWorkerPool, defaultPoolSize } from "../workers/pool.ts";
import {
  type EngineOptions,
  type RerunOptions,
  type ResolvedOptions,
  resolveOptions,
  type ResumeOptions,
  type RunOptions,
} from "./engine/options.ts";
import { createRuns, type Execution, type RunHandle } from "./engine/runs.ts";
import { createSteps, type TaskStatusReport, type WorkflowStatusReport } from "./engine/steps.ts";

export type { ActorInspectionEvent, EngineOptions, RerunOptions, ResumeOptions, RunOptions } from "./engine/options.ts";
export type { RunHandle, RunSnapshot } from "./engine/runs.ts";
export type { TaskStatusReport, WorkflowStatusReport } from "./engine/steps.ts";

/**
 * The engine.
 *
 * @example Run, listen, read the log
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const seen: string[] = [];
 * engine.bus.on("task.completed", (e) => seen.push(e.taskId));
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * assert.deepEqual(seen, ["a"]);
 * assert.deepEqual(engine.project("completedTasks", result.runId), ["a"]);
 * await engine.close();
 * ```
 */
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
   * @throws {EngineClosedError} The engine is closed (a `TypeError`).
   */
  run<I, T extends TaskResults = TaskResults>(workflow: Workflow<I, T>, options?: RunOptions<I>): Promise<RunResult<T>>;
  /**
   * Starts a workflow and returns at once.
   *
   * @param workflow A workflow from `defineWorkflow`.
   * @param options Input, signal, run id.
   * @returns The run's handle.
   * @throws {TypeError} The workflow was not made by `defineWorkflow`, or the run id is taken.
   * @throws {EngineClosedError} The engine is closed (a `TypeError`).
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
   * @throws {EngineClosedError} The engine is closed (as a rejection).
   */
  resume<I, T extends TaskResults = TaskResults>(
    workflow: Workflow<I, T>,
    runId: string,
    options?: ResumeOptions,
  ): Promise<RunResult<T>>;
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
   * @throws {EngineClosedError} The engine is closed (as a rejection).
   */
  rerun<I, T extends TaskResults = TaskResults>(
    workflow: Workflow<I, T>,
    runId: string,
    options?: RerunOptions,
  ): Promise<RunResult<T>>;
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
   * @returns The run id.
   * @throws {NotFoundError} Unknown workflow id.
   * @throws {CycleError} The tasks form a cycle (nothing is started).
   * @throws {UnknownDependencyError} A task depends on an unknown id.
   */
  execute(workflowId: string, context?: unknown): string;
  /**
   * Step by step: a workflow's status (its latest run's), or a run's.
   *
   * @param id A workflow id or a run id.
   * @returns Status, times, duration, task results and error.
   * @throws {NotFoundError} Unknown id.
   */
  getWorkflowStatus(id: string): WorkflowStatusReport;
  /**
   * Step by step: a task's status in the latest run that has it; a task
   * added to a workflow that was not executed yet is `pending`.
   *
   * @param taskId The task id.
   * @param runId Look only in this run.
   * @returns The task's status, attempts, times, result or error.
   * @throws {NotFoundError} No run has that task.
   */
  getTaskStatus(taskId: string, runId?: string): TaskStatusReport;
  /**
   * Step by step: waits for a run to end.
   *
   * @param runId From `execute`.
   * @returns The run result.
   * @throws {NotFoundError} Unknown run id (as a rejection).
   */
  wait(runId: string): Promise<RunResult>;
  /**
   * Step by step: re-executes an ended run from failure (see `Engine.rerun`):
   * a new run keeps its completed tasks and runs the failed, skipped and
   * cancelled ones; the workflow's status then reports the new one.
   *
   * @param runId From `execute` or `reexecute`.
   * @returns The new run id.
   * @throws {NotFoundError} Unknown run id.
   * @throws {TypeError} The run has not ended.
   */
  reexecute(runId: string): string;
  /**
   * A circuit breaker's state now.
   *
   * @param key The breaker's key.
   * @returns `closed`, `open` or `half-open`; `undefined` when no option or task defined the key yet.
   */
  breakerState(key: string): BreakerState | undefined;
  /**
   * Cancels every live run, waits for them, and releases executors.
   *
   * @returns When everything is released.
   */
  close(): Promise<void>;
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
 * const runId = engine.execute(wf);
 * await engine.wait(runId);
 * console.log(engine.getWorkflowStatus(wf).status); // completed
 * console.log(engine.getTaskStatus("b").result); // 2
 * await engine.close();
 * ```
 */
export function createEngine(options: EngineOptions = {}): Engine {
  const resolved = resolveOptions(options);
  const { taskLogic, ordering, retention, workersAvailable } = resolved;
  const breakers = new BreakerRegistry(options.breakers);
  const container = createContainer();
  registerDefaults(container, options, resolved);
  options.configure?.(container);

  const clock = container.resolve(TOKENS.clock);
  const bus = container.resolve(TOKENS.bus);
  const log = container.resolve(TOKENS.log);
  const executors = container.resolve(TOKENS.executors);
  const scheduler = container.resolve(TOKENS.scheduler);
  const random = container.resolve(TOKENS.random);
  const cache = container.resolve(TOKENS.cache);
  const logStore = container.resolve(TOKENS.logStore);
  const store = createProjectionStore((runId) => log.state().project("workflowStatus", runId));
  // The run that ended last stays referenced (one, until the next ends): while one run's objects live, the shapes
  // (maps) V8 gave them survive a full GC, and the code of the run path optimized for them stays valid. Without it, a
  // full GC between runs (an idle server collects) discards them, and the next run deoptimizes and re-learns its hot
  // functions: a 10,000-task run after a forced GC cost 1.4-1.8x one back to back.
  const lastEnded: { run?: Run } = {};
  const executions = new Map<string, Execution>();
  // Runs the log evicted while they ran (`log.release` of a running run): out of `executions`, live until they end.
  const evictedLive = new Map<string, Run>();
  let closed = false;

  // The projection store hears which runs a batch touched (a run's end is in the batch its end flushes) and reads
  // their views when it takes them in (at once while someone listens, else at the next read); it loses the runs the
  // log evicts: O(what changed), never O(all runs).
  const syncStore = (state: LogState, batch: readonly AnyFlowEvent[]) => {
    const touched = new Set<string>(); // per batch: young, unlike a long-lived set cleared each time (see Execution)
    let last = "";
    for (let i = 0; i < batch.length; i++) {
      const id = batch[i].runId;
      if (id === last) continue;
      last = id;
      if (!log.evicted(id)) touched.add(id);
    }
    if (touched.size > 0) {
      store.touch(state.seq, touched);
    }
  };
  ENGINE_LISTENERS.add(syncStore); // it hands no event to user code: the log need not freeze batches for it
  const unsubscribeLog = log.subscribe(syncStore);
  const unsubscribeEvict = log.onEvict((runIds) => {
    for (const id of runIds) {
      const running = executions.get(id)?.running;
      if (running !== undefined) evictedLive.set(id, running);
      executions.delete(id);
    }
    store.remove(runIds);
    steps.evicted(runIds);
  });
  // A durable store that fails can acknowledge nothing more: every live run is cancelled (their results reject).
  if (log.durable) {
    log.whenDurable(Infinity).catch((error) => {
      for (const run of runs.live()) run.cancel(error);
    });
  }
  // On a durable store, listeners hear an event once it is stored.
  const unsubscribeDurable = log.durable
    ? log.onDurable((batch) => {
      for (const event of batch) bus.emit(event);
    })
    : undefined;

  const env: RunEnv = {
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
      const execution = executions.get(run.id);
      if (execution?.running === run) execution.running = undefined;
      else if (evictedLive.get(run.id) === run) evictedLive.delete(run.id);
      lastEnded.run = run;
    },
    startChild(workflow: Workflow<unknown>, child: ChildStart): Run {
      return runs.startRun(
        workflow,
        { input: child.input, runId: child.runId, signal: child.signal },
        undefined,
        child.parent,
      );
    },
  };

  const runs = createRuns({
    options,
    workersAvailable,
    log,
    source: logStore ?? { read: (runId) => log.events(runId) },
    env,
    executions,
    evictedLive,
    isClosed: () => closed,
  });
  const steps = createSteps({ clock, bus, log, retention, executions, runs });

  const engine: Engine = {
    bus,
    log,
    store,
    container,
    run: runs.run,
    start: runs.start,
    resume: runs.resume,
    rerun: runs.rerun,
    project(name: string, runId?: string) {
      return log.project(name as keyof BuiltinProjections, runId) as never;
    },
    createWorkflow: steps.createWorkflow,
    addTask: steps.addTask,
    execute: steps.execute,
    getWorkflowStatus: steps.getWorkflowStatus,
    getTaskStatus: steps.getTaskStatus,
    reexecute: steps.reexecute,
    wait: steps.wait,
    breakerState(key) {
      return breakers.state(key);
    },
    async close() {
      if (closed) return;
      closed = true;
      const pending = runs.live();
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
      lastEnded.run = undefined;
    },
  };
  return engine;
}

/**
 * Registers the engine's default components in its container, each made on
 * first resolution: `configure` may replace any of them before.
 *
 * @param container The engine's container.
 * @param options The options given.
 * @param resolved The options checked.
 */
function registerDefaults(
  container: EngineContainer,
  options: EngineOptions,
  resolved: ResolvedOptions,
): void {
  const { n, limits, concurrency, retention, workersAvailable } = resolved;
  container.register(TOKENS.clock, { useValue: options.clock ?? systemClock });
  container.register(TOKENS.random, { useValue: options.random ?? Math.random });
  container.register(TOKENS.bus, { useFactory: () => createEventBus({ historySize: options.historySize }) });
  // The store the log writes to: the one passed, or none (the log then answers for the runs it holds itself).
  container.register(TOKENS.logStore, { useFactory: () => options.logStore });
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
}
