/**
 * The Deno KV log store: events and run checkpoints as KV entries, committed
 * atomically before the engine acknowledges them. Deno KV is unstable in
 * Deno 2: run with `--unstable-kv` (or `"unstable": ["kv"]` in `deno.json`).
 *
 * @module
 */
import { type AnyFlowEvent, foldRun, type LogStore, type RunCheckpoint, type StoredRun } from "../extend.ts";
import type { CompactionReport } from "./file_store.ts";
import { type LogHolder, LogLockedError } from "./errors.ts";
import { newHolder } from "./_lock.ts";

/** Options of {@linkcode openKvLogStore}. */
export interface KvLogStoreOptions {
  /** An open KV database to use (not closed by the store). Default: `Deno.openKv(path)`. */
  kv?: Deno.Kv;
  /** Where to open the database when no `kv` is given (`":memory:"` for tests). Default: Deno's default database. */
  path?: string;
  /**
   * The first key part of every entry, so several stores share a database.
   * @default {"nerv-flow"}
   */
  prefix?: string;
  /**
   * `event`: one atomic commit per event; `batch`: the events handed over
   * together, and any that queue meanwhile, in as few commits as KV's limits
   * allow (1,000 mutations, 800 KB).
   * @default {"batch"}
   */
  flush?: "event" | "batch";
  /**
   * The log writes a checkpoint of a run every this many of its events (at least as many as it has tasks); `Infinity`: none.
   * @default {10000}
   */
  runCheckpointEvery?: number;
  /**
   * How long the store's writer lease lasts, in milliseconds. The store
   * renews it every third of this while open; a holder that stops renewing
   * (killed, frozen) loses it once it has expired, and the next opener takes
   * it over. Hosts sharing a remote database need clocks closer than this.
   * @default {10000}
   */
  leaseMs?: number;
}

/** The Deno KV log store. */
export interface KvLogStore extends LogStore {
  /** Always `true`: events are acknowledged once committed. */
  readonly durable: true;
  /** The highest seq stored. */
  readonly lastSeq: number;
  /** How often runs are checkpointed, in events. */
  readonly runCheckpointEvery: number;
  /** The flush policy. */
  readonly flush: "event" | "batch";
  /** This store's lease (pid, host, since, token, expiry at open): what a refused second opener is told. */
  readonly holder: LogHolder;
  /**
   * Commits events, in order.
   *
   * @param events The events.
   * @returns When they are committed.
   * @throws {LogLockedError} The lease was lost to another writer (as a rejection); the store refuses further writes.
   * @throws {Error} A commit failed (as a rejection); the store refuses further writes.
   */
  append(events: readonly AnyFlowEvent[]): Promise<void>;
  /**
   * Every event stored for a run, in order.
   *
   * @param runId The run.
   * @returns Its events.
   */
  read(runId: string): Promise<AnyFlowEvent[]>;
  /**
   * A run's latest checkpoint and the events after it.
   *
   * @param runId The run.
   * @returns What resume needs.
   */
  readRun(runId: string): Promise<StoredRun>;
  /**
   * The runs stored, oldest first.
   *
   * @returns Their ids.
   */
  runs(): Promise<string[]>;
  /**
   * Commits a run checkpoint after every queued event.
   *
   * @param checkpoint The run's state at a seq.
   * @returns When it is committed.
   */
  writeCheckpoint(checkpoint: RunCheckpoint): Promise<void>;
  /**
   * Replaces every ended run's entries by its final checkpoint (checkpoint
   * first, then deletes, so no state is lost if it stops half way; run it again to finish).
   *
   * @returns What was dropped (`bytes*` count stored JSON text).
   */
  compact(): Promise<CompactionReport>;
  /**
   * Waits for queued commits, gives the lease up; closes the database if the store opened it.
   *
   * @returns When it is done.
   */
  close(): Promise<void>;
}

/** Characters of JSON text per KV value (KV values are at most 64 KiB). */
const CHUNK = 30_000;
const MAX_MUTATIONS = 900;
const MAX_BYTES = 600_000;

type Mutation = { key: Deno.KvKey; value?: unknown };

/**
 * Opens a Deno KV log store.
 *
 * One store writes a prefix at a time: opening takes a lease on the key
 * `[prefix, "m", "lease"]` by compare-and-set (an atomic check on its
 * versionstamp), and a second opener (in this process or another) is refused
 * with a `LogLockedError` naming the holder while the lease lasts. The store
 * renews the lease while open and every commit checks it, so a holder that
 * lost its lease (it stalled past `leaseMs` and another store took over)
 * can write nothing more. A holder killed with SIGKILL leaves its lease to
 * expire: after `leaseMs` the next opener takes over.
 *
 * @param options The database (or its path), key prefix, flush policy, checkpoints, lease.
 * @returns The store.
 * @throws {LogLockedError} Another store holds the prefix's lease (as a rejection).
 * @throws {TypeError} Deno KV is not available (Deno runs without `--unstable-kv`) (as a rejection).
 * @throws {RangeError} An option is out of range.
 *
 * @example
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { openKvLogStore } from "@nerv/flow/adapters";
 * import assert from "node:assert/strict";
 * const store = await openKvLogStore({ path: ":memory:" });
 * const engine = createEngine({ logStore: store });
 * const { runId } = await engine.run(defineWorkflow({ name: "kv", tasks: [{ id: "a", run: () => 42 }] }));
 * await engine.close();
 * assert.equal((await store.read(runId)).at(-1)?.type, "workflow.completed");
 * await store.close();
 * ```
 */
export async function openKvLogStore(options: KvLogStoreOptions = {}): Promise<KvLogStore> {
  const flush = options.flush ?? "batch";
  if (flush !== "event" && flush !== "batch") {
    throw new RangeError(`Cannot open KV log store: flush ${JSON.stringify(flush)} must be "event" or "batch"`);
  }
  const runCheckpointEvery = options.runCheckpointEvery ?? 10_000;
  if (!(runCheckpointEvery === Infinity || (Number.isInteger(runCheckpointEvery) && runCheckpointEvery >= 1))) {
    throw new RangeError(
      `Cannot open KV log store: runCheckpointEvery ${runCheckpointEvery} must be an integer >= 1 or Infinity`,
    );
  }
  const leaseMs = options.leaseMs ?? 10_000;
  if (!(Number.isInteger(leaseMs) && leaseMs >= 30)) {
    throw new RangeError(`Cannot open KV log store: leaseMs ${leaseMs} must be an integer >= 30`);
  }
  const p = options.prefix ?? "nerv-flow";
  const kv = options.kv ?? await whileBusy(() => openKv(options.path));
  const owned = options.kv === undefined;

  // ---- the writer lease: taken by compare-and-set, renewed, checked by every commit
  const leaseKey: Deno.KvKey = [p, "m", "lease"];
  const holder = newHolder();
  let stamp = "";
  const lease = () => ({ ...holder, expiresAt: new Date(Date.now() + leaseMs).toISOString() });
  const live = (h: LogHolder | null): h is LogHolder =>
    h !== null && h.token !== holder.token && Date.parse(h.expiresAt ?? "") > Date.now();
  try {
    for (let attempt = 0;; attempt++) {
      const current = await whileBusy(() => kv.get<LogHolder>(leaseKey));
      if (live(current.value)) throw new LogLockedError(p, current.value, `Cannot open KV log store "${p}"`);
      const mine = lease();
      const done = await whileBusy(() => kv.atomic().check(current).set(leaseKey, mine).commit());
      if (done.ok) {
        stamp = done.versionstamp;
        Object.assign(holder, { expiresAt: mine.expiresAt });
        break;
      }
      // Another opener won the race: read its lease again (it is live, so the next round refuses).
      if (attempt >= 10) throw new LogLockedError(p, undefined, `Cannot open KV log store "${p}"`);
    }
  } catch (error) {
    if (owned) kv.close();
    throw error;
  }
  let lastSeq = ((await kv.get<number>([p, "m", "seq"])).value) ?? 0;

  let tail: Promise<void> = Promise.resolve();
  const queued: { mutations: Mutation[]; seq: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let failure: { error: unknown } | undefined;
  let closed = false;

  /** Runs `fn` after every queued commit and lease renewal, before any queued later. */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const job = tail.then(fn);
    tail = job.then(() => {}, () => {});
    return job;
  };
  /** The error of a commit that failed: the lease's check (another writer took it over), or KV's refusal. */
  const refused = async (): Promise<Error> => {
    const current = await kv.get<LogHolder>(leaseKey);
    if (current.versionstamp !== stamp) {
      return new LogLockedError(
        p,
        current.value ?? undefined,
        `Cannot write to KV log store "${p}": its lease expired and was taken over`,
      );
    }
    return new Error("Deno KV refused a commit");
  };
  const check = async (done: Promise<Deno.KvCommitResult | Deno.KvCommitError>): Promise<void> => {
    const result = await done;
    if (!result.ok) throw await refused();
  };
  const renew = async () => {
    if (failure !== undefined || closed) return;
    try {
      const op = kv.atomic().check({ key: leaseKey, versionstamp: stamp }).set(leaseKey, lease());
      const done = await whileBusy(() => op.commit());
      if (done.ok) stamp = done.versionstamp;
      else failure = { error: await refused() };
    } catch {
      // A passing error (the database busy, a remote one unreachable): the next renewal tries again, and
      // every commit checks the lease anyway.
    }
  };
  const renewer = setInterval(() => void serial(renew), Math.max(10, Math.floor(leaseMs / 3)));
  Deno.unrefTimer(renewer);

  const commit = async (mutations: Mutation[], seq: number) => {
    // Split by KV's limits; lastSeq goes with the last commit. Each commit checks the lease.
    const atomic = () => kv.atomic().check({ key: leaseKey, versionstamp: stamp });
    let op = atomic();
    let count = 0;
    let bytes = 0;
    for (const m of mutations) {
      const size = typeof m.value === "string" ? m.value.length * 2 : 64;
      if (count > 0 && (count + 3 > MAX_MUTATIONS || bytes + size > MAX_BYTES)) {
        await check(whileBusy(() => op.commit()));
        op = atomic();
        count = 0;
        bytes = 0;
      }
      if (m.value === undefined) op.delete(m.key);
      else op.set(m.key, m.value);
      count++;
      bytes += size;
    }
    if (seq > 0) op.set([p, "m", "seq"], seq);
    await check(whileBusy(() => op.commit()));
  };
  const drain = async () => {
    while (queued.length > 0) {
      const jobs = flush === "event" ? [queued.shift()!] : queued.splice(0);
      if (failure !== undefined) {
        for (const j of jobs) j.reject(failure.error);
        continue;
      }
      try {
        await commit(jobs.flatMap((j) => j.mutations), Math.max(...jobs.map((j) => j.seq)));
        for (const j of jobs) j.resolve();
      } catch (error) {
        failure = { error };
        for (const j of jobs) j.reject(error);
      }
    }
  };
  const enqueue = (mutations: Mutation[], seq: number): Promise<void> => {
    if (closed) return Promise.reject(new TypeError("Cannot write to the KV log store: it is closed"));
    if (failure !== undefined) return Promise.reject(failure.error);
    return new Promise<void>((resolve, reject) => {
      const idle = queued.length === 0;
      queued.push({ mutations, seq, resolve, reject });
      if (idle) tail = tail.then(drain);
    });
  };
  const chunked = (base: Deno.KvKey, value: unknown, out: Mutation[]) => {
    const text = JSON.stringify(value);
    for (let part = 0, at = 0; at < text.length || part === 0; part++, at += CHUNK) {
      out.push({ key: [...base, part], value: text.slice(at, at + CHUNK) });
    }
  };
  /** Joins the parts of the values listed, grouped by the key part before the part number. */
  const collect = async <T>(
    iter: Deno.KvListIterator<string>,
  ): Promise<{ seq: number; value: T; keys: Deno.KvKey[] }[]> => {
    const out: { seq: number; value: T; keys: Deno.KvKey[] }[] = [];
    let seq = -1;
    let parts: string[] = [];
    let keys: Deno.KvKey[] = [];
    const close = () => {
      if (seq >= 0) out.push({ seq, value: JSON.parse(parts.join("")) as T, keys });
    };
    for await (const entry of iter) {
      const s = entry.key[entry.key.length - 2] as number;
      if (s !== seq) {
        close();
        seq = s;
        parts = [];
        keys = [];
      }
      parts.push(entry.value);
      keys.push(entry.key);
    }
    close();
    return out;
  };
  const latestCheckpoint = async (runId: string) => {
    let seq: number | undefined;
    for await (const entry of kv.list<string>({ prefix: [p, "c", runId] }, { reverse: true, limit: 1 })) {
      seq = entry.key[entry.key.length - 2] as number;
    }
    if (seq === undefined) return undefined;
    const found = await collect<RunCheckpoint>(kv.list<string>({ prefix: [p, "c", runId, seq] }));
    return found[0]?.value;
  };
  const events = async (runId: string, after: number) =>
    (await collect<AnyFlowEvent>(
      kv.list<string>({ start: [p, "e", runId, after + 1], end: [p, "e", runId, Number.MAX_SAFE_INTEGER] }),
    )).map((e) => e.value);
  const runIds = async (): Promise<string[]> => {
    const out: string[] = [];
    for await (const entry of kv.list<true>({ prefix: [p, "r"] })) out.push(entry.key[3] as string);
    return out;
  };

  return {
    durable: true,
    get lastSeq() {
      return lastSeq;
    },
    runCheckpointEvery,
    flush,
    holder,
    append(batch) {
      const perEvent: Mutation[][] = batch.map((e) => {
        const own: Mutation[] = [];
        if (e.type === "workflow.created") own.push({ key: [p, "r", e.seq, e.runId], value: true });
        chunked([p, "e", e.runId, e.seq], e, own);
        if (e.seq > lastSeq) lastSeq = e.seq;
        return own;
      });
      if (flush === "batch") return enqueue(perEvent.flat(), batch.length > 0 ? batch[batch.length - 1].seq : 0);
      // One commit per event.
      return Promise.all(perEvent.map((own, i) => enqueue(own, batch[i].seq))).then(() => {});
    },
    async read(runId) {
      await tail;
      return events(runId, 0);
    },
    async readRun(runId) {
      await tail;
      const checkpoint = await latestCheckpoint(runId);
      const after = await events(runId, checkpoint?.seq ?? 0);
      return checkpoint === undefined ? { events: after } : { checkpoint, events: after };
    },
    async runs() {
      await tail;
      return runIds();
    },
    writeCheckpoint(checkpoint) {
      const mutations: Mutation[] = [];
      chunked([p, "c", checkpoint.runId, checkpoint.seq], checkpoint, mutations);
      return enqueue(mutations, 0);
    },
    compact() {
      if (closed) return Promise.reject(new TypeError("Cannot compact the KV log store: it is closed"));
      return serial(compactNow);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(renewer);
      await tail;
      // Give the lease up (unless it was lost): the next opener need not wait for it to expire.
      await kv.atomic().check({ key: leaseKey, versionstamp: stamp }).delete(leaseKey).commit().catch(() => {});
      if (owned) kv.close();
    },
  };

  async function compactNow(): Promise<CompactionReport> {
    if (failure !== undefined) throw failure.error;
    let runsCompacted = 0;
    let recordsDropped = 0;
    let bytesBefore = 0;
    let bytesAfter = 0;
    for (const runId of await runIds()) {
      const entries: { key: Deno.KvKey; size: number }[] = [];
      for await (const e of kv.list<string>({ prefix: [p, "e", runId] })) {
        entries.push({ key: e.key, size: e.value.length });
      }
      for await (const e of kv.list<string>({ prefix: [p, "c", runId] })) {
        entries.push({ key: e.key, size: e.value.length });
      }
      const size = entries.reduce((n, e) => n + e.size, 0);
      bytesBefore += size;
      const checkpoint = await latestCheckpoint(runId);
      const all = await events(runId, checkpoint?.seq ?? 0);
      const state = foldRun({ checkpoint, events: all });
      const ended = state !== undefined &&
        (state.status === "completed" || state.status === "failed" || state.status === "cancelled");
      const onlyFinal = ended && entries.every((e) => e.key[1] === "c") &&
        new Set(entries.map((e) => e.key[3])).size === 1;
      if (!ended || onlyFinal) {
        bytesAfter += size;
        continue;
      }
      const seq = Math.max(all.at(-1)?.seq ?? 0, checkpoint?.seq ?? 0);
      const final: RunCheckpoint = { runId, seq, state: state! };
      // The final checkpoint first, then the rest goes: stopping half way loses nothing.
      const writes: Mutation[] = [];
      chunked([p, "c", runId, seq], final, writes);
      await commit(writes, 0);
      const kept = new Set(writes.map((w) => JSON.stringify(w.key)));
      const deletes = entries.filter((e) => !kept.has(JSON.stringify(e.key))).map((e) => ({ key: e.key }));
      await commit(deletes, 0);
      runsCompacted++;
      recordsDropped += new Set(entries.map((e) => `${String(e.key[1])}:${String(e.key[3])}`)).size - 1;
      bytesAfter += writes.reduce((n, m) => n + (m.value as string).length, 0);
    }
    return { runsCompacted, recordsDropped, bytesBefore, bytesAfter };
  }
}

/**
 * Runs `fn` again while the local database reports that another process has
 * it locked for a moment (SQLite's "database is locked", e.g. while two
 * processes open a new database at once), for up to about two seconds.
 */
async function whileBusy<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof Error && /database is locked/i.test(error.message)) || attempt >= 40) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40));
    }
  }
}

/**
 * Opens a Deno KV database, with a clear error where KV is not enabled.
 *
 * @param path Where; Deno's default database when omitted.
 * @returns The database.
 * @throws {TypeError} `Deno.openKv` is missing (no `--unstable-kv`) (as a rejection).
 *
 * @example Sharing one database between the log store and the cache
 * ```ts
 * import { openKv, openKvLogStore, openKvTaskCache } from "@nerv/flow/adapters";
 * const kv = await openKv(":memory:");
 * const store = await openKvLogStore({ kv });
 * const cache = await openKvTaskCache({ kv });
 * await store.close();
 * await cache.close();
 * kv.close();
 * ```
 */
export async function openKv(path?: string): Promise<Deno.Kv> {
  if (typeof (Deno as { openKv?: unknown }).openKv !== "function") {
    throw new TypeError(
      'Cannot open Deno KV: Deno.openKv is not available; run Deno with --unstable-kv (or add "unstable": ["kv"] to deno.json)',
    );
  }
  return await Deno.openKv(path);
}
