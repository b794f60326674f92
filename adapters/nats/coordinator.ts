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
 * This file holds the options, the coordinator's interface and its factory
 * (connecting, the stream, the lease bucket, starting, resuming and listing
 * runs, closing); its parts are `_coordinator_leases.ts` (the lease record,
 * the runs held under a lease and their renewal), `_coordinator_takeover.ts`
 * (watching every lease, taking over and resuming silent ones) and
 * `_coordinator_engines.ts` (each run's engine).
 *
 * @module
 */
import { type Engine, type EngineOptions, NotFoundError, type RunResult, type Workflow } from "../../mod.ts";
import { foldRun } from "../../extend.ts";
import { type KV, Kvm } from "./deps.ts";
import { type JetStreamLogStore, jetstreamLogStore, runToken } from "./log_store.ts";
import { type OpenConnection, openConnection } from "./connect.ts";
import { LeaseLostError } from "./errors.ts";
import { runEngines } from "./_coordinator_engines.ts";
import { type CoordinatorCore, decodeLease, encodeLease, heldRuns } from "./_coordinator_leases.ts";
import { watchLeases } from "./_coordinator_takeover.ts";

export { LeaseLostError };

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
  const engines = runEngines(options, store);
  let closed = false;
  const core: CoordinatorCore = {
    id,
    kv,
    store,
    leaseMs,
    workflows,
    emit,
    get closed() {
      return closed;
    },
  };
  const held = heldRuns(core, engines);
  const { owned, track, drop, drive, resumeUnder } = held;

  store.onConflict((error) => emit({ type: "conflict", runId: error.runId, error }));
  const takeover = await watchLeases(core, held, options);
  // Renew every third of a lease; look for silent leases more often, so a takeover comes soon after the expiry.
  const renewTimer = setInterval(held.renewTick, Math.max(20, Math.floor(leaseMs / 3)));
  const scanTimer = setInterval(takeover.scan, Math.max(20, Math.min(500, Math.floor(leaseMs / 5))));

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
          encodeLease({ owner: id, workflow: workflow.name, runId }),
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
      const value = encodeLease({ owner: id, workflow: state.workflowId, runId });
      let revision: number;
      const entry = await kv.get(key);
      const before = entry === null ? undefined : decodeLease(entry);
      if (entry === null || before === undefined) revision = await kv.create(key, value);
      else revision = await kv.update(key, value, entry.revision);
      takeover.seen.delete(key);
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
        const lease = entry === null ? undefined : decodeLease(entry);
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
      await takeover.stop();
      const handOver = closeOptions.handOver !== false;
      for (const o of [...owned.values()]) {
        if (handOver) {
          await kv.update(
            runToken(o.runId),
            encodeLease({ owner: null, workflow: o.workflow, runId: o.runId }),
            o.revision,
          )
            .catch(() => {});
        }
        await drop(o, new LeaseLostError(o.runId, id, handOver ? "(handed over)" : undefined));
      }
      await store.close();
      for (const ex of new Set(Object.values(engines.given ?? {}))) await ex?.close?.();
      if (ownsConnection) await nc.close();
    },
  };
}
