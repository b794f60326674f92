/**
 * Typed workflows: {@linkcode flow} defines a workflow task by task, and the
 * type checker follows every result. A task's `deps` holds exactly the
 * dependencies it declared, with their result types; depending on a task that
 * was not defined before, or reading a dependency that was not declared, is a
 * type error; the run input reaches every `ctx.input`; `engine.run()` returns
 * a `RunResult` whose `tasks.<id>.result` has each task's (awaited) return type.
 *
 * It is a layer over `defineWorkflow` and nothing else: `build()` hands the
 * same task definitions to `defineWorkflow` (the same bodies, not wrapped),
 * so a typed workflow is an ordinary `Workflow` and runs on the same engine
 * at the same cost.
 *
 * @module
 */
import { describe } from "./describe.ts";
import { defineWorkflow } from "./graph.ts";
import type {
  AnyFlowEvent,
  ChildRunOptions,
  EventDataMap,
  EventOf,
  RunResult,
  TaskContext,
  TaskDef,
  TaskResults,
  UntypedDeps,
  Workflow,
} from "./types.ts";

/**
 * The id in `deps` a dependency reference names: `"<prefix>:*"` (every member of a family) and `"<prefix>:{key}"`
 * (a family's member of the same key) name `` `<prefix>:${string}` ``.
 */
export type DepKey<D> = D extends `${infer F}:*` | `${infer F}:{key}` ? `${F}:${string}` : D;

/**
 * What a task of a typed workflow may name in `dependsOn`: the id of a task
 * defined before it, or `"<prefix>:*"` for every task of a family defined
 * before it ({@linkcode FlowBuilder.each}).
 *
 * @typeParam T The results of the tasks defined so far, by id.
 * @typeParam F The prefixes of the families defined so far.
 */
export type DepId<T, F extends string> = (keyof T & string) | `${F}:*`;

/** What a member of a family may name in `dependsOn`: a {@linkcode DepId}, or `"<prefix>:{key}"`. */
export type FamilyDepId<T, F extends string> = DepId<T, F> | `${F}:{key}`;

/**
 * The `deps` of a task of a typed workflow: the results of the dependencies
 * it declared (`D`), by id, typed; a family (`"<prefix>:*"`) gives one entry
 * per member, keyed `` `<prefix>:${string}` ``.
 */
export type DepsOf<T, D extends string> = { readonly [P in DepKey<D>]: T[P & keyof T] };

/**
 * The context a task body of a typed workflow receives: `input` and `deps`
 * typed, `spawn` taking tasks of the run's input, `runWorkflow` typing the
 * child's result by its workflow.
 *
 * @typeParam I The run's input.
 * @typeParam D The dependency results by id.
 */
export interface FlowContext<I = unknown, D = UntypedDeps> extends TaskContext<I, D> {
  /**
   * Adds tasks to the run while this attempt runs (see `TaskContext.spawn`).
   *
   * @param tasks The tasks to add: task definitions of this run's input, e.g. a {@linkcode TaskList}.
   * @returns Their ids.
   */
  spawn(tasks: readonly TaskDef<I>[]): readonly string[];
  /**
   * Runs another workflow as a child run of this task (see `TaskContext.runWorkflow`).
   *
   * @param workflow A workflow from `flow()` or `defineWorkflow`.
   * @param options The child's input and run id.
   * @returns The child's result, typed by its workflow.
   */
  runWorkflow<J, T extends TaskResults>(workflow: Workflow<J, T>, options?: ChildRunOptions<J>): Promise<RunResult<T>>;
}

/**
 * A task body of a typed workflow.
 *
 * @typeParam I The run's input.
 * @typeParam D Its dependency results by id.
 * @typeParam R What it returns (its promise's value for an async body).
 */
export type FlowTaskFn<I, D, R> = (ctx: FlowContext<I, D>) => R | Promise<R>;

/** The fields of a task besides its id, dependencies and bodies (priority, profile, retry, timeout, cache, breaker, …). */
export type TaskOptions<I> = Omit<TaskDef<I>, "id" | "dependsOn" | "run" | "fallback">;

/**
 * One task of a typed workflow ({@linkcode FlowBuilder.task}): a `TaskDef`
 * without its id, whose `dependsOn` may only name tasks defined before it and
 * whose bodies receive those tasks' results, typed.
 *
 * @typeParam I The run's input.
 * @typeParam T The results of the tasks defined before it, by id.
 * @typeParam F The prefixes of the families defined before it.
 * @typeParam D The dependencies it names.
 * @typeParam R What its body returns.
 */
export interface FlowTaskDef<I, T, F extends string, D extends DepId<T, F>, R> extends TaskOptions<I> {
  /** Ids of tasks defined before this one (or `"<prefix>:*"` for a whole family) that must complete before it starts. */
  dependsOn?: readonly D[];
  /** The task body: its `deps` hold the declared dependencies' results. */
  run: FlowTaskFn<I, DepsOf<T, D>, R>;
  /** An alternative body, run when the task has failed for good (see `TaskDef.fallback`); same result type. */
  fallback?: FlowTaskFn<I, DepsOf<T, D>, R>;
}

/**
 * A family of tasks of a typed workflow ({@linkcode FlowBuilder.each}): one
 * task per key, with id `` `${prefix}:${key}` ``; the bodies receive the key.
 * In `dependsOn`, `"<prefix>:{key}"` names the member of an earlier family
 * with the same key.
 *
 * @typeParam I The run's input.
 * @typeParam T The results of the tasks defined before it, by id.
 * @typeParam F The prefixes of the families defined before it.
 * @typeParam K The keys.
 * @typeParam D The dependencies its tasks name.
 * @typeParam R What its body returns.
 */
export interface FlowFamilyDef<I, T, F extends string, K extends string, D extends FamilyDepId<T, F>, R>
  extends TaskOptions<I> {
  /**
   * The dependencies of each member: ids, `"<prefix>:*"`, and `"<prefix>:{key}"` for the member of the same key of
   * an earlier family; or a function of the key (annotate its parameter when `run` is a `defineTasks` reference).
   */
  dependsOn?: readonly D[] | ((key: K) => readonly D[]);
  /** The body of each member (a `defineTasks` reference, or a function that also receives its key). */
  run: (ctx: NoInfer<FlowContext<I, DepsOf<T, D>>>, key: K) => R | Promise<R>;
  /** The fallback body of each member. */
  fallback?: (ctx: NoInfer<FlowContext<I, DepsOf<T, D>>>, key: K) => R | Promise<R>;
}

/**
 * Task definitions with the types of their results: what
 * {@linkcode FlowBuilder.list} and `mapTasks` return, for `ctx.spawn`. An
 * ordinary array of `TaskDef`s at run time.
 *
 * @typeParam I The run's input.
 * @typeParam T The results of the tasks by id.
 */
export type TaskList<I, T extends TaskResults> = TaskDef<I>[] & {
  /** Never set: carries the task result types (`T`) for the type checker. */
  readonly "~results"?: T;
};

/**
 * Defines a typed workflow task by task: see {@linkcode flow}. Each call
 * returns a new builder that knows one task (or family) more; the builder it
 * was called on is unchanged. (Task ids are not checked for duplicates by
 * the type checker, which keeps long chains fast: `build()` throws
 * `DuplicateTaskError` naming the id.)
 *
 * @typeParam I The run's input.
 * @typeParam T The results of the tasks defined so far, by id.
 * @typeParam F The prefixes of the families defined so far.
 */
export interface FlowBuilder<I, T extends TaskResults = Record<never, never>, F extends string = never> {
  /**
   * Adds a task without dependencies.
   *
   * @param id Its id, unique within the workflow.
   * @param run Its body.
   * @returns A builder that knows the task and its result type.
   */
  task<K extends string, R>(
    id: K,
    run: FlowTaskFn<I, Record<never, never>, R>,
  ): FlowBuilder<I, T & { readonly [P in K]: Awaited<R> }, F>;
  /**
   * Adds a task.
   *
   * @param id Its id, unique within the workflow.
   * @param def Its dependencies (tasks defined before it), body and options.
   * @returns A builder that knows the task and its result type.
   */
  task<K extends string, D extends DepId<T, F> = never, R = unknown>(
    id: K,
    def: FlowTaskDef<I, T, F, D, R>,
  ): FlowBuilder<I, T & { readonly [P in K]: Awaited<R> }, F>;
  /**
   * Adds a family: one task per key, with id `` `${prefix}:${key}` ``. A
   * later task depends on one member by its id, or on all of them with
   * `"<prefix>:*"`.
   *
   * @param prefix The family's prefix.
   * @param keys The keys (unique); literal keys give literal ids.
   * @param def The members' dependencies (one list, or a function of the key), body and options.
   * @returns A builder that knows the family and its result type.
   * @throws {TypeError} The prefix is not a non-empty string, the keys are not an array of strings, or `run` is not a function.
   */
  each<P extends string, const K extends string, D extends FamilyDepId<T, F> = never, R = unknown>(
    prefix: P,
    keys: readonly K[],
    def: FlowFamilyDef<I, T, F, K, D, R>,
  ): FlowBuilder<I, T & { readonly [X in `${P}:${K}`]: Awaited<R> }, F | P>;
  /**
   * Names tasks that are not defined by this builder but will be in the run
   * (for a {@linkcode FlowBuilder.list} to spawn: e.g. the spawning task), so
   * that later tasks may depend on them; their results are `unknown`. Adds no task.
   *
   * @param ids The tasks' ids.
   * @returns A builder that knows them.
   */
  external<K extends string>(...ids: K[]): FlowBuilder<I, T & { readonly [P in K]: unknown }, F>;
  /**
   * Validates the tasks with `defineWorkflow` and returns the workflow.
   *
   * @returns The workflow, with the task result types.
   * @throws {DuplicateTaskError} Two tasks share an id.
   * @throws {UnknownDependencyError} A dependency names no task (only possible with ids typed `string`).
   * @throws {TypeError} A task is malformed.
   */
  build(): Workflow<I, T>;
  /**
   * The task definitions, for `ctx.spawn` (not validated: the run validates what is spawned).
   *
   * @returns The tasks, with their result types.
   */
  list(): TaskList<I, T>;
}

/** Options of {@linkcode flow}. */
export interface FlowOptions {
  /** What the workflow does. */
  description?: string;
}

interface Step {
  readonly prev: Step | undefined;
  readonly defs: readonly TaskDef[];
  readonly families: ReadonlyMap<string, readonly string[]>;
}

/**
 * Starts a typed workflow: add tasks with `.task(id, def)` (a task may depend
 * only on tasks added before it, so a typed workflow has no cycles) and
 * families with `.each(prefix, keys, def)`, then `.build()`. The result is
 * the `Workflow` that `defineWorkflow` makes of the same task definitions.
 *
 * @typeParam I The run's input (what `engine.run(workflow, { input })` takes and every `ctx.input` is; `unknown` by default, as for `defineWorkflow`).
 * @param name The workflow's name; also its id in events.
 * @param options Its description.
 * @returns An empty builder.
 * @throws {TypeError} The name is not a non-empty string.
 *
 * @example Types flow from task to task
 * ```ts
 * import { createEngine, flow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 *
 * const workflow = flow<{ factor: number }>("typed")
 *   .task("numbers", () => [1, 2, 3])
 *   .task("scaled", { dependsOn: ["numbers"], run: ({ deps, input }) => deps.numbers.map((n) => n * input.factor) })
 *   .task("sum", { dependsOn: ["scaled"], run: async ({ deps }) => deps.scaled.reduce((a, b) => a + b, 0) })
 *   .build();
 * const engine = createEngine();
 * const result = await engine.run(workflow, { input: { factor: 10 } });
 * const sum: number | undefined = result.tasks.sum.result;
 * assert.equal(sum, 60);
 * await engine.close();
 * ```
 */
export function flow<I = unknown>(name: string, options: FlowOptions = {}): FlowBuilder<I> {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`Cannot define workflow: "name" must be a non-empty string, got ${describe(name)}`);
  }
  // The builder's methods are typed by FlowBuilder; the implementation handles plain task definitions.
  return new Builder(name, options.description, { prev: undefined, defs: [], families: new Map() }) as never;
}

class Builder {
  readonly #name: string;
  readonly #description: string | undefined;
  readonly #step: Step;

  constructor(name: string, description: string | undefined, step: Step) {
    this.#name = name;
    this.#description = description;
    this.#step = step;
  }

  task(id: string, def: TaskBody | FamilyDef): Builder {
    const step = this.#step;
    let task: TaskDef;
    if (typeof def === "function") task = { id, run: def };
    else if (def === null || typeof def !== "object") {
      throw new TypeError(`Cannot add task ${describe(id)} to "${this.#name}": expected a body or a task definition`);
    } else {
      const deps = def.dependsOn;
      task = { ...def, id } as TaskDef;
      if (Array.isArray(deps)) task.dependsOn = expand(step.families, deps);
    }
    return this.#next([task], step.families);
  }

  each(prefix: string, keys: readonly string[], def: FamilyDef): Builder {
    const where = `family ${describe(prefix)} of "${this.#name}"`;
    if (typeof prefix !== "string" || prefix.length === 0) {
      throw new TypeError(`Cannot add ${where}: the prefix must be a non-empty string`);
    }
    if (!Array.isArray(keys)) throw new TypeError(`Cannot add ${where}: keys must be an array, got ${describe(keys)}`);
    if (def === null || typeof def !== "object" || typeof def.run !== "function") {
      throw new TypeError(`Cannot add ${where}: expected a definition with a run function`);
    }
    const { dependsOn, run, fallback, ...rest } = def;
    const families = this.#step.families;
    const perKey = Array.isArray(dependsOn) && dependsOn.some((d) => typeof d === "string" && d.endsWith(":{key}"));
    const shared = Array.isArray(dependsOn) && !perKey ? expand(families, dependsOn) : undefined;
    const defs: TaskDef[] = new Array(keys.length);
    const ids: string[] = new Array(keys.length);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k];
      if (typeof key !== "string") throw new TypeError(`Cannot add ${where}: key ${describe(key)} is not a string`);
      const id = ids[k] = `${prefix}:${key}`;
      const task: TaskDef = { ...rest, id, run: withKey(run, key) };
      if (typeof dependsOn === "function") task.dependsOn = expand(families, dependsOn(key));
      else if (perKey) task.dependsOn = expand(families, dependsOn!, key);
      else if (shared !== undefined) task.dependsOn = shared;
      if (fallback !== undefined) task.fallback = withKey(fallback, key);
      defs[k] = task;
    }
    return this.#next(defs, new Map(families).set(prefix, ids));
  }

  external(): Builder {
    return this;
  }

  build(): Workflow {
    return defineWorkflow({ name: this.#name, description: this.#description, tasks: this.list() });
  }

  list(): TaskDef[] {
    const steps: Step[] = [];
    let size = 0;
    for (let s: Step | undefined = this.#step; s !== undefined; s = s.prev) {
      steps.push(s);
      size += s.defs.length;
    }
    const tasks: TaskDef[] = new Array(size);
    let n = 0;
    for (let k = steps.length - 1; k >= 0; k--) for (const def of steps[k].defs) tasks[n++] = def;
    return tasks;
  }

  #next(defs: readonly TaskDef[], families: ReadonlyMap<string, readonly string[]>): Builder {
    return new Builder(this.#name, this.#description, { prev: this.#step, defs, families });
  }
}

type TaskBody = (ctx: TaskContext, key?: string) => unknown;

interface FamilyDef extends TaskOptions<unknown> {
  dependsOn?: readonly string[] | ((key: string) => readonly string[]);
  run: TaskBody;
  fallback?: TaskBody;
}

/** `"<prefix>:*"` becomes every member of that family, `"<prefix>:{key}"` the member of `key`; other ids stay. */
function expand(families: ReadonlyMap<string, readonly string[]>, deps: readonly string[], key?: string): string[] {
  const out: string[] = [];
  for (const dep of deps) {
    if (typeof dep !== "string") out.push(dep);
    else if (key !== undefined && dep.endsWith(":{key}")) out.push(`${dep.slice(0, -"{key}".length)}${key}`);
    else {
      const members = dep.endsWith(":*") ? families.get(dep.slice(0, -2)) : undefined;
      if (members === undefined) out.push(dep);
      else for (const id of members) out.push(id);
    }
  }
  return out;
}

/** The body itself when it takes only the context (a `defineTasks` reference stays one), else one that passes the key. */
function withKey(body: TaskBody, key: string): TaskBody {
  if (typeof body !== "function") return body;
  return body.length < 2 ? body : (ctx) => body(ctx, key);
}

/**
 * A `task.completed` event of a task of a typed workflow: its `data.result`
 * has the task's result type.
 *
 * @typeParam T The workflow's task results by id.
 * @typeParam K The task's id (or `"<prefix>:*"` for any member of a family).
 */
export type CompletedEvent<T, K extends string> = EventOf<"task.completed"> & {
  readonly taskId: DepKey<K>;
  readonly data: EventDataMap["task.completed"] & { readonly result: T[DepKey<K> & keyof T] };
};

/**
 * Whether an event is the completion of a task of `source` (a workflow from
 * {@linkcode flow}, or a {@linkcode TaskList}): of the task `id`, of any
 * member of a family with `"<prefix>:*"`, or of any of its tasks when `id` is
 * omitted. For a workflow the event must also be of a run of it (its
 * `workflowId` is the workflow's name). The event's `data.result` then has
 * the task's result type.
 *
 * @param source The workflow or task list the task belongs to.
 * @param event An event from the bus or the log.
 * @param id The task's id, `"<prefix>:*"`, or nothing for any task.
 * @returns `true` for such an event.
 *
 * @example Typed results off the bus
 * ```ts
 * import { createEngine, flow, isTaskCompleted } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const workflow = flow("words")
 *   .each("count", ["a b", "c"], { run: (_ctx, text) => text.split(" ").length })
 *   .build();
 * const engine = createEngine();
 * let words = 0;
 * engine.bus.on("task.completed", (e) => {
 *   if (isTaskCompleted(workflow, e, "count:*")) words += e.data.result;
 * });
 * await engine.run(workflow);
 * assert.equal(words, 3);
 * await engine.close();
 * ```
 */
export function isTaskCompleted<
  I,
  T extends TaskResults,
  K extends keyof T & string | `${string}:*` = keyof T & string,
>(
  source: Workflow<I, T> | TaskList<I, T>,
  event: AnyFlowEvent,
  id?: K,
): event is CompletedEvent<T, K> {
  const taskId = event.taskId;
  if (event.type !== "task.completed" || typeof taskId !== "string") return false;
  const list = Array.isArray(source);
  if (!list && event.workflowId !== (source as Workflow<I, T>).name) return false;
  if (id !== undefined && (id.endsWith(":*") ? !taskId.startsWith(id.slice(0, -1)) : taskId !== id)) return false;
  // Only a task the source defines has the source's result type (not one spawned during the run).
  return idsOf(source).has(taskId);
}

/**
 * The result of a task of `source` (a workflow from {@linkcode flow}, or a
 * {@linkcode TaskList}, e.g. the tasks a run spawned) in a run's result,
 * typed by the source: `undefined` unless the source defines that task and it
 * completed in the run. For a workflow, the run must be one of its runs.
 *
 * @param run A run's result.
 * @param source The workflow or task list that defines the task.
 * @param id The task's id.
 * @returns Its result, or `undefined`.
 *
 * @example Reading a spawned task's result, typed
 * ```ts
 * import { createEngine, flow, taskResult } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const later = flow("later").external("plan").task("sum", { dependsOn: ["plan"], run: () => 42 }).list();
 * const workflow = flow("spawning").task("plan", (ctx) => ctx.spawn(later).length).build();
 * const engine = createEngine();
 * const result = await engine.run(workflow);
 * const sum: number | undefined = taskResult(result, later, "sum");
 * assert.equal(sum, 42);
 * await engine.close();
 * ```
 */
export function taskResult<I, T extends TaskResults, K extends keyof T & string>(
  run: RunResult,
  source: Workflow<I, T> | TaskList<I, T>,
  id: K,
): T[K] | undefined {
  if (!Array.isArray(source) && run.workflowId !== (source as Workflow<I, T>).name) return undefined;
  if (!idsOf(source).has(id)) return undefined;
  const task = run.tasks[id];
  // The typed view of what the engine recorded: the source's definition typed this task's body.
  return task?.status === "completed" ? task.result as T[K] : undefined;
}

const idSets = new WeakMap<object, Set<string>>();

/** The ids of the tasks a workflow or task list defines (cached per source). */
function idsOf(
  source: { readonly tasks: readonly { readonly id: string }[] } | readonly { id: string }[],
): Set<string> {
  let ids = idSets.get(source);
  if (ids === undefined) {
    const tasks = isList(source) ? source : source.tasks;
    idSets.set(source, ids = new Set(tasks.map((t) => t.id)));
  }
  return ids;
}

function isList<T>(value: T | readonly { id: string }[]): value is readonly { id: string }[] {
  return Array.isArray(value);
}
