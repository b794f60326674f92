/**
 * Runs that outlive their coordinator. A coordinator runs workflows with their
 * log on a JetStream stream ({@linkcode jetstreamLogStore}) and owns each live
 * run through a lease: a KV entry per run, renewed by compare-and-set on its
 * revision every `leaseMs / 3`. Every coordinator watches the leases; when an
 * owner stops renewing for `leaseMs` (it died, hangs, or lost the broker),
 * another takes the lease over (compare-and-set on the revision it saw, so
 * only one wins) and finishes the run through `engine.resume()`: completed
 * tasks keep their results, attempts carry on.
 *
 * Two owners never interleave one run's log: every append names the last
 * sequence its store read, so a former owner that wakes up after a takeover
 * gets a {@linkcode LogConflictError} and stops touching the run; it also
 * stops when a renewal finds the lease taken.
 *
 * Each run gets its own engine (from `engine` options), so that losing one
 * run stops only that run.
 *
 * @module
 */
import {
  createEngine,
  type Engine,
  type EngineOptions,
  NotFoundError,
  type RunResult,
  type Workflow,
} from "../../mod.ts";
import { createSnapshotLog, foldRun, TOKENS } from "../../extend.ts";
import { type KV, type KvEntry, Kvm } from "./deps.ts";
import { type JetStreamLogStore, jetstreamLogStore, runToken } from "./log_store.ts";
import { type OpenConnection, openConnection } from "./connect.ts";
import { LogConflictError, RunReleasedError } from "./errors.ts";

/** Options of {@linkcode createCoordinator}. */
export interface CoordinatorOptions {
  /** Server URLs to connect to (closed by `close()`); or give `connection`. */
  servers?: string | readonly string[];
  /** An open connection to use (not closed by the coordinator): what `connect()` of `@nats-io/transport-node` returns. */
  connection?: OpenConnection;
  /** This coordinator's id, in leases and in the `Nerv-Owner` header of its log messages. Default: a random id. */
  id?: string;
  /**
   * The log stream (see {@linkcode jetstreamLogStore}); the leases are the KV bucket `<stream>_leases`.
   * @default {"NERV_FLOW"}
   */
  stream?: string;
  /**
   * Replicas of the stream and the lease bucket when this coordinator creates them.
   * @default {1}
   */
  replicas?: number;
  /**
   * Milliseconds without a renewal after which a run's lease may be taken
   * over. Owners renew every third of it.
   * @default {5000}
   */
  leaseMs?: number;
  /** The workflows this coordinator can run and take over, by name. */
  workflows: readonly Workflow<never>[];
  /**
   * Options of each run's engine (the coordinator gives the log store;
   * `executors` given here serve every run and are closed by the
   * coordinator's `close()`), or a
   * function that gives the engine of a run on the coordinator's store (the
   * caller then closes it; a run whose lease is lost stops when its writes are
   * refused, which fails that engine's log).
   */
  engine?: Omit<EngineOptions, "logStore"> | ((runId: string, store: JetStreamLogStore) => Engine);
  /**
   * Whether to take over runs whose owner stopped renewing.
   * @default {true}
   */
  takeover?: boolean;
  /** Hears what happens to leases (for logs and tests). */
  onEvent?: (event: CoordinatorEvent) => void;
}

/** What happened to a run's lease. */
export interface CoordinatorEvent {
  /**
   * `started`: this coordinator started the run; `takeover`: it took the run
   * over and resumes it; `finished`: the run ended here (lease dropped);
   * `lost`: its lease was taken or could not be renewed (the run stops here);
   * `conflict`: an append met another writer's events; `abandoned`: a lease
   * whose run never reached the log was dropped; `failed`: the run failed here
   * for another reason (its lease is given back for another try).
   */
  type: "started" | "takeover" | "finished" | "lost" | "conflict" | "abandoned" | "failed";
  /** The run. */
  runId: string;
  /** The coordinator that owned the lease before (`takeover`), or that took it (`lost`), when known. */
  from?: string;
  /** Milliseconds from the last renewal seen to the takeover (`takeover`). */
  silentMs?: number;
  /** The run's status (`finished`). */
  status?: string;
  /** The error (`conflict`, `lost`). */
  error?: Error;
}

/** A run as {@linkcode Coordinator.runs} lists it. */
export interface CoordinatedRun {
  /** The run. */
  runId: string;
  /** Its workflow. */
  workflowId: string;
  /** Its status as the log folds it. */
  status: string;
  /** The coordinator holding its lease, if any (`null`: handed over, free to take). */
  owner?: string | null;
}

/** A started run. */
export interface CoordinatedRunHandle {
  /** The run's id. */
  id: string;
  /** Settles when the run ends on this coordinator; rejects with {@linkcode LeaseLostError} when another took it over. */
  result: Promise<RunResult>;
}

/** A coordinator of runs on JetStream. */
export interface Coordinator {
  /** Its id. */
  readonly id: string;
  /** Its log store. */
  readonly store: JetStreamLogStore;
  /** The runs whose lease it holds now. */
  owned(): string[];
  /**
   * Starts a run under a new lease.
   *
   * @param workflow One of `workflows` (or any workflow: only coordinators that know its name take it over).
   * @param options The run's input, id, and a signal that cancels it.
   * @returns The run's id and result.
   * @throws {TypeError} The run id has a lease already (as a rejection).
   */
  start<I>(
    workflow: Workflow<I>,
    options?: { input?: I; runId?: string; signal?: AbortSignal },
  ): Promise<CoordinatedRunHandle>;
  /**
   * Takes a run over now, whoever holds its lease (an operator's `--resume`), and resumes it.
   *
   * @param runId The run.
   * @param options A signal that cancels it.
   * @returns Its result.
   * @throws {NotFoundError} The log has no such run (as a rejection).
   * @throws {TypeError} No workflow of `workflows` has the run's name (as a rejection).
   */
  resume(runId: string, options?: { signal?: AbortSignal }): Promise<RunResult>;
  /**
   * The runs of the log with their status and lease owner.
   *
   * @param filter `status`: only runs with this status (`running` lists every unfinished run).
   * @returns The runs, oldest first.
   */
  runs(filter?: { status?: string }): Promise<CoordinatedRun[]>;
  /**
   * Stops: with `handOver` (default) its runs' leases are marked free so
   * another coordinator takes them over at once; without, the leases just
   * expire. Its runs stop here without writing to their logs.
   *
   * @returns When it is stopped.
   */
  close(options?: { handOver?: boolean }): Promise<void>;
}

/** A run's lease was taken over by another coordinator, or could not be renewed in time. */
export class LeaseLostError extends Error {
  /** The run. */
  readonly runId: string;
  /** The coordinator that lost it. */
  readonly coordinator: string;
  /** The coordinator that holds it now, when known. */
  readonly owner: string | undefined;
  /**
   * Creates the error.
   *
   * @param runId The run.
   * @param coordinator The coordinator that lost it.
   * @param owner Who holds it now, when known.
   */
  constructor(runId: string, coordinator: string, owner?: string) {
    super(
      `Coordinator "${coordinator}" lost the lease of run "${runId}"` +
        (owner === undefined ? ": it could not be renewed in time" : ` to "${owner}"`),
    );
    this.name = "LeaseLostError";
    this.runId = runId;
    this.coordinator = coordinator;
    this.owner = owner;
  }
}

interface Lease {
  owner: string | null;
  workflow: string;
  runId: string;
  /** Times a coordinator failed to finish the run and gave the lease back. */
  failures?: number;
}

/** Attempts at a run that fails to resume (its lease given back each time) before coordinators leave it alone. */
const MAX_FAILURES = 5;

interface Owned {
  runId: string;
  failures: number;
  signal?: AbortSignal;
  workflow: string;
  revision: number;
  renewedAt: number;
  engine?: Engine;
  done: boolean;
  resolve(result: RunResult): void;
  reject(error: unknown): void;
  result: Promise<RunResult>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Creates a coordinator: opens the log stream and the lease bucket, and
 * starts watching leases to take over runs whose owner stopped.
 *
 * @param options Servers, id, lease time, the workflows it can run.
 * @returns The coordinator.
 * @throws {RangeError} `leaseMs` is not an integer >= 100 (as a rejection).
 * @throws {TypeError} Two workflows share a name, or no servers nor connection is given (as a rejection).
 *
 * @example
 * ```ts ignore
 * import { createCoordinator } from "@nerv/flow/nats";
 * import { pipeline } from "./pipeline.ts";
 * const coordinator = await createCoordinator({
 *   servers: "nats://127.0.0.1:4222", workflows: [pipeline], leaseMs: 3000,
 * });
 * const { id, result } = await coordinator.start(pipeline, { input: { docs: 100 } });
 * console.log(id, (await result).status); // if this process dies, another coordinator finishes it
 * await coordinator.close();
 * ```
 */
export async function createCoordinator(options: CoordinatorOptions): Promise<Coordinator> {
  const leaseMs = options.leaseMs ?? 5000;
  if (!Number.isInteger(leaseMs) || leaseMs < 100) {
    throw new RangeError(`Cannot create coordinator: leaseMs ${leaseMs} must be an integer >= 100`);
  }
  const workflows = new Map<string, Workflow<never>>();
  for (const w of options.workflows ?? []) {
    if (workflows.has(w.name)) throw new TypeError(`Cannot create coordinator: two workflows are named "${w.name}"`);
    workflows.set(w.name, w);
  }
  const id = options.id ?? crypto.randomUUID();
  const stream = options.stream ?? "NERV_FLOW";
  const { nc, owned: ownsConnection } = await openConnection("coordinator", options, `nerv-flow coordinator ${id}`);
  const store = await jetstreamLogStore({ connection: nc, stream, replicas: options.replicas, owner: id });
  const kv: KV = await new Kvm(nc).create(`${stream}_leases`, { history: 1, replicas: options.replicas ?? 1 });
  const emit = (event: CoordinatorEvent) => {
    try {
      options.onEvent?.(event);
    } catch (error) {
      console.error("nerv-flow: a coordinator listener threw", error);
    }
  };
  /** Whether the coordinator makes (and closes) each run's engine. */
  const ownsEngines = typeof options.engine !== "function";
  const closeEngine = (engine: Engine | undefined) => ownsEngines ? engine?.close().catch(() => {}) : undefined;
  // Executors given in the engine options serve every run's engine: an engine's close() must not close them
  // (the coordinator's close() does).
  const given = typeof options.engine === "function" ? undefined : options.engine?.executors;
  const sharedExecutors = given === undefined ? undefined : Object.fromEntries(
    Object.entries(given).map(([profile, ex]) => [
      profile,
      ex === undefined ? undefined : new Proxy(ex, {
        get: (target, key) => {
          if (key === "close") return undefined;
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
    ]),
  ) as EngineOptions["executors"];
  const makeEngine = (runId: string): Engine => {
    const e = options.engine;
    if (typeof e === "function") return e(runId, store);
    return createEngine({
      ...e,
      ...(sharedExecutors === undefined ? {} : { executors: sharedExecutors }),
      logStore: store,
      configure: (container) => {
        // A run this coordinator stopped touching refuses writes: expected, not worth a line on stderr.
        container.register(TOKENS.log, {
          useFactory: (c) =>
            createSnapshotLog({
              store: c.resolve(TOKENS.logStore),
              onStoreError: (error) => {
                if (!(error instanceof RunReleasedError) && !(error instanceof LogConflictError)) {
                  console.error("nerv-flow: the log store rejected a batch", error);
                }
              },
            }),
        });
        e?.configure?.(container);
      },
    });
  };

  const owned = new Map<string, Owned>();
  /** Leases of others, as last seen: revision and when (this process's clock). */
  const seen = new Map<string, { revision: number; at: number; lease: Lease; runId: string }>();
  const conflicts = new Map<string, number>();
  let closed = false;

  const encode = (lease: Lease) => encoder.encode(JSON.stringify(lease));
  const decode = (entry: KvEntry): Lease | undefined => {
    if (entry.operation !== "PUT" || entry.length === 0) return undefined;
    try {
      const lease = JSON.parse(decoder.decode(entry.value)) as Lease;
      return typeof lease?.runId === "string" && typeof lease.workflow === "string" ? lease : undefined;
    } catch {
      return undefined;
    }
  };

  const track = (runId: string, workflow: string, revision: number, failures = 0): Owned => {
    let resolve!: (r: RunResult) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<RunResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    result.catch(() => {}); // The caller may not listen (a takeover).
    const o: Owned = {
      runId,
      workflow,
      revision,
      failures,
      renewedAt: Date.now(),
      done: false,
      resolve,
      reject,
      result,
    };
    owned.set(runId, o);
    return o;
  };

  const finish = async (o: Owned, result: RunResult) => {
    if (o.done) return;
    o.done = true;
    owned.delete(o.runId);
    try {
      await kv.delete(runToken(o.runId), { previousSeq: o.revision });
    } catch {
      // Taken meanwhile: the taker finds the run ended and drops the lease.
    }
    emit({ type: "finished", runId: o.runId, status: result.status });
    o.resolve(result);
    await closeEngine(o.engine);
  };

  /** Stops a run here without writing to its log. */
  const drop = async (o: Owned, error: Error, from?: string) => {
    if (o.done) return;
    o.done = true;
    owned.delete(o.runId);
    await store.release(o.runId, error.message);
    emit({ type: "lost", runId: o.runId, from, error });
    o.reject(error);
    await closeEngine(o.engine);
  };

  /** Runs (or resumes) a run on a fresh engine under the lease `o`. */
  const drive = (o: Owned, begin: (engine: Engine) => Promise<RunResult>) => {
    const engine = makeEngine(o.runId);
    o.engine = engine;
    let pending: Promise<RunResult>;
    try {
      pending = begin(engine);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (result) => {
        if (o.engine === engine) void finish(o, result);
      },
      (error) => {
        if (o.done || o.engine !== engine) return;
        if (error instanceof LogConflictError || (error as Error)?.cause instanceof LogConflictError) {
          // A former owner wrote after what this store read: read the run again and go on, while the lease is ours.
          const n = (conflicts.get(o.runId) ?? 0) + 1;
          conflicts.set(o.runId, n);
          if (n <= 5) {
            void closeEngine(engine);
            setTimeout(() => {
              if (!o.done && !closed) resumeUnder(o, o.signal);
            }, Math.min(leaseMs / 3, 50 * n));
            return;
          }
        }
        // Failed here (the broker unreachable too long, a resume refused): give the lease back, so that a
        // coordinator (this one too) tries again after a lease's silence, up to MAX_FAILURES times in all.
        o.done = true;
        owned.delete(o.runId);
        const back: Lease = { owner: null, workflow: o.workflow, runId: o.runId, failures: o.failures + 1 };
        void kv.update(runToken(o.runId), encode(back), o.revision).catch(() => {});
        emit({ type: "failed", runId: o.runId, error: error as Error });
        o.reject(error);
        void closeEngine(engine);
      },
    );
  };
  const resumeUnder = (o: Owned, signal?: AbortSignal) => {
    const workflow = workflows.get(o.workflow)!;
    drive(o, (engine) => engine.resume(workflow as Workflow<unknown>, o.runId, { signal }));
  };

  store.onConflict((error) => emit({ type: "conflict", runId: error.runId, error }));

  const renew = async () => {
    const now = Date.now();
    await Promise.all([...owned.values()].map(async (o) => {
      if (o.done) return;
      try {
        o.revision = await kv.update(
          runToken(o.runId),
          encode({ owner: id, workflow: o.workflow, runId: o.runId, failures: o.failures }),
          o.revision,
        );
        o.renewedAt = Date.now();
      } catch (error) {
        const taken = /wrong last sequence/i.test(String((error as Error)?.message));
        if (taken) {
          const entry = await kv.get(runToken(o.runId)).catch(() => null);
          const holder = entry === null ? undefined : decode(entry)?.owner ?? undefined;
          await drop(o, new LeaseLostError(o.runId, id, holder), holder);
        } else if (now - o.renewedAt >= leaseMs) {
          // Unrenewed for a whole lease: another may have taken it; stop touching the run.
          await drop(o, new LeaseLostError(o.runId, id));
        }
      }
    }));
  };

  const takeOver = async (key: string, s: { revision: number; at: number; lease: Lease; runId: string }) => {
    if (!workflows.has(s.lease.workflow)) return;
    const silentMs = Date.now() - s.at;
    let revision: number;
    try {
      revision = await kv.update(key, encode({ ...s.lease, owner: id }), s.revision);
    } catch {
      return; // Renewed or taken meanwhile.
    }
    seen.delete(key);
    const o = track(s.runId, s.lease.workflow, revision, s.lease.failures ?? 0);
    emit({ type: "takeover", runId: s.runId, from: s.lease.owner ?? undefined, silentMs });
    await startResume(o);
  };
  /** Resumes a run whose lease this coordinator just got; drops a lease whose run never reached the log. */
  const startResume = async (o: Owned) => {
    const stored = await store.readRun(o.runId).catch(() => undefined);
    if (stored !== undefined && stored.checkpoint === undefined && stored.events.length === 0) {
      o.done = true;
      owned.delete(o.runId);
      await kv.delete(runToken(o.runId), { previousSeq: o.revision }).catch(() => {});
      emit({ type: "abandoned", runId: o.runId });
      o.reject(new TypeError(`Cannot resume run "${o.runId}": its log holds nothing (it never started)`));
      return;
    }
    resumeUnder(o);
  };

  /** A lease was handed over: look at once. */
  let handedOver = () => {};
  // Watch every lease: what others hold, and since when unchanged.
  const watcher = await kv.watch({ key: ">" });
  const watching = (async () => {
    for await (const entry of watcher) {
      if (entry.operation !== "PUT") {
        seen.delete(entry.key);
        continue;
      }
      const lease = decode(entry);
      if (lease === undefined) continue;
      if (lease.owner === null && !lease.failures) handedOver();
      seen.set(entry.key, {
        revision: entry.revision,
        at: Date.now(),
        lease,
        runId: lease.runId,
      });
    }
  })();

  let renewing = false;
  const renewTick = async () => {
    if (renewing || closed) return;
    renewing = true;
    try {
      await renew();
    } catch (error) {
      console.error("nerv-flow: coordinator renewal failed", error);
    } finally {
      renewing = false;
    }
  };
  let scanning = false;
  const scan = async () => {
    if (scanning || closed || options.takeover === false) return;
    scanning = true;
    try {
      const now = Date.now();
      for (const [key, s] of [...seen]) {
        if (closed) break;
        // Its own leases too, once it no longer drives the run (a run that failed here, a restart with the same id).
        if (owned.has(s.runId) || (s.lease.failures ?? 0) >= MAX_FAILURES) continue;
        if ((s.lease.owner === null && !s.lease.failures) || now - s.at >= leaseMs) await takeOver(key, s);
      }
    } catch (error) {
      console.error("nerv-flow: coordinator takeover failed", error);
    } finally {
      scanning = false;
    }
  };
  // Renew every third of a lease; look for silent leases more often, so a takeover comes soon after the expiry.
  const renewTimer = setInterval(renewTick, Math.max(20, Math.floor(leaseMs / 3)));
  const scanTimer = setInterval(scan, Math.max(20, Math.min(500, Math.floor(leaseMs / 5))));
  handedOver = () => setTimeout(scan, 0);

  return {
    id,
    store,
    owned: () => [...owned.keys()],
    async start(workflow, runOptions = {}) {
      if (closed) throw new TypeError("Cannot start a run: the coordinator is closed");
      const runId = runOptions.runId ?? crypto.randomUUID();
      let revision: number;
      try {
        revision = await kv.create(
          runToken(runId),
          encode({ owner: id, workflow: workflow.name, runId }),
        );
      } catch (error) {
        throw new TypeError(`Cannot start run "${runId}": it has a lease already`, { cause: error });
      }
      const o = track(runId, workflow.name, revision);
      drive(
        o,
        (engine) => engine.start(workflow, { input: runOptions.input, runId, signal: runOptions.signal }).result,
      );
      // Returned once the run is in the log: from then on a standby can finish it.
      await o.engine?.log.sync().catch(() => {});
      emit({ type: "started", runId });
      return { id: runId, result: o.result };
    },
    async resume(runId, resumeOptions = {}) {
      if (closed) throw new TypeError("Cannot resume a run: the coordinator is closed");
      const mine = owned.get(runId);
      if (mine !== undefined) return mine.result;
      const stored = await store.readRun(runId);
      const state = foldRun(stored);
      if (state === undefined) {
        throw new NotFoundError("run", runId, ` in stream "${stream}"`);
      }
      if (!workflows.has(state.workflowId)) {
        throw new TypeError(
          `Cannot resume run "${runId}": its workflow "${state.workflowId}" is not one of this coordinator's`,
        );
      }
      const key = runToken(runId);
      const value = encode({ owner: id, workflow: state.workflowId, runId });
      let revision: number;
      const entry = await kv.get(key);
      const before = entry === null ? undefined : decode(entry);
      if (entry === null || before === undefined) revision = await kv.create(key, value);
      else revision = await kv.update(key, value, entry.revision);
      seen.delete(key);
      const o = track(runId, state.workflowId, revision);
      o.signal = resumeOptions.signal;
      emit({ type: "takeover", runId, from: before?.owner ?? undefined });
      resumeUnder(o, resumeOptions.signal);
      return o.result;
    },
    async runs(filter = {}) {
      const out: CoordinatedRun[] = [];
      const leases = new Map<string, string | null>();
      for await (const key of await kv.keys()) {
        const entry = await kv.get(key);
        const lease = entry === null ? undefined : decode(entry);
        if (lease !== undefined) leases.set(key, lease.owner);
      }
      for (const runId of await store.runs()) {
        const state = foldRun(await store.peekRun(runId));
        if (state === undefined) continue;
        const ended = state.status === "completed" || state.status === "failed" || state.status === "cancelled";
        if (filter.status !== undefined && (filter.status === "running" ? ended : state.status !== filter.status)) {
          continue;
        }
        const run: CoordinatedRun = { runId, workflowId: state.workflowId, status: state.status };
        const key = runToken(runId);
        if (leases.has(key)) run.owner = leases.get(key);
        out.push(run);
      }
      return out;
    },
    async close(closeOptions = {}) {
      if (closed) return;
      closed = true;
      clearInterval(renewTimer);
      clearInterval(scanTimer);
      watcher.stop();
      await watching.catch(() => {});
      const handOver = closeOptions.handOver !== false;
      for (const o of [...owned.values()]) {
        if (handOver) {
          await kv.update(runToken(o.runId), encode({ owner: null, workflow: o.workflow, runId: o.runId }), o.revision)
            .catch(() => {});
        }
        await drop(o, new LeaseLostError(o.runId, id, handOver ? "(handed over)" : undefined));
      }
      await store.close();
      for (const ex of new Set(Object.values(given ?? {}))) await ex?.close?.();
      if (ownsConnection) await nc.close();
    },
  };
}
