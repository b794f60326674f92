/**
 * Reading the log's state: `StateView`, the `LogState` that projections,
 * `runState` and `equals` read (built-in projections derived from a run's
 * record on demand, memoized and frozen), and how it reaches runs evicted
 * under the retention policy (`Lookup`).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { deepFreeze } from "../freeze.ts";
import type { RunStateData, TaskStatus } from "../types.ts";
import { deepEqual } from "./equality.ts";
import { exportRun } from "./fold.ts";
import { TASK_STATUSES as STATUSES } from "../tables.ts";
import type { Core, RunRec } from "./records.ts";
import type { BuiltinProjections, LogState, ProjectionDef, RunView, TaskView } from "./types.ts";

/** The names of the built-in projections. */
export const BUILTINS: Record<keyof BuiltinProjections, true> = {
  taskStatus: true,
  workflowStatus: true,
  completedTasks: true,
  failedTasks: true,
  tasks: true,
};

/** How a state finds runs evicted under the log's retention policy. */
export interface Lookup {
  /** Whether the run was evicted. */
  evicted(runId: string): boolean;
  /** An evicted run's record from the store; throws `EvictedError` when the store cannot serve it now. */
  load(runId: string): RunRec | undefined;
}

/** The log's state at one point, as projections read it; built-in projections are memoized and frozen. */
export class StateView implements LogState {
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

/**
 * Derives a built-in projection from a run's record.
 *
 * @param name The projection.
 * @param run The run.
 * @returns Its value (fresh, not frozen).
 */
export function projectRun(name: keyof BuiltinProjections, run: RunRec): unknown {
  const ids = run.taskIds;
  const tasks = run.tasks;
  switch (name) {
    case "taskStatus": {
      const out: Record<string, TaskStatus> = {};
      ids.forEach((id, i) => {
        out[id] = tasks.statusAt(i) ?? "pending";
      });
      return out;
    }
    case "workflowStatus": {
      const counts = {} as Record<TaskStatus, number>;
      STATUSES.forEach((s, k) => counts[s] = run.counts[k] ?? 0);
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
