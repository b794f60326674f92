/**
 * The log's persistent state: per run a frozen record (`RunRec`) of its
 * fields, task ids, task states (`TaskStates`, in `./task_states.ts`) and
 * counts per status (in the order of `../tables.ts`); the whole state
 * (`Core`) maps run ids to them.
 *
 * @module
 */
import { IMap, is, List } from "../deps.ts";
import type { ErrorData, TaskStatus, WorkflowStatus } from "../types.ts";
import { FIRST_TERMINAL, STATUS_CODE } from "../tables.ts";
import type { Deep } from "./equality.ts";
import { TaskStates } from "./task_states.ts";

/** A run's fields in the log. */
export type RunRecProps = {
  runId: string;
  workflowId: string;
  status: WorkflowStatus;
  createdAt: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
  error: Deep<ErrorData> | undefined;
  input: Deep<unknown> | undefined;
  taskIds: List<string>;
  tasks: TaskStates;
  counts: readonly number[];
  ends: number;
};
/**
 * A run in the log: a frozen value object, compared by value (Immutable.js compares value objects with `equals`). A
 * class rather than an Immutable `Record`: a record keeps its values in a `List` of their own, ~6 objects more per run,
 * and every finished run the log keeps is copied and promoted by the garbage collector (bench/RESULTS.md §14).
 */
export class RunRecord {
  readonly runId: string;
  readonly workflowId: string;
  readonly status: WorkflowStatus;
  readonly createdAt: number;
  readonly startedAt: number | undefined;
  readonly endedAt: number | undefined;
  readonly error: Deep<ErrorData> | undefined;
  readonly input: Deep<unknown> | undefined;
  readonly taskIds: List<string>;
  readonly tasks: TaskStates;
  /** Tasks per status, in the order of `../tables.ts` (frozen). */
  readonly counts: readonly number[];
  readonly ends: number;
  constructor(p: RunRecProps) {
    this.runId = p.runId;
    this.workflowId = p.workflowId;
    this.status = p.status;
    this.createdAt = p.createdAt;
    this.startedAt = p.startedAt;
    this.endedAt = p.endedAt;
    this.error = p.error;
    this.input = p.input;
    this.taskIds = p.taskIds;
    this.tasks = p.tasks;
    this.counts = p.counts;
    this.ends = p.ends;
    Object.freeze(this);
  }
  /**
   * This record with some fields replaced.
   *
   * @param patch The new values.
   * @returns A new record.
   */
  merge(patch: Partial<RunRecProps>): RunRecord {
    return new RunRecord({
      runId: "runId" in patch ? patch.runId! : this.runId,
      workflowId: "workflowId" in patch ? patch.workflowId! : this.workflowId,
      status: "status" in patch ? patch.status! : this.status,
      createdAt: "createdAt" in patch ? patch.createdAt! : this.createdAt,
      startedAt: "startedAt" in patch ? patch.startedAt : this.startedAt,
      endedAt: "endedAt" in patch ? patch.endedAt : this.endedAt,
      error: "error" in patch ? patch.error : this.error,
      input: "input" in patch ? patch.input : this.input,
      taskIds: "taskIds" in patch ? patch.taskIds! : this.taskIds,
      tasks: "tasks" in patch ? patch.tasks! : this.tasks,
      counts: "counts" in patch ? patch.counts! : this.counts,
      ends: "ends" in patch ? patch.ends! : this.ends,
    });
  }
  equals(other: unknown): boolean {
    if (!(other instanceof RunRecord)) return false;
    if (other === this) return true;
    const a = this.counts, b = other.counts;
    if (a.length !== b.length) return false;
    for (let k = 0; k < a.length; k++) if (!is(a[k], b[k])) return false;
    return is(other.runId, this.runId) && is(other.workflowId, this.workflowId) && is(other.status, this.status) &&
      is(other.createdAt, this.createdAt) && is(other.startedAt, this.startedAt) &&
      is(other.endedAt, this.endedAt) && is(other.ends, this.ends) && is(other.error, this.error) &&
      is(other.input, this.input) && is(other.taskIds, this.taskIds) && is(other.tasks, this.tasks);
  }
  hashCode(): number {
    return (this.ends * 31 + this.taskIds.size) | 0;
  }
}
/** A run record. */
export type RunRec = RunRecord;
/**
 * A run record, the fields not given at their defaults (no tasks, status "created").
 *
 * @param p Its fields.
 * @returns The record.
 */
export function RunRec(p: Partial<RunRecProps>): RunRec {
  return new RunRecord({ ...DEFAULTS, ...p });
}

/** Index of each task id in a run's `taskIds` list, derived once per list. */
export const indexCache = new WeakMap<List<string>, Map<string, number>>();
/** The task id list of an announced id array (a workflow's runs announce the same array): shared by those runs. */
const announced = new WeakMap<readonly string[], List<string>>();
/** Lists shared by several runs: a run that adds a task copies its index before changing it. */
export const sharedIds = new WeakSet<List<string>>();
/** The empty list (Immutable's one), shared by every run that announces no task. */
const NO_IDS = List<string>();
sharedIds.add(NO_IDS);
/**
 * The task id list of a run's `workflow.created` event: one list (and one index) for every run of a workflow.
 *
 * @param ids The event's task ids.
 * @returns Their list.
 */
export function announcedIds(ids: readonly string[]): List<string> {
  if (ids.length === 0) return NO_IDS; // a workflow built step by step announces none: no entry per draft
  let list = announced.get(ids);
  if (list === undefined) {
    list = List(ids);
    announced.set(ids, list);
    sharedIds.add(list);
  }
  return list;
}
/**
 * The index of a task id list, derived once per list.
 *
 * @param ids A run's task ids.
 * @returns Each id's position.
 */
export function indexOf(ids: List<string>): Map<string, number> {
  let index = indexCache.get(ids);
  if (index === undefined) {
    index = new Map();
    let i = 0;
    for (const id of ids) index.set(id, i++);
    indexCache.set(ids, index);
  }
  return index;
}

/** The log's whole state at one point. */
export interface Core {
  /** Runs by id, oldest first. */
  runs: IMap<string, RunRec>;
  /** Values of the registered projections, by name. */
  custom: IMap<string, unknown>;
  /** Events folded in. */
  size: number;
  /** The seq of the last event folded in (0 when none). */
  seq: number;
}

/** The state before any event. */
export const EMPTY_CORE: Core = { runs: IMap(), custom: IMap(), size: 0, seq: 0 };

/** Counts per status of a run with no tasks. */
export const ZERO_COUNTS: readonly number[] = Object.freeze([0, 0, 0, 0, 0, 0, 0, 0]);
const DEFAULTS: RunRecProps = {
  runId: "",
  workflowId: "",
  status: "created",
  createdAt: 0,
  startedAt: undefined,
  endedAt: undefined,
  error: undefined,
  input: undefined,
  taskIds: List<string>(),
  tasks: TaskStates.EMPTY,
  counts: ZERO_COUNTS,
  ends: 0,
};
/** Whether a task status is terminal (completed, failed, skipped, cancelled). */
export const isTerminal = (s: TaskStatus) => STATUS_CODE[s] >= FIRST_TERMINAL;

/**
 * Whether a run has ended (completed, failed or cancelled).
 *
 * @param status The run's status.
 * @returns `true` once it ended.
 */
export function isRunEnded(status: WorkflowStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
}
