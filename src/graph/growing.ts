/**
 * A run's graph that grows: tasks added during the run (`ctx.spawn`, and on
 * resume the spawned tasks read back from the log) join the run's copy of its
 * workflow's compiled graph, validated like a workflow's tasks, without
 * recompiling it.
 *
 * @module
 */
import { CycleError, DuplicateTaskError, UnknownDependencyError } from "../errors.ts";
import { describe } from "../describe.ts";
import { findCycle, type Graph } from "../graph.ts";
import type { TaskDef, TaskSpec } from "../types.ts";
import { PRIORITY_RANK } from "../tables.ts";
import { resolveTask } from "./validate.ts";

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

function copyInto<T extends Uint8Array | Int32Array | Float64Array>(to: T, from: T, n: number): T {
  to.set(from.subarray(0, n));
  return to;
}

function resized<T extends Uint8Array | Int32Array | Float64Array>(a: T, n: number): T {
  const out = new (a.constructor as new (n: number) => T)(n);
  out.set(a.subarray(0, Math.min(a.length, n)));
  return out;
}
