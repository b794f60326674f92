/**
 * The worker side of a pool: loads task modules once per worker, runs task
 * bodies by name, and reports results and errors (with name, message,
 * stack, cause and own fields) through Comlink.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { expose, transfer as comlinkTransfer } from "../src/deps_comlink.ts";
import { TASK_REF, type TaskLocation, transferablesOf } from "../src/tasks.ts";
import { serializeError } from "../src/serialize.ts";
import type { ErrorData, TaskContext, TaskFn } from "../src/types.ts";
import { CLOSING_MESSAGE, pack, unpack, type WireResult, type WireTask, type WorkerApi } from "./protocol.ts";

const modules = new Map<string, Promise<Record<string, unknown>>>();
const controllers = new Map<number, AbortController>();

// A task that calls self.close() would leave the pool waiting forever: say so first.
const close = self.close.bind(self);
self.close = () => {
  self.postMessage(CLOSING_MESSAGE);
  close();
};

async function resolve(moduleUrl: string, name: string): Promise<TaskFn> {
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

/** Resolved bodies by module URL and name: the exports are searched once per worker. */
const resolved = new Map<string, TaskFn>();

function taskError(error: unknown, kind: "task" | "load"): WireResult {
  return { ok: false, error: serializeError(error), kind };
}

/**
 * Runs one task. Returns the result at once for a synchronous body, or a
 * promise of it for an async body (or one whose module is not loaded yet).
 */
function runOne(task: WireTask): WireResult | Promise<WireResult> {
  const key = `${task.moduleUrl}\n${task.name}`;
  const fn = resolved.get(key);
  if (fn === undefined) {
    return resolve(task.moduleUrl, task.name).then(
      (found) => {
        resolved.set(key, found);
        return runOne(task);
      },
      (error) => taskError(error, "load"),
    );
  }
  const ctx = new WorkerContext(task);
  let value: unknown;
  try {
    value = fn(ctx);
  } catch (error) {
    ctx.release();
    return taskError(error, "task");
  }
  if (value === null || typeof (value as Promise<unknown>)?.then !== "function") {
    ctx.release();
    return { ok: true, value };
  }
  return Promise.resolve(value).then(
    (v): WireResult => ({ ok: true, value: v }),
    (error) => taskError(error, "task"),
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
  readonly #id: number;
  #controller: AbortController | undefined;
  constructor(task: WireTask) {
    const p = task.payload;
    this.input = p.input;
    this.deps = p.deps;
    this.attempt = p.attempt;
    this.taskId = p.taskId;
    this.runId = p.runId;
    this.#id = task.id;
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
function cloneable(results: WireResult[], tasks: WireTask[]): Transferable[] {
  const moved: Transferable[] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (!r.ok) continue;
    const buffers = transferablesOf(r.value);
    if (buffers.length > 0) {
      // Checked too: one bad value (a function beside the buffers, a buffer that is not
      // transferable or already moved) would otherwise make the whole reply unsendable, and
      // Comlink's "Unserializable return value" would hide which task it was. The buffers
      // move into the checked copy (no byte is copied); the copy is what goes out.
      try {
        const copy = structuredClone({ value: r.value, buffers }, { transfer: buffers });
        results[i] = { ok: true, value: copy.value };
        moved.push(...copy.buffers);
      } catch (error) {
        results[i] = cloneError(tasks[i], error);
      }
      continue;
    }
    if (r.value === null || typeof r.value !== "object" && typeof r.value !== "function") continue;
    try {
      structuredClone(r.value);
    } catch (error) {
      results[i] = cloneError(tasks[i], error);
    }
  }
  return moved;
}

function cloneError(task: WireTask, error: unknown): WireResult {
  const e = new TypeError(
    `Task "${task.payload.taskId}" returned a value that cannot be cloned to the main thread: ${
      (error as Error)?.message ?? error
    }`,
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
    const tasks = unpack(batch);
    // Synchronous bodies run back to back; async ones interleave; one await at the end.
    const results: WireResult[] = new Array(tasks.length);
    let waiting: Promise<void>[] | undefined;
    for (let i = 0; i < tasks.length; i++) {
      const r = runOne(tasks[i]);
      if (r instanceof Promise) (waiting ??= []).push(r.then((v) => void (results[i] = v)));
      else results[i] = r;
    }
    if (waiting !== undefined) await Promise.all(waiting);
    const moved = cloneable(results, tasks);
    const reply = pack(results);
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

function noSpawn(): never {
  throw new TypeError("Cannot add tasks from a task that runs in a worker");
}

function noRunWorkflow(): never {
  throw new TypeError(
    "Cannot run a subworkflow from a task that runs in a worker: give the task an inline profile (io)",
  );
}
