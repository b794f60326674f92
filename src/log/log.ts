/**
 * The snapshot log: every event, in order (an append-only journal), and the
 * state derived from it (persistent Immutable.js records, shared by every
 * view and checkpoint). Serves projections (task status, workflow status, completed,
 * failed, and user-registered ones), time travel with `at(seq)`, replay, and
 * JSON export. Events reach a `LogStore` in order.
 *
 * Appending is O(1): events are folded into the persistent state in batches
 * (on read, every `batchSize` events, and at the end of each macrotask, by a
 * zero-delay timer of the log's `Clock`), with Immutable's transient
 * mutations, so the engine's hot path only pushes to an array.
 *
 * On a durable store (`store.durable`), `durableSeq`, `whenDurable()`,
 * `sync()` and `onDurable()` say which events the store has acknowledged; the
 * engine acknowledges nothing before that. Batches go to the store at the end
 * of each macrotask, or at the end of the current microtask burst when
 * someone waits for them (`whenDurable`).
 *
 * This file holds the log object and its batching; the state and its reducer
 * (`records.ts`, `fold.ts`), reading it (`projections.ts`), acknowledgement
 * (`durability.ts`), checkpoints (`checkpoints.ts`) and retention
 * (`retention.ts`) live beside it.
 *
 * @module
 */
import { EvictedError } from "../errors.ts";
import { systemClock } from "../clock.ts";
import type { AnyFlowEvent } from "../types.ts";
import { freezeEvents } from "./_frozen.ts";
import { RunCheckpoints, StateCheckpoints } from "./checkpoints.ts";
import { Durability } from "./durability.ts";
import { fold } from "./fold.ts";
import { Journal } from "./journal.ts";
import { BUILTINS, StateView } from "./projections.ts";
import { type Core, EMPTY_CORE } from "./records.ts";
import { Retention } from "./retention.ts";
import type { BuiltinProjections, LogState, ProjectionDef, SnapshotLog, SnapshotLogOptions } from "./types.ts";

/**
 * Subscribers of the engine's own that read a batch's events and hand none of them to user code (the engine's store
 * sync): the log need not freeze a batch for them.
 */
export const ENGINE_LISTENERS = new WeakSet<(state: LogState, batch: readonly AnyFlowEvent[]) => void>();

/**
 * Creates a snapshot log.
 *
 * @param options Store, batch and checkpoint sizes.
 * @returns The log.
 * @throws {RangeError} A size is not a positive integer.
 *
 * @example Projections and time travel
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import assert from "node:assert/strict";
 * const engine = createEngine();
 * const wf = defineWorkflow({ name: "two", tasks: [
 *   { id: "a", run: () => 1 },
 *   { id: "b", dependsOn: ["a"], run: ({ deps }) => Number(deps.a) + 1 },
 * ] });
 * const { runId } = await engine.run(wf);
 * const log = engine.log;
 * assert.deepEqual(log.project("completedTasks", runId), ["a", "b"]);
 * const firstDone = log.events(runId).find((e) => e.type === "task.completed")!;
 * assert.deepEqual(log.at(firstDone.seq).project("completedTasks", runId), ["a"]);
 * assert.ok(log.replay(log.events()).equals(log.state()));
 * await engine.close();
 * ```
 */
export function createSnapshotLog(options: SnapshotLogOptions = {}): SnapshotLog {
  const batchSize = positiveInt("batchSize", options.batchSize ?? 4096);
  const stateCheckpoints = new StateCheckpoints(positiveInt("checkpointEvery", options.checkpointEvery ?? 16384));
  const store = options.store;
  const clock = options.clock ?? systemClock;
  const onStoreError = options.onStoreError ??
    ((error: unknown) => console.error("nerv-flow: the log store rejected a batch", error));
  const storeSeq = store?.lastSeq ?? 0;
  if (!Number.isInteger(storeSeq) || storeSeq < 0) {
    throw new RangeError(`Cannot create snapshot log: the store's lastSeq ${storeSeq} must be an integer >= 0`);
  }
  const runCheckpoints = RunCheckpoints.of(store);
  const durability = new Durability(store, storeSeq, onStoreError, runCheckpoints);
  const retention = new Retention(options.retention);
  const lookup = retention.lookup(store);
  // The journal: every event held, in order, in chunks (appending never copies; only compaction drops events). The
  // persistent structure is the state folded from it (`core`), which views and checkpoints share.
  const events = new Journal();
  let pending: AnyFlowEvent[] = [];
  let core: Core = EMPTY_CORE;
  let view: StateView | undefined;
  let lastSeq = storeSeq;
  let timer: unknown;
  let burst = false;
  const projections: ProjectionDef<unknown>[] = [];
  const listeners = new Set<(state: LogState, batch: readonly AnyFlowEvent[]) => void>();

  /** Removes the runs the retention policy evicts after `batch`, and their events once they are many. */
  const evict = (batch: readonly AnyFlowEvent[]) => {
    const gone = retention.evictions(batch, core.runs);
    if (gone !== undefined) drop(gone);
  };
  /** Removes evicted runs from the state, and the events of evicted runs once they are many. */
  const drop = (gone: readonly string[]) => {
    const runs = gone.length === 1
      ? core.runs.delete(gone[0]) // the usual case (one run ends, one goes): no transient map for it
      : core.runs.withMutations((m) => gone.forEach((runId) => m.delete(runId)));
    core = { ...core, runs };
    if (runCheckpoints !== undefined) { for (const runId of gone) runCheckpoints.forget(runId); }
    if (retention.shouldCompact(events.length)) {
      // Runs evicted oldest first leave their events at the front: drop them as a prefix (no copy, no pass over the
      // kept ones); the count says the bookkeeping agrees with the journal, else the general rebuild.
      const through = retention.droppedPrefix();
      if (through !== undefined && events.positionOf(through) === retention.droppedEvents) events.dropThrough(through);
      else events.drop(retention.dropped);
      retention.compact();
      core = { ...core, size: events.length };
      stateCheckpoints.reset({ ...EMPTY_CORE, custom: core.custom.clear() });
    }
    retention.notify(gone);
  };
  // The end-of-macrotask timer is left to fire after a flush on read (it then finds nothing or the events appended
  // since): one timer per macrotask at most, where setting and clearing one per batch cost ~3 µs a small run.
  const onTimer = () => {
    timer = undefined;
    flush();
  };
  /** Whether a subscriber is not the engine's own (a look-up per subscriber and flush, not per event). */
  const userListening = () => {
    for (const listener of listeners) if (!ENGINE_LISTENERS.has(listener)) return true;
    return false;
  };
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    // Registered projections and subscribers are user code: they get the events frozen (the journal keeps their data).
    if (projections.length > 0 || userListening()) freezeEvents(batch);
    for (let i = 0; i < batch.length; i++) events.push(batch[i]);
    core = fold(core, batch, 0, batch.length, projections);
    view = undefined;
    if (retention.bounded) evict(batch);
    stateCheckpoints.note(core);
    durability.store(batch, core);
    if (listeners.size > 0) {
      const state = current();
      for (const listener of listeners) {
        try {
          listener(state, batch);
        } catch (error) {
          console.error("nerv-flow: a log subscriber threw", error);
        }
      }
    }
  };
  const whenDurable = (seq: number): Promise<void> => {
    if (
      durability.failure === undefined && durability.durableSeq < seq && pending.length > 0 &&
      seq >= pending[0].seq && !burst
    ) {
      // Someone waits for events not handed over yet: hand them over at the end of this burst, not after a timer.
      burst = true;
      queueMicrotask(endBurst);
    }
    return durability.wait(seq);
  };
  const endBurst = () => {
    burst = false;
    flush();
  };
  const current = (): StateView => {
    flush();
    return view ??= new StateView(core, projections, lookup);
  };
  /** The events held, evicted runs' left out, optionally of one run only. */
  const held = (runId?: string): AnyFlowEvent[] => {
    const dropped = retention.dropped;
    if (dropped.size > 0) return events.ofRuns((id) => (runId === undefined || id === runId) && !dropped.has(id));
    return runId === undefined ? events.slice() : events.ofRuns((id) => id === runId);
  };

  return {
    get seq() {
      return lastSeq;
    },
    durable: durability.durable,
    get durableSeq() {
      return durability.durableSeq;
    },
    nextSeq() {
      return lastSeq + 1;
    },
    append(event) {
      if (typeof event.seq !== "number") {
        throw new TypeError(`Cannot append event with seq ${String(event.seq)}: a seq is a number`);
      }
      if (!(event.seq > lastSeq)) {
        throw new RangeError(`Cannot append event with seq ${event.seq}: the log is at seq ${lastSeq}`);
      }
      lastSeq = event.seq;
      pending.push(event);
      if (pending.length >= batchSize) flush();
      else if (pending.length === 1 && timer === undefined && (listeners.size > 0 || store !== undefined)) {
        timer = clock.setTimeout(onTimer, 0);
      }
    },
    sync() {
      flush();
      return whenDurable(lastSeq);
    },
    whenDurable,
    onDurable(listener) {
      durability.listeners.add(listener);
      return () => durability.listeners.delete(listener);
    },
    events(runId) {
      flush();
      if (runId !== undefined && lookup.evicted(runId) && !core.runs.has(runId)) {
        lookup.load(runId); // throws unless the store has it
        const stored = store!.read(runId);
        if (stored instanceof Promise) throw new EvictedError(runId, retention.describe());
        return freezeEvents(stored.slice());
      }
      return freezeEvents(held(runId));
    },
    state: current,
    at(seq) {
      flush();
      if (!Number.isInteger(seq) || seq < 0 || seq > lastSeq) {
        throw new RangeError(`Cannot travel to seq ${seq}: expected an integer in [0, ${lastSeq}]`);
      }
      const position = events.positionOf(seq);
      const base = stateCheckpoints.before(position);
      const slice = events.slice(base.size, position);
      const past = new StateView(fold(base, slice, 0, slice.length, projections), projections, lookup);
      if (retention.compacted && projections.length > 0) past.partial = true;
      return past;
    },
    replay(input) {
      return new StateView(fold(EMPTY_CORE, input, 0, input.length, projections), projections);
    },
    project(name: string, runId?: string) {
      return current().project(name as keyof BuiltinProjections, runId);
    },
    register<T>(def: ProjectionDef<T>) {
      if (def === null || typeof def !== "object" || typeof def.name !== "string" || typeof def.reduce !== "function") {
        throw new TypeError("Cannot register projection: expected { name, initial, reduce }");
      }
      if (def.name in BUILTINS || projections.some((p) => p.name === def.name)) {
        throw new TypeError(`Cannot register projection "${def.name}": the name is taken`);
      }
      flush();
      const p = def as ProjectionDef<unknown>;
      projections.push(p);
      let value = p.initial;
      for (const e of freezeEvents(events.slice())) value = p.reduce(value, e);
      core = { ...core, custom: core.custom.set(p.name, value) };
      // Earlier checkpoints lack the new projection: keep only the empty one.
      stateCheckpoints.keepFirst();
      view = undefined;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush,
    onEvict(listener) {
      retention.listeners.add(listener);
      return () => retention.listeners.delete(listener);
    },
    evicted(runId) {
      return lookup.evicted(runId);
    },
    release(runId) {
      flush();
      if (!retention.bounded || !core.runs.has(runId) || retention.isEvicted(runId)) return;
      retention.release(runId);
      drop([runId]);
      view = undefined;
    },
    toJSON() {
      flush();
      return { format: "nerv-flow/log", version: 1, events: freezeEvents(held()) };
    },
    close() {
      flush();
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      listeners.clear();
    },
  };
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot create snapshot log: ${name} ${value} must be an integer >= 1`);
  }
  return value;
}
