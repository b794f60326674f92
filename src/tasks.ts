/**
 * Task modules: functions do not cross a worker boundary, so a task that runs
 * in a worker is a named function of a module both sides can load.
 * {@linkcode defineTasks} returns references that keep the module URL, the
 * name and the function itself (the inline fallback calls it directly).
 *
 * @module
 */
import type { TaskContext, TaskFn, TaskPayload, TaskSpec, UntypedDeps } from "./types.ts";

/** The brand a task reference carries; a global symbol, so copies of this module agree. */
export const TASK_REF: unique symbol = Symbol.for("nerv-flow.taskRef") as never;

/** Where a task body lives: its module and its name there. */
export interface TaskLocation {
  /**
   * The module: its URL (`import.meta.url` of the module that defined it), a
   * module name given to {@linkcode defineTasks} (looked up in the worker's
   * registry, for bundles), or `""` when none was given (the references run
   * inline only).
   */
  readonly moduleUrl: string;
  /** The task's name in that module's `defineTasks` call (or its export name). */
  readonly name: string;
}

/**
 * A task an executor runs elsewhere (a worker of a pool, a worker process
 * behind a broker), from the call until it settles. Each executor adds its
 * own bookkeeping (which worker or batch holds it).
 */
export interface RemoteTask {
  task: TaskSpec;
  /** Where its body lives. */
  loc: TaskLocation;
  payload: TaskPayload;
  signal: AbortSignal;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** Settled (resolved, rejected or aborted): later answers are ignored. */
  done: boolean;
}

/**
 * A task body that a worker can load: callable inline, locatable by a worker.
 *
 * @typeParam I The run input it reads.
 * @typeParam R What it returns.
 * @typeParam D The dependency results it reads, by id: a typed workflow (`flow()`) accepts the reference only for a
 *   task whose declared dependencies give them.
 */
export type TaskRef<I = unknown, R = unknown, D = UntypedDeps> = TaskFn<I, R, D> & {
  readonly [TASK_REF]: TaskLocation;
};

/**
 * The references {@linkcode defineTasks} returns for bodies `T`: each keeps the input, dependency and result types
 * its body declares on its context parameter.
 */
export type TaskRefs<T> = {
  readonly [K in keyof T]: T[K] extends (ctx: infer C) => infer R ? TaskRef<
      C extends { readonly input: infer I } ? I : unknown,
      Awaited<R>,
      C extends { readonly deps: infer D } ? D : UntypedDeps
    >
    : never;
};

// Task references by module and name, in this realm: a worker whose entry imported a task
// module (a bundled worker) finds the bodies here without importing anything by URL.
// Shared through a global symbol, as the transfer marks below.
const REGISTRY = Symbol.for("nerv-flow.taskRegistry");

function registry(): Map<string, Map<string, TaskRef>> {
  return ((globalThis as Record<symbol, unknown>)[REGISTRY] ??= new Map()) as Map<string, Map<string, TaskRef>>;
}

/**
 * Defines the task bodies of a module so that workers can run them.
 *
 * `module` says where a worker finds them:
 * - the module's `import.meta.url`: a worker imports that URL (Deno, or any
 *   unbundled ES modules);
 * - a module name such as `"image-tasks"`: a worker finds the bodies in its
 *   own registry, filled when its entry imports the same module (a bundled
 *   worker, see the README's "Edge runtimes and browsers"); the name must be unique;
 * - `undefined` (`import.meta.url` where a runtime has none, as in a script
 *   bundle or workerd): the references still run inline, and a worker pool
 *   refuses them with a {@linkcode TaskModuleError} saying what to pass.
 *
 * @param module The defining module's `import.meta.url`, a module name, or `undefined`.
 * @param fns The bodies by name; each is called with the task context.
 * @returns One reference per body, usable as a task's `run`.
 * @throws {TypeError} `module` is not a string or `undefined`, or a body is not a function.
 *
 * @example A module of CPU tasks
 * ```ts
 * import { defineTasks } from "@nerv/flow";
 * export const tasks = defineTasks(import.meta.url, {
 *   square: ({ input }) => (input as number) ** 2,
 * });
 * // { id: "sq", run: tasks.square, profile: "cpu" }
 * ```
 *
 * @example A named module, for bundles (the worker bundle imports it too)
 * ```ts
 * import { defineTasks } from "@nerv/flow";
 * import { taskLocation } from "@nerv/flow/extend";
 * export const tasks = defineTasks("math-tasks", {
 *   square: ({ input }) => (input as number) ** 2,
 * });
 * console.log(taskLocation(tasks.square)); // { moduleUrl: "math-tasks", name: "square" }
 * ```
 */
export function defineTasks<T extends Record<string, (ctx: TaskContext<never, never>) => unknown>>(
  module: string | undefined,
  fns: T,
): TaskRefs<T> {
  if (module !== undefined && (typeof module !== "string" || module.length === 0 || module.includes("\n"))) {
    throw new TypeError(
      `Cannot define tasks: expected import.meta.url, a module name or undefined, got ${
        typeof module === "string" ? JSON.stringify(module) : String(module)
      }`,
    );
  }
  const moduleUrl = module ?? "";
  if (fns === null || typeof fns !== "object") {
    throw new TypeError(`Cannot define tasks of ${moduleUrl || "a module"}: expected an object of functions`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(fns)) {
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot define task "${name}" of ${moduleUrl || "a module"}: expected a function`);
    }
    const ref = ((ctx: TaskContext) => fn(ctx as TaskContext<never, never>)) as TaskRef;
    Object.defineProperty(ref, TASK_REF, { value: Object.freeze({ moduleUrl, name }) });
    Object.defineProperty(ref, "name", { value: name });
    out[name] = ref;
  }
  if (moduleUrl !== "") {
    const reg = registry();
    let mod = reg.get(moduleUrl);
    if (mod === undefined) reg.set(moduleUrl, mod = new Map());
    for (const name in out) mod.set(name, out[name] as TaskRef);
  }
  return Object.freeze(out) as never;
}

/**
 * The reference registered by a {@linkcode defineTasks} call of this realm.
 *
 * @param moduleUrl The module's URL or name.
 * @param name The task's name.
 * @returns The reference, if that module was defined here.
 */
export function registeredTask(moduleUrl: string, name: string): TaskRef | undefined {
  return registry().get(moduleUrl)?.get(name);
}

/**
 * Whether a registry of this realm holds a module of that URL or name.
 *
 * @param moduleUrl The module's URL or name.
 * @returns `true` when a `defineTasks` call of this realm used it.
 */
export function isRegisteredModule(moduleUrl: string): boolean {
  return registry().has(moduleUrl);
}

/**
 * The location of a task reference, or `undefined` for a plain function.
 *
 * @param fn A task body.
 * @returns Its module URL and name, if it is a reference.
 */
export function taskLocation(fn: unknown): TaskLocation | undefined {
  return typeof fn === "function" ? (fn as Partial<TaskRef>)[TASK_REF] : undefined;
}

// Shared through a global symbol, so a task module that imports this package
// by another URL (JSR in the worker, a local path in tests) still marks values
// the worker entry sees.
const TRANSFERS = Symbol.for("nerv-flow.transfers");
const transfers: WeakMap<object, Transferable[]> =
  ((globalThis as Record<symbol, unknown>)[TRANSFERS] ??= new WeakMap()) as WeakMap<object, Transferable[]>;

/**
 * Marks a value so that the listed buffers move across a worker boundary
 * instead of being copied. The sender loses access to them.
 *
 * @param value The value (an object holding the buffers, or a buffer).
 * @param buffers The ArrayBuffers (or other transferables) to move.
 * @returns `value` itself.
 * @throws {TypeError} `value` is not an object.
 *
 * @example Returning a large buffer from a worker task without a copy
 * ```ts
 * import { defineTasks, transfer } from "@nerv/flow";
 * export const tasks = defineTasks(import.meta.url, {
 *   render: () => {
 *     const pixels = new Uint8Array(1 << 20);
 *     return transfer(pixels, [pixels.buffer]);
 *   },
 * });
 * ```
 */
export function transfer<T>(value: T, buffers: Transferable[]): T {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    throw new TypeError(`Cannot transfer a ${value === null ? "null" : typeof value}: expected an object`);
  }
  transfers.set(value as object, buffers);
  return value;
}

/**
 * The buffers marked with {@linkcode transfer} for a value.
 *
 * @param value Any value.
 * @returns Its transferables (empty when none were marked).
 */
export function transferablesOf(value: unknown): Transferable[] {
  return value !== null && typeof value === "object" ? transfers.get(value) ?? [] : [];
}
