/**
 * The log's two kinds of checkpoint. `StateCheckpoints`: states kept every
 * `checkpointEvery` events, so time travel (`at(seq)`) folds from the nearest
 * one. `RunCheckpoints`: each live run's state written to a store that takes
 * checkpoints (`LogStore.writeCheckpoint`), so a resume folds a checkpoint
 * and the events after it rather than the whole run.
 *
 * @module
 */
import { deepFreeze } from "../freeze.ts";
import type { AnyFlowEvent, LogStore, RunCheckpoint } from "../types.ts";
import { exportRun } from "./fold.ts";
import { type Core, EMPTY_CORE, isRunEnded } from "./records.ts";

/** States of the log every so many events, oldest first: where time travel starts folding. */
export class StateCheckpoints {
  #list: Core[] = [EMPTY_CORE];
  readonly #every: number;

  /** @param every Keep a state once this many events were folded since the last one kept. */
  constructor(every: number) {
    this.#every = every;
  }

  /**
   * Keeps `core` when it is far enough from the last state kept.
   *
   * @param core The state after a batch.
   */
  note(core: Core): void {
    if (core.size - this.#list[this.#list.length - 1].size >= this.#every) this.#list.push(core);
  }

  /**
   * The latest state kept that folds at most `position` events.
   *
   * @param position A number of events.
   * @returns The state to fold on from.
   */
  before(position: number): Core {
    const list = this.#list;
    let base = list[0];
    for (let lo = 0, hi = list.length - 1; lo <= hi;) {
      const mid = (lo + hi) >>> 1;
      if (list[mid].size <= position) {
        base = list[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return base;
  }

  /**
   * Forgets every state kept and starts again from `base` (after a compaction).
   *
   * @param base The first state.
   */
  reset(base: Core): void {
    this.#list = [base];
  }

  /** Forgets every state kept but the first (they lack a projection just registered). */
  keepFirst(): void {
    this.#list.length = 1;
  }
}

/** Writes each live run's state to the store every so many of its events. */
export class RunCheckpoints {
  readonly #store: LogStore;
  readonly #every: number;
  readonly #since = new Map<string, number>();

  /**
   * @param store A store with `writeCheckpoint`.
   * @param every Events of a run between two checkpoints (at least its number of tasks).
   */
  constructor(store: LogStore, every: number) {
    this.#store = store;
    this.#every = every;
  }

  /**
   * The checkpoints a store asks for, if any.
   *
   * @param store The log's store.
   * @returns `undefined` when it takes none, or asks for none with `runCheckpointEvery: Infinity`.
   */
  static of(store: LogStore | undefined): RunCheckpoints | undefined {
    const every = store?.writeCheckpoint === undefined ? 0 : store.runCheckpointEvery ?? 10_000;
    return Number.isFinite(every) && every > 0 ? new RunCheckpoints(store!, every) : undefined;
  }

  /**
   * Counts a batch's events per run and writes the checkpoints due.
   *
   * @param batch The events just handed to the store.
   * @param core The state after them.
   * @param fail Called with the store's error.
   */
  note(batch: readonly AnyFlowEvent[], core: Core, fail: (error: unknown) => void): void {
    const since = this.#since;
    for (let i = 0; i < batch.length; i++) {
      const runId = batch[i].runId;
      since.set(runId, (since.get(runId) ?? 0) + 1);
    }
    for (const [runId, count] of since) {
      const run = core.runs.get(runId);
      if (run === undefined || isRunEnded(run.status)) {
        since.delete(runId);
        continue;
      }
      if (count < Math.max(this.#every, run.taskIds.size)) continue;
      since.set(runId, 0);
      // Frozen: the store may keep it, and it shares the log's values.
      const checkpoint: RunCheckpoint = deepFreeze({ runId, seq: core.seq, state: exportRun(run) });
      try {
        const done = this.#store.writeCheckpoint!(checkpoint);
        if (done instanceof Promise) done.catch(fail);
      } catch (error) {
        fail(error);
      }
    }
  }

  /**
   * Stops counting a run (evicted).
   *
   * @param runId The run.
   */
  forget(runId: string): void {
    this.#since.delete(runId);
  }
}
