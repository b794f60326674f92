/**
 * Batches reaching the log's store, and their acknowledgement: on a durable
 * store (`store.durable`) an event counts as acknowledged only once the store
 * has stored it and every earlier one, in order, whatever order its promises
 * settle in; on any other store, at once. `Durability` holds `durableSeq`, the
 * waiters of `whenDurable` and the listeners of `onDurable`; the first store
 * failure is final.
 *
 * @module
 */
import type { AnyFlowEvent, LogStore } from "../types.ts";
import { freezeEvents, OWN_STORES } from "./_frozen.ts";
import type { RunCheckpoints } from "./checkpoints.ts";
import type { Core } from "./records.ts";

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** What the store has acknowledged, and who waits for it. */
export class Durability {
  /** Whether the store is durable. */
  readonly durable: boolean;
  /** The seq of the last event acknowledged. */
  durableSeq: number;
  /** Listeners of acknowledged batches. */
  readonly listeners = new Set<(events: readonly AnyFlowEvent[]) => void>();
  /** The store's first failure, once it failed. */
  failure: { error: unknown } | undefined;
  readonly #store: LogStore | undefined;
  readonly #onStoreError: (error: unknown) => void;
  readonly #checkpoints: RunCheckpoints | undefined;
  #acked: Promise<void> = Promise.resolve();
  readonly #waiters: Waiter[] = [];

  /**
   * @param store The log's store, if any.
   * @param seq The seq already acknowledged (the store's `lastSeq`).
   * @param onStoreError Called when the store rejects a batch.
   * @param checkpoints The run checkpoints the store takes, if any.
   */
  constructor(
    store: LogStore | undefined,
    seq: number,
    onStoreError: (error: unknown) => void,
    checkpoints: RunCheckpoints | undefined,
  ) {
    this.#store = store;
    this.durable = store?.durable === true;
    this.durableSeq = seq;
    this.#onStoreError = onStoreError;
    this.#checkpoints = checkpoints;
  }

  /**
   * Hands a batch to the store (or, with no store, acknowledges it).
   *
   * @param batch The events, in seq order.
   * @param core The log's state after them (for run checkpoints).
   */
  store(batch: AnyFlowEvent[], core: Core): void {
    const store = this.#store;
    if (store === undefined) {
      this.acknowledge(batch);
      return;
    }
    // A store we did not make may keep the events and hand them out: they are frozen first.
    if (!OWN_STORES.has(store)) freezeEvents(batch);
    let done: void | Promise<void>;
    try {
      done = store.append(batch);
    } catch (error) {
      done = Promise.reject(error);
    }
    if (!this.durable) {
      if (done instanceof Promise) done.catch(this.#onStoreError);
      this.acknowledge(batch);
      return;
    }
    // Acknowledge in order, whatever order the store's promises settle in.
    const stored = Promise.resolve(done);
    stored.catch(() => {}); // Handled below, in order; not an unhandled rejection meanwhile.
    this.#acked = this.#acked.then(() => stored).then(() => this.acknowledge(batch), this.fail);
    this.#checkpoints?.note(batch, core, this.fail);
  }

  /**
   * Marks a batch acknowledged: tells the listeners and resolves the waiters it satisfies.
   *
   * @param batch The events, in seq order.
   */
  acknowledge(batch: readonly AnyFlowEvent[]): void {
    if (this.failure !== undefined) return;
    this.durableSeq = batch[batch.length - 1].seq;
    if (this.listeners.size > 0) freezeEvents(batch);
    for (const listener of this.listeners) {
      try {
        listener(batch);
      } catch (error) {
        console.error("nerv-flow: a durability listener threw", error);
      }
    }
    const waiters = this.#waiters;
    let k = 0;
    while (k < waiters.length && waiters[k].seq <= this.durableSeq) waiters[k++].resolve();
    if (k > 0) waiters.splice(0, k);
  }

  /**
   * Records the store's failure (the first only) and rejects every waiter.
   *
   * @param error The store's error.
   */
  readonly fail = (error: unknown): void => {
    if (this.failure !== undefined) return;
    this.failure = { error };
    this.#onStoreError(error);
    for (const w of this.#waiters.splice(0)) w.reject(error);
  };

  /**
   * Waits until the event with this seq and every earlier one are acknowledged.
   *
   * @param seq A seq.
   * @returns When they are; rejects with the store's error once it failed.
   */
  wait(seq: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure.error);
    if (this.durableSeq >= seq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      // Kept in seq order, so the oldest waiters are served first.
      const waiters = this.#waiters;
      let k = waiters.length;
      while (k > 0 && waiters[k - 1].seq > seq) k--;
      waiters.splice(k, 0, { seq, resolve, reject });
    });
  }
}
