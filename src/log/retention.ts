/**
 * Retention: which finished runs a log keeps in memory. `Retention` queues
 * runs as they finish, picks the ones the policy evicts, remembers recent
 * evictions (to tell an evicted run from an unknown one) and reads an evicted
 * run back from a store that answers synchronously. The log removes what it
 * picks from its state.
 *
 * @module
 */
import type { IMap } from "../deps.ts";
import { EvictedError, NotFoundError } from "../errors.ts";
import type { AnyFlowEvent, LogStore, StoredRun } from "../types.ts";
import { foldStored } from "./fold.ts";
import type { Lookup } from "./projections.ts";
import { isRunEnded, type RunRec } from "./records.ts";
import type { RetentionPolicy } from "./types.ts";

/** Evicted run ids a log remembers, to tell an evicted run from an unknown one. */
const EVICTED_MEMORY = 10_000;

/** A log's retention policy and the runs it evicted. */
export class Retention {
  /** Whether the policy evicts anything (a limit is finite). */
  readonly bounded: boolean;
  /** Evicted runs whose events the log still holds (until the next compaction). */
  readonly dropped = new Set<string>();
  /** Listeners of evictions. */
  readonly listeners = new Set<(runIds: readonly string[]) => void>();
  /** Events of evicted runs were dropped: past states can no longer fold custom projections. */
  compacted = false;
  readonly #keepRuns: number;
  readonly #keepMs: number;
  readonly #keepEvents: number;
  /**
   * What retention knows of each run not evicted yet, in one table (one key added and deleted per run: a long-lived
   * table keyed by run id is rehashed as keys come and go, and its new backing store is allocated in V8's old
   * generation, where a new page stalls the run that needs it; see bench/RESULTS.md §14).
   */
  readonly #runs = new Map<string, RunEntry>();
  /** How many runs have a queue slot (finished and held). */
  #finishedCount = 0;
  /** Events of the finished runs held. */
  #heldEvents = 0;
  // Finished runs, oldest first, as a queue (ids, end times); a run's entry holds its latest queue slot (a run that
  // ended again has a newer slot; the older one is skipped).
  readonly #queueIds: string[] = [];
  readonly #queueEnds: number[] = [];
  #queueHead = 0;
  #queueBase = 0; // the absolute slot number of queueIds[0]
  #droppedEvents = 0; // how many events of the log the dropped runs hold
  #droppedThrough = -1; // the highest seq of a dropped run's events (since the last compaction)
  #interleaved = false; // a dropped run came back (its events are kept again): no prefix drop until compaction
  readonly #forgotten = new Set<string>(); // the last EVICTED_MEMORY evicted runs
  readonly #forgottenRing: (string | undefined)[] = [];
  #forgottenNext = 0;
  #newest = -Infinity; // the newest event timestamp: the age limit's "now"

  /**
   * @param policy The policy; keep every run when omitted.
   * @throws {RangeError} A limit is out of range.
   */
  constructor(policy: RetentionPolicy | undefined) {
    this.#keepRuns = retentionLimit("runs", policy?.runs, 1);
    this.#keepMs = retentionLimit("ms", policy?.ms, 0);
    this.#keepEvents = retentionLimit("events", policy?.events, 1);
    this.bounded = this.#keepRuns !== Infinity || this.#keepMs !== Infinity || this.#keepEvents !== Infinity;
  }

  /**
   * Whether a run was evicted (and not seen since).
   *
   * @param runId The run.
   * @returns `true` when evicted.
   */
  isEvicted(runId: string): boolean {
    return this.#forgotten.has(runId) || this.dropped.has(runId);
  }

  /**
   * The policy in words, for errors.
   *
   * @returns E.g. "the last 10 finished runs".
   */
  describe(): string {
    return describeRetention({ runs: this.#keepRuns, ms: this.#keepMs, events: this.#keepEvents });
  }

  /**
   * Notes the runs a batch finishes (or brings back) and picks the runs to evict now, recording them as evicted.
   *
   * @param batch The events just folded in.
   * @param runs The state's runs, evicted ones still in.
   * @returns The runs to remove from the state, oldest first, or `undefined`.
   */
  evictions(batch: readonly AnyFlowEvent[], runs: IMap<string, RunRec>): string[] | undefined {
    const queueIds = this.#queueIds;
    const queueEnds = this.#queueEnds;
    const entries = this.#runs;
    let ended: string[] | undefined;
    let run = "";
    let n = 0;
    let first = 0; // the seq of the stretch's first event
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i];
      if (e.runId !== run) { // a batch holds runs' events in stretches: one map write per stretch
        if (n > 0) counted(entryOf(entries, run), n, first, batch[i - 1].seq);
        run = e.runId;
        n = 0;
        first = e.seq;
        // Events of a run dropped already (released while it runs): the rebuild drops them, a prefix would not.
        if (this.dropped.size > 0 && this.dropped.has(run)) this.#interleaved = true;
      }
      n++;
      if (e.timestamp > this.#newest) this.#newest = e.timestamp;
      const type = e.type;
      if (type === "workflow.completed" || type === "workflow.failed" || type === "workflow.cancelled") {
        const entry = entryOf(entries, e.runId);
        if (entry.slot < 0) this.#finishedCount++;
        entry.slot = this.#queueBase + queueIds.length;
        queueIds.push(e.runId);
        queueEnds.push(e.timestamp);
        (ended ??= []).push(e.runId);
      } else if ((type === "workflow.created" || type === "workflow.resumed") && this.#forgotten.size > 0) {
        this.#forgotten.delete(e.runId); // seen again (resumed from a store)
        if (this.dropped.delete(e.runId)) {
          this.#interleaved = true; // its old events are kept again, among dropped ones
          // Its old events, the oldest perhaps, are held again but counted by no run: no prefix drop while it is held
          // (a first seq of 0 is at or below any prefix's last seq).
          entryOf(entries, e.runId).firstSeq = 0;
        }
      }
    }
    if (n > 0) counted(entryOf(entries, run), n, first, batch[batch.length - 1].seq);
    if (ended !== undefined) {
      for (const runId of ended) { // (again, for a run that ended before: its newer total)
        const entry = entries.get(runId)!; // (its end event made it)
        this.#heldEvents += entry.events - entry.counted;
        entry.counted = entry.events;
      }
    }
    let out: string[] | undefined;
    while (this.#queueHead < queueIds.length) {
      const head = this.#queueHead;
      const runId = queueIds[head];
      const entry = entries.get(runId);
      if (entry?.slot !== this.#queueBase + head) { // ended again later: a newer slot holds it
        this.#queueHead++;
        continue;
      }
      if (
        this.#finishedCount <= this.#keepRuns && !(queueEnds[head] < this.#newest - this.#keepMs) &&
        // The newest finished run stays, however many events it holds.
        !(this.#heldEvents > this.#keepEvents && this.#finishedCount > 1)
      ) break;
      this.#queueHead++;
      this.#unqueue(entry);
      const rec = runs.get(runId);
      if (rec === undefined || !isRunEnded(rec.status)) continue; // running again: kept until it ends again
      (out ??= []).push(runId);
    }
    if (this.#queueHead >= 1024 && this.#queueHead * 2 >= queueIds.length) {
      queueIds.splice(0, this.#queueHead);
      queueEnds.splice(0, this.#queueHead);
      this.#queueBase += this.#queueHead;
      this.#queueHead = 0;
    }
    if (out !== undefined) { for (const runId of out) this.#evicted(runId); }
    return out;
  }

  /**
   * Evicts a run now, whatever its status (`SnapshotLog.release`), recording it as evicted.
   *
   * @param runId The run.
   */
  release(runId: string): void {
    const entry = this.#runs.get(runId);
    if (entry !== undefined && entry.slot >= 0) this.#unqueue(entry); // its queue slot is skipped when it reaches the head
    this.#evicted(runId);
  }

  /** The run leaves the queue of finished runs held (its slot, if still in the queue, is skipped). */
  #unqueue(entry: RunEntry): void {
    entry.slot = -1;
    this.#finishedCount--;
    this.#heldEvents -= entry.counted;
    entry.counted = 0;
  }

  #evicted(runId: string): void {
    this.dropped.add(runId);
    const entry = this.#runs.get(runId);
    if (entry !== undefined) {
      this.#droppedEvents += entry.events;
      if (entry.lastSeq > this.#droppedThrough) this.#droppedThrough = entry.lastSeq;
      this.#runs.delete(runId);
    }
    // Remember the last EVICTED_MEMORY evictions, in a ring.
    const old = this.#forgottenRing[this.#forgottenNext];
    if (old !== undefined) this.#forgotten.delete(old);
    this.#forgottenRing[this.#forgottenNext] = runId;
    this.#forgottenNext = (this.#forgottenNext + 1) % EVICTED_MEMORY;
    this.#forgotten.add(runId);
  }

  /**
   * Whether to drop the evicted runs' events now: once they are about half the list (O(1) amortized per event).
   *
   * @param size The number of events the log holds.
   * @returns `true` when the log should drop them.
   */
  shouldCompact(size: number): boolean {
    return this.#droppedEvents >= Math.max(4096, size - this.#droppedEvents);
  }

  /**
   * When the events of the runs dropped since the last compaction are exactly the oldest the log holds (runs evicted
   * oldest first, no kept run's event among them), the seq of the last of them: the log then drops a prefix of its
   * journal and copies nothing. Else (a kept run began before a dropped one ended, a dropped run came back), undefined.
   * O(runs held).
   *
   * @returns The seq through which every held event is a dropped run's, and no later one is; or undefined.
   */
  droppedPrefix(): number | undefined {
    if (this.#interleaved || this.#droppedThrough < 0) return undefined;
    for (const entry of this.#runs.values()) {
      if (entry.firstSeq >= 0 && entry.firstSeq <= this.#droppedThrough) return undefined;
    }
    return this.#droppedThrough;
  }

  /** How many events of the log the runs dropped since the last compaction hold. */
  get droppedEvents(): number {
    return this.#droppedEvents;
  }

  /** Records that the log dropped the evicted runs' events. */
  compact(): void {
    // A dropped run that wrote after its release (it was running) has an entry again, counting events the journal just
    // dropped with the rest of its events: it starts afresh, else its count and first seq outlive them.
    for (const runId of this.dropped) {
      const entry = this.#runs.get(runId);
      if (entry === undefined) continue;
      this.#heldEvents -= entry.counted;
      entry.events = 0;
      entry.counted = 0;
      entry.firstSeq = -1;
      entry.lastSeq = -1;
    }
    this.dropped.clear();
    this.#droppedEvents = 0;
    this.#droppedThrough = -1;
    this.#interleaved = false;
    this.compacted = true;
  }

  /**
   * Tells the eviction listeners.
   *
   * @param runIds The runs just evicted, oldest first.
   */
  notify(runIds: readonly string[]): void {
    for (const listener of this.listeners) {
      try {
        listener(runIds);
      } catch (error) {
        console.error("nerv-flow: an eviction listener threw", error);
      }
    }
  }

  /**
   * How a state finds evicted runs: read back from `store` when it answers synchronously.
   *
   * @param store The log's store.
   * @returns The lookup.
   */
  lookup(store: LogStore | undefined): Lookup {
    return {
      evicted: (runId) => this.isEvicted(runId),
      load: (runId) => {
        if (!this.isEvicted(runId)) {
          if (this.#forgotten.size === 0) return undefined;
          throw new NotFoundError("run", runId, ` in the log (finished runs are evicted: it keeps ${this.describe()})`);
        }
        const stored = store === undefined ? undefined : readStored(store, runId);
        if (stored === undefined) throw new EvictedError(runId, this.describe());
        return stored;
      },
    };
  }
}

/** What retention knows of one run. */
interface RunEntry {
  /** Events the log holds of it, counted as batches pass. */
  events: number;
  /** The seq of its first and last events the log holds (-1: none counted yet). */
  firstSeq: number;
  lastSeq: number;
  /** Of those, the events counted in the held total (when it last ended). */
  counted: number;
  /** Its latest slot in the queue of finished runs, or -1 while it is not in it (running, or evicted from it). */
  slot: number;
}

function entryOf(entries: Map<string, RunEntry>, runId: string): RunEntry {
  let entry = entries.get(runId);
  if (entry === undefined) entries.set(runId, entry = { events: 0, firstSeq: -1, lastSeq: -1, counted: 0, slot: -1 });
  return entry;
}

/** Counts a stretch of a run's events, seqs `first` to `last`. */
function counted(entry: RunEntry, n: number, first: number, last: number): void {
  entry.events += n;
  if (entry.firstSeq < 0) entry.firstSeq = first;
  entry.lastSeq = last;
}

/**
 * A retention policy in words, for errors.
 *
 * @param policy The policy.
 * @returns E.g. "the last 1000 finished runs and finished runs up to 100000 events".
 */
export function describeRetention(policy: RetentionPolicy | undefined): string {
  const parts: string[] = [];
  if (policy?.runs !== undefined && policy.runs !== Infinity) parts.push(`the last ${policy.runs} finished runs`);
  if (policy?.ms !== undefined && policy.ms !== Infinity) parts.push(`finished runs for ${policy.ms} ms`);
  if (policy?.events !== undefined && policy.events !== Infinity) {
    parts.push(`finished runs up to ${policy.events} events (the newest finished run always)`);
  }
  return parts.join(" and ");
}

function retentionLimit(name: string, value: number | undefined, min: number): number {
  if (value === undefined || value === Infinity) return Infinity;
  const integer = name !== "ms";
  if (typeof value !== "number" || !(value >= min) || (integer && !Number.isInteger(value))) {
    throw new RangeError(
      `Cannot create snapshot log: retention.${name} ${value} must be ${
        integer ? "an integer" : "a number"
      } >= ${min} or Infinity`,
    );
  }
  return value;
}

/** A run read back from a store that answers synchronously (the memory store), or `undefined`. */
function readStored(store: LogStore, runId: string): RunRec | undefined {
  let stored: StoredRun | readonly AnyFlowEvent[] | Promise<unknown>;
  try {
    stored = store.readRun !== undefined ? store.readRun(runId) : store.read(runId);
  } catch {
    return undefined;
  }
  if (stored instanceof Promise) {
    stored.catch(() => {}); // an asynchronous store: the caller gets EvictedError instead
    return undefined;
  }
  const run = Array.isArray(stored) ? { events: stored as readonly AnyFlowEvent[] } : stored as StoredRun;
  return foldStored(run, runId);
}
