/**
 * The snapshot log: an Immutable.js list of every event and the state derived
 * from it. Serves projections (task status, workflow status, completed,
 * failed, and user-registered ones), time travel with `at(seq)`, replay, and
 * JSON export and import. Events reach a `LogStore` in order.
 *
 * Appending is O(1): events are folded into the persistent state in batches
 * (on read, every `batchSize` events, and at the end of each macrotask), with
 * Immutable's transient mutations, so the engine's hot path only pushes to an
 * array.
 *
 * On a durable store (`store.durable`), `durableSeq`, `whenDurable()`,
 * `sync()` and `onDurable()` say which events the store has acknowledged; the
 * engine acknowledges nothing before that. Batches go to the store at the end
 * of each macrotask, or at the end of the current microtask burst when
 * someone waits for them (`whenDurable`).
 *
 * @module
 */
import { IMap, IRecord, is, List } from "./deps.ts";
import { EvictedError, NotFoundError, skippedMessage } from "./errors.ts";
import { deepFreeze } from "./freeze.ts";
import { FIRST_TERMINAL, STATUS_CODE, TASK_STATUSES as STATUSES } from "./tables.ts";
import type {
  AnyFlowEvent,
  ErrorData,
  EventDataMap,
  LogStore,
  RunCheckpoint,
  RunStateData,
  StoredRun,
  TaskPath,
  TaskStateData,
  TaskStatus,
  WorkflowStatus,
} from "./types.ts";

/** A projection a user registers: a fold over every event of the log. */
export interface ProjectionDef<T> {
  /** Its name, for `project(name)`. */
  name: string;
  /** The value before any event. Prefer immutable values. */
  initial: T;
  /**
   * Folds one event into the value; must not mutate `value`.
   *
   * @param value The value so far.
   * @param event The next event.
   * @returns The new value.
   */
  reduce(value: T, event: AnyFlowEvent): T;
}

/** A task as the log sees it. */
export interface TaskView {
  /** The task id. */
  taskId: string;
  /** Its status. */
  status: TaskStatus;
  /** Attempts started. */
  attempts: number;
  /** When its first attempt started. */
  startedAt?: number;
  /** When it ended. */
  endedAt?: number;
  /** Its result, when completed. */
  result?: unknown;
  /** `true` when its result came from the cache (it did not run). */
  cached?: true;
  /** For a task with a fallback, once completed: which body produced the result. */
  path?: TaskPath;
  /** Its error, when failed, skipped or cancelled. */
  error?: ErrorData;
}

/** A run as the log sees it: the `workflowStatus` projection. */
export interface RunView {
  /** The run id. */
  runId: string;
  /** The workflow id (its name). */
  workflowId: string;
  /** The run's status. */
  status: WorkflowStatus;
  /** When it was created. */
  createdAt: number;
  /** When it started. */
  startedAt?: number;
  /** When it ended. */
  endedAt?: number;
  /** `endedAt - startedAt`, once ended. */
  durationMs?: number;
  /** Number of tasks. */
  taskCount: number;
  /** Tasks per status. */
  counts: Record<TaskStatus, number>;
  /** The run's error, when failed or cancelled. */
  error?: ErrorData;
}

/** The built-in projections and what they return for one run. */
export interface BuiltinProjections {
  /** Status by task id. */
  taskStatus: Record<string, TaskStatus>;
  /** The run's status, times and counts. */
  workflowStatus: RunView;
  /** Ids of completed tasks, in completion order. */
  completedTasks: string[];
  /** Ids of failed tasks, in failure order. */
  failedTasks: string[];
  /** Every task's view, by id. */
  tasks: Record<string, TaskView>;
}

/** The log's state at one point: what projections read. */
export interface LogState {
  /** The seq of the last event folded in (0 when empty). */
  readonly seq: number;
  /** Number of events folded in. */
  readonly size: number;
  /**
   * Ids of the runs seen, oldest first.
   *
   * @returns The run ids.
   */
  runs(): string[];
  /**
   * Reads a built-in projection of one run.
   *
   * @param name `taskStatus`, `workflowStatus`, `completedTasks`, `failedTasks` or `tasks`.
   * @param runId The run; the latest when omitted.
   * @returns The projection's value.
   * @throws {NotFoundError} No such run (or the log is empty).
   */
  project<K extends keyof BuiltinProjections>(name: K, runId?: string): BuiltinProjections[K];
  /**
   * Reads a registered projection.
   *
   * @param name The name it was registered under.
   * @returns Its value.
   * @throws {NotFoundError} No projection has that name.
   */
  project<T = unknown>(name: string): T;
  /**
   * One run's whole state as JSON data: what a checkpoint or a resume keeps.
   *
   * @param runId The run.
   * @returns Its state.
   * @throws {NotFoundError} No such run.
   */
  runState(runId: string): RunStateData;
  /**
   * Value equality with another state (events compared by value, results by identity).
   *
   * @param other Another state.
   * @returns Whether both hold the same runs, tasks and projection values.
   */
  equals(other: LogState): boolean;
}

/** Options of {@linkcode createSnapshotLog}. */
export interface SnapshotLogOptions {
  /** Where events go besides memory. */
  store?: LogStore;
  /**
   * Fold pending events into the state once this many are waiting.
   * @default {4096}
   */
  batchSize?: number;
  /**
   * Keep a state checkpoint every this many events, so `at(seq)` folds at most that many.
   * @default {16384}
   */
  checkpointEvery?: number;
  /** Called when the store rejects a batch. */
  onStoreError?: (error: unknown) => void;
  /**
   * Which finished runs the log keeps in memory (their events and state); the
   * store keeps everything it stored. Default: every run.
   */
  retention?: RetentionPolicy;
}

/**
 * Which finished runs (completed, failed or cancelled) a log keeps in memory.
 * A run is evicted, with its events and state, once it is more than `runs`
 * finished runs old or ended more than `ms` before the newest event; live runs
 * are never evicted. Reading an evicted run (a projection, `at(seq)`,
 * `events(runId)`, `runState`) reads it from the log store when the store
 * answers synchronously (the memory store), and otherwise throws
 * {@linkcode EvictedError}; never a partial answer. Registered (custom)
 * projections keep folding every event, but `at(seq)` and `register()` see
 * only the events still held.
 */
export interface RetentionPolicy {
  /**
   * Finished runs kept, the most recently finished first; an integer >= 1, or `Infinity`.
   * @default {Infinity}
   */
  runs?: number;
  /**
   * Keep a finished run for this many ms after it ended (by event timestamps); `Infinity` for no age limit.
   * @default {Infinity}
   */
  ms?: number;
}

/** The snapshot log of an engine. */
export interface SnapshotLog {
  /** The seq of the last appended event. */
  readonly seq: number;
  /** Whether the store is durable: events count as acknowledged only once it has stored them. */
  readonly durable: boolean;
  /** The seq of the last event the store acknowledged (every event, at once, on a store that is not durable). */
  readonly durableSeq: number;
  /**
   * Hands pending events to the store and waits until it has acknowledged every event appended so far.
   *
   * @returns When they are stored.
   * @throws {Error} The store failed (the promise rejects with its error); later calls reject too.
   */
  sync(): Promise<void>;
  /**
   * Waits until the store has acknowledged the event with this seq and every one before it (without handing pending events over now).
   *
   * @param seq A seq of this log.
   * @returns When they are stored.
   * @throws {Error} The store failed (the promise rejects with its error).
   */
  whenDurable(seq: number): Promise<void>;
  /**
   * Listens to acknowledged batches: called with each batch, in order, once the store has it.
   *
   * @param listener Receives the batch's events.
   * @returns A function that stops listening.
   */
  onDurable(listener: (events: readonly AnyFlowEvent[]) => void): () => void;
  /**
   * Appends an event; its `seq` must be greater than every earlier one.
   *
   * @param event The event.
   * @throws {RangeError} Its seq is not greater than the last.
   */
  append(event: AnyFlowEvent): void;
  /**
   * The next free seq; the engine numbers its events with it.
   *
   * @returns The seq to give the next event.
   */
  nextSeq(): number;
  /**
   * Every event, oldest first, or one run's.
   *
   * @param runId Only this run's events.
   * @returns The events.
   */
  events(runId?: string): AnyFlowEvent[];
  /**
   * The current state.
   *
   * @returns The state after the last appended event.
   */
  state(): LogState;
  /**
   * The state right after the event with this seq (time travel).
   *
   * @param seq A seq of this log; 0 gives the empty state.
   * @returns The state then.
   * @throws {RangeError} `seq` is negative or beyond the last event.
   */
  at(seq: number): LogState;
  /**
   * Builds a state from scratch out of `events`, with this log's registered projections.
   *
   * @param events Events in seq order.
   * @returns The rebuilt state.
   */
  replay(events: readonly AnyFlowEvent[]): LogState;
  /**
   * Reads a projection of the current state (see {@linkcode LogState.project}).
   *
   * @param name The projection.
   * @param runId The run, for built-in projections; the latest when omitted.
   * @returns Its value.
   * @throws {NotFoundError} Unknown projection or run.
   */
  project<K extends keyof BuiltinProjections>(name: K, runId?: string): BuiltinProjections[K];
  /**
   * Reads a registered projection of the current state.
   *
   * @param name Its name.
   * @returns Its value.
   * @throws {NotFoundError} No projection has that name.
   */
  project<T = unknown>(name: string): T;
  /**
   * Registers a projection; it folds every event already in the log, then each new one.
   *
   * @param def Its name, initial value and reducer.
   * @throws {TypeError} The name is taken or the definition is malformed.
   */
  register<T>(def: ProjectionDef<T>): void;
  /**
   * Listens to state changes; called after each batch is folded in.
   *
   * @param listener Receives the new state and the batch of events just folded in.
   * @returns A function that stops listening.
   */
  subscribe(listener: (state: LogState, batch: readonly AnyFlowEvent[]) => void): () => void;
  /**
   * Listens to evictions under the retention policy: called with the ids of the runs just evicted.
   *
   * @param listener Receives the run ids, oldest first.
   * @returns A function that stops listening.
   */
  onEvict(listener: (runIds: readonly string[]) => void): () => void;
  /**
   * Whether a run was evicted under the retention policy (remembered for the last 10,000 evictions).
   *
   * @param runId The run.
   * @returns `true` when it was evicted and not seen since.
   */
  evicted(runId: string): boolean;
  /** Folds pending events into the state and hands them to the store now. */
  flush(): void;
  /**
   * The log as JSON-ready data: `{ format, version, events }`.
   *
   * @returns The export.
   */
  toJSON(): LogExport;
  /** Drops the pending flush timer (the engine calls this on close). */
  close(): void;
}

/** What `toJSON()` writes and {@linkcode importLog} reads. */
export interface LogExport {
  /** Always `"nerv-flow/log"`. */
  format: "nerv-flow/log";
  /** Format version. */
  version: 1;
  /** The events, oldest first. */
  events: AnyFlowEvent[];
}

/**
 * One task's state in the log: a frozen value object. Immutable.js compares
 * value objects with `equals`, so states rebuilt by replay compare equal.
 */
class TaskState {
  readonly status: TaskStatus;
  readonly attempts: number;
  readonly startedAt: number | undefined;
  readonly endedAt: number | undefined;
  readonly result: unknown;
  readonly cached: boolean;
  readonly path: TaskPath | undefined;
  readonly error: ErrorData | undefined;
  readonly order: number;
  constructor(d: TaskDraft) {
    this.status = d.status;
    this.attempts = d.attempts;
    this.startedAt = d.startedAt;
    this.endedAt = d.endedAt;
    this.result = d.result;
    this.cached = d.cached;
    this.path = d.path;
    this.error = d.error;
    this.order = d.order;
    Object.freeze(this);
  }
  equals(other: unknown): boolean {
    return other instanceof TaskState && other.status === this.status && other.attempts === this.attempts &&
      other.startedAt === this.startedAt && other.endedAt === this.endedAt && other.order === this.order &&
      other.cached === this.cached && other.path === this.path && deepEqual(other.result, this.result) &&
      deepEqual(other.error, this.error);
  }
  hashCode(): number {
    return (this.attempts * 31 + this.order) | 0;
  }
}

interface TaskDraft {
  status: TaskStatus;
  attempts: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
  result: unknown;
  cached: boolean;
  path: TaskPath | undefined;
  error: ErrorData | undefined;
  order: number;
}

/**
 * Value equality for what events carry: Immutable values by `is`, arrays and
 * plain objects member by member, anything else by identity. A state
 * rebuilt from a JSON export thus equals the original.
 */
function deepEqual(a: unknown, b: unknown, depth = 0): boolean {
  if (is(a, b)) return true;
  if (depth > 64 || a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i], depth + 1)) return false;
    return true;
  }
  if (!isPlain(a) || !isPlain(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (
      !Object.hasOwn(b, k) ||
      !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], depth + 1)
    ) {
      return false;
    }
  }
  return true;
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A plain value held in an Immutable record, compared by {@linkcode deepEqual}. */
class Deep<T> {
  readonly value: T;
  constructor(value: T) {
    this.value = value;
    Object.freeze(this);
  }
  equals(other: unknown): boolean {
    return other instanceof Deep && deepEqual(this.value, other.value);
  }
  hashCode(): number {
    return 0;
  }
}

type RunRecProps = {
  runId: string;
  workflowId: string;
  status: WorkflowStatus;
  createdAt: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
  error: Deep<ErrorData> | undefined;
  input: Deep<unknown> | undefined;
  taskIds: List<string>;
  tasks: List<TaskState | undefined>;
  counts: List<number>;
  ends: number;
};
const RunRec = IRecord<RunRecProps>({
  runId: "",
  workflowId: "",
  status: "created",
  createdAt: 0,
  startedAt: undefined,
  endedAt: undefined,
  error: undefined,
  input: undefined,
  taskIds: List<string>(),
  tasks: List<TaskState | undefined>(),
  counts: List<number>(),
  ends: 0,
});
type RunRec = ReturnType<typeof RunRec>;

/** Index of each task id in a run's `taskIds` list, derived once per list. */
const indexCache = new WeakMap<List<string>, Map<string, number>>();
function indexOf(ids: List<string>): Map<string, number> {
  let index = indexCache.get(ids);
  if (index === undefined) {
    index = new Map();
    let i = 0;
    for (const id of ids) index.set(id, i++);
    indexCache.set(ids, index);
  }
  return index;
}

interface Core {
  runs: IMap<string, RunRec>;
  custom: IMap<string, unknown>;
  size: number;
  seq: number;
}

const EMPTY_CORE: Core = { runs: IMap(), custom: IMap(), size: 0, seq: 0 };
const ZERO_COUNTS = List<number>([0, 0, 0, 0, 0, 0, 0, 0]);
const isTerminal = (s: TaskStatus) => STATUS_CODE[s] >= FIRST_TERMINAL;

/**
 * Creates a snapshot log.
 *
 * @param options Store, batch and checkpoint sizes.
 * @returns The log.
 * @throws {RangeError} A size is not a positive integer.
 *
 * @example Projections and time travel
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const wf = defineWorkflow({ name: "two", tasks: [
 *   { id: "a", run: () => 1 },
 *   { id: "b", dependsOn: ["a"], run: ({ deps }) => Number(deps.a) + 1 },
 * ] });
 * const { runId } = await engine.run(wf);
 * const log = engine.log;
 * assert.deepEqual(log.project("completedTasks", runId), ["a", "b"]);
 * const firstDone = log.events(runId).find((e) => e.type === "task.completed")!;
 * assert.deepEqual(log.at(firstDone.seq).project("completedTasks", runId), ["a"]);
 * assert.ok(log.replay(log.events()).equals(log.state()));
 * await engine.close();
 * ```
 */
export function createSnapshotLog(options: SnapshotLogOptions = {}): SnapshotLog {
  const batchSize = positiveInt("batchSize", options.batchSize ?? 4096);
  const checkpointEvery = positiveInt("checkpointEvery", options.checkpointEvery ?? 16384);
  const store = options.store;
  const onStoreError = options.onStoreError ??
    ((error: unknown) => console.error("nerv-flow: the log store rejected a batch", error));
  const durable = store?.durable === true;
  const storeSeq = store?.lastSeq ?? 0;
  if (!Number.isInteger(storeSeq) || storeSeq < 0) {
    throw new RangeError(`Cannot create snapshot log: the store's lastSeq ${storeSeq} must be an integer >= 0`);
  }
  // 0: no checkpoints (the store takes none, or asks for none with Infinity).
  const every = store?.writeCheckpoint === undefined ? 0 : store.runCheckpointEvery ?? 10_000;
  const runCheckpointEvery = Number.isFinite(every) && every > 0 ? every : 0;
  let events = List<AnyFlowEvent>();
  let pending: AnyFlowEvent[] = [];
  let core: Core = EMPTY_CORE;
  let view: StateView | undefined;
  let lastSeq = storeSeq;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let burst = false;
  const projections: ProjectionDef<unknown>[] = [];
  const checkpoints: Core[] = [EMPTY_CORE];
  const listeners = new Set<(state: LogState, batch: readonly AnyFlowEvent[]) => void>();
  // Acknowledgement: what the store has, in order.
  let durableSeq = lastSeq;
  let acked: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | undefined;
  const waiters: { seq: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  const durableListeners = new Set<(events: readonly AnyFlowEvent[]) => void>();
  const sinceCheckpoint = new Map<string, number>();
  // Retention: finished runs in the order they ended (id → end timestamp), and what was evicted.
  const keepRuns = retentionLimit("runs", options.retention?.runs, 1);
  const keepMs = retentionLimit("ms", options.retention?.ms, 0);
  const bounded = keepRuns !== Infinity || keepMs !== Infinity;
  // Finished runs, oldest first, as a queue (ids, end times); `finished` maps each to its latest queue slot
  // (a run that ended again has a newer slot; the older one is skipped).
  const queueIds: string[] = [];
  const queueEnds: number[] = [];
  let queueHead = 0;
  let queueBase = 0; // the absolute slot number of queueIds[0]
  const finished = new Map<string, number>();
  const dropped = new Set<string>(); // evicted; their events still in `events` until the next compaction
  let droppedEvents = 0; // about how many events of `events` the dropped runs hold
  const forgotten = new Set<string>(); // the last EVICTED_MEMORY evicted runs
  const forgottenRing: (string | undefined)[] = [];
  let forgottenNext = 0;
  const evictListeners = new Set<(runIds: readonly string[]) => void>();
  let newest = -Infinity; // the newest event timestamp: the age limit's "now"
  let compacted = false; // events of evicted runs were dropped: at() can no longer fold custom projections
  const isEvicted = (runId: string) => forgotten.has(runId) || dropped.has(runId);
  const lookup: Lookup = {
    evicted: isEvicted,
    load(runId) {
      if (!isEvicted(runId)) {
        if (forgotten.size === 0) return undefined;
        throw new NotFoundError("run", runId, ` in the log (finished runs are evicted: it keeps ${retentionWords()})`);
      }
      const stored = store === undefined ? undefined : readStored(store, runId);
      if (stored === undefined) throw new EvictedError(runId, retentionWords());
      return stored;
    },
  };
  const retentionWords = () => describeRetention(keepRuns, keepMs);
  const retain = (batch: readonly AnyFlowEvent[]) => {
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i];
      if (e.timestamp > newest) newest = e.timestamp;
      const type = e.type;
      if (type === "workflow.completed" || type === "workflow.failed" || type === "workflow.cancelled") {
        finished.set(e.runId, queueBase + queueIds.length);
        queueIds.push(e.runId);
        queueEnds.push(e.timestamp);
      } else if ((type === "workflow.created" || type === "workflow.resumed") && forgotten.size > 0) {
        forgotten.delete(e.runId); // seen again (resumed from a store)
        dropped.delete(e.runId);
      }
    }
    let out: string[] | undefined;
    while (queueHead < queueIds.length) {
      const runId = queueIds[queueHead];
      if (finished.get(runId) !== queueBase + queueHead) { // ended again later: a newer slot holds it
        queueHead++;
        continue;
      }
      if (finished.size <= keepRuns && !(queueEnds[queueHead] < newest - keepMs)) break;
      queueHead++;
      finished.delete(runId);
      const run = core.runs.get(runId);
      if (run === undefined || !isRunEnded(run.status)) continue; // running again: kept until it ends again
      (out ??= []).push(runId);
    }
    if (queueHead >= 1024 && queueHead * 2 >= queueIds.length) {
      queueIds.splice(0, queueHead);
      queueEnds.splice(0, queueHead);
      queueBase += queueHead;
      queueHead = 0;
    }
    if (out === undefined) return;
    const gone = out;
    const base = core;
    core = { ...core, runs: core.runs.withMutations((m) => gone.forEach((runId) => m.delete(runId))) };
    for (const runId of gone) {
      dropped.add(runId);
      droppedEvents += 4 * base.runs.get(runId)!.taskIds.size + 4; // created, started, ended; ~4 per task
      sinceCheckpoint.delete(runId);
      // Remember the last EVICTED_MEMORY evictions, in a ring.
      const old = forgottenRing[forgottenNext];
      if (old !== undefined) forgotten.delete(old);
      forgottenRing[forgottenNext] = runId;
      forgottenNext = (forgottenNext + 1) % EVICTED_MEMORY;
      forgotten.add(runId);
    }
    // Drop the evicted runs' events once they are about half the list: O(1) amortized per event.
    if (droppedEvents >= Math.max(4096, events.size - droppedEvents)) {
      events = events.filter((e) => !dropped.has(e.runId));
      dropped.clear();
      droppedEvents = 0;
      core = { ...core, size: events.size };
      checkpoints.length = 0;
      checkpoints.push({ ...EMPTY_CORE, custom: core.custom.clear() });
      compacted = true;
    }
    for (const listener of evictListeners) {
      try {
        listener(gone);
      } catch (error) {
        console.error("nerv-flow: an eviction listener threw", error);
      }
    }
  };

  const acknowledge = (batch: readonly AnyFlowEvent[]) => {
    if (failure !== undefined) return;
    durableSeq = batch[batch.length - 1].seq;
    if (durableListeners.size > 0) freezeEvents(batch);
    for (const listener of durableListeners) {
      try {
        listener(batch);
      } catch (error) {
        console.error("nerv-flow: a durability listener threw", error);
      }
    }
    let k = 0;
    while (k < waiters.length && waiters[k].seq <= durableSeq) waiters[k++].resolve();
    if (k > 0) waiters.splice(0, k);
  };
  const fail = (error: unknown) => {
    if (failure !== undefined) return;
    failure = { error };
    onStoreError(error);
    for (const w of waiters.splice(0)) w.reject(error);
  };
  const toStore = (batch: AnyFlowEvent[]) => {
    // A store we did not make may keep the events and hand them out: they are frozen first.
    if (!OWN_STORES.has(store!)) freezeEvents(batch);
    let done: void | Promise<void>;
    try {
      done = store!.append(batch);
    } catch (error) {
      done = Promise.reject(error);
    }
    if (!durable) {
      if (done instanceof Promise) done.catch(onStoreError);
      acknowledge(batch);
      return;
    }
    // Acknowledge in order, whatever order the store's promises settle in.
    const stored = Promise.resolve(done);
    stored.catch(() => {}); // Handled below, in order; not an unhandled rejection meanwhile.
    acked = acked.then(() => stored).then(() => acknowledge(batch), fail);
    if (runCheckpointEvery > 0) checkpointRuns(batch);
  };
  const checkpointRuns = (batch: readonly AnyFlowEvent[]) => {
    for (let i = 0; i < batch.length; i++) {
      const runId = batch[i].runId;
      sinceCheckpoint.set(runId, (sinceCheckpoint.get(runId) ?? 0) + 1);
    }
    for (const [runId, count] of sinceCheckpoint) {
      const run = core.runs.get(runId);
      if (run === undefined || isRunEnded(run.status)) {
        sinceCheckpoint.delete(runId);
        continue;
      }
      if (count < Math.max(runCheckpointEvery, run.taskIds.size)) continue;
      sinceCheckpoint.set(runId, 0);
      // Frozen: the store may keep it, and it shares the log's values.
      const checkpoint: RunCheckpoint = deepFreeze({ runId, seq: core.seq, state: exportRun(run) });
      try {
        const done = store!.writeCheckpoint!(checkpoint);
        if (done instanceof Promise) done.catch(fail);
      } catch (error) {
        fail(error);
      }
    }
  };

  const flush = () => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    events = events.withMutations((list) => {
      for (let i = 0; i < batch.length; i++) list.push(batch[i]);
    });
    core = fold(core, batch, 0, batch.length, projections);
    view = undefined;
    if (bounded) retain(batch);
    if (core.size - checkpoints[checkpoints.length - 1].size >= checkpointEvery) checkpoints.push(core);
    if (store !== undefined) toStore(batch);
    else acknowledge(batch);
    if (listeners.size > 0) {
      const state = current();
      for (const listener of listeners) {
        try {
          listener(state, batch);
        } catch (error) {
          console.error("nerv-flow: a log subscriber threw", error);
        }
      }
    }
  };
  const whenDurable = (seq: number): Promise<void> => {
    if (failure !== undefined) return Promise.reject(failure.error);
    if (durableSeq >= seq) return Promise.resolve();
    if (pending.length > 0 && seq >= pending[0].seq && !burst) {
      // Someone waits for events not handed over yet: hand them over at the end of this burst, not after a timer.
      burst = true;
      queueMicrotask(endBurst);
    }
    return new Promise<void>((resolve, reject) => {
      // Kept in seq order, so the oldest waiters are served first.
      let k = waiters.length;
      while (k > 0 && waiters[k - 1].seq > seq) k--;
      waiters.splice(k, 0, { seq, resolve, reject });
    });
  };
  const endBurst = () => {
    burst = false;
    flush();
  };
  const current = (): StateView => {
    flush();
    return view ??= new StateView(core, projections, lookup);
  };
  const positionOf = (seq: number): number => {
    // Number of events with seq <= `seq` (events are in ascending seq order).
    let lo = 0;
    let hi = events.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (events.get(mid)!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const log: SnapshotLog = {
    get seq() {
      return lastSeq;
    },
    durable,
    get durableSeq() {
      return durableSeq;
    },
    nextSeq() {
      return lastSeq + 1;
    },
    append(event) {
      if (!(event.seq > lastSeq)) {
        throw new RangeError(`Cannot append event with seq ${event.seq}: the log is at seq ${lastSeq}`);
      }
      lastSeq = event.seq;
      pending.push(event);
      if (pending.length >= batchSize) flush();
      else if (pending.length === 1 && (listeners.size > 0 || store !== undefined)) {
        timer = setTimeout(flush, 0);
      }
    },
    sync() {
      flush();
      return whenDurable(lastSeq);
    },
    whenDurable,
    onDurable(listener) {
      durableListeners.add(listener);
      return () => durableListeners.delete(listener);
    },
    events(runId) {
      flush();
      const all = events.toArray();
      if (runId !== undefined && lookup.evicted(runId) && !core.runs.has(runId)) {
        lookup.load(runId); // throws unless the store has it
        const stored = store!.read(runId);
        if (stored instanceof Promise) throw new EvictedError(runId, retentionWords());
        return freezeEvents(stored.slice());
      }
      if (dropped.size > 0) {
        return freezeEvents(all.filter((e) => (runId === undefined || e.runId === runId) && !dropped.has(e.runId)));
      }
      return freezeEvents(runId === undefined ? all : all.filter((e) => e.runId === runId));
    },
    state: current,
    at(seq) {
      flush();
      if (!Number.isInteger(seq) || seq < 0 || seq > lastSeq) {
        throw new RangeError(`Cannot travel to seq ${seq}: expected an integer in [0, ${lastSeq}]`);
      }
      const position = positionOf(seq);
      let base = checkpoints[0];
      for (let lo = 0, hi = checkpoints.length - 1; lo <= hi;) {
        const mid = (lo + hi) >>> 1;
        if (checkpoints[mid].size <= position) {
          base = checkpoints[mid];
          lo = mid + 1;
        } else hi = mid - 1;
      }
      const slice = events.slice(base.size, position).toArray();
      const past = new StateView(fold(base, slice, 0, slice.length, projections), projections, lookup);
      if (compacted && projections.length > 0) past.partial = true;
      return past;
    },
    replay(input) {
      return new StateView(fold(EMPTY_CORE, input, 0, input.length, projections), projections);
    },
    project(name: string, runId?: string) {
      return current().project(name as keyof BuiltinProjections, runId);
    },
    register<T>(def: ProjectionDef<T>) {
      if (def === null || typeof def !== "object" || typeof def.name !== "string" || typeof def.reduce !== "function") {
        throw new TypeError("Cannot register projection: expected { name, initial, reduce }");
      }
      if (def.name in BUILTINS || projections.some((p) => p.name === def.name)) {
        throw new TypeError(`Cannot register projection "${def.name}": the name is taken`);
      }
      flush();
      const p = def as ProjectionDef<unknown>;
      projections.push(p);
      let value = p.initial;
      for (const e of events) value = p.reduce(value, e);
      core = { ...core, custom: core.custom.set(p.name, value) };
      // Earlier checkpoints lack the new projection: keep only the empty one.
      checkpoints.length = 1;
      view = undefined;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush,
    onEvict(listener) {
      evictListeners.add(listener);
      return () => evictListeners.delete(listener);
    },
    evicted(runId) {
      return lookup.evicted(runId);
    },
    toJSON() {
      flush();
      const all = events.toArray();
      return {
        format: "nerv-flow/log",
        version: 1,
        events: freezeEvents(dropped.size > 0 ? all.filter((e) => !dropped.has(e.runId)) : all),
      };
    },
    close() {
      flush();
      listeners.clear();
    },
  };
  return log;
}

/**
 * Rebuilds a log from its JSON export.
 *
 * @param data What `toJSON()` wrote (parsed).
 * @param options Options of the new log.
 * @returns A log holding the same events and state.
 * @throws {TypeError} The data is not a nerv-flow log export.
 *
 * @example Round trip
 * ```ts
 * import { createSnapshotLog, importLog } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 * const log = createSnapshotLog();
 * log.append({ type: "workflow.created", seq: 1, runId: "r", workflowId: "w", timestamp: 0,
 *   data: { name: "w", taskIds: [] } });
 * const copy = importLog(JSON.parse(JSON.stringify(log)));
 * assert.equal(copy.project("workflowStatus", "r").status, "created");
 * ```
 */
export function importLog(data: LogExport, options?: SnapshotLogOptions): SnapshotLog {
  if (data === null || typeof data !== "object" || data.format !== "nerv-flow/log" || !Array.isArray(data.events)) {
    throw new TypeError('Cannot import log: expected { format: "nerv-flow/log", version: 1, events: [...] }');
  }
  if (data.version !== 1) throw new TypeError(`Cannot import log: unsupported version ${data.version}`);
  const log = createSnapshotLog(options);
  for (const event of data.events) log.append(deepFreeze(event));
  log.flush();
  return log;
}

/** The in-memory `LogStore`: synchronous, not durable. */
export interface MemoryLogStore extends LogStore {
  /** The highest seq appended (0 when empty): a second engine on this store numbers after it. */
  readonly lastSeq: number;
  /**
   * Appends events, in order.
   *
   * @param events The events.
   */
  append(events: readonly AnyFlowEvent[]): void;
  /**
   * Reads one run's events, in order.
   *
   * @param runId The run.
   * @returns A copy of its events (empty for an unknown run).
   */
  read(runId: string): AnyFlowEvent[];
  /**
   * The runs stored, oldest first.
   *
   * @returns Their ids.
   */
  runs(): string[];
  /**
   * Drops a run's events (an engine drops the runs its log evicts from the memory store it made itself).
   *
   * @param runId The run.
   * @returns Whether the store had it.
   */
  delete(runId: string): boolean;
}

/**
 * Creates the default `LogStore`: events kept in memory, per run.
 *
 * @returns The store.
 *
 * @example
 * ```ts
 * import { createMemoryLogStore } from "@nerv/flow/extend";
 * const store = createMemoryLogStore();
 * console.log(store.read("nope").length); // 0
 * ```
 */
export function createMemoryLogStore(): MemoryLogStore {
  const runs = new Map<string, AnyFlowEvent[]>();
  let lastSeq = 0;
  const store: MemoryLogStore = {
    get lastSeq() {
      return lastSeq;
    },
    append(events) {
      if (events.length > 0) lastSeq = Math.max(lastSeq, events[events.length - 1].seq);
      let runId = "";
      let list: AnyFlowEvent[] | undefined;
      for (const e of events) {
        if (e.runId !== runId || list === undefined) {
          runId = e.runId;
          list = runs.get(runId);
          if (list === undefined) runs.set(runId, list = []);
        }
        list.push(e);
      }
    },
    read(runId) {
      return freezeEvents(runs.get(runId)?.slice() ?? []);
    },
    runs() {
      return [...runs.keys()];
    },
    delete(runId) {
      return runs.delete(runId);
    },
  };
  OWN_STORES.add(store);
  return store;
}

/** The memory stores this module made: they hand events out frozen, so the log need not freeze what it gives them. */
const OWN_STORES = new WeakSet<LogStore>();

/**
 * Freezes events, to any depth, as they leave the engine's hands (to a listener, a reader,
 * a store): once each, then an `isFrozen` check. The engine does not freeze them as it
 * makes them, which would cost its hot path ~1 µs a task (bench/immutability.ts).
 */
function freezeEvents<T extends readonly AnyFlowEvent[]>(events: T): T {
  for (let i = 0; i < events.length; i++) if (!Object.isFrozen(events[i])) deepFreeze(events[i]);
  return events;
}

const BUILTINS: Record<keyof BuiltinProjections, true> = {
  taskStatus: true,
  workflowStatus: true,
  completedTasks: true,
  failedTasks: true,
  tasks: true,
};

/** How a state finds runs evicted under the log's retention policy. */
interface Lookup {
  /** Whether the run was evicted. */
  evicted(runId: string): boolean;
  /** An evicted run's record from the store; throws `EvictedError` when the store cannot serve it now. */
  load(runId: string): RunRec | undefined;
}

class StateView implements LogState {
  readonly #core: Core;
  readonly #projections: readonly ProjectionDef<unknown>[];
  readonly #memo = new Map<string, unknown>();
  readonly #lookup: Lookup | undefined;
  /** A past state (`at`) whose custom projections miss the events of evicted runs. */
  partial = false;
  constructor(core: Core, projections: readonly ProjectionDef<unknown>[], lookup?: Lookup) {
    this.#core = core;
    this.#projections = projections;
    this.#lookup = lookup;
  }
  /** The run's record: held, read from the store when evicted, or `undefined`. */
  #run(runId: string | undefined): RunRec | undefined {
    if (runId === undefined) return this.#core.runs.last();
    const run = this.#core.runs.get(runId);
    const lookup = this.#lookup;
    if (lookup === undefined || (run !== undefined && !lookup.evicted(runId))) return run;
    return lookup.load(runId);
  }
  get seq(): number {
    return this.#core.seq;
  }
  get size(): number {
    return this.#core.size;
  }
  runs(): string[] {
    const ids = this.#core.runs.keySeq().toArray();
    const lookup = this.#lookup;
    return lookup === undefined ? ids : ids.filter((id) => !lookup.evicted(id));
  }
  project(name: string, runId?: string): never {
    if (!(name in BUILTINS)) {
      if (this.partial && this.#projections.some((p) => p.name === name)) {
        throw new NotFoundError("projection", name, " at this seq: the log evicted runs whose events it folds");
      }
      if (this.#core.custom.has(name)) return this.#core.custom.get(name) as never;
      const def = this.#projections.find((p) => p.name === name);
      if (def === undefined) throw new NotFoundError("projection", name);
      return def.initial as never;
    }
    const key = `${name}\u0000${runId ?? ""}`;
    if (this.#memo.has(key)) return this.#memo.get(key) as never;
    const run = this.#run(runId);
    if (run === undefined) throw new NotFoundError("run", runId ?? "(latest)", " in the log");
    // Frozen: every reader of this state gets the same value, so none may change it for the others.
    const value = deepFreeze(projectRun(name as keyof BuiltinProjections, run));
    this.#memo.set(key, value);
    return value as never;
  }
  runState(runId: string): RunStateData {
    const run = this.#run(runId);
    if (run === undefined) throw new NotFoundError("run", runId, " in the log");
    return deepFreeze(exportRun(run));
  }
  equals(other: LogState): boolean {
    if (!(other instanceof StateView)) return false;
    const a = this.#core;
    const b = other.#core;
    if (a.seq !== b.seq || a.size !== b.size || !a.runs.equals(b.runs)) return false;
    for (const p of this.#projections) {
      const va = a.custom.has(p.name) ? a.custom.get(p.name) : p.initial;
      const vb = b.custom.has(p.name) ? b.custom.get(p.name) : p.initial;
      if (!deepEqual(va, vb)) return false;
    }
    return a.custom.size === b.custom.size || this.#projections.length > 0;
  }
}

function projectRun(name: keyof BuiltinProjections, run: RunRec): unknown {
  const ids = run.taskIds;
  const tasks = run.tasks;
  switch (name) {
    case "taskStatus": {
      const out: Record<string, TaskStatus> = {};
      ids.forEach((id, i) => {
        out[id] = tasks.get(i)?.status ?? "pending";
      });
      return out;
    }
    case "workflowStatus": {
      const counts = {} as Record<TaskStatus, number>;
      STATUSES.forEach((s, k) => counts[s] = run.counts.get(k) ?? 0);
      const view: RunView = {
        runId: run.runId,
        workflowId: run.workflowId,
        status: run.status,
        createdAt: run.createdAt,
        taskCount: ids.size,
        counts,
      };
      if (run.startedAt !== undefined) view.startedAt = run.startedAt;
      if (run.endedAt !== undefined) {
        view.endedAt = run.endedAt;
        view.durationMs = run.endedAt - (run.startedAt ?? run.createdAt);
      }
      if (run.error !== undefined) view.error = run.error.value;
      return view;
    }
    case "completedTasks":
    case "failedTasks": {
      const want: TaskStatus = name === "completedTasks" ? "completed" : "failed";
      const found: [number, string][] = [];
      ids.forEach((id, i) => {
        const t = tasks.get(i);
        if (t !== undefined && t.status === want) found.push([t.order, id]);
      });
      return found.sort((a, b) => a[0] - b[0]).map((f) => f[1]);
    }
    case "tasks": {
      const out: Record<string, TaskView> = {};
      ids.forEach((id, i) => {
        const t = tasks.get(i);
        const v: TaskView = { taskId: id, status: t?.status ?? "pending", attempts: t?.attempts ?? 0 };
        if (t !== undefined) {
          if (t.startedAt !== undefined) v.startedAt = t.startedAt;
          if (t.endedAt !== undefined) v.endedAt = t.endedAt;
          if (t.status === "completed") {
            v.result = t.result;
            if (t.cached) v.cached = true;
            if (t.path !== undefined) v.path = t.path;
          }
          if (t.error !== undefined) v.error = t.error;
        }
        out[id] = v;
      });
      return out;
    }
  }
}

interface RunDraft {
  /** The run's state was replaced (`workflow.resumed`): build it afresh, not on `rec`. */
  reset: boolean;
  rec: RunRec;
  fields: Partial<RunRecProps>;
  ids: List<string>;
  index: Map<string, number>;
  added: string[];
  touched: Map<number, TaskDraft>;
  counts: number[];
  ends: number;
}

/** Folds events[from, to) into a core with transient (batch-local) mutation. */
function fold(
  base: Core,
  events: readonly AnyFlowEvent[],
  from: number,
  to: number,
  projections: readonly ProjectionDef<unknown>[],
): Core {
  if (from >= to) return base;
  const drafts = new Map<string, RunDraft>();
  let draft: RunDraft | undefined;
  let draftRun = "";
  for (let i = from; i < to; i++) {
    const e = events[i];
    if (e.runId !== draftRun || draft === undefined) {
      draftRun = e.runId;
      draft = drafts.get(draftRun);
      if (draft === undefined) {
        const rec = base.runs.get(draftRun) ??
          RunRec({ runId: e.runId, workflowId: e.workflowId, createdAt: e.timestamp, counts: ZERO_COUNTS });
        draft = {
          reset: false,
          rec,
          fields: {},
          ids: rec.taskIds,
          index: indexOf(rec.taskIds),
          added: [],
          touched: new Map(),
          counts: rec.counts.toArray(),
          ends: rec.ends,
        };
        drafts.set(draftRun, draft);
      }
    }
    applyEvent(draft, e);
  }
  const runs = base.runs.withMutations((m) => {
    for (const [runId, d] of drafts) {
      let ids = d.ids;
      if (d.added.length > 0) {
        // d.index already holds the added ids at these positions.
        ids = ids.withMutations((l) => {
          for (const id of d.added) l.push(id);
        });
        indexCache.set(ids, d.index);
      }
      const rec = d.reset ? RunRec({ runId }) : d.rec;
      const tasks = d.touched.size === 0 ? rec.tasks : rec.tasks.withMutations((l) => {
        for (const [k, t] of d.touched) l.set(k, new TaskState(t));
      });
      m.set(runId, rec.merge({ ...d.fields, taskIds: ids, tasks, counts: List(d.counts), ends: d.ends }));
    }
  });
  let custom = base.custom;
  if (projections.length > 0) {
    custom = custom.withMutations((m) => {
      for (const p of projections) {
        let value = m.has(p.name) ? m.get(p.name) : p.initial;
        for (let i = from; i < to; i++) value = p.reduce(value, events[i]);
        m.set(p.name, value);
      }
    });
  }
  return { runs, custom, size: base.size + (to - from), seq: events[to - 1].seq };
}

function applyEvent(d: RunDraft, e: AnyFlowEvent): void {
  switch (e.type) {
    case "workflow.created": {
      d.fields.workflowId = e.workflowId;
      d.fields.createdAt = e.timestamp;
      d.fields.status = "created";
      if (d.ids.size === 0 && d.added.length === 0) {
        const ids = List(e.data.taskIds);
        d.ids = ids;
        d.index = indexOf(ids);
        d.counts[0] += ids.size;
      }
      return;
    }
    case "workflow.started":
      d.fields.status = "running";
      d.fields.startedAt = e.timestamp;
      d.fields.input = new Deep(e.data.input);
      return;
    case "workflow.resumed":
      restoreDraft(d, e.data.state);
      return;
    case "workflow.completed":
      d.fields.status = "completed";
      d.fields.endedAt = e.timestamp;
      return;
    case "workflow.failed":
      d.fields.status = "failed";
      d.fields.endedAt = e.timestamp;
      d.fields.error = new Deep(e.data.error);
      return;
    case "workflow.cancelled":
      d.fields.status = "cancelled";
      d.fields.endedAt = e.timestamp;
      d.fields.error = new Deep(e.data.reason);
      return;
    case "executor.inline":
    case "breaker.opened":
    case "breaker.half-opened":
    case "breaker.closed":
    case "task.fallback":
    case "task.reprioritized":
    case "task.spawned":
      return;
  }
  const taskId = e.taskId!;
  let k = d.index.get(taskId);
  if (k === undefined) {
    // A task the run did not announce (added during the run): give it the next index.
    k = d.ids.size + d.added.length;
    d.added.push(taskId);
    d.counts[0]++;
    // Take the list's index over (O(1), not a copy per batch): the older list's is rebuilt if it is ever asked for.
    if (d.index === indexCache.get(d.ids)) indexCache.delete(d.ids);
    d.index.set(taskId, k);
  }
  let t = d.touched.get(k);
  if (t === undefined) {
    const rec = d.rec.tasks.get(k);
    // A task with no state is pending (counted when announced): store nothing yet.
    if (rec === undefined && e.type === "task.pending") return;
    t = rec === undefined
      ? {
        status: "pending",
        attempts: 0,
        startedAt: undefined,
        endedAt: undefined,
        result: undefined,
        cached: false,
        path: undefined,
        error: undefined,
        order: 0,
      }
      : { ...rec };
    d.touched.set(k, t);
  }
  const before = t.status;
  switch (e.type) {
    case "task.pending":
      t.status = "pending";
      break;
    case "task.ready":
      t.status = "ready";
      break;
    case "task.started":
      t.status = "running";
      t.attempts = e.attempt ?? t.attempts + 1;
      t.startedAt ??= e.timestamp;
      break;
    case "task.retrying":
      t.status = "retrying";
      t.error = e.data.error;
      break;
    case "task.completed":
      t.status = "completed";
      t.result = e.data.result;
      t.cached = e.data.cached === true;
      t.path = e.data.path;
      t.error = undefined;
      break;
    case "task.failed":
      t.status = "failed";
      t.error = e.data.error;
      break;
    case "task.skipped":
      t.status = "skipped";
      t.error = skippedErrorData(taskId, e.data, dependencyError(d, e.data.dependency));
      break;
    case "task.cancelled":
      t.status = "cancelled";
      t.error = e.data.reason;
      break;
  }
  if (before !== t.status) {
    if (isTerminal(t.status) && !isTerminal(before)) {
      t.endedAt = e.timestamp;
      t.order = ++d.ends;
    }
    d.counts[STATUS_CODE[before]]--;
    d.counts[STATUS_CODE[t.status]]++;
  }
}

/** Replaces a run's state in a draft by `state` (a `workflow.resumed` event). */
function restoreDraft(d: RunDraft, state: RunStateData): void {
  d.reset = true;
  d.fields = {
    workflowId: state.workflowId,
    status: state.status,
    createdAt: state.createdAt,
    startedAt: state.startedAt,
    endedAt: state.endedAt,
    error: state.error === undefined ? undefined : new Deep(state.error),
    input: new Deep(state.input),
  };
  const ids = List(state.taskIds);
  d.ids = ids;
  d.index = indexOf(ids);
  d.added = [];
  d.touched = new Map();
  const counts = [ids.size, 0, 0, 0, 0, 0, 0, 0];
  for (let k = 0; k < state.tasks.length; k++) {
    const t = state.tasks[k];
    if (t === null || t === undefined) continue;
    d.touched.set(k, {
      status: t.status,
      attempts: t.attempts,
      startedAt: t.startedAt,
      endedAt: t.endedAt,
      result: t.result,
      cached: t.cached === true,
      path: t.path,
      error: t.error,
      order: t.order,
    });
    counts[0]--;
    counts[STATUS_CODE[t.status]]++;
  }
  d.counts = counts;
  d.ends = state.ends;
}

/** A run record as JSON data. */
function exportRun(run: RunRec): RunStateData {
  const tasks: (TaskStateData | null)[] = new Array(run.taskIds.size).fill(null);
  run.tasks.forEach((t, k) => {
    if (t === undefined) return;
    const out: TaskStateData = { status: t.status, attempts: t.attempts, order: t.order };
    if (t.startedAt !== undefined) out.startedAt = t.startedAt;
    if (t.endedAt !== undefined) out.endedAt = t.endedAt;
    if (t.status === "completed" && t.result !== undefined) out.result = t.result;
    if (t.cached) out.cached = true;
    if (t.path !== undefined) out.path = t.path;
    if (t.error !== undefined) out.error = t.error;
    tasks[k] = out;
  });
  const state: RunStateData = {
    runId: run.runId,
    workflowId: run.workflowId,
    status: run.status,
    createdAt: run.createdAt,
    taskIds: run.taskIds.toArray(),
    tasks,
    ends: run.ends,
  };
  if (run.startedAt !== undefined) state.startedAt = run.startedAt;
  if (run.endedAt !== undefined) state.endedAt = run.endedAt;
  if (run.error !== undefined) state.error = run.error.value;
  if (run.input !== undefined && run.input.value !== undefined) state.input = run.input.value;
  return state;
}

function isRunEnded(status: WorkflowStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
}

/**
 * Folds a stored run (its checkpoint, if any, then its events) into its state.
 *
 * @param stored What a store's `readRun` returned (or `{ events }`).
 * @returns The run's state, or `undefined` when there is nothing stored.
 *
 * @example
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { createMemoryLogStore, foldRun } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 * const store = createMemoryLogStore();
 * const engine = createEngine({ logStore: store });
 * const { runId } = await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * await engine.close();
 * const state = foldRun({ events: store.read(runId) })!;
 * assert.equal(state.status, "completed");
 * assert.equal(state.tasks[0]?.result, 1);
 * ```
 */
export function foldRun(stored: StoredRun): RunStateData | undefined {
  const events: AnyFlowEvent[] = [];
  const cp = stored.checkpoint;
  if (cp !== undefined) events.push(restoreEvent(cp));
  for (const e of stored.events) if (cp === undefined || e.seq > cp.seq) events.push(e);
  if (events.length === 0) return undefined;
  const runId = events[0].runId;
  const run = fold(EMPTY_CORE, events, 0, events.length, []).runs.get(runId);
  return run === undefined ? undefined : exportRun(run);
}

/** A checkpoint as the event that installs it (internal: never appended to a log). */
function restoreEvent(cp: RunCheckpoint): AnyFlowEvent {
  return {
    type: "workflow.resumed",
    seq: cp.seq,
    runId: cp.runId,
    workflowId: cp.state.workflowId,
    timestamp: cp.state.createdAt,
    data: { state: cp.state, rerun: [], interrupted: [] },
  };
}

/** The error a task of a draft holds now, if any. */
function dependencyError(d: RunDraft, taskId: string): ErrorData | undefined {
  const k = d.index.get(taskId);
  if (k === undefined) return undefined;
  return (d.touched.get(k) ?? (d.reset ? undefined : d.rec.tasks.get(k)))?.error;
}

/**
 * A skipped task's error: its dependency and how it ended, and the ancestor
 * whose failure started the chain of skips (the dependency's own ancestor when it was skipped too).
 */
function skippedErrorData(
  taskId: string,
  data: EventDataMap["task.skipped"],
  before: ErrorData | undefined,
): ErrorData {
  const { dependency, dependencyStatus } = data;
  const chained = dependencyStatus === "skipped" && typeof before?.ancestor === "string";
  const ancestor = chained ? before!.ancestor as string : dependency;
  const ancestorStatus = chained ? String(before!.ancestorStatus) : dependencyStatus;
  return {
    name: "TaskSkippedError",
    message: skippedMessage(taskId, dependency, dependencyStatus, ancestor, ancestorStatus),
    taskId,
    dependency,
    dependencyStatus,
    ancestor,
    ancestorStatus,
  };
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot create snapshot log: ${name} ${value} must be an integer >= 1`);
  }
  return value;
}

/** Evicted run ids a log remembers, to tell an evicted run from an unknown one. */
const EVICTED_MEMORY = 10_000;

function retentionLimit(name: string, value: number | undefined, min: number): number {
  if (value === undefined || value === Infinity) return Infinity;
  if (typeof value !== "number" || !(value >= min) || (name === "runs" && !Number.isInteger(value))) {
    throw new RangeError(
      `Cannot create snapshot log: retention.${name} ${value} must be ${
        name === "runs" ? "an integer" : "a number"
      } >= ${min} or Infinity`,
    );
  }
  return value;
}

function describeRetention(runs: number, ms: number): string {
  const parts: string[] = [];
  if (runs !== Infinity) parts.push(`the last ${runs} finished runs`);
  if (ms !== Infinity) parts.push(`finished runs for ${ms} ms`);
  return parts.join(" and ");
}

/** A run read back from a store that answers synchronously (the memory store), or `undefined`. */
function readStored(store: LogStore, runId: string): RunRec | undefined {
  let stored: StoredRun | readonly AnyFlowEvent[] | Promise<unknown>;
  try {
    stored = store.readRun !== undefined ? store.readRun(runId) : store.read(runId);
  } catch {
    return undefined;
  }
  if (stored instanceof Promise) {
    stored.catch(() => {}); // an asynchronous store: the caller gets EvictedError instead
    return undefined;
  }
  const run = Array.isArray(stored) ? { events: stored as readonly AnyFlowEvent[] } : stored as StoredRun;
  const events: AnyFlowEvent[] = [];
  const cp = run.checkpoint;
  if (cp !== undefined) events.push(restoreEvent(cp));
  for (const e of run.events) if (cp === undefined || e.seq > cp.seq) events.push(e);
  if (events.length === 0) return undefined;
  return fold(EMPTY_CORE, events, 0, events.length, []).runs.get(runId);
}
