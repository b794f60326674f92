/**
 * The one place a task body called outside a run's own context (an executor
 * given a bare payload) gets its `TaskContext`: the payload's fields, the
 * task's metadata, the attempt's signal, and `spawn`/`runWorkflow` that say
 * why they cannot work there. Used by the inline executor, by worker pools
 * for plain functions, and by remote executors for tasks that cannot cross.
 *
 * @module
 */
import type { TaskContext, TaskPayload, TaskSpec } from "../src/types.ts";

/**
 * The context for calling `task.run` in this thread: the payload itself when
 * the engine passed its run context (it does), else a context built from it.
 *
 * @param task The task.
 * @param payload What the executor was given.
 * @param signal The attempt's signal.
 * @returns The context.
 */
export function inlineContext(task: TaskSpec, payload: TaskPayload, signal: AbortSignal): TaskContext {
  if ((payload as Partial<TaskContext>).signal === signal) return payload as TaskContext;
  return {
    workflowId: "",
    ...payload,
    metadata: task.metadata ?? NO_METADATA,
    signal,
    spawn: noSpawn,
    runWorkflow: noRunWorkflow,
  };
}

/**
 * Calls a task body in this thread; a synchronous throw becomes a rejection.
 *
 * @param task The task.
 * @param payload What the executor was given.
 * @param signal The attempt's signal.
 * @returns The body's result.
 */
export function runInline(task: TaskSpec, payload: TaskPayload, signal: AbortSignal): Promise<unknown> {
  try {
    const value = task.run(inlineContext(task, payload, signal));
    return value instanceof Promise ? value : Promise.resolve(value);
  } catch (error) {
    return Promise.reject(error);
  }
}

const NO_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});

/** `ctx.spawn` where a task was not started by a run (or runs in a worker). */
export function noSpawn(): never {
  throw new TypeError("Cannot add tasks: this task was not started by a run");
}

/** `ctx.runWorkflow` where a task was not started by a run (or runs in a worker). */
export function noRunWorkflow(): never {
  throw new TypeError("Cannot run a subworkflow: this task was not started by a run");
}
