/**
 * One task definition's own fields: checked (a `TypeError` or `RangeError`
 * naming the workflow, the task and the field) and resolved into its frozen
 * `TaskSpec`, defaults filled in. Whether its dependencies exist and form no
 * cycle is for the graph to check: `graph.ts` for a workflow's tasks,
 * `graph/growing.ts` for tasks added during a run.
 *
 * @module
 */
import { resolveBreaker } from "../breaker.ts";
import { describe } from "../describe.ts";
import type { CachePolicy, RetryPolicy, TaskDef, TaskSpec } from "../types.ts";
import { PRIORITY_RANK, PROFILE_INDEX } from "../tables.ts";

const NO_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});
const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_RETRY: Readonly<Required<RetryPolicy>> = Object.freeze({
  maxAttempts: 1,
  initialDelayMs: 100,
  factor: 2,
  maxDelayMs: 30_000,
  jitter: 0,
});

/**
 * Validates one task's own fields (not whether its dependencies exist).
 *
 * @param workflow The workflow's name, for messages.
 * @param def The task.
 * @throws {TypeError} A field has the wrong type.
 * @throws {RangeError} A number is out of range.
 */
export function validateTask(workflow: string, def: TaskDef<unknown>): void {
  resolveTask(workflow, def, 0);
}

/**
 * Checks one task's own fields and resolves it into its spec.
 *
 * @param workflow The workflow's name, for messages.
 * @param def The task.
 * @param position Its index, for messages while it has no id.
 * @returns The frozen spec, defaults filled in.
 * @throws {TypeError} A field has the wrong type.
 * @throws {RangeError} A number is out of range.
 */
export function resolveTask<I>(workflow: string, def: TaskDef<I>, position: number): TaskSpec<I> {
  if (def === null || typeof def !== "object") {
    throw new TypeError(
      `Cannot define workflow "${workflow}": task #${position} must be an object, got ${describe(def)}`,
    );
  }
  const id = def.id;
  if (typeof id !== "string" || id.length === 0) {
    throw new TypeError(
      `Cannot define workflow "${workflow}": task #${position} needs a non-empty string "id", got ${describe(id)}`,
    );
  }
  const where = `Cannot define workflow "${workflow}": task "${id}"`;
  if (typeof def.run !== "function") {
    throw new TypeError(`${where} needs a function "run", got ${describe(def.run)}`);
  }
  optionalString(where, "name", def.name);
  optionalString(where, "description", def.description);
  const dependsOn = stringArray(where, "dependsOn", def.dependsOn);
  const tags = stringArray(where, "tags", def.tags);
  const priority = def.priority ?? "medium";
  if (typeof priority !== "string" || !Object.hasOwn(PRIORITY_RANK, priority)) {
    throw new RangeError(`${where} has priority ${describe(priority)}, expected low, medium, high or critical`);
  }
  const profile = def.profile ?? "io";
  if (typeof profile !== "string" || !Object.hasOwn(PROFILE_INDEX, profile)) {
    throw new RangeError(`${where} has profile ${describe(profile)}, expected cpu, io, mixed or memory`);
  }
  if (def.timeoutMs !== undefined) positive(where, "timeoutMs", def.timeoutMs);
  if (def.cost !== undefined) positive(where, "cost", def.cost);
  if (def.metadata !== undefined && (def.metadata === null || typeof def.metadata !== "object")) {
    throw new TypeError(`${where} has "metadata" ${describe(def.metadata)}, expected an object`);
  }
  if (def.fallback !== undefined && typeof def.fallback !== "function") {
    throw new TypeError(`${where} has "fallback" ${describe(def.fallback)}, expected a function`);
  }
  if (def.concurrencyKey !== undefined && (typeof def.concurrencyKey !== "string" || def.concurrencyKey === "")) {
    throw new TypeError(`${where} has "concurrencyKey" ${describe(def.concurrencyKey)}, expected a non-empty string`);
  }
  let breaker: TaskSpec<I>["breaker"];
  if (typeof def.breaker === "string") {
    if (def.breaker === "") throw new TypeError(`${where} has breaker "", expected a non-empty key`);
    breaker = def.breaker;
  } else if (def.breaker !== undefined) breaker = resolveBreaker(where, def.breaker);
  return Object.freeze({
    id,
    name: def.name ?? id,
    description: def.description,
    dependsOn,
    run: def.run,
    priority,
    timeoutMs: def.timeoutMs,
    cost: def.cost ?? 1,
    retry: resolveRetry(where, def.retry),
    profile,
    tags,
    metadata: def.metadata === undefined ? NO_METADATA : Object.freeze({ ...def.metadata }),
    cache: resolveCache(where, def.cache),
    breaker,
    fallback: def.fallback,
    concurrencyKey: def.concurrencyKey,
  });
}

function resolveCache<I>(where: string, cache: CachePolicy<I> | undefined): Readonly<CachePolicy<I>> | undefined {
  if (cache === undefined) return undefined;
  if (cache === null || typeof cache !== "object") {
    throw new TypeError(`${where} has "cache" ${describe(cache)}, expected an object`);
  }
  positive(where, "cache.ttlMs", cache.ttlMs);
  if (cache.key !== undefined && typeof cache.key !== "function") {
    throw new TypeError(`${where} has cache.key ${describe(cache.key)}, expected a function`);
  }
  if (cache.version !== undefined && typeof cache.version !== "string") {
    throw new TypeError(`${where} has cache.version ${describe(cache.version)}, expected a string`);
  }
  return Object.freeze({ ttlMs: cache.ttlMs, key: cache.key, version: cache.version ?? "" });
}

function resolveRetry(where: string, retry: RetryPolicy | undefined): Readonly<Required<RetryPolicy>> {
  if (retry === undefined) return NO_RETRY;
  if (retry === null || typeof retry !== "object") {
    throw new TypeError(`${where} has "retry" ${describe(retry)}, expected an object`);
  }
  const r: Required<RetryPolicy> = { ...NO_RETRY };
  for (const key of Object.keys(NO_RETRY) as (keyof RetryPolicy)[]) {
    if (retry[key] !== undefined) r[key] = retry[key];
  }
  if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) {
    throw new RangeError(`${where} has retry.maxAttempts ${describe(r.maxAttempts)}, expected an integer >= 1`);
  }
  nonNegative(where, "retry.initialDelayMs", r.initialDelayMs);
  nonNegative(where, "retry.maxDelayMs", r.maxDelayMs);
  if (typeof r.factor !== "number" || !Number.isFinite(r.factor) || r.factor < 1) {
    throw new RangeError(`${where} has retry.factor ${describe(r.factor)}, expected a finite number >= 1`);
  }
  if (typeof r.jitter !== "number" || !(r.jitter >= 0 && r.jitter <= 1)) {
    throw new RangeError(`${where} has retry.jitter ${describe(r.jitter)}, expected a number in [0, 1]`);
  }
  return Object.freeze(r);
}

function optionalString(where: string, field: string, value: unknown): void {
  if (value !== undefined && typeof value !== "string") {
    throw new TypeError(`${where} has "${field}" ${describe(value)}, expected a string`);
  }
}

function stringArray(where: string, field: string, value: unknown): readonly string[] {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return NO_STRINGS;
  if (!Array.isArray(value)) {
    throw new TypeError(`${where} has "${field}" ${describe(value)}, expected an array of strings`);
  }
  for (const item of value) {
    if (typeof item !== "string") {
      throw new TypeError(`${where} has "${field}" containing ${describe(item)}, expected strings only`);
    }
  }
  return Object.freeze(value.slice());
}

function positive(where: string, field: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${where} has ${field} ${describe(value)}, expected a finite number > 0`);
  }
}

function nonNegative(where: string, field: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${where} has ${field} ${describe(value)}, expected a finite number >= 0`);
  }
}
