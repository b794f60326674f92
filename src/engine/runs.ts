/**
 * The run API of the engine: starting runs (`run`, `start`, child runs),
 * resuming and re-running them from the log store, and their handles. It
 * keeps the engine's live runs and its index of runs (`executions`) that the
 * step-by-step API reads. It knows nothing of drafts (the step API) nor of
 * how the engine's components are made (the wiring in `engine.ts`).
 *
 * @module
 */
import type { Engine } from "../engine.ts";
import { EngineClosedError, NotSerializableError } from "../errors.ts";
import { describe } from "../describe.ts";
import { graphOf } from "../graph.ts";
import type { Plan } from "../graph/plan.ts";
import type { LogState, RunView, SnapshotLog, TaskView } from "../log/mod.ts";
import { type ChildStart, Run, type RunEnv } from "../run.ts";
import { findJsonIssue } from "../json.ts";
import { loadRerun, loadRestore, type Restore, type RunSource } from "../resume.ts";
import type { Priority, Profile, RunResult, TaskResults, Workflow } from "../types.ts";
import { taskLocation } from "../tasks.ts";
import { actorsOf, type RunActors } from "../inspect.ts";
import type { EngineOptions, RerunOptions, RunOptions } from "./options.ts";

/**
 * A run's state, read from the log.
 *
 * @example A run's state from its handle
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const handle = engine.start(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * await handle.result;
 * const snap = handle.snapshot();
 * assert.equal(snap.workflow.status, "completed");
 * assert.equal(snap.tasks.a.status, "completed");
 * await engine.close();
 * ```
 */
export interface RunSnapshot {
  /** The run id. */
  runId: string;
  /** Status, times and counts. */
  workflow: RunView;
  /** Every task's status, attempts, times, result or error. */
  tasks: Record<string, TaskView>;
}

/**
 * A started run.
 *
 * @typeParam T Each task's result by task id (typed for a workflow from `flow()`).
 *
 * @example Starting, steering and cancelling a run
 * ```ts
 * import { CancelledError, createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const wf = defineWorkflow({ name: "w", tasks: [
 *   { id: "slow", run: ({ signal }) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))) },
 *   { id: "after", dependsOn: ["slow"], run: () => 1 },
 * ] });
 * const handle = engine.start(wf);
 * handle.setPriority("after", "high");
 * assert.deepEqual(handle.descendants("slow"), ["after"]);
 * handle.cancel("enough");
 * const result = await handle.result;
 * assert.equal(result.status, "cancelled");
 * assert.ok(result.tasks.after.error instanceof CancelledError);
 * await engine.close();
 * ```
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

/** A run the engine knows of (live or ended, not evicted). */
export interface Execution {
  /** The workflow id it reports (a draft's id for the step-by-step API). */
  workflowId: string;
  /** Its task ids (their index in its graph). */
  taskIds: ReadonlyMap<string, number>;
  /** The run while it has not ended (the engine's live runs are the executions that have one). */
  running?: Run;
  /** The run, for `wait()` and `reexecute()` (step by step). */
  run?: Run;
  /** Its workflow, for `reexecute()`. */
  workflow?: Workflow<unknown>;
}

/** What the run API needs of the engine. */
export interface RunsCore {
  /** The options the engine was created with. */
  readonly options: EngineOptions;
  /** Whether pools can be made (else cpu tasks run inline, announced once). */
  readonly workersAvailable: boolean;
  /** The engine's log. */
  readonly log: SnapshotLog;
  /** Where `resume()` and `rerun()` read ended runs: the log's store, or the log itself when it has none. */
  readonly source: RunSource;
  /** What each run gets from the engine. */
  readonly env: RunEnv;
  /**
   * Every run not evicted, by id; a live run's entry holds it as `running`. One long-lived table keyed by run id, not
   * two: each key added and deleted in a table that lives on makes V8 rehash it now and then, and a long-lived
   * table's new backing store is allocated in the old generation (bench/RESULTS.md §14).
   */
  readonly executions: Map<string, Execution>;
  /**
   * Runs the log evicted while they were running (`log.release`), by id, until they end: no longer in `executions`,
   * still live (their id is taken, `close()` cancels them). Empty unless a running run was released.
   */
  readonly evictedLive: Map<string, Run>;
  /** Whether the engine was closed. */
  isClosed(): boolean;
}

/** The run API, as the engine and its step-by-step API use it (the public methods are `Engine`'s, declared once there). */
export interface Runs extends Pick<Engine, "run" | "start" | "resume" | "rerun"> {
  /** Starts a run (or a child run, given its parent). */
  startRun<I>(
    workflow: Workflow<I>,
    runOptions?: RunOptions<I>,
    workflowId?: string,
    parent?: ChildStart["parent"],
  ): Run;
  /** Starts a new run of an ended run that keeps its completed tasks. */
  startRerun(
    workflow: Workflow<unknown>,
    graph: ReturnType<typeof graphOf>,
    restore: Restore,
    rerunOf: string,
    rerunOptions: RerunOptions,
    workflowId?: string,
  ): Run;
  /** The runs not ended yet (held in `executions` as `running`, or evicted while running). */
  live(): Run[];
}

/**
 * Makes the run API over the engine's state.
 *
 * @param core The engine's log, store, run environment and run tables.
 * @returns The run API.
 */
export function createRuns(core: RunsCore): Runs {
  const { options, workersAvailable, log, source, env, executions, evictedLive } = core;
  /** Whether a run of this id runs in this engine (held, or evicted while running). */
  const isRunning = (id: string) => executions.get(id)?.running !== undefined || evictedLive.has(id);
  /** Whether a run id is taken: a run the engine holds, ended or not, or one evicted while running. */
  const isTaken = (id: string) => executions.has(id) || evictedLive.has(id);
  let fallbackAnnounced = false;

  const startRun = <I>(
    workflow: Workflow<I>,
    runOptions: RunOptions<I> = {},
    workflowId?: string,
    parent?: ChildStart["parent"],
  ): Run => {
    if (core.isClosed()) throw new EngineClosedError("start a run");
    const graph = graphOf(workflow);
    const id = runOptions.runId ?? crypto.randomUUID();
    if (typeof id !== "string" || id.length === 0) {
      throw new TypeError(`Cannot start a run: runId ${describe(id)} must be a non-empty string`);
    }
    if (isTaken(id)) throw new TypeError(`Cannot start a run: run id "${id}" is taken`);
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
    executions.set(id, { workflowId: run.workflowId, taskIds: graph.index, running: run });
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
    if (core.isClosed()) throw new EngineClosedError("re-run a run");
    const id = rerunOptions.runId ?? crypto.randomUUID();
    if (typeof id !== "string" || id.length === 0) {
      throw new TypeError(`Cannot re-run a run: runId ${describe(id)} must be a non-empty string`);
    }
    if (isTaken(id)) throw new TypeError(`Cannot re-run a run: run id "${id}" is taken`);
    const run = new Run(workflow, graph, env, {
      id,
      workflowId: workflowId ?? restore.state.workflowId,
      input: restore.state.input,
      restore,
      rerunOf,
      failFast: rerunOptions.failFast ?? options.failFast,
    });
    executions.set(id, { workflowId: run.workflowId, taskIds: graph.index, workflow, running: run });
    run.start(rerunOptions.signal);
    return run;
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

  return {
    startRun,
    startRerun,
    live() {
      const out: Run[] = [];
      for (const execution of executions.values()) if (execution.running !== undefined) out.push(execution.running);
      for (const run of evictedLive.values()) out.push(run);
      return out;
    },
    run(workflow, runOptions) {
      // Misuse (not a workflow, a taken run id) throws; an input a durable store cannot keep rejects.
      try {
        // The typed view (RunResult<T>) of the engine's untyped result: flow() typed the tasks that produce it.
        return startRun(workflow, runOptions).result as Promise<never>;
      } catch (error) {
        if (error instanceof NotSerializableError) return Promise.reject(error);
        throw error;
      }
    },
    start(workflow, runOptions) {
      return handleOf(startRun(workflow, runOptions)) as RunHandle<never>;
    },
    async rerun(workflow, runId, rerunOptions = {}) {
      if (core.isClosed()) throw new EngineClosedError("re-run a run");
      const graph = graphOf(workflow);
      if (typeof runId !== "string" || runId.length === 0) {
        throw new TypeError(`Cannot re-run a run: runId ${describe(runId)} must be a non-empty string`);
      }
      if (isRunning(runId)) {
        throw new TypeError(`Cannot re-run run "${runId}": it is running in this engine`);
      }
      await log.sync().catch(() => {});
      const restore = await loadRerun(source, workflow.name, graph, runId);
      // The typed view (RunResult<T>) of the engine's untyped result, as in run().
      return startRerun(workflow as Workflow<unknown>, graph, restore, runId, rerunOptions).result as Promise<never>;
    },
    async resume(workflow, runId, resumeOptions = {}) {
      if (core.isClosed()) throw new EngineClosedError("resume a run");
      const graph = graphOf(workflow);
      if (typeof runId !== "string" || runId.length === 0) {
        throw new TypeError(`Cannot resume a run: runId ${describe(runId)} must be a non-empty string`);
      }
      const busy = () => {
        if (isRunning(runId)) {
          throw new TypeError(`Cannot resume run "${runId}": it is running in this engine`);
        }
      };
      busy();
      const restore = await loadRestore(source, workflow.name, graph, runId);
      if (!("state" in restore)) return restore as never; // It had ended: its stored result.
      if (core.isClosed()) throw new EngineClosedError("resume a run");
      busy();
      const run = new Run(workflow as Workflow<unknown>, graph, env, {
        id: runId,
        workflowId: restore.state.workflowId,
        input: restore.state.input,
        restore,
      });
      executions.set(runId, { workflowId: run.workflowId, taskIds: graph.index, running: run });
      run.start(resumeOptions.signal);
      return run.result as Promise<never>;
    },
  };
}

/**
 * A run's snapshot from the log's state.
 *
 * @param state The log's state.
 * @param runId The run.
 * @returns Its workflow view and task views.
 */
export function snapshotOf(state: LogState, runId: string): RunSnapshot {
  return { runId, workflow: state.project("workflowStatus", runId), tasks: state.project("tasks", runId) };
}
