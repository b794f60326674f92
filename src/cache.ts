/**
 * The default task cache: entries in memory, bounded, expired ones dropped
 * when met. Durable caches (a file, Deno KV) are in `@nerv/flow/adapters`.
 *
 * @module
 */
import type { CacheEntry, Clock, TaskCache } from "./types.ts";

/** Options of {@linkcode createMemoryTaskCache}. */
export interface MemoryTaskCacheOptions {
  /**
   * Entries kept at most; the oldest stored is dropped first.
   * @default {10000}
   */
  maxEntries?: number;
  /**
   * Time source for dropping expired entries: give the engine's clock. Without
   * one, expired entries stay until replaced or pushed out (the engine never serves them).
   */
  clock?: Clock;
}

/** The in-memory task cache. */
export interface MemoryTaskCache extends TaskCache {
  /** Entries held now (expired ones included until met). */
  readonly size: number;
  /**
   * Looks an entry up; with a clock, an expired one is dropped and not returned.
   *
   * @param key The entry's key.
   * @returns The entry, or `undefined`.
   */
  get(key: string): CacheEntry | undefined;
  /**
   * Stores an entry.
   *
   * @param key The entry's key.
   * @param entry The entry.
   */
  set(key: string, entry: CacheEntry): void;
  /** Drops every entry. */
  clear(): void;
}

/**
 * Creates an in-memory task cache (the engine's default).
 *
 * @param options Size bound and clock.
 * @returns The cache.
 * @throws {RangeError} `maxEntries` is not a positive integer.
 *
 * @example A cached task runs once
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { createMemoryTaskCache } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 * let calls = 0;
 * const wf = defineWorkflow({ name: "memo", tasks: [
 *   { id: "slow", cache: { ttlMs: 60_000 }, run: ({ input }) => { calls++; return `${input}!`; } },
 * ] });
 * const engine = createEngine({ cache: createMemoryTaskCache() });
 * const first = await engine.run(wf, { input: "hi" });
 * const second = await engine.run(wf, { input: "hi" });
 * assert.equal(second.tasks.slow.result, "hi!");
 * assert.equal(second.tasks.slow.cached, true);
 * assert.equal(first.tasks.slow.cached, undefined);
 * assert.equal(calls, 1);
 * await engine.close();
 * ```
 */
export function createMemoryTaskCache(options: MemoryTaskCacheOptions = {}): MemoryTaskCache {
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError(`Cannot create memory task cache: maxEntries ${maxEntries} must be an integer >= 1`);
  }
  const clock = options.clock;
  const entries = new Map<string, CacheEntry>();
  return {
    get size() {
      return entries.size;
    },
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (clock !== undefined && entry.expiresAt <= clock.now()) {
        entries.delete(key);
        return undefined;
      }
      return entry;
    },
    set(key, entry) {
      entries.delete(key);
      entries.set(key, entry);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
    clear() {
      entries.clear();
    },
  };
}
