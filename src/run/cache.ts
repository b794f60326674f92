/**
 * A run's task-result caching: a cached task's first attempt looks its key
 * up in the engine's {@linkcode TaskCache} (a live entry completes it without
 * running it) and a result it computed is stored under that key. Allocated
 * only when a task of the run caches (or the run resumed, whose tasks may
 * have completed from the cache).
 *
 * @module
 */
import { NotSerializableError } from "../errors.ts";
import { findJsonIssue, sha256Hex, stableStringify } from "../json.ts";
import type { Clock, TaskCache, TaskSpec } from "../types.ts";
import type { RunCore } from "./_host.ts";
import { completedData } from "../event.ts";
import { fit, type TaskTable, UNSETTLED } from "./task_table.ts";

/** What the cache needs of the run's settings. */
export interface CacheEnv {
  cache: TaskCache;
  clock: Clock;
  /** The log's store is durable: a cached result must be JSON. */
  durable: boolean;
  /** The workflow's name (part of every key). */
  name: string;
  /** The run's input (part of the default key). */
  input: unknown;
}

/** The cache lookups and stores of one run. */
export class RunCache {
  /** Per task: 1 = its result came from the cache. */
  cached: Uint8Array;
  /** Per cached task: its cache key once looked up. */
  readonly keys: (string | undefined)[];
  readonly #run: RunCore;
  readonly #table: TaskTable;
  readonly #env: CacheEnv;

  constructor(run: RunCore, table: TaskTable, env: CacheEnv) {
    this.#run = run;
    this.#table = table;
    this.#env = env;
    this.cached = new Uint8Array(table.cap);
    this.keys = new Array(table.cap);
  }

  /** Sizes the arrays to the table. */
  extend(cap: number): void {
    this.cached = fit(this.cached, cap);
  }

  /**
   * Looks a cached task up (first attempt only): a live entry completes the
   * task without running it; a miss runs it as usual and stores its result.
   */
  lookUp(i: number, policy: NonNullable<TaskSpec["cache"]>): void {
    const t = this.#table;
    const env = this.#env;
    const run = this.#run;
    const clock = env.clock;
    t.startedAt[i] = clock.now();
    const spec = t.tasks[i];
    const keyOf = async (): Promise<string> => {
      const ctx = run.context(i, 1);
      const value = policy.key === undefined ? { input: env.input, deps: t.depsOf(i) } : policy.key(ctx);
      const issue = findJsonIssue(value);
      if (issue !== undefined) throw new NotSerializableError("cache key", spec.id, issue.path, issue.what);
      const hash = await sha256Hex(stableStringify(value ?? null));
      return JSON.stringify([env.name, spec.id, policy.version ?? "", hash]);
    };
    keyOf().then(
      async (key) => {
        let entry;
        try {
          entry = await env.cache.get(key);
        } catch (error) {
          console.error(`nerv-flow: the task cache failed to look up task "${spec.id}"; running it`, error);
        }
        if (t.status[i] !== UNSETTLED || t.attempts[i] !== 0) return;
        this.keys[i] = key;
        if (entry !== undefined && entry.expiresAt > clock.now()) {
          const error = env.durable ? run.unstorable(i, entry.value) : undefined;
          if (error === undefined) {
            this.cached[i] = 1;
            run.deliver(i, { type: "run.done", result: entry.value });
            return;
          }
        }
        run.execute(i);
      },
      (error) => {
        if (t.status[i] !== UNSETTLED || t.attempts[i] !== 0) return;
        t.noRetryAt(i);
        run.deliver(i, { type: "run.error", error });
      },
    );
  }

  /** Emits a cached task's completion; a result that was computed goes into the cache. */
  complete(i: number, attempt: number | undefined, now: number): void {
    const t = this.#table;
    const result = t.results[i];
    const cached = this.cached[i] === 1;
    const data = completedData(result, now - t.startedAt[i]);
    if (cached) data.cached = true;
    this.#run.emit("task.completed", i, attempt, data, now);
    if (cached) return;
    const policy = t.tasks[i].cache!;
    try {
      const done = this.#env.cache.set(this.keys[i]!, {
        value: result,
        createdAt: now,
        expiresAt: now + policy.ttlMs,
      });
      if (done instanceof Promise) done.catch((error) => reportCacheError(t.g.ids[i], error));
    } catch (error) {
      reportCacheError(t.g.ids[i], error);
    }
  }
}

function reportCacheError(taskId: string, error: unknown): void {
  console.error(`nerv-flow: the task cache failed to store the result of task "${taskId}"`, error);
}
