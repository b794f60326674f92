/**
 * The inline executor: task bodies are plain (sync or async) functions
 * called on the main thread. It is the executor of the `io` profile, and of
 * every profile where no `Worker` exists (edge runtimes).
 *
 * @module
 */
import type { Executor, TaskPayload, TaskSpec } from "../src/types.ts";
import { runInline } from "./inline_context.ts";

/** Options of {@linkcode createInlineExecutor}. */
export interface InlineExecutorOptions {
  /**
   * Tasks it runs at once.
   * @default {Infinity}
   */
  concurrency?: number;
  /**
   * A name for events and errors.
   * @default {"inline"}
   */
  name?: string;
}

/**
 * Creates an executor that calls task bodies directly.
 *
 * @param options Concurrency and name.
 * @returns The executor.
 * @throws {RangeError} `concurrency` is not a positive integer or `Infinity`.
 *
 * @example Sixteen io tasks at once
 * ```ts
 * import { createEngine } from "@nerv/flow";
 * import { createInlineExecutor } from "@nerv/flow/extend";
 * const engine = createEngine({ executors: { io: createInlineExecutor({ concurrency: 16 }) } });
 * await engine.close();
 * ```
 */
export function createInlineExecutor(options: InlineExecutorOptions = {}): Executor {
  const concurrency = options.concurrency ?? Infinity;
  if (!(concurrency === Infinity || (Number.isInteger(concurrency) && concurrency >= 1))) {
    throw new RangeError(`Cannot create inline executor: concurrency ${concurrency} must be an integer >= 1`);
  }
  return {
    name: options.name ?? "inline",
    concurrency,
    run(task: TaskSpec, payload: TaskPayload, signal: AbortSignal): Promise<unknown> {
      // The engine passes the task context itself as payload; another caller may not.
      return runInline(task, payload, signal);
    },
  };
}
