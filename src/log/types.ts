/**
 * The snapshot log's public types: the log and its state, its options
 * (store, batching, retention, clock), projections and the views they return,
 * and the JSON export. Types only: no code, no dependency beyond `../types.ts`.
 *
 * @module
 */
import type {
  AnyFlowEvent,
  Clock,
  ErrorData,
  LogStore,
  RunStateData,
  TaskPath,
  TaskStatus,
  WorkflowStatus,
} from "../types.ts";

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
  /**
   * Time source of the flush timer (a zero-delay timer that folds and stores a
   * batch at the end of the macrotask that appended it). Default: the system clock.
   */
  clock?: Clock;
}

/**
 * Which finished runs (completed, failed or cancelled) a log keeps in memory.
 * A run is evicted, with its events and state, once it is more than `runs`
 * finished runs old, ended more than `ms` before the newest event, or the
 * finished runs hold more than `events` events (the oldest go first; the
 * newest finished run is kept whatever its size); live runs are never evicted. Reading an evicted run (a projection, `at(seq)`,
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
  /**
   * Events the finished runs may hold in all (an integer >= 1, or `Infinity`):
   * bounds memory when runs are large (each event and the state it folds into
   * cost a few hundred bytes).
   * @default {Infinity}
   */
  events?: number;
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
   * Every event, oldest first, or one run's: frozen, equal to the events appended (the same fields and data), made
   * anew on each call rather than the very objects appended (a completion's data, `{ result, durationMs }`, is made
   * anew too, around the same result).
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
   * Registers a projection; it folds every event already in the log, then each new one (frozen events: a reducer
   * cannot change what the log holds).
   *
   * @param def Its name, initial value and reducer.
   * @throws {TypeError} The name is taken or the definition is malformed.
   */
  register<T>(def: ProjectionDef<T>): void;
  /**
   * Listens to state changes; called after each batch is folded in.
   *
   * @param listener Receives the new state and the batch of events just folded in (frozen).
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
  /**
   * Evicts a run that will not finish now, as the retention policy evicts
   * finished ones (its state leaves memory, its events at the next
   * compaction; reads then read it back or throw `EvictedError`). The engine
   * releases a step-by-step workflow's own record with its last run.
   * Nothing happens on a log without a retention policy, or for a run it does not hold.
   *
   * @param runId The run.
   */
  release(runId: string): void;
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
