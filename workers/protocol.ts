/**
 * The wire types between the main thread and a worker, in one place (as
 * Comlink keeps its own in `protocol.ts`). Everything here crosses by
 * structured clone.
 *
 * @module
 */
import type { ErrorData, TaskPayload } from "../src/types.ts";

/** One task sent to a worker. */
export interface WireTask {
  /** The pool's id for this call, to abort it. */
  id: number;
  /** The task module's URL. */
  moduleUrl: string;
  /** The task's name in the module. */
  name: string;
  /** Input, dependency results, identity. */
  payload: TaskPayload;
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
  runBatch(tasks: WireTask[]): Promise<WireResult[]>;
  /** Answers once the worker is up (for warming a pool). */
  ping(): number;
  /** Aborts running calls by id (effective for bodies that await). */
  abort(ids: number[], reason: ErrorData): void;
}

/** Posted by the worker (outside Comlink) right before it closes itself. */
export const CLOSING_MESSAGE = "nerv-flow.worker-closing";
