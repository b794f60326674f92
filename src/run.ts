/**
 * One run of a workflow: the workflow actor, its task actors, and the
 * bookkeeping their actions call (the `TaskHost` and `WorkflowHost` of the
 * actor modules): propagation from a settled task to its dependents, the
 * ready window, the run's events (emitted here, on every actor transition),
 * its end and its result.
 *
 * Task actors are created when the last of their dependencies settles (or
 * the first fails), so only the tasks that matter are alive; the actor's
 * guards then decide ready or skipped. Finished actors are dropped at once.
 *
 * On a durable log store a completed task's dependents start, and the run's
 * result resolves, only once the store acknowledged the task's event; a
 * resumed run starts from the state its store kept.
 *
 * The rest lives in `run/`, each concern with its own state, created once per
 * run (most only when a task needs them): the task table (`run/task_table.ts`),
 * the task context (`run/context.ts`), caching (`run/cache.ts`), breakers and
 * fallbacks (`run/resilience.ts`), child runs and their slots
 * (`run/children.ts`), restore, resume and re-run (`run/restore.ts`),
 * tasks added during the run (`run/spawn.ts`), and failing a stalled run's
 * tasks (`run/stall.ts`). What stays here is the path of a task, in order (`enqueue`, `dispatch`,
 * `execute`, `onResult`, `settle`, `#propagate`, `#admit`), kept in one file
 * so that it reads in one place; the collaborators hold no actor and call
 * back only through {@linkcode RunCore}.
 *
 * @module
 */
import {
  type ActorLogic,
  type AnyActorLogic,
  type AnyActorRef,
  createActor,
  type InspectionEvent,
  type Observer,
  type Snapshot,
} from "./deps.ts";
import { type TaskActorEvent, type TaskHost, taskMachine } from "../actors/task_machine.ts";
import { type WorkflowHost, workflowMachine } from "../actors/workflow_machine.ts";
import { compileFlatMachine } from "../actors/flat_machine.ts";
import type { EventBus } from "./bus.ts";
import type { BreakerRegistry } from "./breaker.ts";
import {
  CancelledError,
  NotFoundError,
  NotSerializableError,
  type RunStalledError,
  TaskFailedError,
  TaskSkippedError,
  TaskTimeoutError,
} from "./errors.ts";
import { descendantsIn, type Graph } from "./graph.ts";
import { type Plan, planGraph } from "./graph/plan.ts";
import { serializeError, toError } from "./serialize.ts";
import { findJsonIssue } from "./json.ts";
import type { Restore } from "./resume.ts";
import { toRunResult } from "./result.ts";
import { deepFreeze } from "./freeze.ts";
import type { SnapshotLog } from "./log/types.ts";
import { type Dispatchable, dispatchKey, type Scheduler } from "./scheduler.ts";
import { pendingData, readyData, startedData } from "./run/event_data.ts";
import { completedData, flowEvent, runCompletedData } from "./event.ts";
import { PRIORITIES as PRIORITY_NAMES } from "./tables.ts";
import type {
  ChildRunOptions,
  Clock,
  EventDataMap,
  Executor,
  FlowEventType,
  Priority,
  Profile,
  RunResult,
  RunStatus,
  TaskCache,
  TaskDef,
  TaskSpec,
  TerminalTaskStatus,
  Workflow,
} from "./types.ts";
import type { RunCore } from "./run/_host.ts";
import { RunCache } from "./run/cache.ts";
import { Children, type ChildStart } from "./run/children.ts";
import { Context } from "./run/context.ts";
import { Breakers, Fallbacks } from "./run/resilience.ts";
import { Restored } from "./run/restore.ts";
import { type SpawnHost, Spawns } from "./run/spawn.ts";
import { failStalled } from "./run/stall.ts";
import { anyHas, CODE, STATUS_OF, TaskTable, UNSETTLED } from "./run/task_table.ts";

export type { ChildStart } from "./run/children.ts";

/** How the actors execute their machines: compiled (the default), or by XState's interpreter. */
export type TaskLogicMode = "compiled" | "interpreted";

/** The logics of a run's task actors and workflow actor. */
interface Logics {
  task: AnyActorLogic;
  workflow: AnyActorLogic;
}
const logics = (compile: (machine: typeof taskMachine | typeof workflowMachine) => unknown): Logics => ({
  task: compile(taskMachine) as AnyActorLogic,
  workflow: compile(workflowMachine) as AnyActorLogic,
});
// Compiled twice: a run with an inspector has its actors' actions go through XState's executor, which shows each
// to the inspector; a run without one (no actor of a run is reachable from outside the engine, so no inspector can
// be added later) has its actors call them, ~240 bytes of allocation less per action.
const COMPILED = logics((m) => compileFlatMachine(m, { actions: "direct" }));
const INSPECTED = logics((m) => compileFlatMachine(m));
const INTERPRETED = logics((m) => m);

/**
 * The parent of a run's task actors. It joins them to the workflow actor's
 * system (one system per run, seen whole by an inspector) and absorbs their
 * done events, which the workflow machine would otherwise process and ignore
 * at ~3 µs each; it is not in the workflow actor's `children`, whose
 * per-spawn copy would make a run quadratic in its size.
 */
const SUPERVISOR: ActorLogic<Snapshot<undefined>, { type: string }> = {
  transition: (snapshot) => snapshot,
  getInitialSnapshot: () => ({ status: "active", output: undefined, error: undefined }),
  getPersistedSnapshot: (snapshot) => snapshot,
};

/** What a run needs from its engine. */
export interface RunEnv {
  bus: EventBus;
  log: SnapshotLog;
  clock: Clock;
  scheduler: Scheduler;
  executors: Readonly<Record<Profile, Executor>>;
  random: () => number;
  taskLogic: TaskLogicMode;
  ordering: "critical-path" | "fifo" | "io-first";
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Results of cached tasks. */
  cache: TaskCache;
  /** The engine's circuit breakers. */
  breakers: BreakerRegistry;
  onEnd(run: Run): void;
  /** Starts a child run (`ctx.runWorkflow`). */
  startChild(workflow: Workflow<unknown>, options: ChildStart): Run;
}

/**
 * Task actors of one run that may wait in the ready queue at once. Tasks whose
 * dependencies completed beyond this wait, still pending and actor-less, in
 * the run's backlog (ordered like the ready queue), so a wide run keeps a few
 * hundred live actors instead of one per task.
 */
const READY_WINDOW = 256;
const DISPATCH: TaskActorEvent = Object.freeze({ type: "dispatch" });
const RETRY_DUE: TaskActorEvent = Object.freeze({ type: "retry.due" });
const SETTLED = Object.freeze({ type: "tasks.settled" as const });
const START = Object.freeze({ type: "start" as const });

/** One run: implements the hosts the actors call. */
export class Run implements TaskHost, WorkflowHost, Dispatchable, RunCore, SpawnHost {
  // The run is the host in every actor's context, so an inspector serialises it with every
  // snapshot: its only own enumerable fields are its ids (the rest is private or a getter),
  // and `toJSON()` gives the ids alone. Each snapshot thus stays O(1), not O(tasks).
  readonly id: string;
  readonly workflowId: string;
  readonly #workflow: Workflow<unknown>;
  readonly #result: Promise<RunResult>;
  /** The per-task state, shared with the collaborators below. */
  readonly #t: TaskTable;
  readonly #env: RunEnv;
  readonly #input: unknown;
  readonly #logic: AnyActorLogic;
  readonly #runController = new AbortController();
  readonly #workflowActor: AnyActorRef;
  #inQueue = 0;
  readonly #blocked: number[] = [];
  #skipping = false;
  readonly #supervisor: AnyActorRef;
  #resolve!: (result: RunResult) => void;
  #cancelling = false;
  #cancelReason: Error | undefined;
  #startedAtRun = 0;
  /** Cancel the rest of the run at the first task that fails for good. */
  readonly #failFast: boolean;
  /** The run is being cancelled because a task failed for good. */
  #failedFast = false;
  #depth = 0;
  #detachSignal: (() => void) | undefined;
  #final: RunResult | undefined;
  #reject!: (error: unknown) => void;
  /** The log's store is durable: acknowledge completions once stored; results must be JSON. */
  readonly #durable: boolean;
  /** Task actors alive (created, not final). */
  #live = 0;
  /** Completions whose dependents wait for the store's acknowledgement. */
  #storeWaits = 0;
  #started = false;
  /** Why the run stopped making progress, once it did. */
  #stalled: RunStalledError | undefined;
  /** Caching: when a task caches, or the run was restored. */
  #cache: RunCache | undefined;
  /** When a task has a circuit breaker. */
  #breakers: Breakers | undefined;
  /** When a task has a fallback. */
  #fallbacks: Fallbacks | undefined;
  /** From the first child run. */
  #children: Children | undefined;
  /** From the first task added (or growth of the graph). */
  #spawns: Spawns | undefined;
  /** A run started from a stored one (resume, re-run). */
  readonly #restored: Restored | undefined;

  constructor(
    workflow: Workflow<unknown>,
    graph: Graph,
    env: RunEnv,
    init: {
      id: string;
      workflowId: string;
      input: unknown;
      restore?: Restore;
      notice?: EventDataMap["executor.inline"];
      parent?: { runId: string; taskId: string };
      failFast?: boolean;
      /** A re-run: `restore` holds the ended run's completed tasks; this is its id. */
      rerunOf?: string;
    },
  ) {
    this.id = init.id;
    this.workflowId = init.workflowId;
    this.#workflow = workflow;
    this.#failFast = init.failFast === true;
    let tasks = workflow.tasks;
    if (init.restore !== undefined) {
      const restored = new Restored(init.restore, init.rerunOf, graph, tasks, workflow.name);
      this.#restored = restored;
      graph = restored.graph;
      tasks = restored.tasks;
    }
    this.#env = env;
    // Every task reads the same input: frozen, so none can change it for the others or for the log.
    this.#input = deepFreeze(init.input);
    const logic = env.taskLogic === "interpreted" ? INTERPRETED : env.inspect === undefined ? COMPILED : INSPECTED;
    this.#logic = logic.task;
    const t = new TaskTable(graph, tasks, env.ordering, env.scheduler);
    t.grown = this.#restored?.grown;
    this.#t = t;
    this.#result = new Promise<RunResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#durable = env.log.durable;
    this.#breakers = Breakers.create(this, t, env.breakers, env.clock, workflow.name);
    if (anyHas(workflow.tasks, 0, workflow.tasks.length, "fallback")) this.#fallbacks = new Fallbacks(this, t);
    if (anyHas(workflow.tasks, 0, workflow.tasks.length, "cache")) this.#cache = this.#newCache();
    this.#workflowActor = createActor(logic.workflow, {
      input: { host: this },
      id: `workflow:${this.id}`,
      clock: env.clock as never,
      inspect: env.inspect,
    });
    this.#supervisor = createActor(SUPERVISOR, { parent: this.#workflowActor, id: "tasks" });
    if (init.restore === undefined || init.rerunOf !== undefined) {
      // A grown graph's id array grows with the run: the event gets the ids of now (the log shares a workflow's
      // array among its runs, which never changes).
      const taskIds = t.grown === undefined ? graph.ids : graph.ids.slice(0, graph.n);
      const data: EventDataMap["workflow.created"] = init.parent === undefined
        ? { name: workflow.name, taskIds }
        : { name: workflow.name, taskIds, parentRunId: init.parent.runId, parentTaskId: init.parent.taskId };
      if (init.rerunOf !== undefined) data.rerunOf = init.rerunOf;
      this.emit("workflow.created", -1, undefined, data);
    }
    if (this.#restored !== undefined) {
      const cache = this.#cache ??= this.#newCache();
      this.#startedAtRun = this.#restored.load(t, cache.cached, this.#fallbacks?.path, this.id);
    }
    if (init.notice !== undefined) this.emit("executor.inline", -1, undefined, init.notice);
  }

  #newCache(): RunCache {
    const env = this.#env;
    return new RunCache(this, this.#t, {
      cache: env.cache,
      clock: env.clock,
      durable: this.#durable,
      name: this.#workflow.name,
      input: this.#input,
    });
  }

  /** The workflow the run was started with. */
  get workflow(): Workflow<unknown> {
    return this.#workflow;
  }

  /** Resolves with the run's result once it ended. */
  get result(): Promise<RunResult> {
    return this.#result;
  }

  /**
   * What a serialiser (an inspector's, `JSON.stringify`) sees of the run: its ids.
   *
   * @returns The run's ids.
   */
  toJSON(): { runId: string; workflowId: string } {
    return { runId: this.id, workflowId: this.workflowId };
  }

  /**
   * Runs a child workflow on behalf of a running task (`ctx.runWorkflow`);
   * see `run/children.ts`.
   *
   * @param i The task.
   * @param attempt Its attempt.
   * @param signal The attempt's signal: cancels the child.
   * @param workflow The child workflow.
   * @param options Its input and run id.
   * @returns The child's result.
   * @throws {TypeError} The workflow is not from `defineWorkflow`, the run id is taken, or the engine is closed.
   */
  runChild(
    i: number,
    attempt: number,
    signal: AbortSignal,
    workflow: Workflow<unknown>,
    options: ChildRunOptions,
  ): Promise<RunResult> {
    this.#children ??= new Children(this, this.#t, this.#env.scheduler, this.#env.startChild);
    return this.#children.run(i, attempt, signal, workflow, options);
  }

  /** Lets the scheduler fill free slots, unless an event is being delivered (it will then). */
  drainIfIdle(): void {
    if (this.#depth === 0) this.#env.scheduler.drain();
  }

  /**
   * Starts the run.
   *
   * @param signal Cancels the run when aborted.
   */
  start(signal?: AbortSignal): void {
    this.#workflowActor.start();
    this.#supervisor.start();
    // One delivery scope: with a signal aborted already, the cancel lands
    // before the scheduler may dispatch anything.
    this.#depth++;
    try {
      this.#workflowActor.send(START);
      if (signal?.aborted) {
        this.#workflowActor.send({ type: "cancel", reason: signal.reason });
      } else if (signal !== undefined) {
        const onAbort = () => this.cancel(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        this.#detachSignal = () => signal.removeEventListener("abort", onAbort);
      }
    } finally {
      if (--this.#depth === 0) this.#drain();
    }
  }

  /**
   * Cancels the run: running tasks are aborted, the others cancelled.
   *
   * @param reason Why; becomes the `cause` of the tasks' `CancelledError`.
   */
  cancel(reason?: unknown): void {
    if (this.#final !== undefined) return;
    this.#deliverWorkflow({ type: "cancel", reason });
  }

  /**
   * Changes a task's priority during the run: a waiting task (pending, ready,
   * retrying) is dispatched by its new priority; a running one keeps it for
   * its retries. Emits `task.reprioritized`.
   *
   * @param taskId The task.
   * @param priority Its new priority.
   * @throws {NotFoundError} The run has no such task.
   * @throws {RangeError} Not a priority.
   * @throws {TypeError} The task has ended.
   */
  setPriority(taskId: string, priority: Priority): void {
    const t = this.#t;
    const i = t.g.index.get(taskId);
    if (i === undefined) throw new NotFoundError("task", taskId, ` in run "${this.id}"`);
    const weight = PRIORITY_NAMES.indexOf(priority);
    if (weight < 0) {
      throw new RangeError(
        `Cannot set the priority of task "${taskId}": ${String(priority)} is not low, medium, high or critical`,
      );
    }
    if (t.status[i] !== UNSETTLED || this.#final !== undefined) {
      throw new TypeError(`Cannot set the priority of task "${taskId}": it has ended`);
    }
    const previous = t.prio[i];
    if (previous === weight) return;
    if (t.prio === t.g.priority) t.prio = t.g.priority.slice();
    t.prio[i] = weight;
    t.keys[i] = dispatchKey(weight, t.rank[i]);
    let admit = false;
    if (t.spawned[i] === 0 && t.remaining[i] === 0 && !this.#cancelling) {
      // Waiting in the backlog, beyond the ready window: raised, it joins the ready queue now (ahead of the
      // window's tasks if it outranks them); lowered, it waits its turn in the backlog.
      if (weight > previous) admit = true;
      else t.backlog.rebuild();
    }
    if (t.queued[i] === 1) this.#env.scheduler.update(this, i, weight, t.rank[i]);
    this.emit("task.reprioritized", i, t.attempts[i] || undefined, {
      priority,
      previous: PRIORITY_NAMES[previous],
    });
    if (admit) {
      this.#depth++;
      try {
        this.#spawn(i);
      } finally {
        this.#depth--;
      }
    }
    if (this.#depth === 0) this.#env.scheduler.drain();
  }

  /**
   * The run's execution plan now (it grows with the tasks added during the run).
   *
   * @returns The plan.
   */
  plan(): Plan {
    return planGraph(this.#t.g, this.#t.tasks);
  }

  /**
   * The tasks downstream of a task in the run now (tasks added during the run included).
   *
   * @param taskId The task.
   * @returns Their ids, in topological order.
   * @throws {NotFoundError} The run has no such task.
   */
  descendants(taskId: string): string[] {
    return descendantsIn(this.#t.g, taskId, `run "${this.id}"`);
  }

  /**
   * A task's spec by index, including tasks added during the run.
   *
   * @param i The task's index.
   * @returns Its spec.
   */
  taskSpec(i: number): TaskSpec<unknown> {
    return this.#t.tasks[i];
  }

  /** Task ids by index, including tasks added during the run. */
  get taskIds(): readonly string[] {
    return this.#t.g.ids;
  }

  /**
   * Adds tasks to the run on behalf of a running task (`ctx.spawn`); see
   * `run/spawn.ts`. The added tasks start after this returns, never inside it.
   *
   * @param i The spawning task.
   * @param attempt Its attempt.
   * @param defs The tasks.
   * @returns Their ids.
   * @throws {SpawnError} The tasks were rejected (the cause says why); the spawning task then fails with it.
   * @throws {TypeError} The spawning attempt is over, or the run is ending.
   */
  spawnFrom(i: number, attempt: number, defs: readonly TaskDef[]): readonly string[] {
    const t = this.#t;
    if (t.status[i] !== UNSETTLED || t.attempts[i] !== attempt || this.#cancelling || this.#final !== undefined) {
      throw new TypeError(`Task "${t.g.ids[i]}" cannot add tasks: its attempt ${attempt} is over`);
    }
    const from = t.g.n;
    const ids = (this.#spawns ??= this.#newSpawns()).add(i, attempt, defs);
    const g = t.g;
    this.#depth++;
    try {
      for (let j = from; j < g.n; j++) {
        let waiting = 0;
        for (let k = g.depStart[j]; k < g.depStart[j + 1]; k++) {
          if (t.status[g.depList[k]] !== CODE.completed) waiting++;
        }
        t.remaining[j] = waiting;
        if (t.blockingDep(j) >= 0) this.#blocked.push(j);
        else if (waiting === 0) t.backlog.push(j);
      }
      this.#spawnBlocked();
      this.#admit();
    } finally {
      // Spawned tasks start after spawn() returns, never inside it.
      if (--this.#depth === 0) queueMicrotask(this.#drainLater);
    }
    return ids;
  }

  #newSpawns(): Spawns {
    const env = this.#env;
    return new Spawns(this, this.#t, this.#restored, {
      breakers: env.breakers,
      clock: env.clock,
      name: this.#workflow.name,
    });
  }

  readonly #drainLater = () => {
    if (this.#depth === 0) this.#drain();
  };

  /**
   * Adds tasks to the graph, and sizes the task table and the collaborators to it.
   *
   * @param defs The tasks.
   * @param frozen Tasks whose dependencies can no longer change.
   * @param extra Room for tasks to make when the graph starts growing.
   * @returns The index of the first task added.
   * @throws {TypeError} The graph refused the tasks (nothing changed).
   */
  grow(defs: readonly TaskDef[], frozen?: (j: number) => boolean, extra?: number): number {
    const t = this.#t;
    const from = t.add(this.#workflow.name, defs, this, frozen, extra);
    const cap = t.cap;
    const n = t.g.n;
    const specs = t.tasks;
    (this.#spawns ??= this.#newSpawns()).extend(cap);
    if (this.#cache !== undefined) this.#cache.extend(cap);
    else if (anyHas(specs, from, n, "cache")) this.#cache = this.#newCache();
    this.#children?.extend(cap);
    if (this.#fallbacks !== undefined) this.#fallbacks.extend(cap);
    else if (anyHas(specs, from, n, "fallback")) this.#fallbacks = new Fallbacks(this, t);
    if (this.#breakers !== undefined) this.#breakers.extend(from, cap);
    else if (anyHas(specs, from, n, "breaker")) {
      this.#breakers = Breakers.create(this, t, this.#env.breakers, this.#env.clock, this.#workflow.name);
    }
    return from;
  }

  /** The run's final result, once it ended. */
  get final(): RunResult | undefined {
    return this.#final;
  }

  /** The workflow actor, for inspection. */
  get actor(): AnyActorRef {
    return this.#workflowActor;
  }

  /**
   * The task actors alive now (created, not yet final), for inspection.
   *
   * @returns Pairs of task index and actor, in task order.
   */
  *liveActors(): IterableIterator<[number, AnyActorRef]> {
    const actors = this.#t.actors;
    for (let i = 0; i < actors.length; i++) {
      const actor = actors[i];
      if (actor !== undefined) yield [i, actor];
    }
  }

  // ---- WorkflowHost ----------------------------------------------------

  startTasks(): void {
    this.#started = true;
    const restored = this.#restored;
    if (restored !== undefined && restored.rerunOf === undefined) {
      this.#resumeTasks(restored);
      return;
    }
    const t = this.#t;
    this.#startedAtRun = this.#env.clock.now();
    const now = this.#startedAtRun;
    this.emit("workflow.started", -1, undefined, { input: this.#input }, now);
    const g = t.g;
    if (restored !== undefined) {
      // A re-run: the kept tasks complete at once with their old results, the others wait or start.
      restored.keepCompleted(t, this, now);
      for (let i = 0; i < g.n; i++) if (t.status[i] === UNSETTLED && t.remaining[i] === 0) t.backlog.push(i);
    } else {
      for (let i = 0; i < g.n; i++) {
        this.emit("task.pending", i, undefined, pendingData(t.tasks[i].dependsOn), now);
      }
      for (let i = 0; i < g.n; i++) if (t.remaining[i] === 0) t.backlog.push(i);
    }
    this.#admit();
    if (t.settled === g.n) this.#allSettled();
  }

  /** Starts a resumed run: one `workflow.resumed` event, then the tasks that did not end run again. */
  #resumeTasks(restored: Restored): void {
    const t = this.#t;
    const env = this.#env;
    restored.announce(t, this, { log: env.log, bus: env.bus, durable: this.#durable, now: env.clock.now() });
    if (restored.cancel !== undefined) {
      // The run was being cancelled when it stopped: finish cancelling it.
      this.#workflowActor.send({ type: "cancel", reason: restored.cancel.cause });
      return;
    }
    const g = t.g;
    for (let i = 0; i < g.n; i++) {
      if (t.status[i] !== UNSETTLED) continue;
      if (t.blockingDep(i) >= 0) this.#blocked.push(i);
      else if (t.remaining[i] === 0) t.backlog.push(i);
    }
    this.#spawnBlocked();
    this.#admit();
    if (t.settled === g.n) this.#allSettled();
  }

  cancelTasks(reason: unknown): void {
    const t = this.#t;
    this.#cancelling = true;
    const error = this.#restored?.cancel ?? new CancelledError(this.id, { cause: reason });
    this.#cancelReason = error;
    this.#runController.abort(error);
    const event: TaskActorEvent = { type: "cancel", reason: error };
    for (let i = 0; i < t.g.n; i++) {
      if (t.status[i] !== UNSETTLED) continue;
      const actor = t.actors[i] ?? this.#spawn(i);
      actor.send(event);
    }
    // A resumed run whose tasks had all ended while it was being cancelled.
    if (t.settled === t.g.n) this.#allSettled();
    this.#env.scheduler.drain();
  }

  anyFailed(): boolean {
    return this.#t.firstFailure >= 0;
  }

  failedFast(): boolean {
    return this.#failedFast;
  }

  /**
   * The run's result from its task table: the one derivation that `run()`,
   * `resume()` of an ended run (through {@linkcode resultFromState}) share.
   *
   * @param status The run's status.
   * @param endedAt When it ended.
   * @param error Its error, when failed or cancelled.
   * @returns The result.
   */
  toRunResult(status: RunStatus, endedAt: number, error: Error | undefined): RunResult {
    const t = this.#t;
    const head = { runId: this.id, workflowId: this.workflowId, status, startedAt: this.#startedAtRun, endedAt, error };
    return toRunResult(head, t.g.ids, (i, row) => {
      const code = t.status[i];
      row.status = STATUS_OF[code] ?? "cancelled";
      row.attempts = t.attempts[i];
      if (code === CODE.completed) {
        row.result = t.results[i];
        row.cached = this.#cache?.cached[i] === 1;
        if (t.tasks[i].fallback !== undefined) row.path = this.#fallbacks!.path[i] === 1 ? "fallback" : "primary";
      } else row.error = t.errors[i];
      row.startedAt = t.startedAt[i];
      row.endedAt = t.endedAt[i];
    });
  }

  finish(status: RunStatus): void {
    const t = this.#t;
    const clock = this.#env.clock;
    const now = clock.now();
    const durationMs = now - this.#startedAtRun;
    let error: Error | undefined;
    if (status === "failed") {
      const i = t.firstFailure;
      error = this.#stalled ?? new TaskFailedError(t.g.ids[i], t.attempts[i], { cause: t.errors[i] });
      const failed: string[] = [];
      for (let k = 0; k < t.g.n; k++) if (t.status[k] === CODE.failed) failed.push(t.g.ids[k]);
      this.emit("workflow.failed", -1, undefined, { durationMs, failed, error: serializeError(error) }, now);
    } else if (status === "cancelled") {
      error = this.#cancelReason;
      this.emit("workflow.cancelled", -1, undefined, { durationMs, reason: serializeError(error) }, now);
    } else {
      this.emit("workflow.completed", -1, undefined, runCompletedData(durationMs), now);
    }
    this.#detachSignal?.();
    const result = this.toRunResult(status, now, error);
    this.#final = result;
    const log = this.#env.log;
    log.flush();
    this.#env.onEnd(this);
    if (!this.#durable) this.#resolve(result);
    else log.whenDurable(log.seq).then(() => this.#resolve(result), this.#reject);
  }

  // ---- TaskHost --------------------------------------------------------

  depsBlocked(i: number): boolean {
    return !this.#cancelling && this.#t.blockingDep(i) >= 0;
  }

  depsCompleted(i: number): boolean {
    if (this.#cancelling) return false;
    const t = this.#t;
    const g = t.g;
    for (let k = g.depStart[i]; k < g.depStart[i + 1]; k++) {
      if (t.status[g.depList[k]] !== CODE.completed) return false;
    }
    return true;
  }

  canRetry(i: number): boolean {
    const t = this.#t;
    if (this.#cancelling || t.noRetry?.[i] === 1) return false;
    return t.attempts[i] - (t.interrupted?.[i] ?? 0) < t.tasks[i].retry.maxAttempts;
  }

  enqueue(i: number): void {
    const t = this.#t;
    t.queued[i] = 1;
    this.#inQueue++;
    const g = t.g;
    const prio = t.prio[i];
    this.emit("task.ready", i, t.attempts[i] || undefined, readyData(prio, g.rank[i]));
    this.#env.scheduler.push(this, i, t.profile[i], prio, t.rank[i], t.group?.[i] ?? -1);
  }

  dequeue(i: number): void {
    this.#t.queued[i] = 0;
    this.#inQueue--;
  }

  isQueued(i: number): boolean {
    return this.#t.queued[i] === 1;
  }

  dispatch(i: number): void {
    // A running task that gets its slot back after its child runs: its body goes on.
    if (this.#children !== undefined && this.#children.regain(i)) return;
    this.#t.queued[i] = 0;
    this.#inQueue--;
    this.deliver(i, DISPATCH);
    this.#admit();
  }

  execute(i: number): void {
    const t = this.#t;
    const spec = t.tasks[i];
    if (spec.cache !== undefined && this.#cache!.keys[i] === undefined && t.attempts[i] === 0) {
      this.#cache!.lookUp(i, spec.cache);
      return;
    }
    const clock = this.#env.clock;
    if (this.#breakers !== undefined) {
      const breaker = this.#breakers.of[i];
      if (breaker !== undefined && !this.#breakers.admit(i, breaker)) return;
    }
    const attempt = ++t.attempts[i];
    const now = clock.now();
    if (attempt === 1) t.startedAt[i] = now;
    this.emit("task.started", i, attempt, startedData(spec.profile), now);
    let signal = this.#runController.signal;
    if (spec.timeoutMs !== undefined) {
      const controller = new AbortController();
      t.controllers[i] = controller;
      signal = controller.signal;
      t.timers[i] = clock.setTimeout(() => this.#timeout(i, attempt), spec.timeoutMs);
    }
    const ctx = new Context(this, i, this.#input, signal, attempt, spec.id);
    let promise: Promise<unknown>;
    try {
      promise = this.#env.executors[spec.profile].run(spec, ctx, signal);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (result) => this.onResult(i, attempt, result, false),
      (error) => this.#onError(i, attempt, error),
    );
  }

  release(i: number, event: TaskActorEvent): void {
    const t = this.#t;
    if (this.#children === undefined) this.#env.scheduler.release(t.profile[i], t.group?.[i] ?? -1);
    else this.#children.release(i);
    if (this.#breakers !== undefined) this.#breakers.released(i, event);
    const timer = t.timers[i];
    if (timer !== undefined) {
      this.#env.clock.clearTimeout(timer);
      t.timers[i] = undefined;
    }
    const controller = t.controllers[i];
    if (controller !== undefined) {
      if (event.type === "cancel") controller.abort(event.reason);
      t.controllers[i] = undefined;
    }
  }

  recordError(i: number, error: unknown): void {
    this.#t.errors[i] = toError(error);
  }

  scheduleRetry(i: number): void {
    const t = this.#t;
    const policy = t.tasks[i].retry;
    const attempt = t.attempts[i];
    const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
    const delayMs = base - base * policy.jitter * this.#env.random();
    this.emit("task.retrying", i, attempt, { error: serializeError(t.errors[i]), delayMs });
    t.timers[i] = this.#env.clock.setTimeout(() => {
      t.timers[i] = undefined;
      this.deliver(i, RETRY_DUE);
    }, delayMs);
  }

  cancelRetry(i: number): void {
    const t = this.#t;
    const timer = t.timers[i];
    if (timer !== undefined) {
      this.#env.clock.clearTimeout(timer);
      t.timers[i] = undefined;
    }
  }

  settle(i: number, status: TerminalTaskStatus, event: TaskActorEvent): void {
    const t = this.#t;
    const g = t.g;
    if (event.type === "run.done") {
      // Frozen once: dependents, listeners and the caller read it, none can rewrite it.
      t.results[i] = deepFreeze(event.result);
      t.errors[i] = undefined;
    } else if (event.type === "run.error") t.errors[i] = toError(event.error);
    const code = CODE[status];
    t.status[i] = code;
    t.actors[i] = undefined;
    this.#live--;
    const now = this.#env.clock.now();
    if (!Number.isNaN(t.startedAt[i])) t.endedAt[i] = now;
    const attempt = t.attempts[i] || undefined;
    switch (status) {
      case "completed":
        if (this.#cache !== undefined && this.#cache.keys[i] !== undefined) this.#cache.complete(i, attempt, now);
        else if (this.#fallbacks !== undefined && t.tasks[i].fallback !== undefined) {
          const data = completedData(t.results[i], now - t.startedAt[i]);
          data.path = this.#fallbacks.path[i] === 1 ? "fallback" : "primary";
          this.emit("task.completed", i, attempt, data, now);
        } else {
          this.emit("task.completed", i, attempt, completedData(t.results[i], now - t.startedAt[i]), now);
        }
        break;
      case "failed":
        if (t.firstFailure < 0) t.firstFailure = i;
        this.emit("task.failed", i, attempt, {
          error: serializeError(t.errors[i]),
          durationMs: now - t.startedAt[i],
        }, now);
        break;
      case "skipped":
        this.#skip(i, attempt, now);
        break;
      case "cancelled": {
        const reason = (event as { reason?: unknown }).reason;
        t.errors[i] = toError(reason);
        this.emit("task.cancelled", i, attempt, { reason: serializeError(t.errors[i]) }, now);
        break;
      }
    }
    if (++t.settled === g.n) {
      this.#allSettled();
      if (t.settled === t.g.n) return;
    }
    if (this.#cancelling) return;
    if (code === CODE.failed && this.#failFast) {
      // Fail fast: the rest of the run is cancelled; it ends failed with this task's error.
      // Its dependents are skipped first (invariant 3), then the rest is cancelled.
      this.#failedFast = true;
      const error = new TaskFailedError(g.ids[i], t.attempts[i], { cause: t.errors[i] });
      this.#propagate(i, code);
      if (this.#final === undefined) this.#workflowActor.send({ type: "cancel", reason: error });
      return;
    }
    if (
      code === CODE.completed && this.#durable &&
      (g.outStart[i] < g.outStart[i + 1] || (g.moreHead !== undefined && g.moreHead[i] >= 0))
    ) {
      // Dependents start once the completion is stored.
      const log = this.#env.log;
      this.#storeWaits++;
      log.whenDurable(log.seq).then(() => {
        this.#storeWaits--;
        this.#propagateStored(i);
      }, (error) => {
        this.#storeWaits--;
        this.#storeFailed(error);
      });
      return;
    }
    this.#propagate(i, code);
  }

  /** A task was skipped: its error names the dependency that blocked it and the task whose failure started the chain. */
  #skip(i: number, attempt: number | undefined, now: number): void {
    const t = this.#t;
    const g = t.g;
    const j = t.blockingDep(i);
    const dependencyStatus = STATUS_OF[t.status[j]]!;
    const data: EventDataMap["task.skipped"] = { dependency: g.ids[j], dependencyStatus };
    // Name the task whose failure started the chain of skips (the log's fold does the same).
    const before = t.errors[j];
    const chained = dependencyStatus === "skipped" && before instanceof TaskSkippedError;
    t.errors[i] = new TaskSkippedError(
      g.ids[i],
      data.dependency,
      dependencyStatus,
      chained ? before.ancestor : data.dependency,
      chained ? before.ancestorStatus : dependencyStatus,
    );
    this.emit("task.skipped", i, attempt, data, now);
  }

  #propagate(i: number, code: number): void {
    const t = this.#t;
    const g = t.g;
    const spawned = t.spawned;
    const remaining = t.remaining;
    for (let k = g.outStart[i]; k < g.outStart[i + 1]; k++) {
      const d = g.outList[k];
      if (spawned[d] === 1) continue;
      if (code !== CODE.completed) this.#blocked.push(d);
      else if (--remaining[d] === 0) t.backlog.push(d);
    }
    if (g.moreHead !== undefined) {
      for (let e = g.moreHead[i]; e >= 0; e = g.moreNext![e]) {
        const d = g.moreTo![e];
        if (spawned[d] === 1) continue;
        if (code !== CODE.completed) this.#blocked.push(d);
        else if (--remaining[d] === 0) t.backlog.push(d);
      }
    }
    this.#spawnBlocked();
    this.#admit();
  }

  #propagateStored(i: number): void {
    if (this.#cancelling || this.#final !== undefined) return;
    this.#depth++;
    try {
      this.#propagate(i, CODE.completed);
    } finally {
      if (--this.#depth === 0) this.#drain();
    }
  }

  /** The store failed: nothing more can be acknowledged, so the run is cancelled and its result rejects. */
  #storeFailed(error: unknown): void {
    if (this.#final === undefined) this.cancel(error);
  }

  // ---- internals -------------------------------------------------------

  /**
   * Creates the actors of blocked dependents (their guard skips them). A loop,
   * not recursion: a failure at the head of a long chain skips the whole chain.
   */
  #spawnBlocked(): void {
    if (this.#skipping) return;
    this.#skipping = true;
    try {
      const spawned = this.#t.spawned;
      for (let d = this.#blocked.pop(); d !== undefined; d = this.#blocked.pop()) {
        if (spawned[d] === 0 && !this.#cancelling) this.#spawn(d);
      }
    } finally {
      this.#skipping = false;
    }
  }

  /** Creates task actors from the backlog while the ready window has room. */
  #admit(): void {
    const t = this.#t;
    while (this.#inQueue < READY_WINDOW && t.backlog.size > 0 && !this.#cancelling) {
      const i = t.backlog.pop();
      if (t.spawned[i] === 0) this.#spawn(i);
    }
  }

  #spawn(i: number): AnyActorRef {
    const t = this.#t;
    t.spawned[i] = 1;
    this.#live++;
    const actor = createActor(this.#logic, {
      parent: this.#supervisor,
      id: t.g.ids[i],
      input: { host: this, index: i },
    });
    t.actors[i] = actor;
    actor.start();
    return actor;
  }

  /**
   * Sends an event to a task actor (if alive), then lets the scheduler fill free slots.
   *
   * @param i The task.
   * @param event The event.
   */
  deliver(i: number, event: TaskActorEvent): void {
    const actor = this.#t.actors[i];
    if (actor === undefined) return;
    this.#depth++;
    try {
      actor.send(event);
    } finally {
      if (--this.#depth === 0) this.#drain();
    }
  }

  #deliverWorkflow(event: { type: "start" } | { type: "cancel"; reason: unknown }): void {
    this.#depth++;
    try {
      this.#workflowActor.send(event);
    } finally {
      if (--this.#depth === 0) this.#drain();
    }
  }

  /** Lets the scheduler fill free slots; then checks that the run can still make progress. */
  #drain(): void {
    this.#env.scheduler.drain();
    if (this.#live === this.#inQueue) this.#checkStall();
  }

  /**
   * The safety net: a run whose unfinished tasks are neither running, nor
   * retrying, nor waiting for the store, a child run or a slot that can come
   * free (nothing runs anywhere) fails with a `RunStalledError` naming them.
   */
  #checkStall(): void {
    const t = this.#t;
    if (
      !this.#started || this.#final !== undefined || this.#cancelling || this.#skipping || this.#depth !== 0 ||
      t.settled >= t.g.n || this.#storeWaits !== 0 || this.#blocked.length !== 0 ||
      this.#live !== this.#inQueue || (this.#inQueue > 0 && this.#env.scheduler.running > 0)
    ) return;
    const stalled = failStalled(t, this, this.#env.clock.now());
    this.#stalled = stalled.error;
    this.#inQueue -= stalled.dequeued;
    this.#live -= stalled.dropped;
    this.#workflowActor.send(SETTLED);
  }

  /**
   * An attempt's body (or its fallback) returned. A late result of an
   * attempt that timed out or was cancelled is dropped (so is the primary
   * body's, once the fallback took over); a result arriving while the actor
   * is no longer running is ignored by its machine.
   *
   * @param i The task.
   * @param attempt The attempt.
   * @param result What it returned.
   * @param fallback It came from the task's fallback.
   */
  onResult(i: number, attempt: number, result: unknown, fallback: boolean): void {
    const t = this.#t;
    if (t.attempts[i] !== attempt || t.status[i] !== UNSETTLED) return;
    if (!fallback && this.#fallbacks !== undefined && this.#fallbacks.path[i] === 1) return;
    if (this.#spawns !== undefined) {
      const error = this.#spawns.takeError(i);
      if (error !== undefined) {
        this.deliver(i, { type: "run.error", error });
        return;
      }
    }
    if (this.#breakers !== undefined && this.#fallbacks?.path[i] !== 1) this.#breakers.outcome(i, true);
    if (this.#durable || this.#cache?.keys[i] !== undefined) {
      const error = this.unstorable(i, result);
      if (error !== undefined) {
        t.noRetryAt(i);
        this.deliver(i, { type: "run.error", error });
        return;
      }
    }
    this.deliver(i, { type: "run.done", result });
  }

  /**
   * Why a result cannot be kept (a durable store or a durable cache needs JSON), if it cannot.
   *
   * @param i The task.
   * @param result Its result.
   * @returns The error, or undefined when it can be kept.
   */
  unstorable(i: number, result: unknown): NotSerializableError | undefined {
    const json = this.#durable || (this.#cache?.keys[i] !== undefined && this.#env.cache.durable === true);
    if (!json) return undefined;
    const issue = findJsonIssue(result);
    return issue === undefined
      ? undefined
      : new NotSerializableError("result", this.#t.g.ids[i], issue.path, issue.what);
  }

  /**
   * A context for a task on the run's own signal (a cache key's, a fallback's).
   *
   * @param i The task.
   * @param attempt Its attempt.
   * @returns The context.
   */
  context(i: number, attempt: number): Context {
    return new Context(this, i, this.#input, this.#runController.signal, attempt, this.#t.g.ids[i]);
  }

  /** Every task ended: the run ends, unless tasks added before a crash are still owed. */
  #allSettled(): void {
    if (!this.#addOrphans()) this.#workflowActor.send(SETTLED);
  }

  /**
   * Tasks added before the run stopped that no task added again: the run is
   * about to end, so they join it and fail, saying why.
   *
   * @returns Whether there were any.
   */
  #addOrphans(): boolean {
    const defs = this.#restored?.orphans();
    if (defs === undefined) return false;
    const from = this.grow(defs);
    const t = this.#t;
    for (let j = from; j < t.g.n; j++) {
      this.emit("task.pending", j, undefined, pendingData(t.tasks[j].dependsOn));
      if (this.#cancelling) this.#spawn(j).send({ type: "cancel", reason: this.#cancelReason });
      else t.backlog.push(j);
    }
    this.#admit();
    return true;
  }

  #onError(i: number, attempt: number, error: unknown): void {
    const t = this.#t;
    if (t.attempts[i] !== attempt || t.status[i] !== UNSETTLED) return;
    // The primary body's own rejection after the fallback took over (e.g. it honoured the timeout's abort).
    if (this.#fallbacks !== undefined && this.#fallbacks.path[i] === 1) return;
    if (this.#breakers !== undefined) this.#breakers.outcome(i, false);
    this.fail(i, error);
  }

  #timeout(i: number, attempt: number): void {
    const t = this.#t;
    t.timers[i] = undefined;
    if (t.attempts[i] !== attempt || t.status[i] !== UNSETTLED) return;
    const error = new TaskTimeoutError(t.g.ids[i], attempt, t.tasks[i].timeoutMs!);
    t.controllers[i]?.abort(error);
    if (this.#breakers !== undefined && this.#fallbacks?.path[i] !== 1) this.#breakers.outcome(i, false);
    this.fail(i, error);
  }

  /**
   * An attempt failed: the task retries, fails, or (failing for good) runs its fallback in the same attempt.
   *
   * @param i The task.
   * @param error Why.
   */
  fail(i: number, error: unknown): void {
    const fallback = this.#t.tasks[i].fallback;
    if (fallback !== undefined && this.#fallbacks!.path[i] === 0 && !this.canRetry(i)) {
      this.#fallbacks!.run(i, fallback, error);
      return;
    }
    this.deliver(i, { type: "run.error", error });
  }

  /**
   * A task's metadata.
   *
   * @param i The task.
   * @returns Its frozen metadata.
   */
  metadataOf(i: number): Readonly<Record<string, unknown>> {
    return this.#t.tasks[i].metadata;
  }

  /**
   * The results of a task's dependencies, by id.
   *
   * @param i The task.
   * @returns A fresh object.
   */
  depsOf(i: number): Readonly<Record<string, unknown>> {
    return this.#t.depsOf(i);
  }

  /**
   * Appends an event of the run to the log, and (on a store that is not
   * durable) tells the bus; a durable log tells the bus once stored.
   *
   * @param type The event's type.
   * @param i Its task, or -1 for the run's own events.
   * @param attempt The task's attempt.
   * @param data Its data.
   * @param timestamp When (now by default).
   */
  emit<T extends FlowEventType>(
    type: T,
    i: number,
    attempt: number | undefined,
    data: EventDataMap[T],
    timestamp: number = this.#env.clock.now(),
  ): void {
    const env = this.#env;
    // Not frozen here (that would cost the hot path ~1 µs a task): the bus and the log freeze an
    // event, to any depth, before any code outside the engine can reach it (see src/freeze.ts).
    const event = flowEvent(
      type,
      env.log.nextSeq(),
      this.id,
      this.workflowId,
      i >= 0 ? this.#t.g.ids[i] : undefined,
      attempt,
      timestamp,
      data,
    );
    env.log.append(event);
    if (!this.#durable) env.bus.emit(event);
  }
}
