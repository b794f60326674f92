/**
 * What a resume keeps: a run's stored state turned back into the run's
 * arrays (statuses, results, errors, attempts), and the result of a run that
 * had already ended when it was read back.
 *
 * @module
 */
import { CancelledError, TaskFailedError, TaskSkippedError } from "./errors.ts";
import { deserializeError } from "./serialize.ts";
import type { ErrorData, RunResult, RunStateData, TaskResult, TaskStateData, TerminalTaskStatus } from "./types.ts";

/** A stored run to resume: its state and the seq of the last event stored for it. */
export interface Restore {
  /** The run's state as the store had it. */
  readonly state: RunStateData;
  /** The highest seq stored for the run; the resumed run's events come after it. */
  readonly lastSeq: number;
}

/**
 * The `Error` a task had, from its stored form: skipped and cancelled tasks
 * get their typed errors back; other errors keep name, message, stack, cause
 * and own fields.
 *
 * @param taskId The task.
 * @param status Its status.
 * @param data Its stored error.
 * @returns The error.
 */
export function restoreTaskError(taskId: string, status: TerminalTaskStatus, data: ErrorData): Error {
  if (status === "skipped" && typeof data.dependency === "string") {
    const depStatus = / (\w+)$/.exec(data.message)?.[1] ?? "failed";
    return new TaskSkippedError(taskId, data.dependency, depStatus);
  }
  return restoreError(data);
}

/**
 * An error from its stored form; a `CancelledError` comes back as one.
 *
 * @param data The stored error.
 * @returns The error.
 */
export function restoreError(data: ErrorData): Error {
  if (data.name === "CancelledError" && typeof data.runId === "string") {
    const cause = data.cause !== null && typeof data.cause === "object" && "message" in data.cause
      ? deserializeError(data.cause as ErrorData)
      : data.cause;
    const error = new CancelledError(data.runId, cause === undefined ? undefined : { cause });
    if (data.stack !== undefined) error.stack = data.stack;
    return error;
  }
  return deserializeError(data);
}

/**
 * The result of a run that ended before it was read back, from its state.
 *
 * @param state The run's stored state (ended).
 * @returns Its result, as `run()` returned it (times and values from the store).
 */
export function resultFromState(state: RunStateData): RunResult {
  const tasks: Record<string, TaskResult> = {};
  let first: { id: string; t: TaskStateData } | undefined;
  state.taskIds.forEach((id, k) => {
    const t = state.tasks[k];
    const status = (t?.status ?? "cancelled") as TerminalTaskStatus;
    const r: TaskResult = { status, attempts: t?.attempts ?? 0 };
    if (t != null) {
      if (status === "completed") {
        r.result = t.result;
        if (t.cached) r.cached = true;
      } else if (t.error !== undefined) r.error = restoreTaskError(id, status, t.error);
      if (t.startedAt !== undefined) {
        r.startedAt = t.startedAt;
        if (t.endedAt !== undefined) {
          r.completedAt = t.endedAt;
          r.durationMs = t.endedAt - t.startedAt;
        }
      }
      if (status === "failed" && (first === undefined || t.order < first.t.order)) first = { id, t };
    }
    tasks[id] = r;
  });
  const startedAt = state.startedAt ?? state.createdAt;
  const completedAt = state.endedAt ?? startedAt;
  const result: RunResult = {
    runId: state.runId,
    workflowId: state.workflowId,
    status: state.status as RunResult["status"],
    tasks,
    startedAt,
    completedAt,
    durationMs: completedAt - startedAt,
  };
  if (state.status === "failed" && first !== undefined) {
    result.error = new TaskFailedError(first.id, first.t.attempts, { cause: tasks[first.id].error });
  } else if (state.status === "cancelled" && state.error !== undefined) {
    result.error = restoreError(state.error);
  }
  return result;
}
