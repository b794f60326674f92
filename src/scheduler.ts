/**
 * The ready queue: tasks whose dependencies completed wait here for a slot.
 * Served by priority, then critical-path rank, then arrival; at most
 * `limit` tasks of a profile, `concurrency` tasks in all and `keyLimits[key]`
 * tasks of a concurrency key run at once. A task whose key is at its limit
 * is held aside (it takes no profile slot) until a task of that key ends.
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
  profile: number;
  /** Its concurrency key's id, or -1. */
  group: number;
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
  readonly #groupIds = new Map<string, number>();
  readonly #groupLimit: number[] = [];
  readonly #groupRunning: number[] = [];
  readonly #held: Entry[][] = [];

  /**
   * Creates a scheduler.
   *
   * @param limits Slots per profile.
   * @param concurrency Slots in all.
   * @param keyLimits Slots per concurrency key (keys not listed are unlimited).
   * @throws {RangeError} A key limit is not an integer >= 1.
   */
  constructor(
    limits: Readonly<Record<Profile, number>>,
    concurrency: number,
    keyLimits: Readonly<Record<string, number>> = {},
  ) {
    this.#limits = Float64Array.from(PROFILES, (p) => limits[p]);
    this.#concurrency = concurrency;
    for (const [key, limit] of Object.entries(keyLimits)) {
      if (!(Number.isInteger(limit) && limit >= 1)) {
        throw new RangeError(`Cannot create scheduler: keyLimits["${key}"] ${String(limit)} must be an integer >= 1`);
      }
      this.#groupIds.set(key, this.#groupLimit.length);
      this.#groupLimit.push(limit);
      this.#groupRunning.push(0);
      this.#held.push([]);
    }
  }

  /**
   * The id the scheduler uses for a concurrency key.
   *
   * @param key The key.
   * @returns Its id, or -1 when the key has no limit.
   */
  keyId(key: string | undefined): number {
    return key === undefined ? -1 : this.#groupIds.get(key) ?? -1;
  }

  /**
   * Tasks of a concurrency key running now.
   *
   * @param key The key.
   * @returns The count (0 for a key without a limit: those are not counted).
   */
  runningOf(key: string): number {
    const id = this.#groupIds.get(key);
    return id === undefined ? 0 : this.#groupRunning[id];
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
   * @param group Its concurrency key's id (`keyId()`), or -1.
   */
  push(host: Dispatchable, index: number, profile: number, priority: number, rank: number, group = -1): void {
    const entry: Entry = { key: dispatchKey(priority, rank), order: this.#order++, host, index, profile, group };
    this.#insert(entry);
  }

  #insert(entry: Entry): void {
    const heap = this.#heaps[entry.profile];
    heap.push(entry);
    siftUp(heap, heap.length - 1);
  }

  /**
   * Changes the priority of a queued task (a no-op when it is not queued).
   *
   * @param host Its run.
   * @param index Its index there.
   * @param priority 0 (low) … 3 (critical).
   * @param rank Its critical-path rank.
   */
  update(host: Dispatchable, index: number, priority: number, rank: number): void {
    const key = dispatchKey(priority, rank);
    for (const heap of this.#heaps) {
      for (let i = 0; i < heap.length; i++) {
        const e = heap[i];
        if (e.host !== host || e.index !== index || !host.isQueued(index)) continue;
        e.key = key;
        siftDown(heap, siftUp(heap, i));
      }
    }
    for (const held of this.#held) {
      for (const e of held) if (e.host === host && e.index === index) e.key = key;
    }
  }

  /**
   * Frees the slot a task held.
   *
   * @param profile Its profile slot index.
   * @param group Its concurrency key's id, or -1.
   */
  release(profile: number, group = -1): void {
    this.#running[profile]--;
    this.#total--;
    if (group >= 0) {
      this.#groupRunning[group]--;
      const held = this.#held[group];
      // The key has a free slot: what it held competes again, in its order.
      for (let e = held.pop(); e !== undefined; e = held.pop()) this.#insert(e);
    }
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
        const group = entry.group;
        if (group >= 0) {
          if (this.#groupRunning[group] >= this.#groupLimit[group]) {
            this.#held[group].push(entry);
            continue;
          }
          this.#groupRunning[group]++;
        }
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

function siftUp(heap: Entry[], i: number): number {
  const entry = heap[i];
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(entry, heap[parent])) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = entry;
  return i;
}

function siftDown(heap: Entry[], i: number): void {
  const entry = heap[i];
  const n = heap.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && before(heap[r], heap[l]) ? r : l;
    if (!before(heap[c], entry)) break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = entry;
}

/**
 * A binary max-heap of task indices of one run, by a precomputed key
 * (priority, then rank), ties to the lower index. Typed arrays, no objects.
 */
export class IndexHeap {
  #keys: Float64Array;
  #heap: Int32Array;
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
   * Takes a longer key array (the same keys, more indices), keeping what waits.
   *
   * @param keys The new key array.
   */
  resize(keys: Float64Array): void {
    this.#keys = keys;
    if (keys.length > this.#heap.length) {
      const heap = new Int32Array(keys.length);
      heap.set(this.#heap.subarray(0, this.#size));
      this.#heap = heap;
    }
  }

  /** Restores the heap order after keys changed. */
  rebuild(): void {
    const items = this.#heap.slice(0, this.#size);
    this.#size = 0;
    for (const index of items) this.push(index);
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
