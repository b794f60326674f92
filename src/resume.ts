/**
 * What a resume keeps: a run's stored state turned back into the run's
 * arrays (statuses, results, errors, attempts), and the result of a run that
 * had already ended when it was read back.
 *
 * @module
 */
import { CancelledError, NotFoundError, TaskFailedError, TaskSkippedError } from "./errors.ts";
import type { Graph } from "./graph.ts";
import { foldRun } from "./log/fold.ts";
import { toRunResult } from "./result.ts";
import { deserializeError } from "./serialize.ts";
import type { AnyFlowEvent, ErrorData, LogStore, RunResult, RunStateData, TerminalTaskStatus } from "./types.ts";

/** A stored run to resume: its state and the seq of the last event stored for it. */
export interface Restore {
  /** The run's state as the store had it. */
  readonly state: RunStateData;
  /** The highest seq stored for the run; the resumed run's events come after it. */
  readonly lastSeq: number;
  /** For a run that added tasks (`ctx.spawn`): the task that added each, by id. */
  readonly spawnedBy?: ReadonlyMap<string, string>;
}

/** Where ended runs are read back: a log store, or the log itself (what it holds). */
export type RunSource = Pick<LogStore, "read" | "readRun">;

/**
 * Reads a run back from a store for `engine.resume()`, and checks that the
 * workflow given is the run's.
 *
 * @param store The engine's log store.
 * @param name The workflow's name.
 * @param graph The workflow's graph.
 * @param runId The run.
 * @returns What to restore, or the result of a run that had ended.
 * @throws {NotFoundError} Nothing stored, or only the run's creation (it never started).
 * @throws {TypeError} The workflow's name or task ids are not the run's (tasks the run added are not in the workflow).
 */
export async function loadRestore(
  store: RunSource,
  name: string,
  graph: Graph,
  runId: string,
): Promise<Restore | RunResult> {
  const stored = store.readRun !== undefined ? await store.readRun(runId) : { events: await store.read(runId) };
  const state = foldRun(stored);
  if (state === undefined) throw new NotFoundError("run", runId, " in the log store");
  const events = addedTasks(state, graph) ? await store.read(runId) : undefined;
  const spawnedBy = checkRun(state, `Cannot resume run "${runId}" with workflow "${name}"`, name, graph, events);
  if (state.status === "completed" || state.status === "failed" || state.status === "cancelled") {
    return resultFromState(state);
  }
  if (state.status === "created") {
    // Stopped between its creation and its start: its input was never stored, and nothing ran.
    throw new NotFoundError("run", runId, " started in the log store (only its creation was stored); run it again");
  }
  const storedEvents = stored.events;
  const lastSeq = storedEvents.length > 0 ? storedEvents[storedEvents.length - 1].seq : stored.checkpoint?.seq ?? 0;
  return spawnedBy === undefined ? { state, lastSeq } : { state, lastSeq, spawnedBy };
}

/**
 * Reads an ended run back from a store for a re-run (`engine.rerun()`); see {@linkcode rerunFrom}.
 *
 * @param store The engine's log store.
 * @param name The workflow's name.
 * @param graph The workflow's graph.
 * @param runId The old run.
 * @returns What the new run starts from.
 * @throws {NotFoundError} Nothing stored for the run.
 * @throws {TypeError} The workflow is not the run's, or the run has not ended.
 */
export async function loadRerun(store: RunSource, name: string, graph: Graph, runId: string): Promise<Restore> {
  const stored = store.readRun !== undefined ? await store.readRun(runId) : { events: await store.read(runId) };
  const state = foldRun(stored);
  const events = state !== undefined && addedTasks(state, graph) ? await store.read(runId) : undefined;
  return rerunFrom(state, events, name, graph, runId);
}

/**
 * What a re-run keeps of an ended run: its input and its completed tasks
 * (with their results); its failed, skipped and cancelled tasks run again.
 *
 * @param state The old run's state.
 * @param events The old run's events (needed when it added tasks: who added each).
 * @param name The workflow's name.
 * @param graph The workflow's graph.
 * @param runId The old run.
 * @returns What the new run starts from (`lastSeq` 0: the new run numbers its events as usual).
 * @throws {NotFoundError} No state.
 * @throws {TypeError} The workflow is not the run's, or the run has not ended.
 */
export function rerunFrom(
  state: RunStateData | undefined,
  events: readonly AnyFlowEvent[] | undefined,
  name: string,
  graph: Graph,
  runId: string,
): Restore {
  if (state === undefined) throw new NotFoundError("run", runId, " in the log store");
  const where = `Cannot re-run run "${runId}" with workflow "${name}"`;
  const spawnedBy = checkRun(state, where, name, graph, events);
  if (state.status !== "completed" && state.status !== "failed" && state.status !== "cancelled") {
    throw new TypeError(`${where}: it has not ended (it is ${state.status}); resume it instead`);
  }
  const kept: RunStateData = {
    ...state,
    status: "running",
    tasks: state.tasks.map((t) => (t?.status === "completed" ? t : null)),
  };
  return spawnedBy === undefined ? { state: kept, lastSeq: 0 } : { state: kept, lastSeq: 0, spawnedBy };
}

/** Whether a run has tasks that are not in the workflow (added during the run). */
function addedTasks(state: RunStateData, graph: Graph): boolean {
  return state.taskIds.some((id) => !graph.index.has(id));
}

/** Checks that a stored run is the workflow's; returns who added each task not in the workflow. */
function checkRun(
  state: RunStateData,
  where: string,
  name: string,
  graph: Graph,
  events: readonly AnyFlowEvent[] | undefined,
): Map<string, string> | undefined {
  if (state.workflowId !== name && !state.workflowId.startsWith(`${name}#`)) {
    throw new TypeError(`${where}: it was started by workflow "${state.workflowId}"`);
  }
  const known = new Set(state.taskIds);
  const extra = graph.ids.find((id) => !known.has(id));
  if (extra !== undefined) throw new TypeError(`${where}: task "${extra}" is in the workflow but not in the run`);
  const missing = state.taskIds.filter((id) => !graph.index.has(id));
  if (missing.length === 0) return undefined;
  // Tasks added during the run: which task added each is in its task.spawned events.
  const spawnedBy = new Map<string, string>();
  for (const e of events ?? []) {
    if (e.type === "task.spawned") { for (const id of e.data.taskIds) spawnedBy.set(id, e.taskId!); }
  }
  const unknown = missing.find((id) => !spawnedBy.has(id));
  if (unknown !== undefined) throw new TypeError(`${where}: task "${unknown}" is in the run but not in the workflow`);
  return spawnedBy;
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
    // Checkpoints written before the log kept `dependencyStatus` have it in the message only.
    const depStatus = typeof data.dependencyStatus === "string"
      ? data.dependencyStatus
      : / dependency "[^"]*" (\w+)/.exec(data.message)?.[1] ?? "failed";
    const ancestor = typeof data.ancestor === "string" ? data.ancestor : data.dependency;
    const ancestorStatus = typeof data.ancestorStatus === "string" ? data.ancestorStatus : depStatus;
    return new TaskSkippedError(taskId, data.dependency, depStatus, ancestor, ancestorStatus);
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
  let first = -1;
  const errors: (Error | undefined)[] = new Array(state.taskIds.length);
  state.taskIds.forEach((id, k) => {
    const t = state.tasks[k];
    if (t == null || t.status === "completed" || t.error === undefined) return;
    errors[k] = restoreTaskError(id, t.status as TerminalTaskStatus, t.error);
    if (t.status === "failed" && (first < 0 || t.order < state.tasks[first]!.order)) first = k;
  });
  const startedAt = state.startedAt ?? state.createdAt;
  let error: Error | undefined;
  if (state.status === "failed" && first >= 0) {
    error = new TaskFailedError(state.taskIds[first], state.tasks[first]!.attempts, { cause: errors[first] });
  } else if (state.status === "cancelled" && state.error !== undefined) {
    error = restoreError(state.error);
  }
  const head = {
    runId: state.runId,
    workflowId: state.workflowId,
    status: state.status as RunResult["status"],
    startedAt,
    endedAt: state.endedAt ?? startedAt,
    error,
  };
  return toRunResult(head, state.taskIds, (k, row) => {
    const t = state.tasks[k];
    row.status = (t?.status ?? "cancelled") as TerminalTaskStatus;
    row.attempts = t?.attempts ?? 0;
    if (t == null) return;
    row.result = t.result;
    row.cached = t.cached === true;
    row.path = t.path;
    row.error = errors[k];
    row.startedAt = t.startedAt ?? NaN;
    row.endedAt = t.endedAt ?? NaN;
  });
}
