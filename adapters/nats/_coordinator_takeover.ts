/**
 * Taking runs over: a coordinator watches every lease (what others hold, and
 * since when unchanged by this process's clock); a lease unrenewed for
 * `leaseMs`, or handed over, is taken by compare-and-set on the revision seen
 * (only one coordinator wins) and its run resumed through `engine.resume()`,
 * where completed tasks keep their results; a lease whose run never reached the
 * log is dropped. A run given back `MAX_FAILURES` times is left alone.
 *
 * Private to `adapters/nats/coordinator.ts`; the leases it holds are
 * `_coordinator_leases.ts`.
 *
 * @module
 */
import type { CoordinatorOptions } from "./coordinator.ts";
import { runToken } from "./log_store.ts";
import {
  type CoordinatorCore,
  decodeLease,
  encodeLease,
  type HeldRuns,
  type Lease,
  MAX_FAILURES,
  type Owned,
} from "./_coordinator_leases.ts";

/** The watch on every lease. */
export interface Takeover {
  /** Leases of others, as last seen, by key. */
  readonly seen: Map<string, { revision: number; at: number; lease: Lease; runId: string }>;
  /** Looks for leases to take over (the scan timer's tick; one scan at a time). */
  scan(): Promise<void>;
  /** Stops watching. */
  stop(): Promise<void>;
}

/**
 * Starts watching every lease, to take over runs whose owner stopped.
 *
 * @param c What the coordinator's parts share.
 * @param runs The runs this coordinator holds.
 * @param options The coordinator's options (`takeover`).
 * @returns The watch.
 */
export async function watchLeases(c: CoordinatorCore, runs: HeldRuns, options: CoordinatorOptions): Promise<Takeover> {
  const { id, kv, store, leaseMs, workflows, emit } = c;
  const { owned, track, resumeUnder } = runs;
  /** Leases of others, as last seen: revision and when (this process's clock). */
  const seen = new Map<string, { revision: number; at: number; lease: Lease; runId: string }>();

  const takeOver = async (key: string, s: { revision: number; at: number; lease: Lease; runId: string }) => {
    if (!workflows.has(s.lease.workflow)) return;
    const silentMs = Date.now() - s.at;
    let revision: number;
    try {
      revision = await kv.update(key, encodeLease({ ...s.lease, owner: id }), s.revision);
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
      const lease = decodeLease(entry);
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

  let scanning = false;
  const scan = async () => {
    if (scanning || c.closed || options.takeover === false) return;
    scanning = true;
    try {
      const now = Date.now();
      for (const [key, s] of [...seen]) {
        if (c.closed) break;
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
  handedOver = () => setTimeout(scan, 0);

  return {
    seen,
    scan,
    async stop() {
      watcher.stop();
      await watching.catch(() => {});
    },
  };
}
