/**
 * Workflow definition, validation and the execution plan.
 *
 * Validation is O(tasks + edges) and rejects bad input with a typed error
 * naming the culprit before anything runs.
 *
 * @module
 */
import { CycleError, DuplicateTaskError, UnknownDependencyError } from "./errors.ts";
import { resolveBreaker } from "./breaker.ts";
import type { CachePolicy, Priority, Profile, RetryPolicy, TaskDef, TaskSpec, Workflow, WorkflowDef } from "./types.ts";

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
}

const PRIORITIES: Readonly<Record<Priority, number>> = { low: 0, medium: 1, high: 2, critical: 3 };
const PROFILES: ReadonlySet<string> = new Set<Profile>(["cpu", "io", "mixed", "memory"]);
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
 * Grows a run's graph by tasks added during the run: the new tasks are
 * validated like a workflow's (fields, duplicate ids, unknown dependencies,
 * cycles) and the whole graph is compiled again (O(tasks + edges)), so ranks
 * and levels take the new tasks into account. Existing indices do not change;
 * the new tasks follow them in the order given.
 *
 * @param workflow The workflow's name, for messages.
 * @param graph The run's graph now.
 * @param specs Its tasks, by index.
 * @param defs The tasks to add.
 * @returns The grown graph and task list.
 * @throws {TypeError} A field has the wrong type.
 * @throws {RangeError} A number is out of range.
 * @throws {DuplicateTaskError} An id is taken (by the run or another new task).
 * @throws {UnknownDependencyError} A new task depends on an unknown id or on itself.
 * @throws {CycleError} The new tasks' dependencies form a cycle.
 */
export function extendGraph(
  workflow: string,
  graph: Graph,
  specs: readonly TaskSpec<unknown>[],
  defs: readonly TaskDef<unknown>[],
): { graph: Graph; specs: TaskSpec<unknown>[] } {
  if (!Array.isArray(defs)) {
    throw new TypeError(`Cannot add tasks to "${workflow}": expected an array, got ${describe(defs)}`);
  }
  const index = new Map(graph.index);
  const all = specs.slice();
  for (let k = 0; k < defs.length; k++) {
    const spec = resolveTask(workflow, defs[k], graph.n + k);
    if (index.has(spec.id)) throw new DuplicateTaskError(workflow, spec.id);
    index.set(spec.id, all.length);
    all.push(spec);
  }
  return { graph: compile(workflow, all, index), specs: all };
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
  const sorted = Array.from(g.topo).sort(byDispatch);
  const levels: string[][] = [];
  const order: PlannedTask[] = [];
  const names = ["low", "medium", "high", "critical"] as const;
  for (const i of sorted) {
    (levels[g.level[i]] ??= []).push(g.ids[i]);
    order.push({
      id: g.ids[i],
      level: g.level[i],
      priority: names[g.priority[i]],
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
    for (let k = g.outStart[best]; k < g.outStart[best + 1]; k++) {
      const d = g.outList[k];
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
  if (typeof priority !== "string" || !Object.hasOwn(PRIORITIES, priority)) {
    throw new RangeError(`${where} has priority ${describe(priority)}, expected low, medium, high or critical`);
  }
  const profile = def.profile ?? "io";
  if (!PROFILES.has(profile)) {
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
  for (let i = 0; i < n; i++) priority[i] = PRIORITIES[specs[i].priority];
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
