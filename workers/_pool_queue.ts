/**
 * The worker pool's queue: the tasks waiting for a worker, the adaptive batch
 * size, and the pump that hands batches to idle workers.
 *
 * Private to `workers/pool.ts`. Depends on the slots (to find idle workers and
 * start missing ones), never on the wire or on abort handling.
 *
 * @module
 */
import type { RemoteTask } from "../src/tasks.ts";
import type { Slot, Slots } from "./_pool_slots.ts";

/** A task given to the pool and not settled yet. */
export interface Pending extends RemoteTask {
  id: number;
  /** The worker holding it (its batch was sent and not answered), or `undefined` while it waits. */
  slot: Slot | undefined;
  /** Goes out alone: it shared a batch that could not be sent, and the culprit was not found. */
  solo: boolean;
}

/** The tasks waiting for a worker, oldest first (a head index, compacted now and then). */
export class TaskQueue {
  #items: Pending[] = [];
  #head = 0;

  /** Tasks waiting (settled ones not yet skipped count until `dropSettled` or `take`). */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /**
   * Adds a task at the back.
   *
   * @param p The task.
   */
  push(p: Pending): void {
    this.#items.push(p);
  }

  /**
   * Puts tasks back at the front, in their order (a worker that held them is gone).
   *
   * @param tasks The tasks.
   */
  requeue(tasks: Pending[]): void {
    this.#items = [...tasks, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }

  /** Drops settled tasks now, so that `length` counts only live ones and their payloads go. */
  dropSettled(): void {
    this.#items = this.#items.slice(this.#head).filter((p) => !p.done);
    this.#head = 0;
  }

  /**
   * Empties the queue.
   *
   * @returns What waited.
   */
  takeAll(): Pending[] {
    const waiting = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return waiting;
  }

  /**
   * Takes the next batch: up to `most` live tasks; a solo task goes alone.
   *
   * @param most The batch size wanted.
   * @returns The batch (empty when only settled tasks waited).
   */
  take(most: number): Pending[] {
    const items = this.#items;
    const batch: Pending[] = [];
    let head = this.#head;
    while (batch.length < most && head < items.length) {
      const p = items[head];
      if (p.solo && batch.length > 0) break;
      head++;
      if (p.done) continue;
      batch.push(p);
      if (p.solo) break;
    }
    if (head > 4096 && head * 2 > items.length) {
      this.#items = items.slice(head);
      head = 0;
    }
    this.#head = head;
    return batch;
  }
}

/** The batch size: as many tasks as take about `targetMs`, from measured task times (smoothed). */
export class BatchSizer {
  /** The current batch size: 1 until a batch was timed. */
  size = 1;
  #perTaskMs: number;
  readonly #targetMs: number;
  readonly #max: number;

  /**
   * @param targetMs The time a batch should take.
   * @param max The largest batch.
   */
  constructor(targetMs: number, max: number) {
    this.#targetMs = targetMs;
    this.#max = max;
    this.#perTaskMs = targetMs; // start by sending tasks alone
  }

  /**
   * Counts a batch's time.
   *
   * @param elapsedMs How long the worker took for it.
   * @param tasks Its tasks.
   */
  record(elapsedMs: number, tasks: number): void {
    this.#perTaskMs = this.#perTaskMs * 0.7 + (elapsedMs / tasks) * 0.3;
    this.size = Math.max(1, Math.min(this.#max, Math.floor(this.#targetMs / Math.max(this.#perTaskMs, 1e-4))));
  }
}

/**
 * Hands waiting tasks to workers: idle workers first, the waiting tasks
 * shared among them; then, when tasks are small (batches of 8 or more), a
 * second batch behind the first, so a worker never waits for the main thread
 * between batches. Starts missing workers unless starts are backing off.
 *
 * @param queue The waiting tasks.
 * @param sizer The batch size.
 * @param slots The workers.
 * @param send Sends one batch to one worker.
 */
export function pump(
  queue: TaskQueue,
  sizer: BatchSizer,
  slots: Slots,
  send: (slot: Slot, batch: Pending[]) => void,
): void {
  if (slots.closed) return;
  let waiting = queue.length;
  if (waiting === 0) return;
  const list = slots.list;
  const size = list.length;
  let idle = 0;
  for (let k = 0; k < size; k++) {
    const s = list[k];
    if (s === undefined || (!s.dead && s.inflight.length === 0)) idle++;
  }
  for (let pass = 0; pass < 2 && waiting > 0; pass++) {
    if (pass === 1 && sizer.size < 8) break;
    for (let k = 0; k < size && waiting > 0; k++) {
      let slot = list[k];
      if (slot !== undefined && (slot.dead || slot.inflight.length !== pass)) continue;
      if (slot === undefined) {
        if (slots.backingOff()) {
          slots.armRetry();
          continue;
        }
        slot = slots.spawn(k);
        if (slot === undefined) return; // the start failed at once; `failedStart` took over
      }
      const take = Math.max(1, Math.min(sizer.size, Math.ceil(waiting / Math.max(1, idle))));
      const batch = queue.take(take);
      if (pass === 0) idle--;
      waiting = queue.length;
      if (batch.length > 0) send(slot, batch);
    }
  }
}
