/**
 * The context a task body (and a cache key, and a fallback) receives: its
 * input, signal and attempt, its dependencies' results (built on first read),
 * and `spawn` / `runWorkflow`, which it asks of its run.
 *
 * It knows its run only through {@linkcode ContextHost}; it holds no state of
 * the run's own.
 *
 * @module
 */
import type { ChildRunOptions, RunResult, TaskContext, TaskDef, Workflow } from "../types.ts";

/** What a task's context asks of its run. */
export interface ContextHost {
  readonly id: string;
  readonly workflowId: string;
  /** A task's frozen metadata. */
  metadataOf(i: number): Readonly<Record<string, unknown>>;
  /** The results of a task's dependencies, by id. */
  depsOf(i: number): Readonly<Record<string, unknown>>;
  /** Adds tasks on behalf of a running task (`ctx.spawn`). */
  spawnFrom(i: number, attempt: number, defs: readonly TaskDef[]): readonly string[];
  /** Runs a child workflow on behalf of a running task (`ctx.runWorkflow`). */
  runChild(
    i: number,
    attempt: number,
    signal: AbortSignal,
    workflow: Workflow<unknown>,
    options: ChildRunOptions,
  ): Promise<RunResult>;
}

/** The context object a task body receives; `deps` is built on first read. */
export class Context implements TaskContext {
  readonly input: unknown;
  readonly signal: AbortSignal;
  readonly attempt: number;
  readonly taskId: string;
  readonly runId: string;
  readonly workflowId: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  #run: ContextHost | undefined;
  readonly #owner: ContextHost;
  #index: number;
  #deps: Readonly<Record<string, unknown>> | undefined;
  constructor(
    run: ContextHost,
    index: number,
    input: unknown,
    signal: AbortSignal,
    attempt: number,
    taskId: string,
  ) {
    this.#run = run;
    this.#owner = run;
    this.#index = index;
    this.input = input;
    this.signal = signal;
    this.attempt = attempt;
    this.taskId = taskId;
    this.runId = run.id;
    this.workflowId = run.workflowId;
    this.metadata = run.metadataOf(index);
  }
  get deps(): Readonly<Record<string, unknown>> {
    if (this.#deps === undefined) {
      this.#deps = this.#run!.depsOf(this.#index);
      this.#run = undefined;
    }
    return this.#deps;
  }
  spawn(tasks: readonly TaskDef[]): readonly string[] {
    return this.#owner.spawnFrom(this.#index, this.attempt, tasks);
  }
  runWorkflow<J>(workflow: Workflow<J>, options: ChildRunOptions<J> = {}): Promise<RunResult> {
    try {
      return this.#owner.runChild(this.#index, this.attempt, this.signal, workflow as Workflow<unknown>, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  toJSON(): Record<string, unknown> {
    const { input, deps, attempt, taskId, runId, workflowId, metadata } = this;
    return { input, deps, attempt, taskId, runId, workflowId, metadata };
  }
}
