/**
 * A durable task cache on an append-only file: one JSON record per entry
 * (same line format and recovery as the file log store), loaded into memory
 * on open; the latest record of a key wins.
 *
 * @module
 */
import type { CacheEntry, Clock, TaskCache } from "../extend.ts";
import type { FlushPolicy, RecoveryReport } from "./file_store.ts";
import { cutDamagedTail, encodeRecord, notARecordFile, parseBody, scanFile } from "./_records.ts";
import { NotALogError } from "./errors.ts";

/** Options of {@linkcode openFileTaskCache}. */
export interface FileTaskCacheOptions {
  /**
   * When writes are synced (see `FlushPolicy`); `set()` settles after.
   * @default {"batch"}
   */
  flush?: FlushPolicy;
  /** Drops entries already expired at open and at compaction. Default: the system clock. */
  clock?: Clock;
  /** Told when a damaged tail was cut off at open. Default: a `console.warn`. */
  onRecover?: (report: RecoveryReport) => void;
}

/** The file task cache. */
export interface FileTaskCache extends TaskCache {
  /** Always `true`: values are stored as JSON. */
  readonly durable: true;
  /** Live entries in memory. */
  readonly size: number;
  /** The damage cut off at open, if any. */
  readonly recovery: RecoveryReport | undefined;
  /**
   * Looks an entry up (expired entries are not returned).
   *
   * @param key The key.
   * @returns The entry, or `undefined`.
   */
  get(key: string): CacheEntry | undefined;
  /**
   * Stores an entry and writes it by the flush policy.
   *
   * @param key The key.
   * @param entry The entry (its value must be JSON data).
   * @returns When it is written.
   */
  set(key: string, entry: CacheEntry): Promise<void>;
  /**
   * Rewrites the file with the live entries only.
   *
   * @returns When the new file replaced the old one.
   */
  compact(): Promise<void>;
  /**
   * Waits for queued writes and closes the file.
   *
   * @returns When it is closed.
   */
  close(): Promise<void>;
}

/**
 * Opens (or creates) a file task cache. A damaged tail is cut off and
 * reported; damage followed by valid records fails with `LogCorruptedError`.
 *
 * @param path The file.
 * @param options Flush policy, clock, recovery callback.
 * @returns The cache.
 * @throws {LogCorruptedError} A damaged record is followed by valid ones (as a rejection).
 * @throws {NotALogError} The file is not a task cache (no valid record; as a rejection): it is left as it was.
 *
 * @example A result cached across processes
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { openFileTaskCache } from "@nerv/flow/adapters";
 * import assert from "node:assert/strict";
 * const path = `${await Deno.makeTempDir()}/cache.jsonl`;
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "t", cache: { ttlMs: 60_000 }, run: () => Math.random() }] });
 * const first = await openFileTaskCache(path);
 * const e1 = createEngine({ cache: first });
 * const a = (await e1.run(wf)).tasks.t.result;
 * await e1.close();
 * await first.close();
 * const second = await openFileTaskCache(path);
 * const e2 = createEngine({ cache: second });
 * const b = await e2.run(wf);
 * assert.equal(b.tasks.t.result, a);
 * assert.equal(b.tasks.t.cached, true);
 * await e2.close();
 * await second.close();
 * ```
 */
export async function openFileTaskCache(path: string, options: FileTaskCacheOptions = {}): Promise<FileTaskCache> {
  const flush = options.flush ?? "batch";
  if (flush !== "event" && flush !== "batch" && flush !== "none") {
    throw new RangeError(
      `Cannot open file task cache: flush ${JSON.stringify(flush)} must be "event", "batch" or "none"`,
    );
  }
  const now = () => (options.clock ?? Date).now();
  const entries = new Map<string, CacheEntry>();
  let file = await Deno.open(path, { read: true, append: true, create: true });
  const bytes = await Deno.readFile(path);
  const scan = scanFile(bytes, (line) => {
    if (line.kind !== "entry") return;
    const entry = parseBody<CacheEntry>(bytes, line);
    entries.delete(line.key);
    entries.set(line.key, entry);
  });
  const foreign = notARecordFile(bytes, scan);
  if (foreign !== undefined) {
    file.close();
    throw new NotALogError(path, foreign, "task cache");
  }
  const recovery: RecoveryReport | undefined = await cutDamagedTail(file, path, bytes.length, scan);
  if (recovery !== undefined) {
    (options.onRecover ??
      ((r) =>
        console.warn(`nerv-flow: cache "${r.path}" had a damaged tail (${r.reason}); cut ${r.droppedBytes} bytes`)))(
        recovery,
      );
  }
  const t = now();
  for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key);

  let tail: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | undefined;
  let closed = false;
  const writeAll = async (data: Uint8Array) => {
    let done = 0;
    while (done < data.length) done += await file.write(data.subarray(done));
  };
  const run = (fn: () => Promise<void>): Promise<void> => {
    if (closed) return Promise.reject(new TypeError(`Cannot write to cache "${path}": it is closed`));
    if (failure !== undefined) return Promise.reject(failure.error);
    const next = tail.then(() => {
      if (failure !== undefined) throw failure.error;
      return fn();
    });
    tail = next.catch((error) => {
      failure ??= { error };
    });
    return next;
  };

  return {
    durable: true,
    get size() {
      return entries.size;
    },
    get recovery() {
      return recovery;
    },
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expiresAt <= now()) {
        entries.delete(key);
        return undefined;
      }
      return entry;
    },
    set(key, entry) {
      const line = encodeRecord("entry", 0, key, entry);
      entries.delete(key);
      entries.set(key, entry);
      return run(async () => {
        await writeAll(line);
        if (flush !== "none") await file.syncData();
      });
    },
    compact() {
      return run(async () => {
        const t = now();
        const parts: Uint8Array[] = [];
        for (const [key, entry] of entries) {
          if (entry.expiresAt <= t) entries.delete(key);
          else parts.push(encodeRecord("entry", 0, key, entry));
        }
        const tmp = `${path}.compacting`;
        const out = await Deno.open(tmp, { write: true, create: true, truncate: true });
        try {
          for (const part of parts) {
            let done = 0;
            while (done < part.length) done += await out.write(part.subarray(done));
          }
          await out.syncData();
        } finally {
          out.close();
        }
        file.close();
        await Deno.rename(tmp, path);
        file = await Deno.open(path, { read: true, append: true });
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await tail;
      file.close();
    },
  };
}
