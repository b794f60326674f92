/**
 * A pool of Web Workers that runs task bodies through Comlink.
 *
 * Tasks whose body is a {@linkcode defineTasks} reference run in a worker;
 * plain functions run inline (a function cannot cross a worker boundary).
 * Queued tasks go to idle workers in batches, one message carrying many
 * tasks; the batch size adapts so that a batch takes about `targetBatchMs`,
 * and a lone task still goes out alone. A task aborted (timeout, cancel)
 * while its worker is busy gets that worker terminated and replaced after
 * `abortGraceMs`; the other tasks that worker held go back to the queue
 * (they may run twice: at least once). A worker that dies fails only the
 * tasks it held, with `WorkerCrashedError`; the pool never drops below its
 * size and never leaks a worker or a pending promise.
 *
 * This file composes the pool from its parts: `_pool_slots.ts` (each worker's
 * lifecycle: start, ready handshake, start backoff, replacement),
 * `_pool_abort.ts` (abort signals, settling, the abort grace),
 * `_pool_wire.ts` (a batch sent in the columnar protocol of `protocol.ts`,
 * its answer unpacked, a refused batch's culprits found) and
 * `_pool_queue.ts` (waiting tasks, batch size, the pump).
 * Timers go through the `Clock` port.
 *
 * @module
 */
import { systemClock } from "../src/clock.ts";
import { TaskModuleError, WorkerStartError } from "../src/errors.ts";
import { taskLocation } from "../src/tasks.ts";
import type { Clock, Executor, Profile, TaskPayload, TaskSpec } from "../src/types.ts";
import { Aborts } from "./_pool_abort.ts";
import { BatchSizer, type Pending, pump as pumpQueue, TaskQueue } from "./_pool_queue.ts";
import { type Slot, Slots } from "./_pool_slots.ts";
import { Wire } from "./_pool_wire.ts";
import { runInline } from "./inline_context.ts";

/** Options of {@linkcode createWorkerPool}. */
export interface WorkerPoolOptions {
  /** Workers in the pool; at least 1. */
  size: number;
  /**
   * A name for errors and events.
   * @default {"workers"}
   */
  name?: string;
  /**
   * Most tasks in one message to a worker.
   * @default {1024}
   */
  maxBatch?: number;
  /**
   * Aim for batches that take about this long (ms), from measured task times.
   * @default {2}
   */
  targetBatchMs?: number;
  /**
   * How long an aborted task may keep its worker before the worker is terminated (ms).
   * @default {20}
   */
  abortGraceMs?: number;
  /**
   * The worker script: a module that imports this package's worker entry
   * (`@nerv/flow/worker`), or a bundle of it. Default: the package's
   * `workers/worker_entry.ts` beside this module, where the package runs
   * unbundled; a bundled package has none, and its worker tasks fail with
   * `WorkerStartError` until one is given (see the README's "Edge runtimes and browsers").
   */
  entry?: URL | string;
  /**
   * The time source of the abort grace and of the start backoff (an engine passes its own).
   * @default {systemClock}
   */
  clock?: Clock;
}

/** A worker pool: an executor with lifecycle controls. */
export interface WorkerPool extends Executor {
  /** Workers alive now. */
  readonly alive: number;
  /** Tasks waiting for a worker. */
  readonly queued: number;
  /** Workers terminated and replaced so far (timeouts, cancellations, crashes). */
  readonly replaced: number;
  /** The current batch size. */
  readonly batchSize: number;
  /**
   * Starts every worker now instead of on first use.
   *
   * @returns When every worker answered a first call.
   */
  warm(): Promise<void>;
  /**
   * Terminates every worker; queued and running tasks fail.
   *
   * @returns When done.
   */
  close(): Promise<void>;
}

/**
 * This package's worker entry, beside this module, when it runs unbundled;
 * `undefined` in a bundle (this module's URL is the bundle's, or there is
 * none, as in workerd or a script). Called when a pool is made, never at load.
 */
function defaultEntry(): { entry?: URL; here: string | undefined } {
  const here: unknown = import.meta.url;
  if (typeof here !== "string") return { here: undefined };
  const found = /\/workers\/pool\.([cm]?[jt]s)(?:[?#].*)?$/.exec(here);
  return found === null ? { here } : { entry: new URL(`./worker_entry.${found[1]}`, here), here };
}

/** The entry's URL for messages (a relative string resolved against the page, where there is one). */
function entryText(entry: URL | string): string {
  if (entry instanceof URL) return entry.href;
  try {
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    return new URL(entry, base).href;
  } catch {
    return String(entry);
  }
}

/**
 * The worker script: the one given, or the package's own beside this module.
 *
 * @returns The script (`undefined` when there is none), why there is none, and its URL for messages.
 * @throws {TypeError} The given entry is neither a URL nor a non-empty string.
 */
function resolveEntry(
  given: URL | string | undefined,
): { entry: URL | string | undefined; noEntry: string | undefined; shownEntry: string | undefined } {
  let entry = given;
  let noEntry: string | undefined;
  if (entry === undefined) {
    const found = defaultEntry();
    entry = found.entry;
    if (entry === undefined) {
      noEntry =
        `this package is bundled (its module URL is ${
          found.here === undefined ? "undefined" : `"${found.here}"`
        }), so its worker entry is not beside it: pass createWorkerPool({ entry }) the URL of a worker bundle ` +
        `(see the README's "Edge runtimes and browsers")`;
    }
  } else if (!(entry instanceof URL) && (typeof entry !== "string" || entry === "")) {
    throw new TypeError(`Cannot create a worker pool: entry ${String(entry)} must be a URL or a non-empty string`);
  }
  return { entry, noEntry, shownEntry: entry === undefined ? undefined : entryText(entry) };
}

/**
 * Creates a worker pool.
 *
 * @param options Size, batching, abort grace, worker entry.
 * @returns The pool (an `Executor`).
 * @throws {RangeError} A size or limit is out of range.
 * @throws {TypeError} This runtime has no `Worker`.
 *
 * @example Running a task module's function in a worker
 * ```ts
 * import { createEngine, createWorkerPool, defineWorkflow } from "@nerv/flow";
 * import { tasks } from "../examples/tasks/text.ts";
 * const cpu = createWorkerPool({ size: 2, name: "cpu" });
 * const engine = createEngine({ executors: { cpu } });
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [
 *   { id: "h", run: tasks.hash, profile: "cpu" },
 * ] }), { input: "hello" });
 * console.log(result.tasks.h.status); // completed
 * await engine.close(); // terminates the pool's workers
 * ```
 */
export function createWorkerPool(options: WorkerPoolOptions): WorkerPool {
  if (typeof Worker !== "function") {
    throw new TypeError("Cannot create a worker pool: this runtime has no Worker (use the inline executor)");
  }
  const size = options.size;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`Cannot create a worker pool: size ${size} must be an integer >= 1`);
  }
  const maxBatch = options.maxBatch ?? 1024;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new RangeError(`Cannot create a worker pool: maxBatch ${maxBatch} must be an integer >= 1`);
  }
  const targetBatchMs = options.targetBatchMs ?? 2;
  const abortGraceMs = options.abortGraceMs ?? 20;
  const name = options.name ?? "workers";
  const { entry, noEntry, shownEntry } = resolveEntry(options.entry);
  const clock = options.clock ?? systemClock;

  let nextId = 1;
  const queue = new TaskQueue();
  const sizer = new BatchSizer(targetBatchMs, maxBatch);
  const aborts: Aborts = new Aborts(clock, abortGraceMs, {
    dropSettled: () => queue.dropSettled(),
    die: (slot, cause, culprit) => slots.die(slot, cause, culprit),
  });
  const slots: Slots = new Slots(size, name, entry, shownEntry, clock, {
    settle: (p, ok, value) => aborts.settle(p, ok, value),
    requeue: (tasks) => queue.requeue(tasks),
    failWaiting: () => {
      for (const p of queue.takeAll()) aborts.settle(p, false, slots.startError());
    },
    pump: () => pump(),
  });
  const wire = new Wire(sizer, aborts, {
    die: (slot, cause) => slots.die(slot, cause),
    requeue: (tasks) => queue.requeue(tasks),
    pump: () => pump(),
  });
  const send = (slot: Slot, batch: Pending[]) => wire.send(slot, batch);
  const pump = () => pumpQueue(queue, sizer, slots, send);

  // Calls made in one synchronous stretch (an engine dispatching many ready
  // tasks) are pumped together at the next microtask: they fill batches
  // instead of each going out alone.
  let pumpScheduled = false;
  const schedulePump = () => {
    if (pumpScheduled) return;
    pumpScheduled = true;
    queueMicrotask(() => {
      pumpScheduled = false;
      pump();
    });
  };

  return {
    name,
    concurrency: Infinity,
    get alive() {
      return slots.alive;
    },
    get queued() {
      return queue.length;
    },
    get replaced() {
      return slots.replaced;
    },
    get batchSize() {
      return sizer.size;
    },
    run(task: TaskSpec, payload: TaskPayload, signal: AbortSignal): Promise<unknown> {
      const loc = taskLocation(task.run);
      if (loc === undefined) {
        // A plain function cannot cross to a worker: it runs here.
        return runInline(task, payload, signal);
      }
      if (slots.closed) {
        return Promise.reject(new Error(`Cannot run task "${payload.taskId}": worker pool ${name} is closed`));
      }
      if (loc.moduleUrl === "") {
        return Promise.reject(
          new TaskModuleError(
            "",
            loc.name,
            "a worker cannot load it: defineTasks() got no module URL (import.meta.url is undefined in this " +
              "runtime or bundle); pass the module's import.meta.url where it has one, or a module name that the " +
              `worker's entry imports, e.g. defineTasks("my-tasks", …) (see the README's "Edge runtimes and browsers")`,
          ),
        );
      }
      if (noEntry !== undefined) {
        return Promise.reject(new WorkerStartError(name, undefined, 0, noEntry));
      }
      if (slots.gaveUp()) return Promise.reject(slots.startError());
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise((resolve, reject) => {
        const p: Pending = {
          id: nextId++,
          task,
          loc,
          payload,
          signal,
          resolve,
          reject,
          done: false,
          slot: undefined,
          solo: false,
        };
        queue.push(p);
        aborts.watch(p);
        schedulePump();
      });
    },
    async warm() {
      const calls: Promise<unknown>[] = [];
      if (noEntry !== undefined) throw new WorkerStartError(name, undefined, 0, noEntry);
      if (slots.backingOff()) throw slots.startError(); // backing off: start nothing
      for (let k = 0; k < size; k++) {
        const slot = slots.list[k] ?? slots.spawn(k);
        if (slot === undefined) throw slots.startError();
        calls.push(
          new Promise((resolve, reject) => {
            slot.onEnd = reject;
            slot.api.ping().then(resolve, reject);
          }),
        );
      }
      await Promise.all(calls);
    },
    close() {
      const error = new Error(`Worker pool ${name} was closed`);
      slots.close(error);
      for (const p of queue.takeAll()) aborts.settle(p, false, error);
      return Promise.resolve();
    },
  };
}

/**
 * Default pool size of a profile, from the hardware threads `n` (DESIGN.md):
 * cpu `n`, mixed `2n`, memory `max(1, n/2)`.
 *
 * @param profile A worker profile.
 * @param threads Hardware threads.
 * @returns The pool size.
 */
export function defaultPoolSize(profile: Exclude<Profile, "io">, threads: number): number {
  const n = Math.max(1, threads);
  return profile === "cpu" ? n : profile === "mixed" ? 2 * n : Math.max(1, Math.floor(n / 2));
}
