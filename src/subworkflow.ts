/**
 * Subworkflows: a task that runs another workflow as a child run on the same
 * engine (its own run id, the same bus and log), linked to the parent run
 * and task by its `workflow.created` event.
 *
 * @module
 */
import { SubworkflowError } from "./errors.ts";
import { graphOf } from "./graph.ts";
import type { TaskContext, TaskResults, Workflow } from "./types.ts";

/**
 * Options of {@linkcode subworkflow}.
 *
 * @typeParam J The child run's input.
 * @typeParam K The child task whose result is the task's result.
 * @typeParam C The parent task's context (typed deps in a workflow from `flow()`).
 */
export interface SubworkflowOptions<J = unknown, K extends string = string, C = TaskContext> {
  /**
   * The child run's input: a function of the parent task's context (e.g.
   * `(ctx) => ctx.deps.plan`), or a value that is not a function. Default: the parent run's input.
   */
  input?: J | ((ctx: C) => J);
  /**
   * The child task whose result is the task's result. Default: every child
   * task's result, by task id.
   */
  output?: K;
}

/** What a {@linkcode subworkflow} task returns: the `output` task's result, or every child task's result by id. */
export type SubworkflowResult<T, K extends string> = [K] extends [never] ? { -readonly [P in keyof T]: T[P] }
  : T[K & keyof T];

/**
 * A task body that runs `workflow` as a child run (`ctx.runWorkflow`): the
 * task completes with the child's results (or its `output` task's result),
 * fails with a `SubworkflowError` naming the child workflow and its run id
 * (its `cause`: the child's error, e.g. the `TaskFailedError` of the child
 * task that failed) when the child fails or is cancelled, and cancels the child when the task is
 * aborted (a timeout, a cancelled run). Inline tasks only: in a worker
 * `ctx.runWorkflow` throws a `TypeError`.
 *
 * @param workflow The child workflow, from `defineWorkflow`.
 * @param options The child's input; the task to take the result from.
 * @returns The task body (typed by the child workflow: its `output` task's result, or every result by id).
 * @throws {TypeError} The workflow was not made by `defineWorkflow`, or `output` is not a non-empty string.
 *
 * @example A child run as a task
 * ```ts
 * import { createEngine, defineWorkflow, subworkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const child = defineWorkflow<number>({ name: "double", tasks: [
 *   { id: "x2", run: ({ input }) => input * 2 },
 * ] });
 * const parent = defineWorkflow({ name: "parent", tasks: [
 *   { id: "n", run: () => 21 },
 *   { id: "child", dependsOn: ["n"], run: subworkflow(child, { input: (ctx) => Number(ctx.deps.n), output: "x2" }) },
 * ] });
 * const engine = createEngine();
 * const result = await engine.run(parent);
 * assert.equal(result.tasks.child.result, 42);
 * await engine.close();
 * ```
 */
export function subworkflow<
  J,
  T extends TaskResults = TaskResults,
  K extends keyof T & string = never,
  C extends TaskContext<unknown, unknown> = TaskContext,
>(workflow: Workflow<J, T>, options: SubworkflowOptions<J, K, C> = {}): (ctx: C) => Promise<SubworkflowResult<T, K>> {
  graphOf(workflow); // Throws a TypeError for anything defineWorkflow did not make.
  const { input, output } = options;
  if (output !== undefined && (typeof output !== "string" || output.length === 0)) {
    throw new TypeError(`Cannot run subworkflow "${workflow.name}": output must be a non-empty task id`);
  }
  const hasInput = "input" in options;
  return async (ctx: C): Promise<never> => {
    const childInput = !hasInput
      ? ctx.input as J
      : typeof input === "function"
      ? (input as (ctx: C) => J)(ctx)
      : input as J;
    const result = await ctx.runWorkflow(workflow, { input: childInput });
    if (result.status !== "completed") {
      throw new SubworkflowError(workflow.name, result.runId, result.status, result.error);
    }
    if (output !== undefined) {
      const task = result.tasks[output];
      if (task === undefined) {
        throw new TypeError(`Cannot take the output of subworkflow "${workflow.name}": it has no task "${output}"`);
      }
      return task.result as never;
    }
    const results: Record<string, unknown> = {};
    for (const id in result.tasks) results[id] = result.tasks[id].result;
    return results as never;
  };
}
