/**
 * Deno adapters of nerv-flow: the durable log stores and task caches. This
 * is the only part of the package that touches `Deno.*`; the core (`mod.ts`)
 * runs without it.
 *
 * - {@linkcode openFileLogStore}: an append-only file, one JSON record per
 *   line with a CRC-32, synced by a flush policy before events are
 *   acknowledged; torn tails recovered, damage in the middle refused; run
 *   checkpoints; compaction.
 * - {@linkcode openKvLogStore}: Deno KV (run Deno with `--unstable-kv`).
 * - One writer per log: a file store holds an OS lock, a KV store a lease; a
 *   second writer is refused with {@linkcode LogLockedError} naming the
 *   holder; a file that is not a log is refused with {@linkcode NotALogError}.
 * - {@linkcode openFileTaskCache}, {@linkcode openKvTaskCache}: durable task caches.
 *
 * @example Crash-safe runs on a file
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { openFileLogStore } from "@nerv/flow/adapters";
 *
 * const store = await openFileLogStore(`${await Deno.makeTempDir()}/runs.log`, { flush: "batch" });
 * const engine = createEngine({ logStore: store });
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => "done" }] });
 * const result = await engine.run(wf);
 * console.log(result.tasks.a.result); // done
 * await engine.close();
 * await store.close();
 * ```
 *
 * @module
 */
export {
  type CompactionReport,
  type FileLogStore,
  type FileLogStoreOptions,
  type FlushPolicy,
  openFileLogStore,
  type RecoveryReport,
} from "./file_store.ts";
export { type KvLogStore, type KvLogStoreOptions, openKv, openKvLogStore } from "./kv_store.ts";
export { type FileTaskCache, type FileTaskCacheOptions, openFileTaskCache } from "./file_cache.ts";
export { type KvTaskCache, type KvTaskCacheOptions, openKvTaskCache } from "./kv_cache.ts";
export { type LogHolder, LogLockedError, NotALogError } from "./errors.ts";
