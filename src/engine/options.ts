/**
 * The engine's options: what `createEngine`, `run`/`start`, `resume` and
 * `rerun` accept, and their checking and defaults (limits per profile,
 * ordering, task logic, retention). Depends on types only, never on a run.
 *
 * @module
 */
import type { BreakerPolicy, Clock, Executor, LogStore, Profile, TaskCache } from "../types.ts";
import type { RetentionPolicy } from "../log/mod.ts";
import type { TaskLogicMode } from "../run.ts";
import type { EngineContainer } from "../container.ts";
import type { ActorInspectionObserver } from "../inspect.ts";
import { describe } from "../describe.ts";
import { PROFILES } from "../tables.ts";

/**
 * Options of {@linkcode createEngine}.
 *
 * @example Limits and an ordering
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * const engine = createEngine({ concurrency: 4, limits: { io: 16 }, ordering: "fifo", failFast: true });
 * console.log((await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }))).status); // completed
 * await engine.close();
 * ```
 */
export interface EngineOptions {
  /**
   * Tasks running at once across every profile and run.
   * @default {Infinity}
   */
  concurrency?: number;
  /**
   * Tasks running at once per profile (`n` = hardware threads).
   * @default {{ cpu: n, io: 8 * n, mixed: 2 * n, memory: max(1, n / 2) }}
   */
  limits?: Partial<Record<Profile, number>>;
  /**
   * Executors per profile. Default: `io` inline; `cpu`, `mixed` and `memory`
   * each a worker pool (started on first use), or inline where `Worker` does not exist.
   */
  executors?: Partial<Record<Profile, Executor>>;
  /**
   * Worker pool sizes, or `false` to run every profile inline.
   * @default {{ cpu: n, mixed: 2 * n, memory: max(1, n / 2) }}
   */
  workers?: false | Partial<Record<"cpu" | "mixed" | "memory", number>>;
  /** Time source for timestamps, timeouts and backoff. Default: the system clock. */
  clock?: Clock;
  /**
   * Where the log's events go besides memory, and where `resume()` reads runs
   * back. Default: an in-memory store. On a durable store (a file or Deno KV
   * store from `@nerv/flow/adapters`) nothing is acknowledged before it is
   * stored: see {@linkcode LogStore}.
   */
  logStore?: LogStore;
  /**
   * Which finished runs the engine keeps in memory: in its log (events and
   * state), its projection store and its step-by-step index; `false` keeps
   * every run. Live runs are always kept. A durable log store keeps every run
   * it stored; an evicted run is read back from the log store when it answers
   * synchronously, and otherwise projections, `at(seq)`, `events(runId)`,
   * `getWorkflowStatus` and `getTaskStatus` throw `EvictedError` for it (with
   * no store, as by default, the log is all there is: evicted runs are gone). A policy
   * given replaces the default whole: a field left out is unlimited.
   * @default {{ runs: 1000, events: 100000 }}
   */
  retention?: RetentionPolicy | false;
  /** Where cached task results are kept. Default: an in-memory cache of 10,000 entries. */
  cache?: TaskCache;
  /**
   * Events the bus keeps in `history()`.
   * @default {1000}
   */
  historySize?: number;
  /**
   * Random numbers in [0, 1) for retry jitter.
   * @default {Math.random}
   */
  random?: () => number;
  /**
   * How the workflow and task actors run their machines: `compiled`
   * executes the machine definitions with a flat-machine executor;
   * `interpreted` uses XState's interpreter (slower; same events).
   * @default {"compiled"}
   */
  taskLogic?: TaskLogicMode;
  /**
   * How ready tasks of equal priority are ordered: `critical-path` serves the
   * task with the costliest path still behind it first; `fifo` serves them in
   * the order they became ready; `io-first` serves io-profile tasks before the
   * others (then by critical path), so that waiting on I/O overlaps CPU work
   * when tasks of several profiles compete for `concurrency`.
   * @default {"critical-path"}
   */
  ordering?: "critical-path" | "fifo" | "io-first";
  /**
   * XState inspection: receives XState's inspection events (`@xstate.actor`,
   * `@xstate.event`, `@xstate.snapshot`, `@xstate.action`) of every workflow
   * and task actor: a function, or an observer such as `inspector.inspect` from `@statelyai/inspect`.
   */
  inspect?: ((event: ActorInspectionEvent) => void) | ActorInspectionObserver<ActorInspectionEvent>;
  /** Replace components in the engine's container before it resolves them. */
  configure?: (container: EngineContainer) => void;
  /**
   * Engine-level circuit breakers by key: a task names one with `breaker: "key"`;
   * a task policy with the same key uses this one instead. Default: none.
   */
  breakers?: Readonly<Record<string, Omit<BreakerPolicy, "key">>>;
  /**
   * Tasks of a `concurrencyKey` running at once, per key (a key not listed has no limit). Default: none.
   */
  keyLimits?: Readonly<Record<string, number>>;
  /**
   * Every run's default for {@linkcode RunOptions.failFast}.
   * @default {false}
   */
  failFast?: boolean;
}

/** An XState inspection event, as the `inspect` option receives it. */
export interface ActorInspectionEvent {
  /** `@xstate.actor`, `@xstate.event`, `@xstate.snapshot`, `@xstate.action` or `@xstate.microstep`. */
  type: string;
  /** The actor it concerns (an XState actor ref). */
  actorRef: unknown;
  /** The session id of the root actor (the run's workflow actor). */
  rootId: string;
  /** The event received (`@xstate.event`) or that caused a snapshot (`@xstate.snapshot`). */
  event?: unknown;
  /** The actor's new snapshot (`@xstate.snapshot`, `@xstate.actor`). */
  snapshot?: unknown;
  /** The action executed (`@xstate.action`). */
  action?: unknown;
  /** The actor that sent the event, if any (`@xstate.event`). */
  sourceRef?: unknown;
}

/**
 * Options of `run()` and `start()`.
 *
 * @example Input, run id and a signal
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const wf = defineWorkflow<number>({ name: "w", tasks: [{ id: "double", run: ({ input }) => input * 2 }] });
 * const engine = createEngine();
 * const result = await engine.run(wf, { input: 21, runId: "run-1", signal: AbortSignal.timeout(10_000) });
 * assert.deepEqual([result.runId, result.tasks.double.result], ["run-1", 42]);
 * await engine.close();
 * ```
 */
export interface RunOptions<I = unknown> {
  /** The run's input; every task sees it as `ctx.input`. */
  input?: I;
  /** Cancels the run when aborted. */
  signal?: AbortSignal;
  /** The run id. Default: a random UUID. */
  runId?: string;
  /**
   * Fail fast: at the first task that fails for good, cancel the rest of the
   * run (running tasks are aborted, waiting ones cancelled); the run ends
   * `failed` with that task's error. Default: the engine's `failFast` (false:
   * tasks that do not depend on the failed one run to their end).
   */
  failFast?: boolean;
}

/**
 * Options of `resume()`.
 *
 * @example Resuming a run that had ended returns its stored result
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] });
 * const engine = createEngine();
 * const first = await engine.run(wf);
 * const again = await engine.resume(wf, first.runId, { signal: AbortSignal.timeout(10_000) });
 * assert.equal(again.tasks.a.result, 1);
 * await engine.close();
 * ```
 */
export interface ResumeOptions {
  /** Cancels the resumed run when aborted. */
  signal?: AbortSignal;
}

/**
 * Options of `rerun()`.
 *
 * @example Re-running a failed run under a new id
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * let broken = true;
 * const b = () => {
 *   if (broken) throw new Error("broken");
 *   return 2;
 * };
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }, { id: "b", dependsOn: ["a"], run: b }] });
 * const engine = createEngine();
 * const failed = await engine.run(wf);
 * broken = false;
 * const fixed = await engine.rerun(wf, failed.runId, { runId: "second" });
 * assert.deepEqual([fixed.runId, fixed.status], ["second", "completed"]);
 * await engine.close();
 * ```
 */
export interface RerunOptions {
  /** The new run's id. Default: a random UUID. */
  runId?: string;
  /** Cancels the new run when aborted. */
  signal?: AbortSignal;
  /** Fail fast (see {@linkcode RunOptions.failFast}). Default: the engine's `failFast`. */
  failFast?: boolean;
}

/** What an engine keeps in memory by default: the last 1,000 finished runs, and at most 100,000 of their events. */
const DEFAULT_RETENTION: RetentionPolicy = Object.freeze({ runs: 1000, events: 100_000 });

/** The engine options after checking, with their defaults filled in. */
export interface ResolvedOptions {
  /** Hardware threads. */
  readonly n: number;
  /** Tasks running at once per profile. */
  readonly limits: Readonly<Record<Profile, number>>;
  /** Tasks running at once in all. */
  readonly concurrency: number;
  /** How the workflow and task actors run their machines. */
  readonly taskLogic: TaskLogicMode;
  /** How ready tasks of equal priority are ordered. */
  readonly ordering: "critical-path" | "fifo" | "io-first";
  /** Which finished runs stay in memory (`undefined`: all). */
  readonly retention: RetentionPolicy | undefined;
  /** Whether worker pools can be made (a `Worker` exists and `workers` is not `false`). */
  readonly workersAvailable: boolean;
}

/**
 * Checks the options of `createEngine` and fills in their defaults.
 *
 * @param options What the caller gave.
 * @returns The checked options.
 * @throws {RangeError} A limit is not a positive integer (or `Infinity`), or an unknown ordering or task logic.
 */
export function resolveOptions(options: EngineOptions): ResolvedOptions {
  const n = Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 1);
  const limits: Record<Profile, number> = {
    cpu: n,
    io: 8 * n,
    mixed: 2 * n,
    memory: Math.max(1, Math.floor(n / 2)),
    ...options.limits,
  };
  for (const p of PROFILES) checkLimit(`limits.${p}`, limits[p]);
  const concurrency = checkLimit("concurrency", options.concurrency ?? Infinity);
  const taskLogic = options.taskLogic ?? "compiled";
  const ordering = options.ordering ?? "critical-path";
  if (ordering !== "critical-path" && ordering !== "fifo" && ordering !== "io-first") {
    throw new RangeError(
      `Cannot create engine: ordering ${describe(ordering)} must be "critical-path", "fifo" or "io-first"`,
    );
  }
  if (taskLogic !== "compiled" && taskLogic !== "interpreted") {
    throw new RangeError(`Cannot create engine: taskLogic ${describe(taskLogic)} must be "compiled" or "interpreted"`);
  }
  const retention = options.retention === false ? undefined : options.retention ?? DEFAULT_RETENTION;
  const workersAvailable = typeof globalThis.Worker === "function" && options.workers !== false;
  return { n, limits, concurrency, taskLogic, ordering, retention, workersAvailable };
}

function checkLimit(name: string, value: number): number {
  if (!(value === Infinity || (Number.isInteger(value) && value >= 1))) {
    throw new RangeError(`Cannot create engine: ${name} ${describe(value)} must be an integer >= 1 or Infinity`);
  }
  return value;
}
