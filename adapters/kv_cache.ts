/**
 * A durable task cache on Deno KV: entries expire with KV's `expireIn`, and
 * are never served past their `expiresAt` whatever KV still holds. Run Deno
 * with `--unstable-kv`.
 *
 * @module
 */
import type { CacheEntry, Clock, TaskCache } from "../extend.ts";
import { openKv } from "./kv_store.ts";

/** Options of {@linkcode openKvTaskCache}. */
export interface KvTaskCacheOptions {
  /** An open KV database (not closed by the cache). Default: `Deno.openKv(path)`. */
  kv?: Deno.Kv;
  /** Where to open the database when no `kv` is given. Default: Deno's default database. */
  path?: string;
  /**
   * The first key part of every entry.
   * @default {"nerv-flow-cache"}
   */
  prefix?: string;
  /** Time source for `expireIn`; give the engine's. Default: the system clock. */
  clock?: Clock;
}

/** The Deno KV task cache. */
export interface KvTaskCache extends TaskCache {
  /** Always `true`: values are stored as JSON. */
  readonly durable: true;
  /**
   * Looks an entry up (expired entries are not returned).
   *
   * @param key The key.
   * @returns The entry, or `undefined`.
   */
  get(key: string): Promise<CacheEntry | undefined>;
  /**
   * Stores an entry in one atomic commit.
   *
   * @param key The key.
   * @param entry The entry (its value must be JSON data).
   * @returns When it is committed.
   * @throws {RangeError} The value's JSON is longer than 600,000 characters (as a rejection).
   */
  set(key: string, entry: CacheEntry): Promise<void>;
  /**
   * Closes the database if the cache opened it.
   *
   * @returns When it is closed.
   */
  close(): Promise<void>;
}

const CHUNK = 30_000;
/** One atomic commit holds at most 800 KB. */
const MAX_TEXT = 600_000;

/**
 * Opens a Deno KV task cache. Keys longer than KV allows are hashed; a value
 * is at most 600,000 characters of JSON (one atomic commit).
 *
 * @param options The database (or its path), prefix, clock.
 * @returns The cache.
 * @throws {TypeError} Deno KV is not available (no `--unstable-kv`) (as a rejection).
 *
 * @example
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { openKvTaskCache } from "@nerv/flow/adapters";
 * import assert from "node:assert/strict";
 * const cache = await openKvTaskCache({ path: ":memory:" });
 * const engine = createEngine({ cache });
 * let calls = 0;
 * const wf = defineWorkflow({ name: "w", tasks: [{ id: "t", cache: { ttlMs: 60_000 }, run: () => ++calls }] });
 * await engine.run(wf);
 * assert.equal((await engine.run(wf)).tasks.t.cached, true);
 * assert.equal(calls, 1);
 * await engine.close();
 * await cache.close();
 * ```
 */
export async function openKvTaskCache(options: KvTaskCacheOptions = {}): Promise<KvTaskCache> {
  const kv = options.kv ?? await openKv(options.path);
  const owned = options.kv === undefined;
  const p = options.prefix ?? "nerv-flow-cache";
  const now = () => (options.clock ?? Date).now();
  const keyOf = (key: string) => key.length <= 1500 ? key : `#${key.length}:${hash(key)}`;
  return {
    durable: true,
    async get(key) {
      const k = keyOf(key);
      const meta = await kv.get<{ parts: number; createdAt: number; expiresAt: number; key: string }>([p, "m", k]);
      const m = meta.value;
      if (m === null || m.key !== key || m.expiresAt <= now()) return undefined;
      const parts: string[] = [];
      for await (const e of kv.list<string>({ prefix: [p, "v", k] })) parts.push(e.value);
      if (parts.length !== m.parts) return undefined;
      return { value: JSON.parse(parts.join("")), createdAt: m.createdAt, expiresAt: m.expiresAt };
    },
    async set(key, entry) {
      const k = keyOf(key);
      const text = JSON.stringify(entry.value) ?? "null";
      if (text.length > MAX_TEXT) {
        throw new RangeError(`Cannot cache a value of ${text.length} characters in Deno KV: at most ${MAX_TEXT}`);
      }
      const expireIn = Math.max(1, Math.ceil(entry.expiresAt - now()));
      const op = kv.atomic();
      let parts = 0;
      for (let at = 0; at < text.length || parts === 0; at += CHUNK) {
        op.set([p, "v", k, parts++], text.slice(at, at + CHUNK), { expireIn });
      }
      op.set([p, "m", k], { parts, createdAt: entry.createdAt, expiresAt: entry.expiresAt, key }, { expireIn });
      const result = await op.commit();
      if (!result.ok) throw new Error("Deno KV refused a commit");
    },
    close() {
      if (owned) kv.close();
      return Promise.resolve();
    },
  };
}

/** FNV-1a 64-bit of a string, as hex (only to shorten overlong keys; the full key is checked on read). */
function hash(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16);
}
