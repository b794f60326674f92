/**
 * A run's result, derived in one place from one task table: the live run
 * (its arrays) and a run read back from the store (its stored state) both
 * describe each task as a {@linkcode TaskRow}, and {@linkcode toRunResult}
 * turns the rows into the `RunResult` that `run()` and `resume()` return.
 *
 * @module
 */
import type { RunResult, RunStatus, TaskPath, TaskResult, TerminalTaskStatus } from "./types.ts";

/** One task as a run's table holds it once the run ended. */
export interface TaskRow {
  /** Its terminal status. */
  status: TerminalTaskStatus;
  /** Attempts made. */
  attempts: number;
  /** Its result, when completed. */
  result: unknown;
  /** Its result came from the cache. */
  cached: boolean;
  /** For a task with a fallback: which body produced the result (`undefined`: the task has none). */
  path: TaskPath | undefined;
  /** Its error, when failed, skipped or cancelled. */
  error: Error | undefined;
  /** When its first attempt started (`NaN`: never). */
  startedAt: number;
  /** When it ended (`NaN`: unknown). */
  endedAt: number;
}

/** What a run's result says besides its tasks. */
export interface RunHead {
  runId: string;
  workflowId: string;
  status: RunStatus;
  startedAt: number;
  endedAt: number;
  error: Error | undefined;
}

/**
 * A run's result from its task table.
 *
 * @param head The run's id, status, times and error.
 * @param ids Task ids, in table order.
 * @param rowOf Fills `out` with task `k`'s row.
 * @returns The result.
 */
export function toRunResult(
  head: RunHead,
  ids: readonly string[],
  rowOf: (k: number, out: TaskRow) => void,
): RunResult {
  const tasks: Record<string, TaskResult> = {};
  const row: TaskRow = {
    status: "cancelled",
    attempts: 0,
    result: undefined,
    cached: false,
    path: undefined,
    error: undefined,
    startedAt: NaN,
    endedAt: NaN,
  };
  for (let k = 0; k < ids.length; k++) {
    row.result = undefined;
    row.cached = false;
    row.path = undefined;
    row.error = undefined;
    row.startedAt = NaN;
    row.endedAt = NaN;
    rowOf(k, row);
    tasks[ids[k]] = toTaskResult(row);
  }
  const result: RunResult = {
    runId: head.runId,
    workflowId: head.workflowId,
    status: head.status,
    tasks,
    startedAt: head.startedAt,
    completedAt: head.endedAt,
    durationMs: head.endedAt - head.startedAt,
  };
  if (head.error !== undefined) result.error = head.error;
  return result;
}

/**
 * One task's result from its row.
 *
 * @param row The row.
 * @returns The task's result.
 */
export function toTaskResult(row: TaskRow): TaskResult {
  const r: TaskResult = { status: row.status, attempts: row.attempts };
  if (row.status === "completed") {
    r.result = row.result;
    if (row.cached) r.cached = true;
    if (row.path !== undefined) r.path = row.path;
  } else if (row.error !== undefined) r.error = row.error;
  if (!Number.isNaN(row.startedAt)) {
    r.startedAt = row.startedAt;
    if (!Number.isNaN(row.endedAt)) {
      r.completedAt = row.endedAt;
      r.durationMs = row.endedAt - row.startedAt;
    }
  }
  return r;
}
