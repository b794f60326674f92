/**
 * The execution plan of a workflow, for inspection: its dependency levels,
 * the dispatch order of an unconstrained run and the critical path, read off
 * its compiled graph. The scheduler does not follow a plan: it orders ready
 * tasks by priority, then rank, and a task starts as soon as its own
 * dependencies completed.
 *
 * @module
 */
import { dependentsOf, type Graph, graphOf } from "../graph.ts";
import type { Priority, TaskSpec, Workflow } from "../types.ts";
import { PRIORITIES } from "../tables.ts";

/** One task's place in the execution plan. */
export interface PlannedTask {
  /** The task id. */
  id: string;
  /** Its dependency level: 0 for tasks without dependencies. */
  level: number;
  /** Its priority. */
  priority: Priority;
  /** Summed cost of the costliest path from it to a sink, itself included (tasks, at cost 1 each). */
  rank: number;
  /** Its dependencies. */
  dependsOn: readonly string[];
}

/** The execution plan of a workflow. */
export interface Plan {
  /** Task ids per dependency level; within a level, in dispatch order (priority, then rank). */
  levels: string[][];
  /** Every task in dispatch order of an unconstrained run: by level, then priority, then rank. */
  order: PlannedTask[];
  /** The longest dependency chain, as ids. */
  criticalPath: string[];
}

/**
 * The execution plan: dependency levels, priority order within each level
 * and each task's critical-path rank. The scheduler orders ready tasks by
 * priority, then rank; levels are for inspection only: a task starts as soon
 * as its own dependencies completed.
 *
 * @param workflow A workflow from {@linkcode defineWorkflow}.
 * @returns The plan.
 * @throws {TypeError} The value was not made by `defineWorkflow`.
 *
 * @example Levels of a diamond
 * ```ts
 * import { defineWorkflow, plan } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const run = () => null;
 * const p = plan(defineWorkflow({ name: "d", tasks: [
 *   { id: "a", run }, { id: "b", dependsOn: ["a"], run, priority: "high" },
 *   { id: "c", dependsOn: ["a"], run }, { id: "d", dependsOn: ["b", "c"], run },
 * ] }));
 * assert.deepEqual(p.levels, [["a"], ["b", "c"], ["d"]]);
 * assert.deepEqual(p.criticalPath, ["a", "b", "d"]);
 * ```
 */
export function plan<I>(workflow: Workflow<I>): Plan {
  return planGraph(graphOf(workflow), workflow.tasks as readonly TaskSpec<unknown>[]);
}

/**
 * The execution plan of a compiled graph (see {@linkcode plan}).
 *
 * @param g The graph.
 * @param tasks Its tasks, by index.
 * @returns The plan.
 */
export function planGraph(g: Graph, tasks: readonly TaskSpec<unknown>[]): Plan {
  const byDispatch = (a: number, b: number) =>
    g.level[a] - g.level[b] || g.priority[b] - g.priority[a] || g.rank[b] - g.rank[a] || a - b;
  const sorted = Array.from(g.topo.subarray(0, g.n)).sort(byDispatch);
  const levels: string[][] = [];
  const order: PlannedTask[] = [];
  for (const i of sorted) {
    (levels[g.level[i]] ??= []).push(g.ids[i]);
    order.push({
      id: g.ids[i],
      level: g.level[i],
      priority: PRIORITIES[g.priority[i]],
      rank: g.rank[i],
      dependsOn: tasks[i].dependsOn,
    });
  }
  const criticalPath: string[] = [];
  let best = -1;
  for (let i = 0; i < g.n; i++) {
    if (g.depStart[i + 1] === g.depStart[i] && (best < 0 || g.rank[i] > g.rank[best])) best = i;
  }
  while (best >= 0) {
    criticalPath.push(g.ids[best]);
    let next = -1;
    for (const d of dependentsOf(g, best)) {
      if (next < 0 || g.rank[d] > g.rank[next] || (g.rank[d] === g.rank[next] && d < next)) next = d;
    }
    best = next;
  }
  return { levels, order, criticalPath };
}
