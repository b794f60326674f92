/**
 * The wire types between the main thread and a worker, in one place (as
 * Comlink keeps its own in `protocol.ts`). Everything here crosses by
 * structured clone.
 *
 * @module
 */
import type { ErrorData } from "../src/types.ts";

/**
 * A batch of tasks as it crosses: columns of primitives, with each module
 * reference and run id sent once per batch (cheaper to clone than an array
 * of objects that repeat them).
 */
export interface WireBatch {
  /** Distinct `moduleUrl\nname` keys. */
  refs: string[];
  /** Distinct run ids. */
  runs: string[];
  /** The workflow id of each run in `runs`. */
  workflows: string[];
  /** Per task: the pool's call id. */
  ids: number[];
  /** Per task: index into `refs`. */
  ref: number[];
  /** Per task: index into `runs`. */
  run: number[];
  /** Per task: attempt. */
  attempts: number[];
  /** Per task: task id. */
  taskIds: string[];
  /** Per task: the run input. */
  inputs: unknown[];
  /** Per task: dependency results by id; `undefined` when it has none (an empty object costs ~1 µs to clone). */
  deps: (Readonly<Record<string, unknown>> | undefined)[];
  /** Per task: its metadata; `undefined` when it has none. */
  metadata: (Readonly<Record<string, unknown>> | undefined)[];
}

/**
 * The answer to a batch, in columns: cloning one small object per task costs
 * about 2 µs in Deno, a column of values a tenth of that.
 */
export interface WireReply {
  /** Per task: its result (undefined for a failed task). */
  values: unknown[];
  /** Indices of the failed tasks. */
  failed: number[];
  /** Per failed task (same order): its error. */
  errors: ErrorData[];
  /** Per failed task: what failed. */
  kinds: ("task" | "load" | "clone")[];
}

/** The outcome of one task, as the worker reports it. */
export type WireResult =
  | { ok: true; value: unknown }
  | { ok: false; error: ErrorData; kind: "task" | "load" | "clone" };

/** What the worker entry exposes through Comlink. */
export interface WorkerApi {
  /**
   * Loads a task module (cached per worker) and checks the task exists.
   *
   * @returns `null` when found, else why not.
   */
  load(moduleUrl: string, name: string): Promise<ErrorData | null>;
  /**
   * Runs tasks, each with its own abort signal; results in the same order.
   */
  runBatch(batch: WireBatch): Promise<WireReply>;
  /** Answers once the worker is up (for warming a pool). */
  ping(): number;
  /** Aborts running calls by id (effective for bodies that await). */
  abort(ids: number[], reason: ErrorData): void;
}

/** Posted by the worker (outside Comlink) right before it closes itself. */
export const CLOSING_MESSAGE = "nerv-flow.worker-closing";

/** Posted by a worker once its entry has loaded: until then, an `error` event means the script could not start. */
export const READY_MESSAGE = "nerv-flow.worker-ready";
