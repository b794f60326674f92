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
 * @module
 */
import { type Remote, transfer as comlinkTransfer, wrap } from "../src/deps_comlink.ts";
import {
  NotCloneableError,
  PoolClosedError,
  TaskModuleError,
  WorkerCrashedError,
  WorkerStartError,
} from "../src/errors.ts";
import { deserializeError, serializeError } from "../src/serialize.ts";
import { type TaskLocation, taskLocation, transferablesOf } from "../src/tasks.ts";
import type { Executor, Profile, TaskPayload, TaskSpec } from "../src/types.ts";
import { runInline } from "./inline_context.ts";
import {
  CLOSING_MESSAGE,
  READY_MESSAGE,
  type WireBatch,
  type WireReply,
  type WireResult,
  type WorkerApi,
} from "./protocol.ts";

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

interface Pending {
  id: number;
  task: TaskSpec;
  loc: TaskLocation;
  payload: TaskPayload;
  signal: AbortSignal;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  done: boolean;
  slot: Slot | undefined;
  /** Goes out alone: it shared a batch that could not be sent, and the culprit was not found. */
  solo: boolean;
}

interface Slot {
  n: number;
  worker: Worker;
  api: Remote<WorkerApi>;
  /** Batches sent and not answered, oldest first (at most two: the next is queued behind the first). */
  inflight: Pending[][];
  /** When each in-flight batch was sent. */
  sentAt: number[];
  /** When the last answer came, to time a queued batch from when its worker turned to it. */
  lastAnswer: number;
  /** No batch finished yet: the first one also pays for start-up and module loading. */
  cold: boolean;
  dead: boolean;
  graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set when posting to the worker threw (the call never left this thread). */
  postError: unknown;
  /** The worker's entry loaded (it posted `READY_MESSAGE`): an error before that is a failed start. */
  ready: boolean;
  /** Called once when the worker ends (for `warm`, whose ping would otherwise never settle). */
  onEnd: ((error: unknown) => void) | undefined;
}

interface Watch {
  pending: Set<Pending>;
  listener: () => void;
}

/** Failed starts in a row after which the tasks waiting for a worker fail with `WorkerStartError`. */
const START_ATTEMPTS = 3;
/** The wait before the next start after `f` failed starts in a row: 100 ms, ×4 each time, at most 30 s. */
const startBackoffMs = (f: number) => Math.min(30_000, 100 * 4 ** (f - 1));

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

/** Words for a worker's load error: browsers give an `ErrorEvent` with no error and, for a 404, no message. */
function startReason(cause: unknown): string {
  const message = (cause as Error)?.message;
  return typeof message === "string" && message !== ""
    ? message
    : "the script failed to load (not found, not a module, or blocked), or threw while loading";
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
  let entry: URL | string | undefined = options.entry;
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
  const shownEntry = entry === undefined ? undefined : entryText(entry);

  const slots: (Slot | undefined)[] = new Array(size);
  let queue: Pending[] = [];
  let head = 0;
  let nextId = 1;
  let spawned = 0;
  let replaced = 0;
  let closed = false;
  let perTaskMs = targetBatchMs; // measured, smoothed: start by sending tasks alone
  let batchSize = 1;
  const watched = new Map<AbortSignal, Watch>();
  // Failed starts (the entry did not load) in a row; no worker starts before `retryAt`.
  let startFailures = 0;
  let startCause: unknown;
  let retryAt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  const startError = () =>
    new WorkerStartError(name, shownEntry, startFailures, startReason(startCause), { cause: startCause });

  const spawn = (k: number): Slot | undefined => {
    let worker: Worker;
    try {
      worker = new Worker(entry!, { type: "module", name: `${name}#${++spawned}` });
    } catch (error) {
      // Refused at once (a malformed URL, another origin): a failed start like a load error.
      failedStart(undefined, error);
      return undefined;
    }
    const slot: Slot = {
      n: spawned,
      worker,
      api: undefined as never,
      inflight: [],
      sentAt: [],
      lastAnswer: 0,
      cold: true,
      dead: false,
      graceTimer: undefined,
      postError: undefined,
      ready: false,
      onEnd: undefined,
    };
    // Comlink rejects a call alike whether posting it threw here or the worker answered with an
    // error; `send` needs to know which, so the endpoint records a failed post.
    slot.api = wrap<WorkerApi>({
      postMessage(message: unknown, transfer?: Transferable[]) {
        try {
          worker.postMessage(message, transfer ?? []);
        } catch (error) {
          slot.postError = error;
          throw error;
        }
      },
      addEventListener: worker.addEventListener.bind(worker),
      removeEventListener: worker.removeEventListener.bind(worker),
    });
    worker.addEventListener("error", (event) => {
      event.preventDefault();
      const cause = event.error ?? new Error(startReason(event));
      if (slot.ready) die(slot, cause);
      else failedStart(slot, cause);
    });
    worker.addEventListener("messageerror", (event) => {
      die(slot, new Error("A message from the worker could not be deserialized", { cause: event }));
    });
    worker.addEventListener("message", (event) => {
      if (event.data === CLOSING_MESSAGE) die(slot, new Error("The worker called self.close()"));
      else if (event.data === READY_MESSAGE) {
        slot.ready = true;
        startFailures = 0;
      }
    });
    slots[k] = slot;
    return slot;
  };

  /**
   * A worker whose entry did not load (or could not be constructed): the tasks it held go back
   * to the queue, no worker starts before a backoff, and after `START_ATTEMPTS` failures in a
   * row the waiting tasks fail with `WorkerStartError` (new ones too, until the backoff ends).
   */
  const failedStart = (slot: Slot | undefined, cause: unknown) => {
    if (slot !== undefined) {
      if (slot.dead) return;
      slot.dead = true;
      if (slot.graceTimer !== undefined) clearTimeout(slot.graceTimer);
      slot.worker.terminate();
      const k = slots.indexOf(slot);
      if (k >= 0) slots[k] = undefined;
      const held = slot.inflight.flat().filter((p) => !p.done);
      slot.inflight = [];
      slot.sentAt = [];
      for (const p of held) p.slot = undefined;
      if (held.length > 0) {
        queue = [...held, ...queue.slice(head)];
        head = 0;
      }
    }
    startFailures++;
    startCause = cause;
    retryAt = performance.now() + startBackoffMs(startFailures);
    slot?.onEnd?.(startError());
    if (startFailures >= START_ATTEMPTS) {
      const waiting = queue.slice(head);
      queue = [];
      head = 0;
      for (const p of waiting) settle(p, false, startError());
    }
    if (slot !== undefined) queueMicrotask(pump);
  };

  /** Pumps again when the backoff ends (only while tasks wait, so an idle pool keeps no timer). */
  const armRetry = () => {
    if (retryTimer !== undefined || closed) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      pump();
    }, Math.max(0, retryAt - performance.now()));
  };

  /** Terminates a worker, fails what it held, and puts a fresh one in its place. */
  const die = (slot: Slot, cause: unknown, requeue?: Pending) => {
    if (slot.dead) return;
    slot.dead = true;
    if (slot.graceTimer !== undefined) clearTimeout(slot.graceTimer);
    slot.worker.terminate();
    replaced++;
    slot.onEnd?.(new Error(`Worker ${name}#${slot.n} died`, { cause }));
    const k = slots.indexOf(slot);
    const held = slot.inflight.flat();
    slot.inflight = [];
    slot.sentAt = [];
    const innocent: Pending[] = [];
    for (const p of held) {
      if (p.done) continue;
      p.slot = undefined;
      if (requeue !== undefined && p !== requeue) innocent.push(p);
      else settle(p, false, new WorkerCrashedError(`${name}#${slot.n}`, p.payload.taskId, { cause }));
    }
    if (k >= 0) {
      slots[k] = undefined;
      if (!closed && performance.now() >= retryAt) spawn(k);
    }
    if (innocent.length > 0) {
      // Tasks that shared the batch of an aborted one: back to the front of the queue.
      queue = [...innocent, ...queue.slice(head)];
      head = 0;
    }
    pump();
  };

  const settle = (p: Pending, ok: boolean, value: unknown) => {
    if (p.done) return;
    p.done = true;
    unwatch(p);
    if (ok) p.resolve(value);
    else p.reject(value);
  };

  const watch = (p: Pending) => {
    let w = watched.get(p.signal);
    if (w === undefined) {
      const signal = p.signal;
      const pending = new Set<Pending>();
      const listener = () => onAbort(signal, pending);
      w = { pending, listener };
      watched.set(signal, w);
      signal.addEventListener("abort", listener, { once: true });
    }
    w.pending.add(p);
  };

  const unwatch = (p: Pending) => {
    const w = watched.get(p.signal);
    if (w === undefined) return;
    w.pending.delete(p);
    if (w.pending.size === 0) {
      watched.delete(p.signal);
      p.signal.removeEventListener("abort", w.listener);
    }
  };

  const onAbort = (signal: AbortSignal, pending: Set<Pending>) => {
    watched.delete(signal);
    const reason = signal.reason;
    const bySlot = new Map<Slot, Pending[]>();
    let unsent = false;
    for (const p of [...pending]) {
      const slot = p.slot;
      settle(p, false, reason);
      if (slot !== undefined) {
        let list = bySlot.get(slot);
        if (list === undefined) bySlot.set(slot, list = []);
        list.push(p);
      } else unsent = true;
    }
    if (unsent) {
      // Drop the aborted tasks from the queue now: `queued` counts only live ones,
      // and their payloads are not kept until the next batch comes back.
      queue = queue.slice(head).filter((p) => !p.done);
      head = 0;
    }
    for (const [slot, list] of bySlot) {
      // Ask the worker to abort (bodies that await see it), then give it a
      // grace period before terminating it (bodies that spin never yield).
      slot.api.abort(list.map((p) => p.id), serializeError(reason)).catch(() => {});
      if (slot.graceTimer === undefined) {
        slot.graceTimer = setTimeout(() => {
          slot.graceTimer = undefined;
          // Still held by this worker (its batch has not come back): terminate it.
          if (!slot.dead && list.some((p) => p.slot === slot)) die(slot, reason, list[0]);
        }, abortGraceMs);
      }
    }
  };

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

  const pump = () => {
    if (closed) return;
    let waiting = queue.length - head;
    if (waiting === 0) return;
    let idle = 0;
    for (let k = 0; k < size; k++) {
      const s = slots[k];
      if (s === undefined || (!s.dead && s.inflight.length === 0)) idle++;
    }
    // Idle workers first; then, when tasks are small (batches of 8 or more), a second batch
    // behind the first, so a worker never waits for the main thread between batches.
    for (let pass = 0; pass < 2 && waiting > 0; pass++) {
      if (pass === 1 && batchSize < 8) break;
      for (let k = 0; k < size && waiting > 0; k++) {
        let slot = slots[k];
        if (slot !== undefined && (slot.dead || slot.inflight.length !== pass)) continue;
        if (slot === undefined) {
          if (startFailures > 0 && performance.now() < retryAt) {
            armRetry();
            continue;
          }
          slot = spawn(k);
          if (slot === undefined) return; // the start failed at once; `failedStart` took over
        }
        const take = Math.max(1, Math.min(batchSize, Math.ceil(waiting / Math.max(1, idle))));
        const batch: Pending[] = [];
        while (batch.length < take && head < queue.length) {
          const p = queue[head];
          if (p.solo && batch.length > 0) break;
          head++;
          if (p.done) continue;
          batch.push(p);
          if (p.solo) break;
        }
        if (pass === 0) idle--;
        waiting = queue.length - head;
        if (head > 4096 && head * 2 > queue.length) {
          queue = queue.slice(head);
          head = 0;
        }
        if (batch.length > 0) send(slot, batch);
      }
    }
  };

  const send = (slot: Slot, batch: Pending[]) => {
    slot.inflight.push(batch);
    slot.sentAt.push(performance.now());
    const n = batch.length;
    const wire: WireBatch = {
      refs: [],
      runs: [],
      workflows: [],
      ids: new Array(n),
      ref: new Array(n),
      run: new Array(n),
      attempts: new Array(n),
      taskIds: new Array(n),
      inputs: new Array(n),
      deps: new Array(n),
      metadata: new Array(n),
    };
    const refIndex = new Map<string, number>();
    const runIndex = new Map<string, number>();
    const moved: Transferable[] = [];
    for (let i = 0; i < n; i++) {
      const p = batch[i];
      p.slot = slot;
      const payload = p.payload;
      const key = `${p.loc.moduleUrl}\n${p.loc.name}`;
      let r = refIndex.get(key);
      if (r === undefined) refIndex.set(key, r = wire.refs.push(key) - 1);
      let u = runIndex.get(payload.runId);
      if (u === undefined) {
        runIndex.set(payload.runId, u = wire.runs.push(payload.runId) - 1);
        wire.workflows.push(payload.workflowId ?? "");
      }
      const deps = payload.deps;
      wire.ids[i] = p.id;
      wire.ref[i] = r;
      wire.run[i] = u;
      wire.attempts[i] = payload.attempt;
      wire.taskIds[i] = payload.taskId;
      wire.inputs[i] = payload.input;
      const metadata = p.task.metadata;
      let hasMetadata = false;
      for (const _ in metadata) {
        hasMetadata = true;
        break;
      }
      wire.metadata[i] = hasMetadata ? metadata : undefined;
      let hasDeps = false;
      for (const _ in deps) {
        hasDeps = true;
        break;
      }
      wire.deps[i] = hasDeps ? deps : undefined;
      collect(payload.input, moved);
      for (const key in deps) collect(deps[key], moved);
    }
    let call: Promise<WireReply>;
    slot.postError = undefined;
    try {
      call = moved.length > 0 ? slot.api.runBatch(markTransfer(wire, moved)) : slot.api.runBatch(wire);
    } catch (error) {
      slot.postError ??= error;
      call = Promise.reject(error);
    }
    const postError = slot.postError;
    slot.postError = undefined;
    call.then(
      (results) => finish(slot, batch, results),
      // The batch never left (a value could not be cloned), or the worker could not answer
      // (e.g. Comlink's "Unserializable return value"): the latter is not the inputs' fault.
      (error) => {
        if (postError !== undefined) refused(slot, batch, postError);
        else if (slot.inflight.includes(batch)) die(slot, error);
      },
    );
  };

  const finish = (slot: Slot, batch: Pending[], reply: WireReply) => {
    const at = slot.inflight.indexOf(batch);
    if (slot.dead || at < 0) return;
    const now = performance.now();
    const elapsed = now - Math.max(slot.sentAt[at], slot.lastAnswer);
    slot.inflight.splice(at, 1);
    slot.sentAt.splice(at, 1);
    slot.lastAnswer = now;
    if (slot.cold) {
      // A worker's first batch timed its start-up and module loading, not its tasks:
      // counted, it collapsed the batch size of a warm pool to 1 when a late worker joined.
      slot.cold = false;
    } else {
      perTaskMs = perTaskMs * 0.7 + (elapsed / batch.length) * 0.3;
      batchSize = Math.max(1, Math.min(maxBatch, Math.floor(targetBatchMs / Math.max(perTaskMs, 1e-4))));
    }
    for (const p of batch) p.slot = undefined;
    for (let k = 0; k < reply.failed.length; k++) {
      const p = batch[reply.failed[k]];
      settle(p, false, toTaskError(p, { ok: false, error: reply.errors[k], kind: reply.kinds[k] }));
    }
    const values = reply.values;
    for (let i = 0; i < batch.length; i++) settle(batch[i], true, values[i]);
    pump();
  };

  /** The batch never reached the worker (a value could not be cloned): find the culprits. */
  const refused = (slot: Slot, batch: Pending[], error: unknown) => {
    const at = slot.inflight.indexOf(batch);
    if (slot.dead || at < 0) return;
    slot.inflight.splice(at, 1);
    slot.sentAt.splice(at, 1);
    for (const p of batch) p.slot = undefined;
    if (batch.length === 1) {
      settle(batch[0], false, new NotCloneableError(batch[0].payload.taskId, "input", { cause: error }));
    } else {
      const retry: Pending[] = [];
      for (const p of batch) {
        if (p.done) continue;
        try {
          structuredClone({ input: p.payload.input, deps: p.payload.deps });
          // The culprit may hide where a clone does not look (a transfer list): each goes
          // alone from now on, so a refusal names its own task instead of looping forever.
          p.solo = true;
          retry.push(p);
        } catch (cause) {
          settle(p, false, new NotCloneableError(p.payload.taskId, "input", { cause }));
        }
      }
      queue = [...retry, ...queue.slice(head)];
      head = 0;
    }
    pump();
  };

  const toTaskError = (p: Pending, r: WireResult & { ok: false }): Error => {
    const cause = deserializeError(r.error);
    if (r.kind === "load") {
      return new TaskModuleError(p.loc.moduleUrl, p.loc.name, r.error.message, { cause: cause.cause });
    }
    if (r.kind === "clone") return new NotCloneableError(p.payload.taskId, "result", { cause });
    return cause;
  };

  return {
    name,
    concurrency: Infinity,
    get alive() {
      return slots.filter((s) => s !== undefined && !s.dead).length;
    },
    get queued() {
      return queue.length - head;
    },
    get replaced() {
      return replaced;
    },
    get batchSize() {
      return batchSize;
    },
    run(task: TaskSpec, payload: TaskPayload, signal: AbortSignal): Promise<unknown> {
      const loc = taskLocation(task.run);
      if (loc === undefined) {
        // A plain function cannot cross to a worker: it runs here.
        return runInline(task, payload, signal);
      }
      if (closed) {
        return Promise.reject(new PoolClosedError(name, payload.taskId));
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
      if (startFailures >= START_ATTEMPTS && performance.now() < retryAt) return Promise.reject(startError());
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
        watch(p);
        schedulePump();
      });
    },
    async warm() {
      const calls: Promise<unknown>[] = [];
      if (noEntry !== undefined) throw new WorkerStartError(name, undefined, 0, noEntry);
      if (startFailures > 0 && performance.now() < retryAt) throw startError(); // backing off: start nothing
      for (let k = 0; k < size; k++) {
        const slot = slots[k] ?? spawn(k);
        if (slot === undefined) throw startError();
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
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryTimer = undefined;
      const error = new Error(`Worker pool ${name} was closed`);
      for (let k = 0; k < size; k++) {
        const slot = slots[k];
        if (slot === undefined) continue;
        slot.dead = true;
        if (slot.graceTimer !== undefined) clearTimeout(slot.graceTimer);
        slot.worker.terminate();
        slot.onEnd?.(error);
        for (const p of slot.inflight.flat()) settle(p, false, error);
        slots[k] = undefined;
      }
      for (let i = head; i < queue.length; i++) settle(queue[i], false, error);
      queue = [];
      head = 0;
      return Promise.resolve();
    },
  };
}

function collect(value: unknown, into: Transferable[]): void {
  const buffers = transferablesOf(value);
  if (buffers.length > 0) into.push(...buffers);
}

function markTransfer<T extends object>(value: T, buffers: Transferable[]): T {
  // Comlink moves what its transfer cache lists for an argument.
  return comlinkTransfer(value, buffers);
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
