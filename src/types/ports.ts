/**
 * The ports: what the engine needs of its surroundings and a user or an
 * adapter may replace. `Executor` runs task bodies, `LogStore` keeps the
 * log's events and checkpoints (with the JSON shapes of run state it stores),
 * `TaskCache` keeps cached task results, `Clock` gives time. Types only.
 *
 * @module
 */
import type { ErrorData, TaskPath, TaskSpec, TaskStatus, WorkflowStatus } from "./definitions.ts";
import type { AnyFlowEvent } from "./events.ts";

/** What an executor receives besides the task: the context minus the signal. */
export interface TaskPayload {
  /** The run's input. */
  readonly input: unknown;
  /** Dependency results by id. */
  readonly deps: Readonly<Record<string, unknown>>;
  /** The attempt, from 1. */
  readonly attempt: number;
  /** The task id. */
  readonly taskId: string;
  /** The run id. */
  readonly runId: string;
  /** The workflow id (the engine always gives it; an executor may be called without it). */
  readonly workflowId?: string;
}

/**
 * The port that runs task bodies: inline today, worker pools and remote
 * executors next. The scheduler knows only this.
 */
export interface Executor {
  /** A short name for events and errors. */
  readonly name: string;
  /** How many tasks it runs at once; the scheduler never exceeds it. */
  readonly concurrency: number;
  /**
   * Runs one attempt of a task.
   *
   * @param task The task.
   * @param payload Its input, dependency results and identity.
   * @param signal Aborted on timeout or cancellation.
   * @returns The body's result.
   */
  run(task: TaskSpec, payload: TaskPayload, signal: AbortSignal): Promise<unknown>;
  /** Releases what it holds (workers, sockets). */
  close?(): void | Promise<void>;
}

/** One task's state as the log folds it, as JSON data. */
export interface TaskStateData {
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
  /** `true` when the result came from the cache. */
  cached?: boolean;
  /** Which body produced the result (tasks with a fallback). */
  path?: TaskPath;
  /** Its error, when failed, skipped, cancelled or retrying. */
  error?: ErrorData;
  /** Its place among the run's ended tasks, from 1 (0 while not ended). */
  order: number;
}

/** One run's state as the log folds it, as JSON data: what a checkpoint and a resume keep. */
export interface RunStateData {
  /** The run id. */
  runId: string;
  /** The workflow id. */
  workflowId: string;
  /** The run's status. */
  status: WorkflowStatus;
  /** When it was created. */
  createdAt: number;
  /** When it started. */
  startedAt?: number;
  /** When it ended. */
  endedAt?: number;
  /** Its error, when failed or cancelled. */
  error?: ErrorData;
  /** Its input. */
  input?: unknown;
  /** Its task ids, in order. */
  taskIds: string[];
  /** Each task's state by position in `taskIds`; `null` for a task no event touched yet (pending). */
  tasks: (TaskStateData | null)[];
  /** Tasks ended so far. */
  ends: number;
}

/** A run's state at one seq, written by the log so that reading the run skips the events before it. */
export interface RunCheckpoint {
  /** The run. */
  runId: string;
  /** The seq of the last event folded into `state`. */
  seq: number;
  /** The run's state then. */
  state: RunStateData;
}

/** What a store holds for one run: its latest checkpoint, if any, and the events after it. */
export interface StoredRun {
  /** The latest checkpoint. */
  checkpoint?: RunCheckpoint;
  /** The events after the checkpoint (all of them when there is none), in order. */
  events: readonly AnyFlowEvent[];
}

/**
 * The port that keeps events beyond memory: memory (default), an append-only
 * file and Deno KV (`@nerv/flow/adapters`), a distributed log later.
 *
 * A store is `durable` when `append()` settles only once its events are
 * stored by its flush policy. The engine then acknowledges nothing before
 * that: dependents of a completed task start, bus listeners hear an event and
 * a run's result resolves only after the events are durable; and inputs and
 * results must be JSON data.
 */
export interface LogStore {
  /**
   * Whether `append()` settles only once the events are durable (see above).
   * @default {false}
   */
  readonly durable?: boolean;
  /** The highest seq stored; a log on this store numbers its events after it. */
  readonly lastSeq?: number;
  /**
   * When the store takes checkpoints (`writeCheckpoint`): the log writes one
   * for a run every this many of its events, and never more often than once
   * per as many events as the run has tasks.
   */
  readonly runCheckpointEvery?: number;
  /**
   * Appends events, in order.
   *
   * @param events The events to append.
   * @returns Nothing, or a promise that settles when the events are stored.
   */
  append(events: readonly AnyFlowEvent[]): void | Promise<void>;
  /**
   * Reads one run's events, in order.
   *
   * @param runId The run.
   * @returns Its events.
   */
  read(runId: string): readonly AnyFlowEvent[] | Promise<readonly AnyFlowEvent[]>;
  /**
   * Stores a checkpoint of a run, after every event appended before it.
   *
   * @param checkpoint The run's state at a seq.
   * @returns Nothing, or a promise that settles when it is stored.
   */
  writeCheckpoint?(checkpoint: RunCheckpoint): void | Promise<void>;
  /**
   * Reads one run from its latest checkpoint: what resume and replay load.
   *
   * @param runId The run.
   * @returns The checkpoint, if any, and the events after it.
   */
  readRun?(runId: string): StoredRun | Promise<StoredRun>;
  /**
   * The ids of the runs stored, oldest first.
   *
   * @returns The run ids.
   */
  runs?(): readonly string[] | Promise<readonly string[]>;
}

/** A cached task result. */
export interface CacheEntry {
  /** The task's result. */
  value: unknown;
  /** When it was stored (clock ms). */
  createdAt: number;
  /** When it stops being served (clock ms). */
  expiresAt: number;
}

/**
 * The port that keeps cached task results: memory by default
 * (`createMemoryTaskCache`), a file or Deno KV in `@nerv/flow/adapters`.
 * The engine never serves an entry whose `expiresAt` has passed, whatever the store returns.
 */
export interface TaskCache {
  /**
   * Whether values are stored as JSON; the results of cached tasks must then be JSON data.
   * @default {false}
   */
  readonly durable?: boolean;
  /**
   * Looks an entry up.
   *
   * @param key The entry's key.
   * @returns The entry, or `undefined`.
   */
  get(key: string): CacheEntry | undefined | Promise<CacheEntry | undefined>;
  /**
   * Stores an entry, replacing any with the same key.
   *
   * @param key The entry's key.
   * @param entry The entry.
   * @returns Nothing, or a promise that settles when it is stored.
   */
  set(key: string, entry: CacheEntry): void | Promise<void>;
}

/** Time as a port, so tests drive it instead of sleeping. */
export interface Clock {
  /** Milliseconds since an epoch. */
  now(): number;
  /**
   * Calls `fn` after `ms` milliseconds.
   *
   * @param fn What to call.
   * @param ms The delay.
   * @returns A handle for `clearTimeout`.
   */
  setTimeout(fn: () => void, ms: number): unknown;
  /**
   * Cancels a pending call.
   *
   * @param handle What `setTimeout` returned.
   */
  clearTimeout(handle: unknown): void;
}
