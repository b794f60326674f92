/**
 * One run of a workflow: the workflow actor, its task actors, and the
 * bookkeeping their actions call (the `TaskHost` and `WorkflowHost` of the
 * actor modules). Events are emitted here, on every actor transition.
 *
 * Task actors are created when the last of their dependencies settles (or
 * the first fails), so only the tasks that matter are alive; the actor's
 * guards then decide ready or skipped. Finished actors are dropped at once.
 *
 * On a durable log store a completed task's dependents start, and the run's
 * result resolves, only once the store acknowledged the task's event; a
 * resumed run starts from the state its store kept.
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
import type { BreakerRegistry, CircuitBreaker } from "./breaker.ts";
import {
  CancelledError,
  CircuitOpenError,
  NotFoundError,
  NotSerializableError,
  RunStalledError,
  SpawnError,
  TaskFailedError,
  TaskSkippedError,
  TaskTimeoutError,
} from "./errors.ts";
import { descendantsIn, type Graph, GrowingGraph, type Plan, planGraph } from "./graph.ts";
import { serializeError, toError } from "./serialize.ts";
import { findJsonIssue, sha256Hex, stableStringify } from "./json.ts";
import { type Restore, restoreTaskError } from "./resume.ts";
import { toRunResult } from "./result.ts";
import { deepFreeze } from "./freeze.ts";
import type { SnapshotLog } from "./log/types.ts";
import { type Dispatchable, dispatchKey, IndexHeap, type Scheduler } from "./scheduler.ts";
import {
  PRIORITIES as PRIORITY_NAMES,
  PROFILE_INDEX,
  STATUS_CODE as CODE,
  TERMINAL_OF as STATUS_OF,
} from "./tables.ts";
import type {
  AnyFlowEvent,
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
  TaskContext,
  TaskDef,
  TaskSpec,
  TerminalTaskStatus,
  Workflow,
} from "./types.ts";

/** How task actors execute their machine. */
export type TaskLogicMode = "compiled" | "interpreted";

const COMPILED = compileFlatMachine(taskMachine) as unknown as AnyActorLogic;
const INTERPRETED = taskMachine as unknown as AnyActorLogic;

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

/** What `RunEnv.startChild` needs. */
export interface ChildStart {
  input: unknown;
  runId: string | undefined;
  signal: AbortSignal;
  parent: { runId: string; taskId: string };
}

const UNSETTLED = 0;
const SLOT_GIVEN_UP = 1;
const SLOT_WANTED = 2;
/**
 * Task actors of one run that may wait in the ready queue at once. Tasks whose
 * dependencies completed beyond this wait, still pending and actor-less, in
 * the run's backlog (ordered like the ready queue), so a wide run keeps a few
 * hundred live actors instead of one per task.
 */
const READY_WINDOW = 256;
const NO_DEPS: Readonly<Record<string, unknown>> = Object.freeze({});
/** The body of a task restored from the log that had ended (it never runs). */
const RESTORED = (): never => {
  throw new TypeError("A task restored from the log cannot run");
};
const STARTED_DATA: Readonly<Record<Profile, EventDataMap["task.started"]>> = Object.freeze({
  cpu: Object.freeze({ profile: "cpu" }),
  io: Object.freeze({ profile: "io" }),
  mixed: Object.freeze({ profile: "mixed" }),
  memory: Object.freeze({ profile: "memory" }),
});
const DISPATCH: TaskActorEvent = Object.freeze({ type: "dispatch" });
const RETRY_DUE: TaskActorEvent = Object.freeze({ type: "retry.due" });
const SETTLED = Object.freeze({ type: "tasks.settled" as const });
const START = Object.freeze({ type: "start" as const });

/** The context object a task body receives; `deps` is built on first read. */
class Context implements TaskContext {
  readonly input: unknown;
  readonly signal: AbortSignal;
  readonly attempt: number;
  readonly taskId: string;
  readonly runId: string;
  readonly workflowId: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  #run: Run | undefined;
  readonly #owner: Run;
  #index: number;
  #deps: Readonly<Record<string, unknown>> | undefined;
  constructor(run: Run, index: number, input: unknown, signal: AbortSignal, attempt: number, taskId: string) {
    this.#run = run;
    this.#owner = run;
    this.#index = index;
    this.input = input;
    this.signal = signal;
    this.attempt = attempt;
    this.taskId = taskId;
    this.runId = run.id;
    this.workflowId = run.workflowId;
    this.metadata = run.metadataOf(index);
  }
  get deps(): Readonly<Record<string, unknown>> {
    if (this.#deps === undefined) {
      this.#deps = this.#run!.depsOf(this.#index);
      this.#run = undefined;
    }
    return this.#deps;
  }
  spawn(tasks: readonly TaskDef[]): readonly string[] {
    return this.#owner.spawnFrom(this.#index, this.attempt, tasks);
  }
  runWorkflow<J>(workflow: Workflow<J>, options: ChildRunOptions<J> = {}): Promise<RunResult> {
    try {
      return this.#owner.runChild(this.#index, this.attempt, this.signal, workflow as Workflow<unknown>, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  toJSON(): Record<string, unknown> {
    const { input, deps, attempt, taskId, runId, workflowId, metadata } = this;
    return { input, deps, attempt, taskId, runId, workflowId, metadata };
  }
}

/** One run: implements the hosts the actors call. */
export class Run implements TaskHost, WorkflowHost, Dispatchable {
  // The run is the host in every actor's context, so an inspector serialises it with every
  // snapshot: its only own enumerable fields are its ids (the rest is private or a getter),
  // and `toJSON()` gives the ids alone. Each snapshot thus stays O(1), not O(tasks).
  readonly id: string;
  readonly workflowId: string;
  readonly #workflow: Workflow<unknown>;
  readonly #result: Promise<RunResult>;
  #g: Graph;
  /** The run's own graph once tasks were added (`ctx.spawn`). */
  #grown: GrowingGraph | undefined;
  /** Length of the per-task arrays (at least the number of tasks; more once tasks were added). */
  #cap: number;
  #tasks: readonly TaskSpec<unknown>[];
  readonly #env: RunEnv;
  readonly #input: unknown;
  readonly #logic: AnyActorLogic;
  #status: Uint8Array;
  #remaining: Int32Array;
  #spawned: Uint8Array;
  #queued: Uint8Array;
  #attempts: Int32Array;
  #startedAt: Float64Array;
  #endedAt: Float64Array;
  #profile: Uint8Array;
  readonly #actors: (AnyActorRef | undefined)[];
  readonly #results: unknown[];
  readonly #errors: (Error | undefined)[];
  readonly #timers: unknown[];
  readonly #controllers: (AbortController | undefined)[];
  readonly #runController = new AbortController();
  readonly #workflowActor: AnyActorRef;
  #backlog: IndexHeap;
  #keys: Float64Array;
  #rank: Float64Array;
  /** Priority weight per task: the graph's until `setPriority` changes one (then a copy). */
  #prio: Uint8Array;
  /** Per task: its concurrency key's scheduler id (-1: none). Allocated when a task has a key. */
  #group: Int32Array | undefined;
  #inQueue = 0;
  readonly #blocked: number[] = [];
  #skipping = false;
  readonly #supervisor: AnyActorRef;
  #resolve!: (result: RunResult) => void;
  #settled = 0;
  #firstFailure = -1;
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
  /** Per task: 1 = result from the cache. Allocated when the workflow caches or the run is resumed. */
  #cached: Uint8Array | undefined;
  /** Per task: 1 = no retry (the result cannot be stored, the cache key failed). */
  #noRetry: Uint8Array | undefined;
  /** Per task: attempts cut off by a crash (not charged to the retry policy). */
  #interrupted: Int32Array | undefined;
  /** Per cached task: its cache key once looked up. */
  #cacheKeys: (string | undefined)[] | undefined;
  readonly #restore: Restore | undefined;
  #resumeCancel: Error | undefined;
  /** Per task: its circuit breaker. Allocated when a task has one. */
  #breakerOf: (CircuitBreaker | undefined)[] | undefined;
  /** Per task: 1 = its attempt now is its breaker's half-open trial. */
  #trial: Uint8Array | undefined;
  /** Per task: 1 = its fallback ran (or runs). Allocated when a task has a fallback. */
  #path: Uint8Array | undefined;
  /** Per task: 1 + the index of the task that added it (0: a workflow task). Allocated at the first spawn. */
  #spawnedBy: Int32Array | undefined;
  /** Ids of tasks added before the run stopped that did not end: a resumed run waits for their spawner to add them again. */
  #awaiting: Map<string, string> | undefined;
  /** A re-run: the ended run whose completed tasks it keeps. */
  readonly #rerunOf: string | undefined;
  /** Tasks restored from the log that were added during the run: their spawner's id, by index. */
  #restoredBy: Map<number, string> | undefined;
  /** Tasks that had completed and run again on resume: spawners of tasks that had not ended. */
  #reopened: ReadonlySet<string> | undefined;
  /** Per task: child runs its attempt awaits now. Allocated at the first child run. */
  #children: Int32Array | undefined;
  /** Per task: 0 = holds its slot (when running), SLOT_GIVEN_UP while awaiting children, SLOT_WANTED when queued to get it back. */
  #slot: Uint8Array | undefined;
  /** Tasks queued to get their slot back, and what resumes their body. */
  #regain: Map<number, () => void> | undefined;
  /** Task actors alive (created, not final). */
  #live = 0;
  /** Completions whose dependents wait for the store's acknowledgement. */
  #storeWaits = 0;
  #started = false;
  /** Why the run stopped making progress, once it did. */
  #stalled: RunStalledError | undefined;
  /** Tasks whose body was refused tasks it tried to add: they fail with the error, even if the body caught it. */
  #spawnErrors: Map<number, Error> | undefined;

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
    this.#g = graph;
    this.#tasks = workflow.tasks;
    if (init.restore?.spawnedBy !== undefined) graph = this.#restoreGraph(init.restore);
    this.#env = env;
    // Every task reads the same input: frozen, so none can change it for the others or for the log.
    this.#input = deepFreeze(init.input);
    this.#logic = env.taskLogic === "interpreted" ? INTERPRETED : COMPILED;
    const n = graph.n;
    this.#cap = n;
    this.#status = new Uint8Array(n);
    this.#remaining = new Int32Array(n);
    for (let i = 0; i < n; i++) this.#remaining[i] = graph.depStart[i + 1] - graph.depStart[i];
    this.#spawned = new Uint8Array(n);
    this.#queued = new Uint8Array(n);
    this.#attempts = new Int32Array(n);
    this.#startedAt = new Float64Array(n).fill(NaN);
    this.#endedAt = new Float64Array(n).fill(NaN);
    this.#profile = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.#profile[i] = PROFILE_INDEX[this.#tasks[i].profile];
    this.#actors = new Array(n);
    this.#results = new Array(n);
    this.#errors = new Array(n);
    this.#timers = new Array(n);
    this.#controllers = new Array(n);
    const keys = new Float64Array(n);
    this.#rank = env.ordering === "fifo"
      ? new Float64Array(n)
      : env.ordering === "io-first"
      ? ioFirst(graph.rank, this.#tasks, 0, n, new Float64Array(n))
      : graph.rank;
    for (let i = 0; i < n; i++) keys[i] = dispatchKey(graph.priority[i], this.#rank[i]);
    this.#keys = keys;
    this.#prio = graph.priority;
    this.#backlog = new IndexHeap(keys);
    if (workflow.tasks.some((t) => t.concurrencyKey !== undefined)) {
      this.#group = Int32Array.from(workflow.tasks, (t) => env.scheduler.keyId(t.concurrencyKey));
    }
    this.#result = new Promise<RunResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#durable = env.log.durable;
    this.#restore = init.restore;
    this.#resolveBreakers();
    if (workflow.tasks.some((t) => t.fallback !== undefined)) this.#path = new Uint8Array(n);
    if (workflow.tasks.some((t) => t.cache !== undefined)) {
      this.#cached = new Uint8Array(n);
      this.#cacheKeys = new Array(n);
    }
    this.#workflowActor = createActor(workflowMachine, {
      input: { host: this },
      id: `workflow:${this.id}`,
      clock: env.clock as never,
      inspect: env.inspect,
    });
    this.#supervisor = createActor(SUPERVISOR, { parent: this.#workflowActor, id: "tasks" });
    this.#rerunOf = init.rerunOf;
    if (init.restore === undefined || init.rerunOf !== undefined) {
      const data: EventDataMap["workflow.created"] = init.parent === undefined
        ? { name: workflow.name, taskIds: graph.ids }
        : { name: workflow.name, taskIds: graph.ids, parentRunId: init.parent.runId, parentTaskId: init.parent.taskId };
      if (init.rerunOf !== undefined) data.rerunOf = init.rerunOf;
      this.#emit("workflow.created", -1, undefined, data);
    }
    if (init.restore !== undefined) this.#restoreTasks(init.restore);
    if (init.notice !== undefined) this.#emit("executor.inline", -1, undefined, init.notice);
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
   * Runs a child workflow on behalf of a running task (`ctx.runWorkflow`).
   * While its attempt awaits child runs, the task gives its slot up (the
   * children may need it: a parent holding the last slot would wait forever)
   * and queues for a slot again, by its priority, before its body goes on.
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
    const child = this.#env.startChild(workflow, {
      input: options.input,
      runId: options.runId,
      signal,
      parent: { runId: this.id, taskId: this.#g.ids[i] },
    });
    if (this.#attempts[i] !== attempt || this.#status[i] !== UNSETTLED || this.#actors[i] === undefined) {
      return child.result;
    }
    const children = this.#children ??= new Int32Array(this.#g.n);
    const slot = this.#slot ??= new Uint8Array(this.#g.n);
    if (children[i]++ === 0 && slot[i] === 0) {
      slot[i] = 1;
      this.#env.scheduler.release(this.#profile[i], this.#group?.[i] ?? -1);
      if (this.#depth === 0) this.#env.scheduler.drain();
    }
    return child.result.then((result) => this.#childEnded(i, attempt).then(() => result));
  }

  /** One of a task's child runs ended: when it was the last, the task queues for a slot again. */
  #childEnded(i: number, attempt: number): Promise<void> {
    if (this.#attempts[i] !== attempt || this.#status[i] !== UNSETTLED || this.#actors[i] === undefined) {
      return Promise.resolve();
    }
    const slot = this.#slot!;
    if (--this.#children![i] > 0 || slot[i] !== SLOT_GIVEN_UP) return Promise.resolve();
    slot[i] = SLOT_WANTED;
    this.#queued[i] = 1;
    return new Promise<void>((resolve) => {
      (this.#regain ??= new Map()).set(i, resolve);
      this.#env.scheduler.push(this, i, this.#profile[i], this.#prio[i], this.#rank[i], this.#group?.[i] ?? -1);
      if (this.#depth === 0) this.#env.scheduler.drain();
    });
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
    const i = this.#g.index.get(taskId);
    if (i === undefined) throw new NotFoundError("task", taskId, ` in run "${this.id}"`);
    const weight = PRIORITY_NAMES.indexOf(priority);
    if (weight < 0) {
      throw new RangeError(
        `Cannot set the priority of task "${taskId}": ${String(priority)} is not low, medium, high or critical`,
      );
    }
    if (this.#status[i] !== UNSETTLED || this.#final !== undefined) {
      throw new TypeError(`Cannot set the priority of task "${taskId}": it has ended`);
    }
    const previous = this.#prio[i];
    if (previous === weight) return;
    if (this.#prio === this.#g.priority) this.#prio = this.#g.priority.slice();
    this.#prio[i] = weight;
    this.#keys[i] = dispatchKey(weight, this.#rank[i]);
    let admit = false;
    if (this.#spawned[i] === 0 && this.#remaining[i] === 0 && !this.#cancelling) {
      // Waiting in the backlog, beyond the ready window: raised, it joins the ready queue now (ahead of the
      // window's tasks if it outranks them); lowered, it waits its turn in the backlog.
      if (weight > previous) admit = true;
      else this.#backlog.rebuild();
    }
    if (this.#queued[i] === 1) this.#env.scheduler.update(this, i, weight, this.#rank[i]);
    this.#emit("task.reprioritized", i, this.#attempts[i] || undefined, {
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
    return planGraph(this.#g, this.#tasks);
  }

  /**
   * The tasks downstream of a task in the run now (tasks added during the run included).
   *
   * @param taskId The task.
   * @returns Their ids, in topological order.
   * @throws {NotFoundError} The run has no such task.
   */
  descendants(taskId: string): string[] {
    return descendantsIn(this.#g, taskId, `run "${this.id}"`);
  }

  /**
   * A task's spec by index, including tasks added during the run.
   *
   * @param i The task's index.
   * @returns Its spec.
   */
  taskSpec(i: number): TaskSpec<unknown> {
    return this.#tasks[i];
  }

  /** Task ids by index, including tasks added during the run. */
  get taskIds(): readonly string[] {
    return this.#g.ids;
  }

  /**
   * Adds tasks to the run on behalf of a running task (`ctx.spawn`).
   *
   * @param i The spawning task.
   * @param attempt Its attempt.
   * @param defs The tasks.
   * @returns Their ids.
   * @throws {SpawnError} The tasks were rejected (the cause says why); the spawning task then fails with it.
   * @throws {TypeError} The spawning attempt is over, or the run is ending.
   */
  spawnFrom(i: number, attempt: number, defs: readonly TaskDef[]): readonly string[] {
    const taskId = this.#g.ids[i];
    if (
      this.#status[i] !== UNSETTLED || this.#attempts[i] !== attempt || this.#cancelling || this.#final !== undefined
    ) {
      throw new TypeError(`Task "${taskId}" cannot add tasks: its attempt ${attempt} is over`);
    }
    const from = this.#g.n;
    let changed: number[];
    let fresh = defs;
    try {
      if ((this.#spawnedBy !== undefined || this.#restoredBy !== undefined) && Array.isArray(defs)) {
        fresh = this.#matchSpawns(i, defs);
      }
      // Breakers are checked before the run grows: nothing is half-added.
      if (Array.isArray(fresh)) this.#checkSpawnBreakers(fresh);
      this.#grown ??= new GrowingGraph(this.workflow.name, this.#g, this.#tasks, Array.isArray(defs) ? defs.length : 0);
      changed = this.#grown.add(fresh, (j) => this.#attempts[j] > 0 || this.#status[j] !== UNSETTLED);
    } catch (cause) {
      const error = new SpawnError(taskId, toError(cause));
      (this.#noRetry ??= new Uint8Array(this.#cap))[i] = 1;
      (this.#spawnErrors ??= new Map()).set(i, error);
      throw error;
    }
    this.#extend(from, changed);
    const g = this.#g;
    const added = g.ids.slice(from, g.n);
    for (let j = from; j < g.n; j++) this.#spawnedBy![j] = i + 1;
    if (this.#awaiting !== undefined) { for (const id of added) this.#awaiting.delete(id); }
    const ids = fresh === defs ? added : defs.map((d) => d.id);
    const now = this.#env.clock.now();
    if (added.length > 0 || defs.length === 0) this.#emit("task.spawned", i, attempt, { taskIds: added }, now);
    for (let j = from; j < g.n; j++) {
      this.#emit("task.pending", j, undefined, { dependsOn: this.#tasks[j].dependsOn }, now);
    }
    this.#depth++;
    try {
      for (let j = from; j < g.n; j++) {
        let waiting = 0;
        for (let k = g.depStart[j]; k < g.depStart[j + 1]; k++) {
          if (this.#status[g.depList[k]] !== CODE.completed) waiting++;
        }
        this.#remaining[j] = waiting;
        if (this.#blockingDep(j) >= 0) this.#blocked.push(j);
        else if (waiting === 0) this.#backlog.push(j);
      }
      this.#spawnBlocked();
      this.#admit();
    } finally {
      // Spawned tasks start after spawn() returns, never inside it.
      if (--this.#depth === 0) queueMicrotask(this.#drainLater);
    }
    return ids;
  }

  /**
   * The tasks a spawner adds that it did not add before: an id this spawner
   * added in an earlier attempt (or before the run stopped) is that task, kept
   * as it is (a completed one is not run again); its dependencies must be the same.
   */
  #matchSpawns(i: number, defs: readonly TaskDef[]): TaskDef[] {
    const g = this.#g;
    const fresh: TaskDef[] = [];
    for (const def of defs) {
      const j = def !== null && typeof def === "object" && typeof def.id === "string" ? g.index.get(def.id) : undefined;
      const by = j === undefined ? 0 : this.#spawnedBy?.[j] ?? 0;
      if (j === undefined || (by !== i + 1 && this.#restoredBy?.get(j) !== g.ids[i])) {
        fresh.push(def);
        continue;
      }
      const known = this.#tasks[j];
      if (known.run === RESTORED) continue; // Restored from the log: its dependencies are not known; it has ended.
      const deps = new Set(def.dependsOn ?? []);
      if (deps.size !== known.dependsOn.length || known.dependsOn.some((d) => !deps.has(d))) {
        throw new TypeError(
          `Cannot add task "${def.id}" again: it was added before with dependencies ${
            JSON.stringify(known.dependsOn)
          }, now with ${JSON.stringify(def.dependsOn ?? [])}`,
        );
      }
    }
    return fresh;
  }

  readonly #drainLater = () => {
    if (this.#depth === 0) this.#drain();
  };

  /** Refuses tasks that name a breaker neither the engine nor the same batch defines (before the run grows). */
  #checkSpawnBreakers(defs: readonly TaskDef[]): void {
    const defined = new Set<string>();
    for (const d of defs) {
      const policy = d !== null && typeof d === "object" ? d.breaker : undefined;
      if (policy !== null && typeof policy === "object") defined.add(policy.key);
    }
    for (const d of defs) {
      const policy = d !== null && typeof d === "object" ? d.breaker : undefined;
      if (typeof policy === "string" && !defined.has(policy)) this.#checkBreaker(d as TaskSpec<unknown>);
    }
  }

  /** Sizes the run's arrays to its grown graph: tasks from `from` are new; `changed` tasks got a new rank. */
  #extend(from: number, changed: readonly number[]): void {
    const grown = this.#grown!;
    const graph = grown.graph;
    const n = graph.n;
    const shared = this.#prio === this.#g.priority;
    this.#g = graph;
    this.#tasks = grown.specs;
    const specs = this.#tasks;
    const cap = grown.capacity;
    const fifo = this.#env.ordering === "fifo";
    const io = this.#env.ordering === "io-first";
    if (cap > this.#cap) {
      this.#cap = cap;
      this.#status = grow(this.#status, cap);
      this.#remaining = grow(this.#remaining, cap);
      this.#spawned = grow(this.#spawned, cap);
      this.#queued = grow(this.#queued, cap);
      this.#attempts = grow(this.#attempts, cap);
      this.#startedAt = grow(this.#startedAt, cap, NaN);
      this.#endedAt = grow(this.#endedAt, cap, NaN);
      this.#profile = grow(this.#profile, cap);
      this.#keys = grow(this.#keys, cap);
      this.#backlog.resize(this.#keys);
      if (fifo || io) this.#rank = grow(this.#rank, cap);
    }
    if (io) {
      ioFirst(graph.rank, specs, from, n, this.#rank);
      for (const j of changed) ioFirst(graph.rank, specs, j, j + 1, this.#rank);
    } else if (!fifo) this.#rank = graph.rank;
    if (shared) this.#prio = graph.priority;
    else {
      this.#prio = fit(this.#prio, cap);
      this.#prio.set(graph.priority.subarray(from, n), from);
    }
    for (let j = from; j < n; j++) {
      this.#profile[j] = PROFILE_INDEX[specs[j].profile];
      this.#keys[j] = dispatchKey(this.#prio[j], this.#rank[j]);
    }
    let rebuild = false;
    for (const j of changed) {
      this.#keys[j] = dispatchKey(this.#prio[j], this.#rank[j]);
      if (this.#spawned[j] === 0 && this.#remaining[j] === 0) rebuild = true;
      if (this.#queued[j] === 1) this.#env.scheduler.update(this, j, this.#prio[j], this.#rank[j]);
    }
    if (rebuild) this.#backlog.rebuild();
    let cache = false;
    let fallback = false;
    let key = false;
    let breaker = false;
    for (let j = from; j < n; j++) {
      const t = specs[j];
      cache ||= t.cache !== undefined;
      fallback ||= t.fallback !== undefined;
      key ||= t.concurrencyKey !== undefined;
      breaker ||= t.breaker !== undefined;
    }
    this.#spawnedBy = this.#spawnedBy === undefined ? new Int32Array(cap) : fit(this.#spawnedBy, cap);
    if (this.#noRetry !== undefined) this.#noRetry = fit(this.#noRetry, cap);
    if (this.#interrupted !== undefined) this.#interrupted = fit(this.#interrupted, cap);
    if (this.#cached !== undefined) this.#cached = fit(this.#cached, cap);
    if (this.#children !== undefined) this.#children = fit(this.#children, cap);
    if (this.#slot !== undefined) this.#slot = fit(this.#slot, cap);
    if (cache) {
      this.#cached ??= new Uint8Array(cap);
      this.#cacheKeys ??= new Array(cap);
    }
    if (this.#path !== undefined) this.#path = fit(this.#path, cap);
    else if (fallback) this.#path = new Uint8Array(cap);
    if (this.#group !== undefined || key) {
      const scheduler = this.#env.scheduler;
      const start = this.#group === undefined ? 0 : from;
      this.#group = this.#group === undefined ? new Int32Array(cap) : fit(this.#group, cap);
      for (let j = start; j < n; j++) this.#group[j] = scheduler.keyId(specs[j].concurrencyKey);
    }
    if (this.#breakerOf !== undefined || breaker) {
      const before = this.#breakerOf;
      const trial = this.#trial;
      this.#resolveBreakers();
      if (before !== undefined) {
        for (let j = 0; j < from; j++) this.#breakerOf![j] = before[j];
        if (trial !== undefined) this.#trial!.set(trial.subarray(0, from));
      }
    }
    if (this.#trial !== undefined) this.#trial = fit(this.#trial, cap);
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
    for (let i = 0; i < this.#actors.length; i++) {
      const actor = this.#actors[i];
      if (actor !== undefined) yield [i, actor];
    }
  }

  // ---- WorkflowHost ----------------------------------------------------

  startTasks(): void {
    this.#started = true;
    if (this.#restore !== undefined && this.#rerunOf === undefined) {
      this.#resumeTasks(this.#restore);
      return;
    }
    this.#startedAtRun = this.#env.clock.now();
    const now = this.#startedAtRun;
    this.#emit("workflow.started", -1, undefined, { input: this.#input }, now);
    const g = this.#g;
    if (this.#rerunOf !== undefined) {
      this.#keepCompleted(now);
      return;
    }
    for (let i = 0; i < g.n; i++) {
      this.#emit("task.pending", i, undefined, { dependsOn: this.#tasks[i].dependsOn }, now);
    }
    for (let i = 0; i < g.n; i++) if (this.#remaining[i] === 0) this.#backlog.push(i);
    this.#admit();
    if (this.#settled === g.n) this.#allSettled();
  }

  cancelTasks(reason: unknown): void {
    this.#cancelling = true;
    const error = this.#resumeCancel ?? new CancelledError(this.id, { cause: reason });
    this.#cancelReason = error;
    this.#runController.abort(error);
    const event: TaskActorEvent = { type: "cancel", reason: error };
    for (let i = 0; i < this.#g.n; i++) {
      if (this.#status[i] !== UNSETTLED) continue;
      const actor = this.#actors[i] ?? this.#spawn(i);
      actor.send(event);
    }
    // A resumed run whose tasks had all ended while it was being cancelled.
    if (this.#settled === this.#g.n) this.#allSettled();
    this.#env.scheduler.drain();
  }

  anyFailed(): boolean {
    return this.#firstFailure >= 0;
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
    const head = { runId: this.id, workflowId: this.workflowId, status, startedAt: this.#startedAtRun, endedAt, error };
    return toRunResult(head, this.#g.ids, (i, row) => {
      const code = this.#status[i];
      row.status = STATUS_OF[code] ?? "cancelled";
      row.attempts = this.#attempts[i];
      if (code === CODE.completed) {
        row.result = this.#results[i];
        row.cached = this.#cached?.[i] === 1;
        if (this.#tasks[i].fallback !== undefined) row.path = this.#path![i] === 1 ? "fallback" : "primary";
      } else row.error = this.#errors[i];
      row.startedAt = this.#startedAt[i];
      row.endedAt = this.#endedAt[i];
    });
  }

  finish(status: RunStatus): void {
    const clock = this.#env.clock;
    const now = clock.now();
    const durationMs = now - this.#startedAtRun;
    let error: Error | undefined;
    if (status === "failed") {
      const i = this.#firstFailure;
      error = this.#stalled ?? new TaskFailedError(this.#g.ids[i], this.#attempts[i], { cause: this.#errors[i] });
      const failed: string[] = [];
      for (let k = 0; k < this.#g.n; k++) if (this.#status[k] === CODE.failed) failed.push(this.#g.ids[k]);
      this.#emit("workflow.failed", -1, undefined, { durationMs, failed, error: serializeError(error) }, now);
    } else if (status === "cancelled") {
      error = this.#cancelReason;
      this.#emit("workflow.cancelled", -1, undefined, { durationMs, reason: serializeError(error) }, now);
    } else {
      this.#emit("workflow.completed", -1, undefined, { durationMs }, now);
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
    return !this.#cancelling && this.#blockingDep(i) >= 0;
  }

  depsCompleted(i: number): boolean {
    if (this.#cancelling) return false;
    const g = this.#g;
    for (let k = g.depStart[i]; k < g.depStart[i + 1]; k++) {
      if (this.#status[g.depList[k]] !== CODE.completed) return false;
    }
    return true;
  }

  canRetry(i: number): boolean {
    if (this.#cancelling || this.#noRetry?.[i] === 1) return false;
    return this.#attempts[i] - (this.#interrupted?.[i] ?? 0) < this.#tasks[i].retry.maxAttempts;
  }

  enqueue(i: number): void {
    this.#queued[i] = 1;
    this.#inQueue++;
    const g = this.#g;
    const prio = this.#prio[i];
    this.#emit("task.ready", i, this.#attempts[i] || undefined, {
      priority: prio === g.priority[i] ? this.#tasks[i].priority : PRIORITY_NAMES[prio],
      rank: g.rank[i],
    });
    this.#env.scheduler.push(this, i, this.#profile[i], prio, this.#rank[i], this.#group?.[i] ?? -1);
  }

  dequeue(i: number): void {
    this.#queued[i] = 0;
    this.#inQueue--;
  }

  isQueued(i: number): boolean {
    return this.#queued[i] === 1;
  }

  dispatch(i: number): void {
    if (this.#slot !== undefined && this.#slot[i] === SLOT_WANTED) {
      // A running task gets its slot back after its child runs: its body goes on.
      this.#queued[i] = 0;
      this.#slot[i] = 0;
      const resume = this.#regain!.get(i)!;
      this.#regain!.delete(i);
      resume();
      return;
    }
    this.#queued[i] = 0;
    this.#inQueue--;
    this.#deliver(i, DISPATCH);
    this.#admit();
  }

  execute(i: number): void {
    const spec = this.#tasks[i];
    if (spec.cache !== undefined && this.#cacheKeys![i] === undefined && this.#attempts[i] === 0) {
      this.#lookUp(i, spec.cache);
      return;
    }
    const clock = this.#env.clock;
    const breaker = this.#breakerOf?.[i];
    if (breaker !== undefined && !this.#admitBreaker(i, breaker)) return;
    const attempt = ++this.#attempts[i];
    const now = clock.now();
    if (attempt === 1) this.#startedAt[i] = now;
    this.#emit("task.started", i, attempt, STARTED_DATA[spec.profile], now);
    let signal = this.#runController.signal;
    if (spec.timeoutMs !== undefined) {
      const controller = new AbortController();
      this.#controllers[i] = controller;
      signal = controller.signal;
      this.#timers[i] = clock.setTimeout(() => this.#timeout(i, attempt), spec.timeoutMs);
    }
    const ctx = new Context(this, i, this.#input, signal, attempt, spec.id);
    let promise: Promise<unknown>;
    try {
      promise = this.#env.executors[spec.profile].run(spec, ctx, signal);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (result) => this.#onResult(i, attempt, result),
      (error) => this.#onError(i, attempt, error),
    );
  }

  release(i: number, event: TaskActorEvent): void {
    if (this.#slot === undefined) this.#env.scheduler.release(this.#profile[i], this.#group?.[i] ?? -1);
    else this.#releaseAfterChildren(i);
    if (this.#trial?.[i] === 1) {
      this.#trial[i] = 0;
      if (event.type === "cancel") this.#breakerOf![i]!.abandon();
    }
    const timer = this.#timers[i];
    if (timer !== undefined) {
      this.#env.clock.clearTimeout(timer);
      this.#timers[i] = undefined;
    }
    const controller = this.#controllers[i];
    if (controller !== undefined) {
      if (event.type === "cancel") controller.abort(event.reason);
      this.#controllers[i] = undefined;
    }
  }

  /** An attempt of a run that has child runs ended: it frees its slot unless it gave it up (and stops waiting for it). */
  #releaseAfterChildren(i: number): void {
    const slot = this.#slot!;
    if (slot[i] === 0) this.#env.scheduler.release(this.#profile[i], this.#group?.[i] ?? -1);
    else if (slot[i] === SLOT_WANTED) {
      this.#queued[i] = 0;
      const resume = this.#regain!.get(i);
      this.#regain!.delete(i);
      resume?.();
    }
    slot[i] = 0;
    this.#children![i] = 0;
  }

  recordResult(i: number, result: unknown): void {
    // Frozen once: dependents, listeners and the caller read it, none can rewrite it.
    this.#results[i] = deepFreeze(result);
    this.#errors[i] = undefined;
  }

  recordError(i: number, error: unknown): void {
    this.#errors[i] = toError(error);
  }

  scheduleRetry(i: number): void {
    const policy = this.#tasks[i].retry;
    const attempt = this.#attempts[i];
    const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
    const delayMs = base - base * policy.jitter * this.#env.random();
    this.#emit("task.retrying", i, attempt, { error: serializeError(this.#errors[i]), delayMs });
    this.#timers[i] = this.#env.clock.setTimeout(() => {
      this.#timers[i] = undefined;
      this.#deliver(i, RETRY_DUE);
    }, delayMs);
  }

  cancelRetry(i: number): void {
    const timer = this.#timers[i];
    if (timer !== undefined) {
      this.#env.clock.clearTimeout(timer);
      this.#timers[i] = undefined;
    }
  }

  settle(i: number, status: TerminalTaskStatus, event: TaskActorEvent): void {
    const g = this.#g;
    const code = CODE[status];
    this.#status[i] = code;
    this.#actors[i] = undefined;
    this.#live--;
    const now = this.#env.clock.now();
    if (!Number.isNaN(this.#startedAt[i])) this.#endedAt[i] = now;
    const attempt = this.#attempts[i] || undefined;
    switch (status) {
      case "completed":
        if (this.#cacheKeys !== undefined && this.#cacheKeys[i] !== undefined) this.#completeCached(i, attempt, now);
        else if (this.#path !== undefined && this.#tasks[i].fallback !== undefined) {
          const path = this.#path[i] === 1 ? "fallback" : "primary";
          this.#emit("task.completed", i, attempt, {
            result: this.#results[i],
            durationMs: now - this.#startedAt[i],
            path,
          }, now);
        } else {
          this.#emit(
            "task.completed",
            i,
            attempt,
            { result: this.#results[i], durationMs: now - this.#startedAt[i] },
            now,
          );
        }
        break;
      case "failed":
        if (this.#firstFailure < 0) this.#firstFailure = i;
        this.#emit("task.failed", i, attempt, {
          error: serializeError(this.#errors[i]),
          durationMs: now - this.#startedAt[i],
        }, now);
        break;
      case "skipped": {
        const j = this.#blockingDep(i);
        const dependencyStatus = STATUS_OF[this.#status[j]]!;
        const data: EventDataMap["task.skipped"] = { dependency: g.ids[j], dependencyStatus };
        // Name the task whose failure started the chain of skips (the log's fold does the same).
        const before = this.#errors[j];
        const chained = dependencyStatus === "skipped" && before instanceof TaskSkippedError;
        this.#errors[i] = new TaskSkippedError(
          g.ids[i],
          data.dependency,
          dependencyStatus,
          chained ? before.ancestor : data.dependency,
          chained ? before.ancestorStatus : dependencyStatus,
        );
        this.#emit("task.skipped", i, attempt, data, now);
        break;
      }
      case "cancelled": {
        const reason = (event as { reason?: unknown }).reason;
        this.#errors[i] = toError(reason);
        this.#emit("task.cancelled", i, attempt, { reason: serializeError(this.#errors[i]) }, now);
        break;
      }
    }
    if (++this.#settled === g.n) {
      this.#allSettled();
      if (this.#settled === this.#g.n) return;
    }
    if (this.#cancelling) return;
    if (code === CODE.failed && this.#failFast) {
      // Fail fast: the rest of the run is cancelled; it ends failed with this task's error.
      // Its dependents are skipped first (invariant 3), then the rest is cancelled.
      this.#failedFast = true;
      const error = new TaskFailedError(g.ids[i], this.#attempts[i], { cause: this.#errors[i] });
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

  #propagate(i: number, code: number): void {
    const g = this.#g;
    for (let k = g.outStart[i]; k < g.outStart[i + 1]; k++) {
      const d = g.outList[k];
      if (this.#spawned[d] === 1) continue;
      if (code !== CODE.completed) this.#blocked.push(d);
      else if (--this.#remaining[d] === 0) this.#backlog.push(d);
    }
    if (g.moreHead !== undefined) {
      for (let e = g.moreHead[i]; e >= 0; e = g.moreNext![e]) {
        const d = g.moreTo![e];
        if (this.#spawned[d] === 1) continue;
        if (code !== CODE.completed) this.#blocked.push(d);
        else if (--this.#remaining[d] === 0) this.#backlog.push(d);
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
      for (let d = this.#blocked.pop(); d !== undefined; d = this.#blocked.pop()) {
        if (this.#spawned[d] === 0 && !this.#cancelling) this.#spawn(d);
      }
    } finally {
      this.#skipping = false;
    }
  }

  /** Creates task actors from the backlog while the ready window has room. */
  #admit(): void {
    while (this.#inQueue < READY_WINDOW && this.#backlog.size > 0 && !this.#cancelling) {
      const i = this.#backlog.pop();
      if (this.#spawned[i] === 0) this.#spawn(i);
    }
  }

  #spawn(i: number): AnyActorRef {
    this.#spawned[i] = 1;
    this.#live++;
    const actor = createActor(this.#logic, {
      parent: this.#supervisor,
      id: this.#g.ids[i],
      input: { host: this, index: i },
    });
    this.#actors[i] = actor;
    actor.start();
    return actor;
  }

  /** Sends an event to a task actor, then lets the scheduler fill free slots. */
  #deliver(i: number, event: TaskActorEvent): void {
    const actor = this.#actors[i];
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
    if (
      !this.#started || this.#final !== undefined || this.#cancelling || this.#skipping || this.#depth !== 0 ||
      this.#settled >= this.#g.n || this.#storeWaits !== 0 || this.#blocked.length !== 0 ||
      this.#live !== this.#inQueue || (this.#inQueue > 0 && this.#env.scheduler.running > 0)
    ) return;
    const g = this.#g;
    const stuck: number[] = [];
    for (let i = 0; i < g.n; i++) if (this.#status[i] === UNSETTLED) stuck.push(i);
    const error = new RunStalledError(this.id, stuck.map((i) => g.ids[i]));
    this.#stalled = error;
    const now = this.#env.clock.now();
    const data = { error: serializeError(error), durationMs: 0 };
    for (const i of stuck) {
      if (this.#queued[i] === 1) {
        this.#queued[i] = 0;
        this.#inQueue--;
      }
      if (this.#actors[i] !== undefined) {
        this.#actors[i] = undefined;
        this.#live--;
      }
      this.#spawned[i] = 1;
      this.#status[i] = CODE.failed;
      this.#errors[i] = error;
      if (!Number.isNaN(this.#startedAt[i])) this.#endedAt[i] = now;
      if (this.#firstFailure < 0) this.#firstFailure = i;
      this.#settled++;
      this.#emit("task.failed", i, this.#attempts[i] || undefined, data, now);
    }
    this.#workflowActor.send(SETTLED);
  }

  #onResult(i: number, attempt: number, result: unknown, fallback = false): void {
    // A late result of an attempt that timed out or was cancelled is dropped (so is the
    // primary body's, once the fallback took over); a result arriving while the actor is
    // no longer running is ignored by its machine.
    if (this.#attempts[i] !== attempt || this.#status[i] !== UNSETTLED) return;
    if (!fallback && this.#path !== undefined && this.#path[i] === 1) return;
    if (this.#spawnErrors !== undefined && this.#spawnErrors.has(i)) {
      const error = this.#spawnErrors.get(i)!;
      this.#spawnErrors.delete(i);
      this.#deliver(i, { type: "run.error", error });
      return;
    }
    if (this.#breakerOf !== undefined && this.#path?.[i] !== 1) this.#breakerOutcome(i, true);
    if (this.#durable || this.#cacheKeys?.[i] !== undefined) {
      const error = this.#unstorable(i, result);
      if (error !== undefined) {
        (this.#noRetry ??= new Uint8Array(this.#g.n))[i] = 1;
        this.#deliver(i, { type: "run.error", error });
        return;
      }
    }
    this.#deliver(i, { type: "run.done", result });
  }

  /** Why a result cannot be kept (a durable store or a durable cache needs JSON), if it cannot. */
  #unstorable(i: number, result: unknown): NotSerializableError | undefined {
    const json = this.#durable || (this.#cacheKeys?.[i] !== undefined && this.#env.cache.durable === true);
    if (!json) return undefined;
    const issue = findJsonIssue(result);
    return issue === undefined ? undefined : new NotSerializableError("result", this.#g.ids[i], issue.path, issue.what);
  }

  // ---- caching ---------------------------------------------------------

  /**
   * Looks a cached task up (first attempt only): a live entry completes the
   * task without running it; a miss runs it as usual and stores its result.
   */
  #lookUp(i: number, policy: NonNullable<TaskSpec["cache"]>): void {
    const clock = this.#env.clock;
    this.#startedAt[i] = clock.now();
    const spec = this.#tasks[i];
    const keyOf = async (): Promise<string> => {
      const ctx = new Context(this, i, this.#input, this.#runController.signal, 1, spec.id);
      const value = policy.key === undefined ? { input: this.#input, deps: this.depsOf(i) } : policy.key(ctx);
      const issue = findJsonIssue(value);
      if (issue !== undefined) throw new NotSerializableError("cache key", spec.id, issue.path, issue.what);
      const hash = await sha256Hex(stableStringify(value ?? null));
      return JSON.stringify([this.workflow.name, spec.id, policy.version ?? "", hash]);
    };
    keyOf().then(
      async (key) => {
        let entry;
        try {
          entry = await this.#env.cache.get(key);
        } catch (error) {
          console.error(`nerv-flow: the task cache failed to look up task "${spec.id}"; running it`, error);
        }
        if (this.#status[i] !== UNSETTLED || this.#attempts[i] !== 0) return;
        this.#cacheKeys![i] = key;
        if (entry !== undefined && entry.expiresAt > clock.now()) {
          const error = this.#durable ? this.#unstorable(i, entry.value) : undefined;
          if (error === undefined) {
            this.#cached![i] = 1;
            this.#deliver(i, { type: "run.done", result: entry.value });
            return;
          }
        }
        this.execute(i);
      },
      (error) => {
        if (this.#status[i] !== UNSETTLED || this.#attempts[i] !== 0) return;
        (this.#noRetry ??= new Uint8Array(this.#g.n))[i] = 1;
        this.#deliver(i, { type: "run.error", error });
      },
    );
  }

  /** Emits a cached task's completion; a result that was computed goes into the cache. */
  #completeCached(i: number, attempt: number | undefined, now: number): void {
    const result = this.#results[i];
    const cached = this.#cached![i] === 1;
    const data: EventDataMap["task.completed"] = { result, durationMs: now - this.#startedAt[i] };
    if (cached) data.cached = true;
    this.#emit("task.completed", i, attempt, data, now);
    if (cached) return;
    const policy = this.#tasks[i].cache!;
    try {
      const done = this.#env.cache.set(this.#cacheKeys![i]!, {
        value: result,
        createdAt: now,
        expiresAt: now + policy.ttlMs,
      });
      if (done instanceof Promise) done.catch((error) => reportCacheError(this.#g.ids[i], error));
    } catch (error) {
      reportCacheError(this.#g.ids[i], error);
    }
  }

  // ---- resume ----------------------------------------------------------

  /**
   * A resumed run of a workflow that added tasks: the added tasks that ended
   * join the graph as they were (they never run again); those that did not
   * end wait for their spawner to add them again (`#awaiting`), so a spawner
   * with such tasks runs again, up to a workflow task, even if it had completed.
   */
  #restoreGraph(restore: Restore): Graph {
    const state = restore.state;
    const by = restore.spawnedBy!;
    const base = this.#g;
    const status = new Map<string, string>();
    state.taskIds.forEach((id, k) => status.set(id, state.tasks[k]?.status ?? "pending"));
    const ended = (id: string) => {
      const s = status.get(id);
      return s === "completed" || s === "failed" || s === "skipped" || s === "cancelled";
    };
    const awaiting = new Map<string, string>();
    const reopen = new Set<string>();
    const stack: string[] = [];
    for (const [id, spawner] of by) {
      if (!ended(id)) {
        awaiting.set(id, spawner);
        stack.push(spawner);
      }
    }
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (reopen.has(id)) continue;
      const s = status.get(id);
      if (s === "failed" || s === "skipped" || s === "cancelled") continue; // It will not run again.
      if (s === "completed") reopen.add(id);
      if (!base.index.has(id) && by.has(id)) {
        awaiting.set(id, by.get(id)!);
        stack.push(by.get(id)!);
      }
    }
    const restored: TaskDef[] = [];
    for (const id of state.taskIds) {
      if (!base.index.has(id) && !awaiting.has(id)) restored.push({ id, run: RESTORED });
    }
    if (awaiting.size > 0) this.#awaiting = awaiting;
    this.#reopened = reopen;
    if (restored.length === 0) return base;
    const grown = new GrowingGraph(this.workflow.name, base, this.#tasks, restored.length);
    grown.add(restored);
    this.#grown = grown;
    this.#tasks = grown.specs;
    this.#g = grown.graph;
    this.#restoredBy = new Map();
    for (let j = base.n; j < grown.graph.n; j++) this.#restoredBy.set(j, by.get(grown.graph.ids[j])!);
    return grown.graph;
  }

  /**
   * Tasks added before the run stopped that no task added again: the run is
   * about to end, so they join it and fail, saying why.
   *
   * @returns Whether there were any.
   */
  #addOrphans(): boolean {
    const awaiting = this.#awaiting;
    if (awaiting === undefined || awaiting.size === 0) return false;
    this.#awaiting = undefined;
    const defs: TaskDef[] = [];
    for (const [id, spawner] of awaiting) {
      const error = new TypeError(
        `Task "${id}" was added by task "${spawner}" before the run stopped and was not added again when it resumed: ` +
          "its body is not in the log",
      );
      defs.push({
        id,
        run: () => {
          throw error;
        },
      });
    }
    const from = this.#g.n;
    this.#grown ??= new GrowingGraph(this.workflow.name, this.#g, this.#tasks, defs.length);
    this.#extend(from, this.#grown.add(defs));
    const g = this.#g;
    for (let j = from; j < g.n; j++) {
      this.#emit("task.pending", j, undefined, { dependsOn: this.#tasks[j].dependsOn });
      if (this.#cancelling) this.#spawn(j).send({ type: "cancel", reason: this.#cancelReason });
      else this.#backlog.push(j);
    }
    this.#admit();
    return true;
  }

  /** Starts a re-run: the kept tasks complete at once with their old results, the others wait or start. */
  #keepCompleted(now: number): void {
    const g = this.#g;
    const rerunOf = this.#rerunOf!;
    for (let i = 0; i < g.n; i++) {
      if (this.#status[i] === UNSETTLED) {
        this.#emit("task.pending", i, undefined, { dependsOn: this.#tasks[i].dependsOn }, now);
      } else {
        this.#emit("task.completed", i, this.#attempts[i] || undefined, {
          result: this.#results[i],
          durationMs: 0,
          rerunOf,
        }, now);
      }
    }
    for (let i = 0; i < g.n; i++) if (this.#status[i] === UNSETTLED && this.#remaining[i] === 0) this.#backlog.push(i);
    this.#admit();
    if (this.#settled === g.n) this.#allSettled();
  }

  /** Every task ended: the run ends, unless tasks added before a crash are still owed. */
  #allSettled(): void {
    if (!this.#addOrphans()) this.#workflowActor.send(SETTLED);
  }

  /** Loads the stored state into the run's arrays: terminal tasks keep their outcome. */
  #restoreTasks(restore: Restore): void {
    const g = this.#g;
    const state = restore.state;
    this.#cached ??= new Uint8Array(g.n);
    this.#interrupted = new Int32Array(g.n);
    let firstOrder = Infinity;
    state.taskIds.forEach((id, k) => {
      const i = g.index.get(id);
      const t = state.tasks[k];
      if (i === undefined || t == null) return;
      this.#attempts[i] = t.attempts;
      if (this.#reopened?.has(id)) {
        // A spawner whose added tasks did not all end: it runs again, with its whole retry budget.
        this.#interrupted![i] = t.attempts;
        return;
      }
      if (t.startedAt !== undefined) this.#startedAt[i] = t.startedAt;
      switch (t.status) {
        case "completed":
          this.#status[i] = CODE.completed;
          this.#results[i] = deepFreeze(t.result);
          if (t.cached) this.#cached![i] = 1;
          if (t.path === "fallback" && this.#path !== undefined) this.#path[i] = 1;
          break;
        case "failed":
        case "skipped":
        case "cancelled":
          this.#status[i] = CODE[t.status];
          if (t.error !== undefined) this.#errors[i] = restoreTaskError(id, t.status, t.error);
          if (t.status === "failed" && t.order < firstOrder) {
            firstOrder = t.order;
            this.#firstFailure = i;
          }
          if (t.status === "cancelled" && this.#resumeCancel === undefined) {
            const reason = this.#errors[i];
            this.#resumeCancel = reason instanceof CancelledError ? reason : new CancelledError(this.id);
          }
          break;
        case "running":
          this.#interrupted![i] = 1;
          break;
      }
      if (this.#status[i] !== UNSETTLED) {
        this.#settled++;
        this.#spawned[i] = 1;
        this.#endedAt[i] = t.endedAt ?? NaN;
      }
    });
    for (let i = 0; i < g.n; i++) {
      if (this.#status[i] !== CODE.completed) continue;
      for (let k = g.outStart[i]; k < g.outStart[i + 1]; k++) this.#remaining[g.outList[k]]--;
    }
    this.#startedAtRun = state.startedAt ?? state.createdAt;
  }

  /** Starts a resumed run: one `workflow.resumed` event, then the tasks that did not end run again. */
  #resumeTasks(restore: Restore): void {
    const g = this.#g;
    const env = this.#env;
    const now = env.clock.now();
    const rerun: string[] = [];
    const interrupted: string[] = [];
    for (let i = 0; i < g.n; i++) {
      if (this.#status[i] !== UNSETTLED) continue;
      rerun.push(g.ids[i]);
      if (this.#interrupted![i] === 1) interrupted.push(g.ids[i]);
    }
    // Added tasks that had not ended run again once their spawner adds them again.
    if (this.#awaiting !== undefined) { for (const id of this.#awaiting.keys()) rerun.push(id); }
    const event = {
      type: "workflow.resumed",
      seq: Math.max(env.log.nextSeq(), restore.lastSeq + 1),
      runId: this.id,
      workflowId: this.workflowId,
      taskId: undefined,
      attempt: undefined,
      timestamp: now,
      data: { state: { ...restore.state, status: "running" }, rerun, interrupted },
    } as AnyFlowEvent;
    env.log.append(event);
    if (!this.#durable) env.bus.emit(event);
    for (let i = 0; i < g.n; i++) {
      if (this.#status[i] === UNSETTLED) {
        this.#emit("task.pending", i, this.#attempts[i] || undefined, { dependsOn: this.#tasks[i].dependsOn }, now);
      }
    }
    if (this.#resumeCancel !== undefined) {
      // The run was being cancelled when it stopped: finish cancelling it.
      this.#workflowActor.send({ type: "cancel", reason: this.#resumeCancel.cause });
      return;
    }
    for (let i = 0; i < g.n; i++) {
      if (this.#status[i] !== UNSETTLED) continue;
      if (this.#blockingDep(i) >= 0) this.#blocked.push(i);
      else if (this.#remaining[i] === 0) this.#backlog.push(i);
    }
    this.#spawnBlocked();
    this.#admit();
    if (this.#settled === g.n) this.#allSettled();
  }

  #onError(i: number, attempt: number, error: unknown): void {
    if (this.#attempts[i] !== attempt || this.#status[i] !== UNSETTLED) return;
    // The primary body's own rejection after the fallback took over (e.g. it honoured the timeout's abort).
    if (this.#path !== undefined && this.#path[i] === 1) return;
    if (this.#breakerOf !== undefined) this.#breakerOutcome(i, false);
    this.#fail(i, error);
  }

  /** The fallback failed: the task fails with its error, which keeps the primary's error as `cause`. */
  #onFallbackError(i: number, attempt: number, error: unknown, primary: unknown): void {
    if (this.#attempts[i] !== attempt || this.#status[i] !== UNSETTLED) return;
    const e = toError(error);
    if (e.cause === undefined && e !== primary) {
      try {
        Object.defineProperty(e, "cause", { value: primary, writable: true, configurable: true, enumerable: false });
      } catch {
        // A frozen error keeps what it has.
      }
    }
    this.#deliver(i, { type: "run.error", error: e });
  }

  #timeout(i: number, attempt: number): void {
    this.#timers[i] = undefined;
    if (this.#attempts[i] !== attempt || this.#status[i] !== UNSETTLED) return;
    const error = new TaskTimeoutError(this.#g.ids[i], attempt, this.#tasks[i].timeoutMs!);
    this.#controllers[i]?.abort(error);
    if (this.#breakerOf !== undefined && this.#path?.[i] !== 1) this.#breakerOutcome(i, false);
    this.#fail(i, error);
  }

  /** An attempt failed: the task retries, fails, or (failing for good) runs its fallback in the same attempt. */
  #fail(i: number, error: unknown): void {
    const fallback = this.#tasks[i].fallback;
    if (fallback !== undefined && this.#path![i] === 0 && !this.canRetry(i)) {
      this.#runFallback(i, fallback, error);
      return;
    }
    this.#deliver(i, { type: "run.error", error });
  }

  // ---- resilience --------------------------------------------------------

  /** Looks up every task's breaker; a key no task and no engine option defines is refused before anything starts. */
  #resolveBreakers(): void {
    const tasks = this.#tasks;
    let any = false;
    for (let i = 0; i < tasks.length && !any; i++) any = tasks[i].breaker !== undefined;
    if (!any) return;
    const breakers = this.#env.breakers;
    const out = new Array<CircuitBreaker | undefined>(tasks.length);
    // Keys defined by a task's policy first, so a task naming one of them by key finds it.
    for (let i = 0; i < tasks.length; i++) {
      const policy = tasks[i].breaker;
      if (policy !== undefined && typeof policy !== "string") out[i] = breakers.get(policy);
    }
    for (let i = 0; i < tasks.length; i++) {
      if (typeof tasks[i].breaker === "string") out[i] = this.#checkBreaker(tasks[i])!;
    }
    this.#breakerOf = out;
    this.#trial = new Uint8Array(tasks.length);
  }

  /**
   * The breaker a task names by key, if it names one.
   *
   * @throws {RangeError} No task and no engine option defines the key.
   */
  #checkBreaker(spec: TaskSpec<unknown>): CircuitBreaker | undefined {
    const policy = spec.breaker;
    if (typeof policy !== "string") return undefined;
    const breaker = this.#env.breakers.byKey(policy);
    if (breaker === undefined) {
      throw new RangeError(
        `Cannot run workflow "${this.workflow.name}": task "${spec.id}" names breaker "${policy}", which the engine's breakers option does not define`,
      );
    }
    return breaker;
  }

  /** Asks a task's breaker whether its attempt may run; when refused, the task fails fast (or takes its fallback). */
  #admitBreaker(i: number, breaker: CircuitBreaker): boolean {
    const now = this.#env.clock.now();
    const verdict = breaker.request(now);
    const key = breaker.policy.key;
    if (verdict.halfOpened) this.#emit("breaker.half-opened", i, this.#attempts[i] || undefined, { key }, now);
    if (verdict.allowed) {
      if (verdict.trial) this.#trial![i] = 1;
      return true;
    }
    if (Number.isNaN(this.#startedAt[i])) this.#startedAt[i] = now;
    (this.#noRetry ??= new Uint8Array(this.#g.n))[i] = 1;
    const error = new CircuitOpenError(this.#g.ids[i], key, verdict.retryAfterMs);
    const attempt = this.#attempts[i];
    // Not from inside the actor's own transition: the refusal arrives as the next event.
    Promise.resolve().then(() => {
      if (this.#attempts[i] === attempt && this.#status[i] === UNSETTLED) this.#fail(i, error);
    });
    return false;
  }

  /** Tells a task's breaker how its attempt went; a state change is an event. */
  #breakerOutcome(i: number, ok: boolean): void {
    const breaker = this.#breakerOf![i];
    if (breaker === undefined) return;
    const trial = this.#trial![i] === 1;
    this.#trial![i] = 0;
    const key = breaker.policy.key;
    if (ok) {
      if (breaker.success(trial)) this.#emit("breaker.closed", i, this.#attempts[i] || undefined, { key });
    } else if (breaker.failure(this.#env.clock.now(), trial)) {
      const { threshold, cooldownMs } = breaker.policy;
      this.#emit("breaker.opened", i, this.#attempts[i] || undefined, {
        key,
        failures: trial ? 1 : threshold,
        cooldownMs,
      });
    }
  }

  /** Runs a task's fallback on the main thread, in its last attempt; its outcome is the task's. */
  #runFallback(i: number, fallback: NonNullable<TaskSpec["fallback"]>, error: unknown): void {
    this.#path![i] = 1;
    (this.#noRetry ??= new Uint8Array(this.#g.n))[i] = 1;
    const attempt = this.#attempts[i];
    this.#emit("task.fallback", i, attempt || undefined, { error: serializeError(toError(error)) });
    const ctx = new Context(this, i, this.#input, this.#runController.signal, Math.max(1, attempt), this.#g.ids[i]);
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(fallback(ctx));
    } catch (e) {
      promise = Promise.reject(e);
    }
    promise.then(
      (result) => this.#onResult(i, attempt, result, true),
      (e) => this.#onFallbackError(i, attempt, e, error),
    );
  }

  #blockingDep(i: number): number {
    const g = this.#g;
    for (let k = g.depStart[i]; k < g.depStart[i + 1]; k++) {
      const s = this.#status[g.depList[k]];
      if (s !== UNSETTLED && s !== CODE.completed) return g.depList[k];
    }
    return -1;
  }

  /**
   * A task's metadata.
   *
   * @param i The task.
   * @returns Its frozen metadata.
   */
  metadataOf(i: number): Readonly<Record<string, unknown>> {
    return this.#tasks[i].metadata;
  }

  /**
   * The results of a task's dependencies, by id.
   *
   * @param i The task.
   * @returns A fresh object.
   */
  depsOf(i: number): Readonly<Record<string, unknown>> {
    const g = this.#g;
    const from = g.depStart[i];
    const to = g.depStart[i + 1];
    if (from === to) return NO_DEPS;
    const deps: Record<string, unknown> = {};
    for (let k = from; k < to; k++) deps[g.ids[g.depList[k]]] = this.#results[g.depList[k]];
    return deps;
  }

  #emit<T extends FlowEventType>(
    type: T,
    i: number,
    attempt: number | undefined,
    data: EventDataMap[T],
    timestamp: number = this.#env.clock.now(),
  ): void {
    const env = this.#env;
    const event = {
      type,
      seq: env.log.nextSeq(),
      runId: this.id,
      workflowId: this.workflowId,
      taskId: i >= 0 ? this.#g.ids[i] : undefined,
      attempt,
      timestamp,
      data,
    } as AnyFlowEvent;
    // Not frozen here (that would cost the hot path ~1 µs a task): the bus and the log freeze an
    // event, to any depth, before any code outside the engine can reach it (see src/freeze.ts).
    env.log.append(event);
    if (!this.#durable) env.bus.emit(event);
  }
}

/** Above any critical-path rank: `io-first` adds it to the rank of io tasks, so they go first within a priority. */
const IO_FIRST = 2 ** 39;

/** Dispatch ranks for `io-first` of tasks [from, to): io tasks ahead, then by critical-path rank. */
function ioFirst(
  rank: Float64Array,
  tasks: readonly TaskSpec<unknown>[],
  from: number,
  to: number,
  out: Float64Array,
): Float64Array {
  for (let i = from; i < to; i++) out[i] = tasks[i].profile === "io" ? IO_FIRST + rank[i] : rank[i];
  return out;
}

/** The array if it is long enough, else a longer copy (see `grow`). */
function fit<T extends Uint8Array | Int32Array | Float64Array>(a: T, n: number, fill = 0): T {
  return a.length >= n ? a : grow(a, n, fill);
}

/** A copy of a typed array, longer, the new items set to `fill`. */
function grow<T extends Uint8Array | Int32Array | Float64Array>(a: T, n: number, fill = 0): T {
  const out = new (a.constructor as new (n: number) => T)(n);
  out.set(a);
  if (fill !== 0) out.fill(fill, a.length);
  return out;
}

function reportCacheError(taskId: string, error: unknown): void {
  console.error(`nerv-flow: the task cache failed to store the result of task "${taskId}"`, error);
}
