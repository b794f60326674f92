/**
 * The leases a coordinator holds: the lease record (a KV entry per run: its
 * owner, workflow and failures), the runs held under a lease (each driven on
 * a fresh engine; an append that met a former owner's events reads the run
 * again and goes on, any other failure gives the lease back for another try),
 * their renewal by compare-and-set on the revision (a run whose lease was taken
 * or went a whole `leaseMs` unrenewed stops here), and a run ending here.
 *
 * Private to `adapters/nats/coordinator.ts`; taking over others' leases is
 * `_coordinator_takeover.ts`.
 *
 * @module
 */
import type { Engine, RunResult, Workflow } from "../../mod.ts";
import type { CoordinatorEvent } from "./coordinator.ts";
import type { KV, KvEntry } from "./deps.ts";
import { LeaseLostError, LogConflictError } from "./errors.ts";
import { type JetStreamLogStore, runToken } from "./log_store.ts";
import type { RunEngines } from "./_coordinator_engines.ts";

/** A run's lease: the value of its entry in the lease bucket. */
export interface Lease {
  owner: string | null;
  workflow: string;
  runId: string;
  /** Times a coordinator failed to finish the run and gave the lease back. */
  failures?: number;
}

/** Attempts at a run that fails to resume (its lease given back each time) before coordinators leave it alone. */
export const MAX_FAILURES = 5;

/** A run whose lease this coordinator holds. */
export interface Owned {
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
 * A lease as its entry's value.
 *
 * @param lease The lease.
 * @returns JSON bytes.
 */
export function encodeLease(lease: Lease): Uint8Array {
  return encoder.encode(JSON.stringify(lease));
}

/**
 * The lease in a KV entry.
 *
 * @param entry The entry.
 * @returns The lease; `undefined` for a deletion or a value that is not a lease.
 */
export function decodeLease(entry: KvEntry): Lease | undefined {
  if (entry.operation !== "PUT" || entry.length === 0) return undefined;
  try {
    const lease = JSON.parse(decoder.decode(entry.value)) as Lease;
    return typeof lease?.runId === "string" && typeof lease.workflow === "string" ? lease : undefined;
  } catch {
    return undefined;
  }
}

/** What the parts of a coordinator share. */
export interface CoordinatorCore {
  /** The coordinator's id. */
  readonly id: string;
  /** The lease bucket. */
  readonly kv: KV;
  /** The log store. */
  readonly store: JetStreamLogStore;
  /** Milliseconds without a renewal after which a lease may be taken over. */
  readonly leaseMs: number;
  /** The workflows it can run and take over, by name. */
  readonly workflows: ReadonlyMap<string, Workflow<never>>;
  /** Whether the coordinator was closed. */
  readonly closed: boolean;
  /** Tells the `onEvent` listener. */
  emit(event: CoordinatorEvent): void;
}

/** The runs whose lease this coordinator holds. */
export interface HeldRuns {
  /** By run id. */
  readonly owned: Map<string, Owned>;
  /** Holds a run under the lease of `revision`. */
  track(runId: string, workflow: string, revision: number, failures?: number): Owned;
  /** Stops a run here without writing to its log. */
  drop(o: Owned, error: Error, from?: string): Promise<void>;
  /** Runs (or resumes) a run on a fresh engine under its lease. */
  drive(o: Owned, begin: (engine: Engine) => Promise<RunResult>): void;
  /** Resumes a run under its lease. */
  resumeUnder(o: Owned, signal?: AbortSignal): void;
  /** Renews every lease held (the renewal timer's tick; one renewal at a time). */
  renewTick(): Promise<void>;
}

/**
 * The runs a coordinator holds, and their leases' renewal.
 *
 * @param c What the coordinator's parts share.
 * @param engines How to make and close each run's engine.
 * @returns The runs held.
 */
export function heldRuns(c: CoordinatorCore, engines: RunEngines): HeldRuns {
  const { id, kv, store, leaseMs, workflows, emit } = c;
  const { make: makeEngine, close: closeEngine } = engines;
  const owned = new Map<string, Owned>();
  const conflicts = new Map<string, number>();

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
              if (!o.done && !c.closed) resumeUnder(o, o.signal);
            }, Math.min(leaseMs / 3, 50 * n));
            return;
          }
        }
        // Failed here (the broker unreachable too long, a resume refused): give the lease back, so that a
        // coordinator (this one too) tries again after a lease's silence, up to MAX_FAILURES times in all.
        o.done = true;
        owned.delete(o.runId);
        const back: Lease = { owner: null, workflow: o.workflow, runId: o.runId, failures: o.failures + 1 };
        void kv.update(runToken(o.runId), encodeLease(back), o.revision).catch(() => {});
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

  const renew = async () => {
    const now = Date.now();
    await Promise.all([...owned.values()].map(async (o) => {
      if (o.done) return;
      try {
        o.revision = await kv.update(
          runToken(o.runId),
          encodeLease({ owner: id, workflow: o.workflow, runId: o.runId, failures: o.failures }),
          o.revision,
        );
        o.renewedAt = Date.now();
      } catch (error) {
        const taken = /wrong last sequence/i.test(String((error as Error)?.message));
        if (taken) {
          const entry = await kv.get(runToken(o.runId)).catch(() => null);
          const holder = entry === null ? undefined : decodeLease(entry)?.owner ?? undefined;
          await drop(o, new LeaseLostError(o.runId, id, holder), holder);
        } else if (now - o.renewedAt >= leaseMs) {
          // Unrenewed for a whole lease: another may have taken it; stop touching the run.
          await drop(o, new LeaseLostError(o.runId, id));
        }
      }
    }));
  };

  let renewing = false;
  const renewTick = async () => {
    if (renewing || c.closed) return;
    renewing = true;
    try {
      await renew();
    } catch (error) {
      console.error("nerv-flow: coordinator renewal failed", error);
    } finally {
      renewing = false;
    }
  };

  return { owned, track, drop, drive, resumeUnder, renewTick };
}
