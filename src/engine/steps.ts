/**
 * The step-by-step API of the engine: build a workflow (`createWorkflow`,
 * `addTask`), run it (`execute`, `reexecute`, `wait`) and poll it
 * (`getWorkflowStatus`, `getTaskStatus`). A workflow being built is a draft
 * whose events (`workflow.created`, `task.pending`) go to the log under the
 * workflow id; its runs are started through the run API (`runs.ts`).
 *
 * @module
 */
import type { EventBus } from "../bus.ts";
import { DuplicateTaskError, EvictedError, NotFoundError } from "../errors.ts";
import { describe } from "../describe.ts";
import { defineWorkflow, graphOf } from "../graph.ts";
import { validateTask } from "../graph/validate.ts";
import { describeRetention, foldRun, type RetentionPolicy, type SnapshotLog, type TaskView } from "../log/mod.ts";
import { flowEvent } from "../event.ts";
import { rerunFrom } from "../resume.ts";
import type { Clock, ErrorData, EventDataMap, RunResult, TaskDef, Workflow, WorkflowStatus } from "../types.ts";
import { type Execution, type Runs, snapshotOf } from "./runs.ts";

/**
 * What `getWorkflowStatus()` reports.
 *
 * @example Polling a workflow built step by step
 * ```ts
 * import { createEngine } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const wf = engine.createWorkflow({ name: "steps" });
 * engine.addTask(wf, { id: "a", run: () => 1 });
 * const runId = engine.execute(wf);
 * await engine.wait(runId);
 * const report = engine.getWorkflowStatus(wf);
 * assert.equal(report.runId, runId);
 * assert.equal(report.status, "completed");
 * assert.ok(report.endedAt !== undefined && report.startedAt !== undefined && report.endedAt >= report.startedAt);
 * await engine.close();
 * ```
 */
export interface WorkflowStatusReport {
  /** The workflow id. */
  workflowId: string;
  /** Its latest run (from `execute` or `reexecute`), if any. */
  runId?: string;
  /** `created` until executed. */
  status: WorkflowStatus;
  /** When the workflow was created. */
  createdAt: number;
  /** When the run started. */
  startedAt?: number;
  /** When it ended. */
  endedAt?: number;
  /** Its duration so far or in all, in ms. */
  durationMs?: number;
  /** Each task's status, attempts, result or error. */
  tasks: Record<string, TaskView>;
  /** The run's error, when failed or cancelled. */
  error?: ErrorData;
}

/**
 * What `getTaskStatus()` reports.
 *
 * @example A task before and after its run
 * ```ts
 * import { createEngine } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const wf = engine.createWorkflow({ name: "steps" });
 * engine.addTask(wf, { id: "a", run: () => 1 });
 * assert.equal(engine.getTaskStatus("a").status, "pending");
 * const runId = engine.execute(wf);
 * await engine.wait(runId);
 * const a = engine.getTaskStatus("a", runId);
 * assert.deepEqual([a.status, a.result, a.runId, a.workflowId], ["completed", 1, runId, wf]);
 * await engine.close();
 * ```
 */
export interface TaskStatusReport extends TaskView {
  /** The workflow id. */
  workflowId: string;
  /** The run it belongs to; absent for a task of a workflow not executed yet (`pending`). */
  runId?: string;
}

interface Draft {
  name: string;
  description: string | undefined;
  tasks: TaskDef[];
  ids: Set<string>;
  createdAt: number;
  /** Its latest run (from `execute` or `reexecute`). */
  latest: string | undefined;
}

/** What the step-by-step API needs of the engine. */
export interface StepsCore {
  /** The engine's clock. */
  readonly clock: Clock;
  /** The engine's bus (a draft's events go to it at once on a memory log). */
  readonly bus: EventBus;
  /** The engine's log. */
  readonly log: SnapshotLog;
  /** Which finished runs stay in memory, for `EvictedError`. */
  readonly retention: RetentionPolicy | undefined;
  /** Every run not evicted, by id. */
  readonly executions: Map<string, Execution>;
  /** The run API. */
  readonly runs: Runs;
}

/** The step-by-step API (see `Engine`). */
export interface Steps {
  /** `Engine.createWorkflow`. */
  createWorkflow(def: { name: string; description?: string }): string;
  /** `Engine.addTask`. */
  addTask(workflowId: string, task: TaskDef): string;
  /** `Engine.execute`. */
  execute(workflowId: string, context?: unknown): string;
  /** `Engine.getWorkflowStatus`. */
  getWorkflowStatus(id: string): WorkflowStatusReport;
  /** `Engine.getTaskStatus`. */
  getTaskStatus(taskId: string, runId?: string): TaskStatusReport;
  /** `Engine.reexecute`. */
  reexecute(runId: string): string;
  /** `Engine.wait`. */
  wait(runId: string): Promise<RunResult>;
  /**
   * The log evicted these runs: a workflow whose latest run is among them goes too (its tasks, and its own record in
   * the log), so an engine that builds a workflow per request stays bounded.
   */
  evicted(runIds: readonly string[]): void;
}

/**
 * Makes the step-by-step API over the engine's log and runs.
 *
 * @param core The engine's clock, log, retention, run index and run API.
 * @returns The step-by-step API.
 */
export function createSteps(core: StepsCore): Steps {
  const { clock, bus, log, retention, executions, runs } = core;
  const drafts = new Map<string, Draft>();
  /** The workflow of each draft's latest run, by run id. */
  const draftOfLatest = new Map<string, string>();
  let draftCounter = 0;
  const ran = (workflowId: string, draft: Draft, runId: string) => {
    if (draft.latest !== undefined) draftOfLatest.delete(draft.latest);
    draft.latest = runId;
    draftOfLatest.set(runId, workflowId);
  };

  /** Step by step: the events of a workflow being built (its run id is the workflow id), when they happen. */
  const emitDraft = <T extends "workflow.created" | "task.pending">(
    workflowId: string,
    type: T,
    taskId: string | undefined,
    data: EventDataMap[T],
  ) => {
    const event = flowEvent(type, log.nextSeq(), workflowId, workflowId, taskId, undefined, clock.now(), data);
    log.append(event);
    if (!log.durable) bus.emit(event);
  };
  const runOf = (id: string): { runId: string; workflowId: string } | undefined => {
    const draft = drafts.get(id);
    if (draft !== undefined) {
      return draft.latest === undefined ? undefined : { runId: draft.latest, workflowId: id };
    }
    const exec = executions.get(id);
    return exec === undefined ? undefined : { runId: id, workflowId: exec.workflowId };
  };

  return {
    createWorkflow(def) {
      if (def === null || typeof def !== "object" || typeof def.name !== "string" || def.name.length === 0) {
        throw new TypeError(`Cannot create workflow: expected { name: non-empty string }, got ${describe(def)}`);
      }
      const id = `${def.name}#${++draftCounter}`;
      emitDraft(id, "workflow.created", undefined, { name: def.name, taskIds: [] });
      drafts.set(id, {
        name: def.name,
        description: def.description,
        tasks: [],
        ids: new Set(),
        createdAt: clock.now(),
        latest: undefined,
      });
      return id;
    },
    addTask(workflowId, task) {
      const draft = drafts.get(workflowId);
      if (draft === undefined) throw new NotFoundError("workflow", workflowId, "; create it with createWorkflow()");
      // Validate the task's own fields now; dependencies are resolved at execute().
      validateTask(draft.name, task);
      if (draft.ids.has(task.id)) throw new DuplicateTaskError(draft.name, task.id);
      draft.ids.add(task.id);
      draft.tasks.push({ ...task });
      emitDraft(workflowId, "task.pending", task.id, { dependsOn: [...(task.dependsOn ?? [])] });
      return task.id;
    },
    execute(workflowId, context) {
      const draft = drafts.get(workflowId);
      if (draft === undefined) throw new NotFoundError("workflow", workflowId, "; create it with createWorkflow()");
      const workflow = defineWorkflow({ name: draft.name, description: draft.description, tasks: draft.tasks });
      const run = runs.startRun(workflow, { input: context }, workflowId);
      const exec = executions.get(run.id)!;
      exec.run = run;
      exec.workflow = workflow as Workflow<unknown>;
      ran(workflowId, draft, run.id);
      return run.id;
    },
    getWorkflowStatus(id) {
      let found = runOf(id);
      if (found === undefined && log.evicted(id)) {
        // An evicted run: read back from the store, or EvictedError. A workflow built step by step that went with its
        // latest run has only its own record in a store (no run of it): not an answer.
        const view = log.state().project("workflowStatus", id);
        if (view.workflowId === id && view.status === "created") {
          throw new EvictedError(id, describeRetention(retention));
        }
        found = { runId: id, workflowId: view.workflowId };
      }
      if (found === undefined) {
        const draft = drafts.get(id);
        if (draft === undefined) throw new NotFoundError("workflow", id);
        const tasks: Record<string, TaskView> = {};
        for (const t of draft.tasks) tasks[t.id] = { taskId: t.id, status: "pending", attempts: 0 };
        return { workflowId: id, status: "created", createdAt: draft.createdAt, tasks };
      }
      const snap = snapshotOf(log.state(), found.runId);
      const w = snap.workflow;
      const report: WorkflowStatusReport = {
        workflowId: found.workflowId,
        runId: found.runId,
        status: w.status,
        createdAt: drafts.get(id)?.createdAt ?? w.createdAt,
        tasks: snap.tasks,
      };
      if (w.startedAt !== undefined) report.startedAt = w.startedAt;
      if (w.endedAt !== undefined) report.endedAt = w.endedAt;
      if (w.startedAt !== undefined) report.durationMs = (w.endedAt ?? clock.now()) - w.startedAt;
      if (w.error !== undefined) report.error = w.error;
      return report;
    },
    getTaskStatus(taskId, runId) {
      const candidates = runId !== undefined ? [runId] : [...executions.keys()].reverse();
      for (const id of candidates) {
        const exec = executions.get(id);
        if (exec === undefined) {
          if (log.evicted(id)) {
            const tasks = log.state().project("tasks", id); // from the store, or EvictedError
            if (!Object.hasOwn(tasks, taskId)) break;
            const w = log.state().project("workflowStatus", id);
            return { ...tasks[taskId], workflowId: w.workflowId, runId: id };
          }
          throw new NotFoundError("run", id);
        }
        if (!exec.taskIds.has(taskId)) continue;
        const view = log.state().project("tasks", id)[taskId];
        return { ...view, workflowId: exec.workflowId, runId: id };
      }
      if (runId === undefined) {
        // A task added to a workflow that has not run it yet waits.
        for (const [workflowId, draft] of [...drafts].reverse()) {
          if (draft.ids.has(taskId) && draft.latest === undefined) {
            return { taskId, status: "pending", attempts: 0, workflowId };
          }
        }
      }
      throw new NotFoundError(
        "task",
        taskId,
        runId === undefined ? " in any run" : ` in run "${runId}"`,
      );
    },
    reexecute(runId) {
      const exec = executions.get(runId);
      if (exec?.workflow === undefined) {
        throw new NotFoundError("run", runId, "; it was not started by execute() or reexecute()");
      }
      if (exec.run !== undefined && exec.run.final === undefined) {
        throw new TypeError(`Cannot re-execute "${runId}": it has not ended`);
      }
      const events = log.events(runId);
      const graph = graphOf(exec.workflow);
      const restore = rerunFrom(foldRun({ events }), events, exec.workflow.name, graph, runId);
      const run = runs.startRerun(exec.workflow, graph, restore, runId, {}, exec.workflowId);
      executions.get(run.id)!.run = run;
      const draft = drafts.get(exec.workflowId);
      if (draft !== undefined) ran(exec.workflowId, draft, run.id);
      return run.id;
    },
    wait(runId) {
      const run = executions.get(runId)?.run;
      if (run === undefined) {
        if (log.evicted(runId)) return Promise.reject(new EvictedError(runId, describeRetention(retention)));
        return Promise.reject(new NotFoundError("run", runId, "; it was not started by execute()"));
      }
      return run.result;
    },
    evicted(runIds) {
      for (const runId of runIds) {
        const workflowId = draftOfLatest.get(runId);
        if (workflowId === undefined) continue;
        draftOfLatest.delete(runId);
        drafts.delete(workflowId);
        log.release(workflowId);
      }
    },
  };
}
