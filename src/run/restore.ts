/**
 * A run started from a stored one: `engine.resume()` (the tasks that ended
 * keep their outcome, the others run again) and a re-run (the completed tasks
 * are kept, the others run). Tasks added during the stored run
 * (`ctx.spawn`) that ended join the graph as they were; those that did not
 * end wait for their spawner to add them again.
 *
 * It reads the stored state ({@linkcode Restore}) and writes the run's
 * {@linkcode TaskTable}; it emits through the run, never to the bus alone.
 *
 * @module
 */
import { CancelledError } from "../errors.ts";
import { flowEvent } from "../event.ts";
import { deepFreeze } from "../freeze.ts";
import type { Graph } from "../graph.ts";
import { GrowingGraph } from "../graph/growing.ts";
import { type Restore, restoreTaskError } from "../resume.ts";
import type { AnyFlowEvent, TaskDef, TaskSpec } from "../types.ts";
import type { RunCore } from "./_host.ts";
import { pendingData } from "./event_data.ts";
import { CODE, type TaskTable, UNSETTLED } from "./task_table.ts";

/** The body of a task restored from the log that had ended (it never runs). */
export const RESTORED = (): never => {
  throw new TypeError("A task restored from the log cannot run");
};

/** Where a resumed run's `workflow.resumed` event goes. */
export interface ResumeEnv {
  log: { nextSeq(): number; append(event: AnyFlowEvent): void };
  bus: { emit(event: AnyFlowEvent): void };
  durable: boolean;
  now: number;
}

/** What a run keeps of the stored run it starts from. */
export class Restored {
  readonly restore: Restore;
  /** A re-run: the ended run whose completed tasks it keeps. */
  readonly rerunOf: string | undefined;
  /** The run's graph: the workflow's, plus the added tasks that had ended. */
  readonly graph: Graph;
  readonly tasks: readonly TaskSpec<unknown>[];
  /** The grown graph, when tasks added during the stored run joined it. */
  readonly grown: GrowingGraph | undefined;
  /** Ids of tasks added before the run stopped that did not end: a resumed run waits for their spawner to add them again. */
  awaiting: Map<string, string> | undefined;
  /** Tasks restored from the log that were added during the run: their spawner's id, by index. */
  readonly restoredBy: Map<number, string> | undefined;
  /** Tasks that had completed and run again on resume: spawners of tasks that had not ended. */
  readonly reopened: ReadonlySet<string> | undefined;
  /** The run was being cancelled when it stopped: why. */
  cancel: Error | undefined;

  constructor(
    restore: Restore,
    rerunOf: string | undefined,
    base: Graph,
    tasks: readonly TaskSpec<unknown>[],
    name: string,
  ) {
    this.restore = restore;
    this.rerunOf = rerunOf;
    this.graph = base;
    this.tasks = tasks;
    const by = restore.spawnedBy;
    if (by === undefined) return;
    // A resumed run of a workflow that added tasks: a spawner with tasks that did not end runs again, up to a
    // workflow task, even if it had completed.
    const state = restore.state;
    const status = new Map<string, string>();
    state.taskIds.forEach((id, k) => status.set(id, state.tasks[k]?.status ?? "pending"));
    const ended = (id: string) => {
      const s = status.get(id);
      return s === "completed" || s === "failed" || s === "skipped" || s === "cancelled";
    };
    const awaiting = new Map<string, string>();
    const reopen = new Set<string>();
    const stack: string[] = [];
    for (const [id, spawner] of by) {
      if (!ended(id)) {
        awaiting.set(id, spawner);
        stack.push(spawner);
      }
    }
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (reopen.has(id)) continue;
      const s = status.get(id);
      if (s === "failed" || s === "skipped" || s === "cancelled") continue; // It will not run again.
      if (s === "completed") reopen.add(id);
      if (!base.index.has(id) && by.has(id)) {
        awaiting.set(id, by.get(id)!);
        stack.push(by.get(id)!);
      }
    }
    const restored: TaskDef[] = [];
    for (const id of state.taskIds) {
      if (!base.index.has(id) && !awaiting.has(id)) restored.push({ id, run: RESTORED });
    }
    if (awaiting.size > 0) this.awaiting = awaiting;
    this.reopened = reopen;
    if (restored.length === 0) return;
    const grown = new GrowingGraph(name, base, tasks, restored.length);
    grown.add(restored);
    this.grown = grown;
    this.tasks = grown.specs;
    this.graph = grown.graph;
    this.restoredBy = new Map();
    for (let j = base.n; j < grown.graph.n; j++) this.restoredBy.set(j, by.get(grown.graph.ids[j])!);
  }

  /**
   * Loads the stored state into the run's table: terminal tasks keep their outcome.
   *
   * @param t The table.
   * @param cached The run's cached-result flags.
   * @param path The run's fallback flags, if a task has a fallback.
   * @param runId The run's id.
   * @returns When the stored run started.
   */
  load(t: TaskTable, cached: Uint8Array, path: Uint8Array | undefined, runId: string): number {
    const g = t.g;
    const state = this.restore.state;
    const interrupted = t.interrupted = new Int32Array(g.n);
    let firstOrder = Infinity;
    state.taskIds.forEach((id, k) => {
      const i = g.index.get(id);
      const s = state.tasks[k];
      if (i === undefined || s == null) return;
      t.attempts[i] = s.attempts;
      if (this.reopened?.has(id)) {
        // A spawner whose added tasks did not all end: it runs again, with its whole retry budget.
        interrupted[i] = s.attempts;
        return;
      }
      if (s.startedAt !== undefined) t.startedAt[i] = s.startedAt;
      switch (s.status) {
        case "completed":
          t.status[i] = CODE.completed;
          t.results[i] = deepFreeze(s.result);
          if (s.cached) cached[i] = 1;
          if (s.path === "fallback" && path !== undefined) path[i] = 1;
          break;
        case "failed":
        case "skipped":
        case "cancelled":
          t.status[i] = CODE[s.status];
          if (s.error !== undefined) t.errors[i] = restoreTaskError(id, s.status, s.error);
          if (s.status === "failed" && s.order < firstOrder) {
            firstOrder = s.order;
            t.firstFailure = i;
          }
          if (s.status === "cancelled" && this.cancel === undefined) {
            const reason = t.errors[i];
            this.cancel = reason instanceof CancelledError ? reason : new CancelledError(runId);
          }
          break;
        case "running":
          interrupted[i] = 1;
          break;
      }
      if (t.status[i] !== UNSETTLED) {
        t.settled++;
        t.spawned[i] = 1;
        t.endedAt[i] = s.endedAt ?? NaN;
      }
    });
    for (let i = 0; i < g.n; i++) {
      if (t.status[i] !== CODE.completed) continue;
      for (let k = g.outStart[i]; k < g.outStart[i + 1]; k++) t.remaining[g.outList[k]]--;
    }
    return state.startedAt ?? state.createdAt;
  }

  /**
   * Announces a resumed run: one `workflow.resumed` event naming the tasks
   * that run again, then the `task.pending` of each.
   */
  announce(t: TaskTable, run: RunCore, env: ResumeEnv): void {
    const g = t.g;
    const now = env.now;
    const rerun: string[] = [];
    const interrupted: string[] = [];
    for (let i = 0; i < g.n; i++) {
      if (t.status[i] !== UNSETTLED) continue;
      rerun.push(g.ids[i]);
      if (t.interrupted![i] === 1) interrupted.push(g.ids[i]);
    }
    // Added tasks that had not ended run again once their spawner adds them again.
    if (this.awaiting !== undefined) { for (const id of this.awaiting.keys()) rerun.push(id); }
    const event = flowEvent(
      "workflow.resumed",
      Math.max(env.log.nextSeq(), this.restore.lastSeq + 1),
      run.id,
      run.workflowId,
      undefined,
      undefined,
      now,
      { state: { ...this.restore.state, status: "running" }, rerun, interrupted },
    );
    env.log.append(event);
    if (!env.durable) env.bus.emit(event);
    for (let i = 0; i < g.n; i++) {
      if (t.status[i] === UNSETTLED) {
        run.emit("task.pending", i, t.attempts[i] || undefined, pendingData(t.tasks[i].dependsOn), now);
      }
    }
  }

  /** Announces a re-run: the kept tasks complete at once with their old results, the others are pending. */
  keepCompleted(t: TaskTable, run: RunCore, now: number): void {
    const g = t.g;
    const rerunOf = this.rerunOf!;
    for (let i = 0; i < g.n; i++) {
      if (t.status[i] === UNSETTLED) {
        run.emit("task.pending", i, undefined, pendingData(t.tasks[i].dependsOn), now);
      } else {
        run.emit("task.completed", i, t.attempts[i] || undefined, {
          result: t.results[i],
          durationMs: 0,
          rerunOf,
        }, now);
      }
    }
  }

  /**
   * Tasks added before the run stopped that no task added again: the run is
   * about to end, so they join it and fail, saying why.
   *
   * @returns Their definitions (once), or undefined when there are none.
   */
  orphans(): TaskDef[] | undefined {
    const awaiting = this.awaiting;
    if (awaiting === undefined || awaiting.size === 0) return undefined;
    this.awaiting = undefined;
    const defs: TaskDef[] = [];
    for (const [id, spawner] of awaiting) {
      const error = new TypeError(
        `Task "${id}" was added by task "${spawner}" before the run stopped and was not added again when it resumed: ` +
          "its body is not in the log",
      );
      defs.push({
        id,
        run: () => {
          throw error;
        },
      });
    }
    return defs;
  }
}
