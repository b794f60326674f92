/**
 * The task cache on a NATS KV bucket: entries as JSON under a hash of their
 * key, the bucket's TTL removing them on the server, the entry's own expiry
 * checked on every read.
 *
 * @module
 */
import type { CacheEntry, Clock, TaskCache } from "../../extend.ts";
import { type KV, Kvm } from "./deps.ts";
import { type OpenConnection, openConnection } from "./connect.ts";

/** Options of {@linkcode jetstreamTaskCache}. */
export interface JetStreamTaskCacheOptions {
  /** Server URLs to connect to (the cache closes that connection); or give `connection`. */
  servers?: string | readonly string[];
  /** An open connection to use (not closed by the cache). */
  connection?: OpenConnection;
  /**
   * The KV bucket; created when missing.
   * @default {"nerv_flow_cache"}
   */
  bucket?: string;
  /**
   * The bucket's TTL in milliseconds when the cache creates it: the server
   * drops an entry this long after it was written (give at least the longest
   * `ttlMs` of your cached tasks). `0`: never.
   * @default {86400000}
   */
  ttlMs?: number;
  /**
   * Replicas of the bucket when the cache creates it.
   * @default {1}
   */
  replicas?: number;
  /** Time source for expiry; give the engine's. Default: the system clock. */
  clock?: Clock;
}

/** The NATS KV task cache. */
export interface JetStreamTaskCache extends TaskCache {
  /** Always `true`: values are stored as JSON. */
  readonly durable: true;
  /** The bucket's name. */
  readonly bucket: string;
  /**
   * Looks an entry up (expired entries are not returned).
   *
   * @param key The key.
   * @returns The entry, or `undefined`.
   */
  get(key: string): Promise<CacheEntry | undefined>;
  /**
   * Stores an entry once the server acknowledged it.
   *
   * @param key The key.
   * @param entry The entry (its value must be JSON data).
   * @returns When it is stored.
   * @throws {RangeError} The entry's JSON does not fit in one message (as a rejection).
   */
  set(key: string, entry: CacheEntry): Promise<void>;
  /**
   * Closes the connection if the cache opened it.
   *
   * @returns When it is closed.
   */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Opens the task cache on a KV bucket, creating the bucket when missing.
 *
 * @param options The servers (or a connection), bucket and TTL.
 * @returns The cache.
 * @throws {TypeError} Neither `servers` nor `connection` is given, or the bucket name is not `[A-Za-z0-9_-]+` (as a rejection).
 * @throws {RangeError} `ttlMs` or `replicas` is out of range (as a rejection).
 *
 * @example
 * ```ts ignore
 * import { createEngine } from "@nerv/flow";
 * import { jetstreamTaskCache } from "@nerv/flow/nats";
 * const cache = await jetstreamTaskCache({ servers: "nats://127.0.0.1:4222", bucket: "cache", ttlMs: 3_600_000 });
 * const engine = createEngine({ cache });
 * await engine.close();
 * await cache.close();
 * ```
 */
export async function jetstreamTaskCache(options: JetStreamTaskCacheOptions): Promise<JetStreamTaskCache> {
  const bucket = options.bucket ?? "nerv_flow_cache";
  if (typeof bucket !== "string" || !/^[A-Za-z0-9_-]+$/.test(bucket)) {
    throw new TypeError(`Cannot open JetStream task cache: bucket ${JSON.stringify(bucket)} must match [A-Za-z0-9_-]+`);
  }
  const ttlMs = options.ttlMs ?? 86_400_000;
  if (!(Number.isInteger(ttlMs) && ttlMs >= 0)) {
    throw new RangeError(`Cannot open JetStream task cache: ttlMs ${ttlMs} must be an integer >= 0`);
  }
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new RangeError(`Cannot open JetStream task cache: replicas ${replicas} must be an integer in [1, 5]`);
  }
  const { nc, owned } = await openConnection("JetStream task cache", options, "nerv-flow cache");
  const kv: KV = await new Kvm(nc).create(bucket, { history: 1, ttl: ttlMs, replicas });
  const maxPayload = Math.max(4096, (nc.info?.max_payload ?? 1024 * 1024) - 4096);
  const now = () => (options.clock ?? Date).now();
  return {
    durable: true,
    bucket,
    async get(key) {
      const found = await kv.get(await keyOf(key));
      if (found === null || found.operation !== "PUT" || found.length === 0) return undefined;
      const stored = JSON.parse(decoder.decode(found.value)) as CacheEntry & { key: string };
      if (stored.key !== key || stored.expiresAt <= now()) return undefined;
      return { value: stored.value, createdAt: stored.createdAt, expiresAt: stored.expiresAt };
    },
    async set(key, entry) {
      const body = encoder.encode(
        JSON.stringify({ key, value: entry.value, createdAt: entry.createdAt, expiresAt: entry.expiresAt }),
      );
      if (body.length > maxPayload) {
        throw new RangeError(
          `Cannot cache an entry of ${body.length} bytes in KV bucket "${bucket}": at most ${maxPayload}`,
        );
      }
      await kv.put(await keyOf(key), body);
    },
    async close() {
      if (owned) await nc.close();
    },
  };
}

/** A KV key for any cache key: the hex SHA-256 of its UTF-8 bytes. */
async function keyOf(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(key)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
