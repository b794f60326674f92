/**
 * A workflow's compiled graph. {@linkcode defineWorkflow} checks a workflow
 * as a whole (duplicate ids, unknown dependencies, cycles) and compiles it
 * into a {@linkcode Graph} of typed arrays in O(tasks + edges), rejecting bad
 * input with a typed error naming the culprit before anything runs; the
 * queries here (dependents, descendants) read a compiled or a grown graph.
 *
 * Beside it: one task's own fields are checked in `graph/validate.ts`, the
 * execution plan is `graph/plan.ts`, and a run's graph that grows by tasks
 * added during the run is `graph/growing.ts`.
 *
 * @module
 */
import { CycleError, DuplicateTaskError, NotFoundError, UnknownDependencyError } from "./errors.ts";
import { describe } from "./describe.ts";
import { resolveTask } from "./graph/validate.ts";
import type { TaskSpec, Workflow, WorkflowDef } from "./types.ts";
import { PRIORITY_RANK } from "./tables.ts";

/** The compiled form of a workflow the runtime reads: indices, not ids. */
export interface Graph {
  /** Number of tasks. */
  readonly n: number;
  /** Task ids by index. */
  readonly ids: readonly string[];
  /** Index by id. */
  readonly index: ReadonlyMap<string, number>;
  /** Dependencies of task i: `depList[depStart[i] .. depStart[i + 1])`. */
  readonly depStart: Int32Array;
  /** Dependency indices, grouped per task. */
  readonly depList: Int32Array;
  /** Dependents of task i: `outList[outStart[i] .. outStart[i + 1])`. */
  readonly outStart: Int32Array;
  /** Dependent indices, grouped per task. */
  readonly outList: Int32Array;
  /** Priority weight per task: low 0 … critical 3. */
  readonly priority: Uint8Array;
  /** Critical-path rank: the summed cost of the costliest path from this task to a sink, itself included. */
  readonly rank: Float64Array;
  /** Dependency level: 0 for tasks without dependencies, else 1 + the deepest dependency. */
  readonly level: Int32Array;
  /** Task indices in a topological order. */
  readonly topo: Int32Array;
  /**
   * Dependents added during a run (see `GrowingGraph` in `graph/growing.ts`), besides
   * `outList`: a list per task, first edge `moreHead[i]` (-1: none), next
   * edge `moreNext[e]`, dependent `moreTo[e]`. Absent on a workflow's graph.
   * In a grown graph the typed arrays may be longer than `n` (capacity).
   */
  readonly moreHead?: Int32Array;
  /** Next edge of the same task in the added dependents' lists (-1: the last). */
  readonly moreNext?: Int32Array;
  /** Dependent of each added edge. */
  readonly moreTo?: Int32Array;
}

const graphs = new WeakMap<object, Graph>();

/**
 * Validates a workflow definition and compiles it for the engine.
 *
 * @param def The workflow: a name and its tasks.
 * @returns The validated, frozen workflow.
 * @throws {TypeError} A field has the wrong type (the message names the task and field).
 * @throws {RangeError} A number is out of range (negative timeout, `maxAttempts` < 1, …).
 * @throws {DuplicateTaskError} Two tasks share an id.
 * @throws {UnknownDependencyError} A task depends on an unknown id or on itself.
 * @throws {CycleError} The dependencies form a cycle; `cycle` holds the path.
 *
 * @example A fan-out / fan-in workflow
 * ```ts
 * import { defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const wf = defineWorkflow({
 *   name: "fan",
 *   tasks: [
 *     { id: "split", run: () => [1, 2] },
 *     { id: "left", dependsOn: ["split"], run: ({ deps }) => (deps.split as number[])[0] },
 *     { id: "right", dependsOn: ["split"], run: ({ deps }) => (deps.split as number[])[1] },
 *     { id: "join", dependsOn: ["left", "right"], run: ({ deps }) => Number(deps.left) + Number(deps.right) },
 *   ],
 * });
 * assert.equal(wf.tasks.length, 4);
 * ```
 */
export function defineWorkflow<I = unknown>(def: WorkflowDef<I>): Workflow<I> {
  if (def === null || typeof def !== "object") {
    throw new TypeError(`Cannot define workflow: expected an object, got ${describe(def)}`);
  }
  const name = def.name;
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`Cannot define workflow: "name" must be a non-empty string, got ${describe(name)}`);
  }
  if (def.description !== undefined && typeof def.description !== "string") {
    throw new TypeError(`Cannot define workflow "${name}": "description" must be a string`);
  }
  if (!Array.isArray(def.tasks)) {
    throw new TypeError(`Cannot define workflow "${name}": "tasks" must be an array, got ${describe(def.tasks)}`);
  }
  const n = def.tasks.length;
  const specs: TaskSpec<I>[] = new Array(n);
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const spec = resolveTask(name, def.tasks[i], i);
    if (index.has(spec.id)) throw new DuplicateTaskError(name, spec.id);
    index.set(spec.id, i);
    specs[i] = spec;
  }
  const graph = compile(name, specs as readonly TaskSpec<unknown>[], index);
  const workflow: Workflow<I> = Object.freeze({
    name,
    description: def.description,
    tasks: Object.freeze(specs),
  });
  graphs.set(workflow, graph);
  return workflow;
}

/**
 * The compiled graph of a workflow made by {@linkcode defineWorkflow}.
 *
 * @param workflow A workflow from `defineWorkflow`.
 * @returns Its graph.
 * @throws {TypeError} The value was not made by `defineWorkflow`.
 */
export function graphOf<I>(workflow: Workflow<I>): Graph {
  const graph = graphs.get(workflow);
  if (graph === undefined) {
    throw new TypeError(
      `Cannot run ${describe(workflow)}: expected a workflow made by defineWorkflow()`,
    );
  }
  return graph;
}

function compile(workflow: string, specs: readonly TaskSpec<unknown>[], index: Map<string, number>): Graph {
  const n = specs.length;
  const depStart = new Int32Array(n + 1);
  let edges = 0;
  for (let i = 0; i < n; i++) {
    depStart[i] = edges;
    edges += specs[i].dependsOn.length;
  }
  depStart[n] = edges;
  const depList = new Int32Array(edges);
  const outCount = new Int32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    const spec = specs[i];
    const first = e;
    // Duplicates: a scan for short lists, a set for long ones.
    const seen = spec.dependsOn.length > 16 ? new Set<number>() : undefined;
    for (const dep of spec.dependsOn) {
      const j = index.get(dep);
      if (j === undefined || j === i) throw new UnknownDependencyError(workflow, spec.id, dep);
      let repeated = false;
      if (seen !== undefined) {
        repeated = seen.has(j);
        seen.add(j);
      } else {
        for (let k = first; k < e && !repeated; k++) repeated = depList[k] === j;
      }
      if (repeated) {
        throw new TypeError(`Cannot define workflow "${workflow}": task "${spec.id}" lists dependency "${dep}" twice`);
      }
      depList[e++] = j;
      outCount[j]++;
    }
  }
  const outStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) outStart[i + 1] = outStart[i] + outCount[i];
  const outList = new Int32Array(edges);
  const fill = outStart.slice(0, n);
  for (let i = 0; i < n; i++) {
    for (let k = depStart[i]; k < depStart[i + 1]; k++) outList[fill[depList[k]]++] = i;
  }
  // Kahn's algorithm: topological order and levels.
  const remaining = new Int32Array(n);
  const topo = new Int32Array(n);
  const level = new Int32Array(n);
  let tail = 0;
  for (let i = 0; i < n; i++) {
    remaining[i] = depStart[i + 1] - depStart[i];
    if (remaining[i] === 0) topo[tail++] = i;
  }
  for (let head = 0; head < tail; head++) {
    const i = topo[head];
    for (let k = outStart[i]; k < outStart[i + 1]; k++) {
      const d = outList[k];
      if (level[d] <= level[i]) level[d] = level[i] + 1;
      if (--remaining[d] === 0) topo[tail++] = d;
    }
  }
  if (tail < n) throw new CycleError(workflow, findCycle(specs, remaining, depStart, depList));
  const rank = new Float64Array(n);
  for (let t = n - 1; t >= 0; t--) {
    const i = topo[t];
    let best = 0;
    for (let k = outStart[i]; k < outStart[i + 1]; k++) if (rank[outList[k]] > best) best = rank[outList[k]];
    rank[i] = best + specs[i].cost;
  }
  const priority = new Uint8Array(n);
  for (let i = 0; i < n; i++) priority[i] = PRIORITY_RANK[specs[i].priority];
  return {
    n,
    ids: specs.map((s) => s.id),
    index,
    depStart,
    depList,
    outStart,
    outList,
    priority,
    rank,
    level,
    topo,
  };
}

/**
 * Walks dependencies among the tasks Kahn could not order until one repeats.
 *
 * @param specs The tasks, by index (for their ids).
 * @param remaining Per task, its dependencies Kahn left unordered (> 0: the task is unordered).
 * @param depStart Dependencies of task i: `depList[depStart[i] .. depStart[i + 1])`.
 * @param depList Dependency indices, grouped per task.
 * @returns The cycle as ids in execution order, its first id repeated at the end.
 */
export function findCycle(
  specs: readonly TaskSpec<unknown>[],
  remaining: Int32Array,
  depStart: Int32Array,
  depList: Int32Array,
): string[] {
  // Every unordered task has an unordered dependency, so following those
  // from any unordered task must revisit one: that stretch is a cycle.
  let start = 0;
  while (remaining[start] === 0) start++;
  const seenAt = new Map<number, number>();
  const path: number[] = [];
  let i = start;
  while (!seenAt.has(i)) {
    seenAt.set(i, path.length);
    path.push(i);
    let next = -1;
    for (let k = depStart[i]; k < depStart[i + 1]; k++) {
      if (remaining[depList[k]] > 0) {
        next = depList[k];
        break;
      }
    }
    i = next;
  }
  // Path follows "depends on" edges; report it in execution order: a → b means b depends on a.
  const cycle = path.slice(seenAt.get(i)!).reverse().map((j) => specs[j].id);
  cycle.push(cycle[0]);
  return cycle;
}

/**
 * The dependents of a task, in a compiled or grown graph.
 *
 * @param g The graph.
 * @param i The task.
 * @returns Their indices.
 */
export function dependentsOf(g: Graph, i: number): number[] {
  const out: number[] = [];
  for (let k = g.outStart[i]; k < g.outStart[i + 1]; k++) out.push(g.outList[k]);
  if (g.moreHead !== undefined) { for (let e = g.moreHead[i]; e >= 0; e = g.moreNext![e]) out.push(g.moreTo![e]); }
  return out;
}

/**
 * The tasks downstream of a task: every task that depends on it, directly or
 * through others — what its failure would skip. O(those tasks + their edges).
 *
 * @param workflow A workflow from {@linkcode defineWorkflow}.
 * @param taskId The task.
 * @returns Their ids, in topological order (a task before its dependents).
 * @throws {TypeError} The value was not made by `defineWorkflow`.
 * @throws {NotFoundError} The workflow has no such task.
 *
 * @example What a failure of "b" would skip
 * ```ts
 * import { defineWorkflow, descendants } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const run = () => null;
 * const wf = defineWorkflow({ name: "d", tasks: [
 *   { id: "a", run }, { id: "b", dependsOn: ["a"], run },
 *   { id: "c", dependsOn: ["b"], run }, { id: "d", dependsOn: ["a", "c"], run }, { id: "e", run },
 * ] });
 * assert.deepEqual(descendants(wf, "b"), ["c", "d"]);
 * ```
 */
export function descendants<I>(workflow: Workflow<I>, taskId: string): string[] {
  return descendantsIn(graphOf(workflow), taskId, `workflow "${workflow.name}"`);
}

/**
 * The descendants of a task in a compiled or grown graph (see {@linkcode descendants}).
 *
 * @param g The graph.
 * @param taskId The task.
 * @param where Where, for the error message.
 * @returns Their ids, in topological order.
 * @throws {NotFoundError} The graph has no such task.
 */
export function descendantsIn(g: Graph, taskId: string, where: string): string[] {
  const start = g.index.get(taskId);
  if (start === undefined) throw new NotFoundError("task", taskId, ` in ${where}`);
  const seen = new Uint8Array(g.n);
  const found: number[] = [];
  const stack = [start];
  while (stack.length > 0) {
    for (const d of dependentsOf(g, stack.pop()!)) {
      if (seen[d] === 1) continue;
      seen[d] = 1;
      found.push(d);
      stack.push(d);
    }
  }
  // Topological order: by position in the graph's topo order.
  const pos = new Int32Array(g.n);
  for (let k = 0; k < g.n; k++) pos[g.topo[k]] = k;
  return found.sort((a, b) => pos[a] - pos[b]).map((i) => g.ids[i]);
}
