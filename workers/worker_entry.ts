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
import { CLOSING_MESSAGE, type WireResult, type WireTask, type WorkerApi } from "./protocol.ts";

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

async function runOne(task: WireTask): Promise<WireResult> {
  const controller = new AbortController();
  controllers.set(task.id, controller);
  try {
    let fn: TaskFn;
    try {
      fn = await resolve(task.moduleUrl, task.name);
    } catch (error) {
      return { ok: false, error: serializeError(error), kind: "load" };
    }
    const ctx: TaskContext = { ...task.payload, signal: controller.signal };
    const value = await fn(ctx);
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error: serializeError(error), kind: "task" };
  } finally {
    controllers.delete(task.id);
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
  async runBatch(tasks) {
    const results = await Promise.all(tasks.map(runOne));
    const moved = cloneable(results, tasks);
    return moved.length > 0 ? comlinkTransfer(results, moved) : results;
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
