/**
 * Helpers for tasks added during a run (`ctx.spawn`): a map over data, one
 * task per item, with a fan-in task that waits for all of them.
 *
 * @module
 */
import type { TaskContext, TaskDef } from "./types.ts";
import type { TaskList } from "./typed.ts";

/**
 * Options of {@linkcode mapTasks}.
 *
 * @typeParam T The items.
 * @typeParam R What an item's body returns.
 * @typeParam J What the fan-in returns.
 */
export interface MapTasksOptions<T, R = unknown, J = unknown> {
  /**
   * The fan-in's body: receives the items' results, in item order. Default: returns them as an array.
   */
  join?: (results: Awaited<R>[], ctx: TaskContext) => J;
  /** Fields every item task gets (priority, profile, retry, breaker, fallback, concurrencyKey, …). */
  each?: Omit<TaskDef, "id" | "run">;
  /** The item tasks' dependencies besides none (e.g. the spawning task). Default: none. */
  dependsOn?: readonly string[];
  /**
   * The id of item `k`.
   * @default {(k) => `${id}/${k}`}
   */
  itemId?: (k: number, item: T) => string;
}

/**
 * Tasks for a map over data: one task per item (`body(item, ctx)`) and a
 * fan-in task with the given id that depends on all of them. Pass them to
 * `ctx.spawn()`.
 *
 * @param id The fan-in task's id; items are `${id}/0`, `${id}/1`, … by default.
 * @param items The data.
 * @param body What each item task does.
 * @param options The fan-in's body, shared task fields, item ids.
 * @returns The tasks: the items, then the fan-in (typed: the fan-in's result is `join`'s, or the items' results).
 *
 * @example A fan-out decided at run time
 * ```ts
 * import { createEngine, defineWorkflow, mapTasks } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const wf = defineWorkflow({ name: "squares", tasks: [{
 *   id: "plan",
 *   run: (ctx) => {
 *     const n = 3; // known only now
 *     ctx.spawn(mapTasks("sum", Array.from({ length: n }, (_, k) => k + 1), (x) => x * x, {
 *       join: (results) => results.reduce((a, b) => a + b, 0),
 *     }));
 *   },
 * }] });
 * const engine = createEngine();
 * const result = await engine.run(wf);
 * assert.equal(result.tasks.sum.result, 14);
 * await engine.close();
 * ```
 */
export function mapTasks<Id extends string, T, R, J = Awaited<R>[]>(
  id: Id,
  items: readonly T[],
  body: (item: T, ctx: TaskContext) => R,
  options: MapTasksOptions<T, R, J> = {},
): TaskList<unknown, { readonly [P in Id]: Awaited<J> }> {
  if (typeof id !== "string" || id.length === 0) throw new TypeError("Cannot map: the id must be a non-empty string");
  if (!Array.isArray(items)) throw new TypeError(`Cannot map "${id}": items must be an array`);
  if (typeof body !== "function") throw new TypeError(`Cannot map "${id}": body must be a function`);
  const itemId = options.itemId ?? ((k: number) => `${id}/${k}`);
  const tasks: TaskDef[] = new Array(items.length + 1);
  const ids: string[] = new Array(items.length);
  const dependsOn = options.dependsOn ?? [];
  for (let k = 0; k < items.length; k++) {
    const item = items[k];
    ids[k] = itemId(k, item);
    tasks[k] = { ...options.each, id: ids[k], dependsOn, run: (ctx) => body(item, ctx) };
  }
  const join = options.join;
  tasks[items.length] = {
    id,
    dependsOn: ids,
    run: (ctx) => {
      const deps = ctx.deps;
      const results = new Array(ids.length);
      for (let k = 0; k < ids.length; k++) results[k] = deps[ids[k]];
      return join === undefined ? results : join(results as Awaited<R>[], ctx);
    },
  };
  return tasks;
}
