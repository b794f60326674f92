/**
 * The ready queue: tasks whose dependencies completed wait here for a slot.
 * Served by priority, then critical-path rank, then arrival; at most
 * `limit` tasks of a profile and `concurrency` tasks in all run at once.
 * One scheduler serves every run of an engine, since executors are shared.
 *
 * @module
 */
import type { Profile } from "./types.ts";

/** Something the scheduler dispatches: a run, which starts task `index` when told. */
export interface Dispatchable {
  /**
   * Starts the task (the scheduler has taken a slot for it).
   *
   * @param index The task's index in its run.
   */
  dispatch(index: number): void;
  /**
   * Whether the task still waits in the queue (it may have been cancelled).
   *
   * @param index The task's index.
   */
  isQueued(index: number): boolean;
}

interface Entry {
  key: number;
  order: number;
  host: Dispatchable;
  index: number;
}

/** Profile names in slot order. */
export const PROFILES: readonly Profile[] = ["cpu", "io", "mixed", "memory"];
/** Slot index of each profile. */
export const PROFILE_INDEX: Readonly<Record<Profile, number>> = { cpu: 0, io: 1, mixed: 2, memory: 3 };

/** The engine's ready queue and slot accounting. */
export class Scheduler {
  readonly #heaps: Entry[][] = [[], [], [], []];
  readonly #running = new Int32Array(4);
  readonly #limits: Int32Array | Float64Array;
  readonly #concurrency: number;
  #total = 0;
  #order = 0;
  #draining = false;

  /**
   * Creates a scheduler.
   *
   * @param limits Slots per profile.
   * @param concurrency Slots in all.
   */
  constructor(limits: Readonly<Record<Profile, number>>, concurrency: number) {
    this.#limits = Float64Array.from(PROFILES, (p) => limits[p]);
    this.#concurrency = concurrency;
  }

  /** Tasks running now, in all. */
  get running(): number {
    return this.#total;
  }

  /**
   * Tasks running now in one profile.
   *
   * @param profile The profile.
   * @returns The count.
   */
  runningIn(profile: Profile): number {
    return this.#running[PROFILE_INDEX[profile]];
  }

  /**
   * Queues a ready task.
   *
   * @param host Its run.
   * @param index Its index there.
   * @param profile Its profile slot index.
   * @param priority 0 (low) … 3 (critical).
   * @param rank Its critical-path rank.
   */
  push(host: Dispatchable, index: number, profile: number, priority: number, rank: number): void {
    const heap = this.#heaps[profile];
    const entry: Entry = { key: dispatchKey(priority, rank), order: this.#order++, host, index };
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  /**
   * Frees the slot a task held.
   *
   * @param profile Its profile slot index.
   */
  release(profile: number): void {
    this.#running[profile]--;
    this.#total--;
  }

  /** Dispatches queued tasks while slots are free, best first across profiles. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#total < this.#concurrency) {
        let best = -1;
        for (let p = 0; p < 4; p++) {
          const heap = this.#heaps[p];
          while (heap.length > 0 && !heap[0].host.isQueued(heap[0].index)) this.#pop(heap);
          if (heap.length === 0 || this.#running[p] >= this.#limits[p]) continue;
          if (best < 0 || before(heap[0], this.#heaps[best][0])) best = p;
        }
        if (best < 0) break;
        const entry = this.#pop(this.#heaps[best]);
        this.#running[best]++;
        this.#total++;
        entry.host.dispatch(entry.index);
      }
    } finally {
      this.#draining = false;
    }
  }

  #pop(heap: Entry[]): Entry {
    const top = heap[0];
    const last = heap.pop()!;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(heap[r], heap[l]) ? r : l;
        if (!before(heap[c], last)) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.key > b.key || (a.key === b.key && a.order < b.order);
}

/**
 * A binary max-heap of task indices of one run, by a precomputed key
 * (priority, then rank), ties to the lower index. Typed arrays, no objects.
 */
export class IndexHeap {
  readonly #keys: Float64Array;
  readonly #heap: Int32Array;
  #size = 0;

  /**
   * Creates an empty heap.
   *
   * @param keys The key of each index; higher goes first.
   */
  constructor(keys: Float64Array) {
    this.#keys = keys;
    this.#heap = new Int32Array(keys.length);
  }

  /** Indices waiting. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds an index (each at most once at a time).
   *
   * @param index The index.
   */
  push(index: number): void {
    const heap = this.#heap;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(index, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = index;
  }

  /**
   * Removes and returns the first index.
   *
   * @returns The index, or -1 when empty.
   */
  pop(): number {
    if (this.#size === 0) return -1;
    const heap = this.#heap;
    const top = heap[0];
    const last = heap[--this.#size];
    const n = this.#size;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#before(heap[r], heap[l]) ? r : l;
      if (!this.#before(heap[c], last)) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = last;
    return top;
  }

  #before(a: number, b: number): boolean {
    const ka = this.#keys[a];
    const kb = this.#keys[b];
    return ka > kb || (ka === kb && a < b);
  }
}

/**
 * The dispatch key of a task: priority first, then critical-path rank.
 *
 * @param priority 0 (low) … 3 (critical).
 * @param rank Its critical-path rank.
 * @returns The key; higher goes first.
 */
export function dispatchKey(priority: number, rank: number): number {
  return priority * RANK_SPAN + Math.min(rank, RANK_SPAN - 1);
}

/** Ranks are below this, so that priority always dominates. */
const RANK_SPAN = 2 ** 40;
