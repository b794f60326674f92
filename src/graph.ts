/**
 * Workflow definition, validation and the execution plan.
 *
 * Validation is O(tasks + edges) and rejects bad input with a typed error
 * naming the culprit before anything runs.
 *
 * @module
 */
import { CycleError, DuplicateTaskError, NotFoundError, UnknownDependencyError } from "./errors.ts";
import { resolveBreaker } from "./breaker.ts";
import type { CachePolicy, Priority, RetryPolicy, TaskDef, TaskSpec, Workflow, WorkflowDef } from "./types.ts";
import { PRIORITIES, PRIORITY_RANK, PROFILE_INDEX } from "./tables.ts";

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
   * Dependents added during a run (see {@linkcode GrowingGraph}), besides
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
const NO_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});
const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_RETRY: Readonly<Required<RetryPolicy>> = Object.freeze({
  maxAttempts: 1,
  initialDelayMs: 100,
  factor: 2,
  maxDelayMs: 30_000,
  jitter: 0,
});

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
 * A run's graph that grows by tasks added during the run (`ctx.spawn`), in
 * O(added tasks + their edges) amortised: the per-task arrays double their
 * capacity when full, the new tasks are appended (existing indices do not
 * change), and their dependents are linked from the tasks they depend on.
 * New tasks are validated like a workflow's (fields, duplicate ids, unknown
 * dependencies, cycles among them: an existing task cannot depend on a new
 * one) before anything changes. Ranks of tasks the new ones depend on grow
 * along their dependencies, except through tasks that `frozen` says already
 * started (their rank no longer orders anything).
 */
export class GrowingGraph {
  #g: Graph;
  readonly #workflow: string;
  readonly #specs: TaskSpec<unknown>[];
  readonly #ids: string[];
  readonly #index: Map<string, number>;
  #cap: number;
  #depStart: Int32Array;
  #depList: Int32Array;
  #edges: number;
  #outStart: Int32Array;
  readonly #outList: Int32Array;
  #moreHead: Int32Array;
  #moreNext: Int32Array;
  #moreTo: Int32Array;
  #more = 0;
  #priority: Uint8Array;
  #rank: Float64Array;
  #level: Int32Array;
  #topo: Int32Array;

  /**
   * Copies a compiled graph (once per run: O(tasks + edges)).
   *
   * @param workflow The workflow's name, for messages.
   * @param graph The graph.
   * @param specs Its tasks, by index.
   * @param extra Room to leave for tasks about to be added.
   */
  constructor(workflow: string, graph: Graph, specs: readonly TaskSpec<unknown>[], extra = 0) {
    this.#workflow = workflow;
    const n = graph.n;
    const cap = Math.max(16, 2 * (n + extra));
    this.#cap = cap;
    this.#specs = specs.slice(0, n);
    this.#ids = graph.ids.slice(0, n);
    this.#index = new Map(graph.index);
    this.#edges = graph.depStart[n];
    this.#depStart = copyInto(new Int32Array(cap + 1), graph.depStart, n + 1);
    this.#depList = copyInto(new Int32Array(Math.max(16, 2 * this.#edges)), graph.depList, this.#edges);
    this.#outStart = copyInto(new Int32Array(cap + 1), graph.outStart, n + 1);
    this.#outStart.fill(graph.outStart[n], n + 1);
    this.#outList = graph.outList;
    if (graph.moreHead !== undefined) {
      this.#moreHead = copyInto(new Int32Array(cap), graph.moreHead, n);
      this.#moreHead.fill(-1, n);
      this.#more = graph.moreNext!.length;
      this.#moreNext = Int32Array.from(graph.moreNext!);
      this.#moreTo = Int32Array.from(graph.moreTo!);
    } else {
      this.#moreHead = new Int32Array(cap).fill(-1);
      this.#moreNext = new Int32Array(16);
      this.#moreTo = new Int32Array(16);
    }
    this.#priority = copyInto(new Uint8Array(cap), graph.priority, n);
    this.#rank = copyInto(new Float64Array(cap), graph.rank, n);
    this.#level = copyInto(new Int32Array(cap), graph.level, n);
    this.#topo = copyInto(new Int32Array(cap), graph.topo, n);
    this.#g = this.#view(n);
  }

  /** The graph now (a new object after each `add`; its arrays may be longer than `n`). */
  get graph(): Graph {
    return this.#g;
  }

  /** Its tasks, by index (the same array, grown in place). */
  get specs(): readonly TaskSpec<unknown>[] {
    return this.#specs;
  }

  /** Capacity of the per-task arrays: a run sizes its own arrays to it. */
  get capacity(): number {
    return this.#cap;
  }

  /**
   * Adds tasks.
   *
   * @param defs The tasks.
   * @param frozen Whether a task already started (its rank is left as it is).
   * @returns The indices of existing tasks whose rank changed.
   * @throws {TypeError} A field has the wrong type, or `defs` is not an array.
   * @throws {RangeError} A number is out of range.
   * @throws {DuplicateTaskError} An id is taken (by the run or another new task).
   * @throws {UnknownDependencyError} A new task depends on an unknown id or on itself.
   * @throws {CycleError} The new tasks' dependencies form a cycle.
   */
  add(defs: readonly TaskDef<unknown>[], frozen: (i: number) => boolean = () => false): number[] {
    const workflow = this.#workflow;
    if (!Array.isArray(defs)) {
      throw new TypeError(`Cannot add tasks to "${workflow}": expected an array, got ${describe(defs)}`);
    }
    const n = this.#g.n;
    const m = defs.length;
    const index = this.#index;
    // Validate everything before changing anything.
    const specs: TaskSpec<unknown>[] = new Array(m);
    const local = new Map<string, number>();
    let added = 0;
    for (let k = 0; k < m; k++) {
      const spec = resolveTask(workflow, defs[k], n + k);
      if (index.has(spec.id) || local.has(spec.id)) throw new DuplicateTaskError(workflow, spec.id);
      local.set(spec.id, n + k);
      specs[k] = spec;
      added += spec.dependsOn.length;
    }
    const deps: number[] = new Array(added);
    const start: number[] = new Array(m + 1);
    let inner = 0;
    for (let k = 0, e = 0; k < m; k++) {
      start[k] = e;
      const spec = specs[k];
      const seen = spec.dependsOn.length > 16 ? new Set<number>() : undefined;
      const first = e;
      for (const dep of spec.dependsOn) {
        const j = index.get(dep) ?? local.get(dep);
        if (j === undefined || j === n + k) throw new UnknownDependencyError(workflow, spec.id, dep);
        let repeated = false;
        if (seen !== undefined) {
          repeated = seen.has(j);
          seen.add(j);
        } else {
          for (let q = first; q < e && !repeated; q++) repeated = deps[q] === j;
        }
        if (repeated) {
          throw new TypeError(
            `Cannot define workflow "${workflow}": task "${spec.id}" lists dependency "${dep}" twice`,
          );
        }
        if (j >= n) inner++;
        deps[e++] = j;
      }
    }
    start[m] = added;
    // Kahn's algorithm among the new tasks (existing ones cannot depend on them); none when they depend on existing ones only.
    let order: Int32Array | undefined;
    let localOutStart: Int32Array | undefined;
    let localOut: Int32Array | undefined;
    if (inner > 0) {
      const remaining = new Int32Array(m);
      localOutStart = new Int32Array(m + 1);
      for (let e = 0; e < added; e++) if (deps[e] >= n) localOutStart[deps[e] - n + 1]++;
      for (let k = 0; k < m; k++) localOutStart[k + 1] += localOutStart[k];
      localOut = new Int32Array(inner);
      const fill = localOutStart.slice(0, m);
      for (let k = 0; k < m; k++) {
        for (let e = start[k]; e < start[k + 1]; e++) {
          if (deps[e] >= n) {
            localOut[fill[deps[e] - n]++] = k;
            remaining[k]++;
          }
        }
      }
      order = new Int32Array(m);
      let tail = 0;
      for (let k = 0; k < m; k++) if (remaining[k] === 0) order[tail++] = k;
      for (let head = 0; head < tail; head++) {
        const k = order[head];
        for (let q = localOutStart[k]; q < localOutStart[k + 1]; q++) {
          if (--remaining[localOut[q]] === 0) order[tail++] = localOut[q];
        }
      }
      if (tail < m) {
        const localDepStart = new Int32Array(m + 1);
        const localDeps: number[] = [];
        for (let k = 0; k < m; k++) {
          localDepStart[k] = localDeps.length;
          for (let e = start[k]; e < start[k + 1]; e++) if (deps[e] >= n) localDeps.push(deps[e] - n);
        }
        localDepStart[m] = localDeps.length;
        throw new CycleError(workflow, findCycle(specs, remaining, localDepStart, Int32Array.from(localDeps)));
      }
    }
    // Commit.
    this.#reserve(n + m, this.#edges + added, this.#more + added);
    for (let k = 0; k < m; k++) {
      const i = n + k;
      const spec = specs[k];
      this.#specs.push(spec);
      this.#ids.push(spec.id);
      index.set(spec.id, i);
      this.#priority[i] = PRIORITY_RANK[spec.priority];
      this.#depStart[i] = this.#edges;
      let level = 0;
      for (let e = start[k]; e < start[k + 1]; e++) {
        const j = deps[e];
        this.#depList[this.#edges++] = j;
        if (this.#level[j] + 1 > level) level = this.#level[j] + 1;
        this.#moreTo[this.#more] = i;
        this.#moreNext[this.#more] = this.#moreHead[j];
        this.#moreHead[j] = this.#more++;
      }
      this.#level[i] = level;
      this.#outStart[i + 1] = this.#outStart[i];
    }
    this.#depStart[n + m] = this.#edges;
    for (let q = 0; q < m; q++) this.#topo[n + q] = n + (order === undefined ? q : order[q]);
    // Ranks: the new tasks from their sinks back, then the existing tasks they raise.
    const rank = this.#rank;
    for (let q = m - 1; q >= 0; q--) {
      const k = order === undefined ? q : order[q];
      let best = 0;
      if (localOutStart !== undefined) {
        for (let p = localOutStart[k]; p < localOutStart[k + 1]; p++) {
          if (rank[n + localOut![p]] > best) best = rank[n + localOut![p]];
        }
      }
      rank[n + k] = best + specs[k].cost;
    }
    const changed: number[] = [];
    if (added > inner) {
      const stack: number[] = [];
      for (let k = 0; k < m; k++) {
        for (let e = start[k]; e < start[k + 1]; e++) if (deps[e] < n) this.#raise(deps[e], rank[n + k], frozen, stack);
      }
      const seen = stack.length > 0 ? new Set<number>() : undefined;
      while (stack.length > 0) {
        const j = stack.pop()!;
        if (!seen!.has(j)) {
          seen!.add(j);
          changed.push(j);
        }
        for (let e = this.#depStart[j]; e < this.#depStart[j + 1]; e++) {
          this.#raise(this.#depList[e], rank[j], frozen, stack);
        }
      }
    }
    this.#g = this.#view(n + m);
    return changed;
  }

  /** Raises a task's rank to at least a dependent's rank plus its own cost (unless it started). */
  #raise(j: number, below: number, frozen: (i: number) => boolean, stack: number[]): void {
    const r = below + this.#specs[j].cost;
    if (r <= this.#rank[j] || frozen(j)) return;
    this.#rank[j] = r;
    stack.push(j);
  }

  #reserve(n: number, edges: number, more: number): void {
    if (n > this.#cap) {
      const cap = Math.max(2 * this.#cap, n);
      const last = this.#outStart[this.#g.n];
      this.#depStart = resized(this.#depStart, cap + 1);
      this.#outStart = resized(this.#outStart, cap + 1);
      this.#outStart.fill(last, this.#g.n + 1);
      this.#moreHead = resized(this.#moreHead, cap);
      this.#moreHead.fill(-1, this.#cap);
      this.#priority = resized(this.#priority, cap);
      this.#rank = resized(this.#rank, cap);
      this.#level = resized(this.#level, cap);
      this.#topo = resized(this.#topo, cap);
      this.#cap = cap;
    }
    if (edges > this.#depList.length) this.#depList = resized(this.#depList, Math.max(2 * this.#depList.length, edges));
    if (more > this.#moreTo.length) {
      const size = Math.max(2 * this.#moreTo.length, more);
      this.#moreTo = resized(this.#moreTo, size);
      this.#moreNext = resized(this.#moreNext, size);
    }
  }

  #view(n: number): Graph {
    return {
      n,
      ids: this.#ids,
      index: this.#index,
      depStart: this.#depStart,
      depList: this.#depList,
      outStart: this.#outStart,
      outList: this.#outList,
      priority: this.#priority,
      rank: this.#rank,
      level: this.#level,
      topo: this.#topo,
      moreHead: this.#moreHead,
      moreNext: this.#moreNext,
      moreTo: this.#moreTo,
    };
  }
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

function copyInto<T extends Uint8Array | Int32Array | Float64Array>(to: T, from: T, n: number): T {
  to.set(from.subarray(0, n));
  return to;
}

function resized<T extends Uint8Array | Int32Array | Float64Array>(a: T, n: number): T {
  const out = new (a.constructor as new (n: number) => T)(n);
  out.set(a.subarray(0, Math.min(a.length, n)));
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

/**
 * Validates one task's own fields (not whether its dependencies exist).
 *
 * @param workflow The workflow's name, for messages.
 * @param def The task.
 * @throws {TypeError} A field has the wrong type.
 * @throws {RangeError} A number is out of range.
 */
export function validateTask(workflow: string, def: TaskDef<unknown>): void {
  resolveTask(workflow, def, 0);
}

function resolveTask<I>(workflow: string, def: TaskDef<I>, position: number): TaskSpec<I> {
  if (def === null || typeof def !== "object") {
    throw new TypeError(
      `Cannot define workflow "${workflow}": task #${position} must be an object, got ${describe(def)}`,
    );
  }
  const id = def.id;
  if (typeof id !== "string" || id.length === 0) {
    throw new TypeError(
      `Cannot define workflow "${workflow}": task #${position} needs a non-empty string "id", got ${describe(id)}`,
    );
  }
  const where = `Cannot define workflow "${workflow}": task "${id}"`;
  if (typeof def.run !== "function") {
    throw new TypeError(`${where} needs a function "run", got ${describe(def.run)}`);
  }
  optionalString(where, "name", def.name);
  optionalString(where, "description", def.description);
  const dependsOn = stringArray(where, "dependsOn", def.dependsOn);
  const tags = stringArray(where, "tags", def.tags);
  const priority = def.priority ?? "medium";
  if (typeof priority !== "string" || !Object.hasOwn(PRIORITY_RANK, priority)) {
    throw new RangeError(`${where} has priority ${describe(priority)}, expected low, medium, high or critical`);
  }
  const profile = def.profile ?? "io";
  if (typeof profile !== "string" || !Object.hasOwn(PROFILE_INDEX, profile)) {
    throw new RangeError(`${where} has profile ${describe(profile)}, expected cpu, io, mixed or memory`);
  }
  if (def.timeoutMs !== undefined) positive(where, "timeoutMs", def.timeoutMs);
  if (def.cost !== undefined) positive(where, "cost", def.cost);
  if (def.metadata !== undefined && (def.metadata === null || typeof def.metadata !== "object")) {
    throw new TypeError(`${where} has "metadata" ${describe(def.metadata)}, expected an object`);
  }
  if (def.fallback !== undefined && typeof def.fallback !== "function") {
    throw new TypeError(`${where} has "fallback" ${describe(def.fallback)}, expected a function`);
  }
  if (def.concurrencyKey !== undefined && (typeof def.concurrencyKey !== "string" || def.concurrencyKey === "")) {
    throw new TypeError(`${where} has "concurrencyKey" ${describe(def.concurrencyKey)}, expected a non-empty string`);
  }
  let breaker: TaskSpec<I>["breaker"];
  if (typeof def.breaker === "string") {
    if (def.breaker === "") throw new TypeError(`${where} has breaker "", expected a non-empty key`);
    breaker = def.breaker;
  } else if (def.breaker !== undefined) breaker = resolveBreaker(where, def.breaker);
  return Object.freeze({
    id,
    name: def.name ?? id,
    description: def.description,
    dependsOn,
    run: def.run,
    priority,
    timeoutMs: def.timeoutMs,
    cost: def.cost ?? 1,
    retry: resolveRetry(where, def.retry),
    profile,
    tags,
    metadata: def.metadata === undefined ? NO_METADATA : Object.freeze({ ...def.metadata }),
    cache: resolveCache(where, def.cache),
    breaker,
    fallback: def.fallback,
    concurrencyKey: def.concurrencyKey,
  });
}

function resolveCache<I>(where: string, cache: CachePolicy<I> | undefined): Readonly<CachePolicy<I>> | undefined {
  if (cache === undefined) return undefined;
  if (cache === null || typeof cache !== "object") {
    throw new TypeError(`${where} has "cache" ${describe(cache)}, expected an object`);
  }
  positive(where, "cache.ttlMs", cache.ttlMs);
  if (cache.key !== undefined && typeof cache.key !== "function") {
    throw new TypeError(`${where} has cache.key ${describe(cache.key)}, expected a function`);
  }
  if (cache.version !== undefined && typeof cache.version !== "string") {
    throw new TypeError(`${where} has cache.version ${describe(cache.version)}, expected a string`);
  }
  return Object.freeze({ ttlMs: cache.ttlMs, key: cache.key, version: cache.version ?? "" });
}

function resolveRetry(where: string, retry: RetryPolicy | undefined): Readonly<Required<RetryPolicy>> {
  if (retry === undefined) return NO_RETRY;
  if (retry === null || typeof retry !== "object") {
    throw new TypeError(`${where} has "retry" ${describe(retry)}, expected an object`);
  }
  const r: Required<RetryPolicy> = { ...NO_RETRY };
  for (const key of Object.keys(NO_RETRY) as (keyof RetryPolicy)[]) {
    if (retry[key] !== undefined) r[key] = retry[key];
  }
  if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) {
    throw new RangeError(`${where} has retry.maxAttempts ${describe(r.maxAttempts)}, expected an integer >= 1`);
  }
  nonNegative(where, "retry.initialDelayMs", r.initialDelayMs);
  nonNegative(where, "retry.maxDelayMs", r.maxDelayMs);
  if (typeof r.factor !== "number" || !Number.isFinite(r.factor) || r.factor < 1) {
    throw new RangeError(`${where} has retry.factor ${describe(r.factor)}, expected a finite number >= 1`);
  }
  if (typeof r.jitter !== "number" || !(r.jitter >= 0 && r.jitter <= 1)) {
    throw new RangeError(`${where} has retry.jitter ${describe(r.jitter)}, expected a number in [0, 1]`);
  }
  return Object.freeze(r);
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

/** Walks dependencies among the tasks Kahn could not order until one repeats. */
function findCycle(
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

function optionalString(where: string, field: string, value: unknown): void {
  if (value !== undefined && typeof value !== "string") {
    throw new TypeError(`${where} has "${field}" ${describe(value)}, expected a string`);
  }
}

function stringArray(where: string, field: string, value: unknown): readonly string[] {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return NO_STRINGS;
  if (!Array.isArray(value)) {
    throw new TypeError(`${where} has "${field}" ${describe(value)}, expected an array of strings`);
  }
  for (const item of value) {
    if (typeof item !== "string") {
      throw new TypeError(`${where} has "${field}" containing ${describe(item)}, expected strings only`);
    }
  }
  return Object.freeze(value.slice());
}

function positive(where: string, field: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${where} has ${field} ${describe(value)}, expected a finite number > 0`);
  }
}

function nonNegative(where: string, field: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${where} has ${field} ${describe(value)}, expected a finite number >= 0`);
  }
}

/** A short, quoted description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}
