/**
 * The worker side of a pool: loads task modules once per worker, runs task
 * bodies by name, and reports results and errors (with name, message,
 * stack, cause and own fields) through Comlink.
 *
 * It is `@nerv/flow/worker`: where the package is bundled (browsers), bundle a
 * worker entry that imports it and the task modules its workers run, whose
 * `defineTasks("name", …)` calls register the bodies here, and pass that
 * bundle to `createWorkerPool({ entry })` (see the README's "Edge runtimes and
 * browsers").
 *
 * @example A worker bundle's entry
 * ```ts ignore
 * // worker.ts: deno bundle --platform browser -o dist/worker.js worker.ts
 * import "@nerv/flow/worker";
 * import "./tasks.ts"; // export const tasks = defineTasks("image-tasks", { … })
 * ```
 *
 * @module
 */
import { expose, transfer as comlinkTransfer } from "../src/deps_comlink.ts";
import { isRegisteredModule, registeredTask, TASK_REF, type TaskLocation, transferablesOf } from "../src/tasks.ts";
import { serializeError } from "../src/serialize.ts";
import type { ErrorData, TaskContext, TaskFn } from "../src/types.ts";
import {
  CLOSING_MESSAGE,
  READY_MESSAGE,
  type WireBatch,
  type WireReply,
  type WireResult,
  type WorkerApi,
} from "./protocol.ts";

const modules = new Map<string, Promise<Record<string, unknown>>>();
const controllers = new Map<number, AbortController>();

/** The worker's global scope (typed here: a `lib` reference would change the globals of every importer). */
const scope = globalThis as unknown as { close(): void; postMessage(message: unknown): void };

// A task that calls self.close() would leave the pool waiting forever: say so first.
const close = scope.close.bind(scope);
scope.close = () => {
  scope.postMessage(CLOSING_MESSAGE);
  close();
};

async function resolve(moduleUrl: string, name: string): Promise<TaskFn> {
  // A bundled worker: its entry imported the task module, whose defineTasks() call registered it.
  const registered = registeredTask(moduleUrl, name);
  if (registered !== undefined) return registered;
  if (!URL.canParse(moduleUrl)) {
    if (isRegisteredModule(moduleUrl)) throw new LoadError("the module has no defineTasks() entry of that name");
    throw new LoadError(
      `no module named "${moduleUrl}" is registered in this worker: the worker's entry must import the module ` +
        `whose defineTasks("${moduleUrl}", …) defines it`,
    );
  }
  let mod = modules.get(moduleUrl);
  if (mod === undefined) {
    mod = import(moduleUrl) as Promise<Record<string, unknown>>;
    modules.set(moduleUrl, mod);
  }
  let exports: Record<string, unknown>;
  try {
    exports = await mod;
  } catch (error) {
    modules.delete(moduleUrl);
    throw new LoadError(`the module failed to load: ${(error as Error)?.message ?? error}`, error);
  }
  const match = (value: unknown) => {
    const loc = typeof value === "function" ? (value as { [TASK_REF]?: TaskLocation })[TASK_REF] : undefined;
    return loc !== undefined && loc.name === name && loc.moduleUrl === moduleUrl;
  };
  for (const value of Object.values(exports)) {
    if (match(value)) return value as TaskFn;
    if (value !== null && typeof value === "object") {
      const candidate = (value as Record<string, unknown>)[name];
      if (match(candidate)) return candidate as TaskFn;
    }
  }
  if (typeof exports[name] === "function") return exports[name] as TaskFn;
  throw new LoadError("the module has no defineTasks() entry or export of that name");
}

class LoadError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "TaskModuleError";
  }
}

const NO_DEPS: Readonly<Record<string, unknown>> = Object.freeze({});

/** Resolved bodies by module URL and name: the exports are searched once per worker. */
const resolved = new Map<string, TaskFn>();

function taskError(error: unknown, kind: "task" | "load"): WireResult & { ok: false } {
  return { ok: false, error: serializeError(error), kind };
}

/** Where a batch's outcomes go: values by index, failures aside (most tasks do not fail). */
interface Outcomes {
  values: unknown[];
  failed: Map<number, WireResult & { ok: false }>;
}

/**
 * Runs task `i` of a batch into `out`. Returns `undefined` when a
 * synchronous body finished, or a promise for an async body (or one whose
 * module is not loaded yet). No object per task but its context.
 */
function runInto(batch: WireBatch, refs: [string, string][], i: number, out: Outcomes): Promise<void> | undefined {
  const key = batch.refs[batch.ref[i]];
  const fn = resolved.get(key);
  if (fn === undefined) {
    const [moduleUrl, name] = refs[batch.ref[i]];
    return resolve(moduleUrl, name).then(
      (found) => {
        resolved.set(key, found);
        return runInto(batch, refs, i, out);
      },
      (error) => void out.failed.set(i, taskError(error, "load")),
    );
  }
  const ctx = new WorkerContext(batch, i);
  let value: unknown;
  try {
    value = fn(ctx);
  } catch (error) {
    ctx.release();
    out.failed.set(i, taskError(error, "task"));
    return undefined;
  }
  if (value === null || typeof (value as Promise<unknown>)?.then !== "function") {
    ctx.release();
    out.values[i] = value;
    return undefined;
  }
  return Promise.resolve(value).then(
    (v) => void (out.values[i] = v),
    (error) => void out.failed.set(i, taskError(error, "task")),
  ).finally(() => ctx.release());
}

/**
 * A task's context in the worker. Its abort signal is made on first read
 * (a body that never reads it costs no controller), and registered so that
 * the pool's `abort` reaches it.
 */
class WorkerContext implements TaskContext {
  readonly input: unknown;
  readonly deps: Readonly<Record<string, unknown>>;
  readonly attempt: number;
  readonly taskId: string;
  readonly runId: string;
  readonly workflowId: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly #id: number;
  #controller: AbortController | undefined;
  constructor(batch: WireBatch, i: number) {
    this.input = batch.inputs[i];
    this.deps = batch.deps[i] ?? NO_DEPS;
    this.attempt = batch.attempts[i];
    this.taskId = batch.taskIds[i];
    this.runId = batch.runs[batch.run[i]];
    this.workflowId = batch.workflows[batch.run[i]];
    const metadata = batch.metadata[i];
    this.metadata = metadata === undefined ? NO_DEPS : Object.freeze(metadata);
    this.#id = batch.ids[i];
  }
  /** Tasks cannot be added from a worker (the run lives on the main thread). */
  readonly spawn = noSpawn;
  /** Child runs cannot be started from a worker (the engine lives on the main thread). */
  readonly runWorkflow = noRunWorkflow;
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      controllers.set(this.#id, this.#controller);
    }
    return this.#controller.signal;
  }
  release(): void {
    if (this.#controller !== undefined) controllers.delete(this.#id);
  }
}

/** Results that cannot be cloned become errors naming the task; the others go through. */
function cloneable(out: Outcomes, taskIds: string[]): Transferable[] {
  const moved: Transferable[] = [];
  const values = out.values;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || (typeof value !== "object" && typeof value !== "function") || out.failed.has(i)) continue;
    const buffers = transferablesOf(value);
    if (buffers.length > 0) {
      // Checked too: one bad value (a function beside the buffers, a buffer that is not
      // transferable or already moved) would otherwise make the whole reply unsendable, and
      // Comlink's "Unserializable return value" would hide which task it was. The buffers
      // move into the checked copy (no byte is copied); the copy is what goes out.
      try {
        const copy = structuredClone({ value, buffers }, { transfer: buffers });
        values[i] = copy.value;
        moved.push(...copy.buffers);
      } catch (error) {
        out.failed.set(i, cloneError(taskIds[i], error));
      }
      continue;
    }
    try {
      structuredClone(value);
    } catch (error) {
      out.failed.set(i, cloneError(taskIds[i], error));
    }
  }
  return moved;
}

function cloneError(taskId: string, error: unknown): WireResult & { ok: false } {
  const e = new TypeError(
    `Task "${taskId}" returned a value that cannot be cloned to the main thread: ${(error as Error)?.message ?? error}`,
    { cause: error },
  );
  e.name = "DataCloneError";
  return { ok: false, error: serializeError(e), kind: "clone" };
}

const api: WorkerApi = {
  async load(moduleUrl, name) {
    try {
      await resolve(moduleUrl, name);
      return null;
    } catch (error) {
      return serializeError(error) as ErrorData;
    }
  },
  async runBatch(batch) {
    const refs = batch.refs.map((key) => key.split("\n") as [string, string]);
    const n = batch.ids.length;
    const out: Outcomes = { values: new Array(n), failed: new Map() };
    // Synchronous bodies run back to back; async ones interleave; one await at the end.
    let waiting: Promise<void>[] | undefined;
    for (let i = 0; i < n; i++) {
      const pending = runInto(batch, refs, i, out);
      if (pending !== undefined) (waiting ??= []).push(pending);
    }
    if (waiting !== undefined) await Promise.all(waiting);
    const moved = cloneable(out, batch.taskIds);
    const reply: WireReply = { values: out.values, failed: [], errors: [], kinds: [] };
    for (const i of [...out.failed.keys()].sort((a, b) => a - b)) {
      const f = out.failed.get(i)!;
      reply.values[i] = undefined;
      reply.failed.push(i);
      reply.errors.push(f.error);
      reply.kinds.push(f.kind);
    }
    return moved.length > 0 ? comlinkTransfer(reply, moved) : reply;
  },
  ping() {
    return Date.now();
  },
  abort(ids, reason) {
    for (const id of ids) {
      const error = Object.assign(new Error(reason.message), reason);
      controllers.get(id)?.abort(error);
    }
  },
};

expose(api);
scope.postMessage(READY_MESSAGE);

function noSpawn(): never {
  throw new TypeError("Cannot add tasks from a task that runs in a worker");
}

function noRunWorkflow(): never {
  throw new TypeError(
    "Cannot run a subworkflow from a task that runs in a worker: give the task an inline profile (io)",
  );
}
