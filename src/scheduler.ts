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
import { PROFILES } from "./tables.ts";
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

/** Where an entry is: free, in its profile's heap, or held aside by its concurrency key. */
const FREE = 0, QUEUED = 1, HELD = 2;

/**
 * The engine's ready queue and slot accounting.
 *
 * One heap serves both levels of the ready queue: each run keeps its ready
 * tasks beyond its ready window in an {@linkcode IndexHeap} over its own task
 * indices (typed arrays, no object per task), and this scheduler keeps one
 * `IndexHeap` per profile over its entries, which live in typed arrays too
 * (an entry is a slot id, recycled when its task is dispatched). There are
 * two levels, not one shared heap, because a run creates a task's actor only
 * when the task enters its ready window, and because the scheduler serves
 * many runs at once (an entry names its run).
 */
export class Scheduler {
  readonly #heaps: IndexHeap[];
  readonly #running = new Int32Array(4);
  readonly #limits: Int32Array | Float64Array;
  readonly #concurrency: number;
  #total = 0;
  #order = 0;
  #draining = false;
  readonly #groupIds = new Map<string, number>();
  readonly #groupLimit: number[] = [];
  readonly #groupRunning: number[] = [];
  /** Per concurrency key: the entries held aside while the key is at its limit. */
  readonly #held: number[][] = [];
  // The entries, by id: dispatch key, arrival order, run, task index, profile, concurrency key id, where.
  #keys = new Float64Array(64);
  #arrival = new Float64Array(64);
  readonly #hosts: (Dispatchable | undefined)[] = [];
  #index = new Int32Array(64);
  #profile = new Uint8Array(64);
  #group = new Int32Array(64);
  #where = new Uint8Array(64);
  /** Ids never used yet start here; freed ids are reused first. */
  #next = 0;
  readonly #free: number[] = [];

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
    this.#heaps = PROFILES.map(() => new IndexHeap(this.#keys, this.#arrival));
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

  /** Tasks running now, in all. */
  get running(): number {
    return this.#total;
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
    let id = this.#free.pop();
    if (id === undefined) {
      id = this.#next++;
      if (id === this.#keys.length) this.#grow();
    }
    this.#keys[id] = dispatchKey(priority, rank);
    this.#arrival[id] = this.#order++;
    this.#hosts[id] = host;
    this.#index[id] = index;
    this.#profile[id] = profile;
    this.#group[id] = group;
    this.#where[id] = QUEUED;
    this.#heaps[profile].push(id);
  }

  #grow(): void {
    const cap = this.#keys.length * 2;
    this.#keys = grown(this.#keys, new Float64Array(cap));
    this.#arrival = grown(this.#arrival, new Float64Array(cap));
    this.#index = grown(this.#index, new Int32Array(cap));
    this.#profile = grown(this.#profile, new Uint8Array(cap));
    this.#group = grown(this.#group, new Int32Array(cap));
    this.#where = grown(this.#where, new Uint8Array(cap));
    for (const heap of this.#heaps) heap.resize(this.#keys, this.#arrival);
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
    for (let id = 0; id < this.#next; id++) {
      if (this.#hosts[id] !== host || this.#index[id] !== index) continue;
      const where = this.#where[id];
      if (where === HELD) this.#keys[id] = key;
      else if (where === QUEUED && host.isQueued(index)) {
        this.#keys[id] = key;
        this.#heaps[this.#profile[id]].fix(id);
      }
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
      for (let id = held.pop(); id !== undefined; id = held.pop()) {
        this.#where[id] = QUEUED;
        this.#heaps[this.#profile[id]].push(id);
      }
    }
  }

  /** Dispatches queued tasks while slots are free, best first across profiles. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    const heaps = this.#heaps;
    const hosts = this.#hosts;
    try {
      while (this.#total < this.#concurrency) {
        let best = -1;
        let bestId = -1;
        for (let p = 0; p < 4; p++) {
          const heap = heaps[p];
          let top = heap.peek();
          while (top >= 0 && !hosts[top]!.isQueued(this.#index[top])) {
            this.#recycle(heap.pop());
            top = heap.peek();
          }
          if (top < 0 || this.#running[p] >= this.#limits[p]) continue;
          if (best < 0 || heap.before(top, bestId)) {
            best = p;
            bestId = top;
          }
        }
        if (best < 0) break;
        const id = heaps[best].pop();
        const group = this.#group[id];
        if (group >= 0) {
          if (this.#groupRunning[group] >= this.#groupLimit[group]) {
            this.#where[id] = HELD;
            this.#held[group].push(id);
            continue;
          }
          this.#groupRunning[group]++;
        }
        this.#running[best]++;
        this.#total++;
        const host = hosts[id]!;
        const index = this.#index[id];
        this.#recycle(id);
        host.dispatch(index);
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Frees an entry id for reuse (and its run for the garbage collector). */
  #recycle(id: number): void {
    this.#hosts[id] = undefined;
    this.#where[id] = FREE;
    this.#free.push(id);
  }
}

function grown<T extends Float64Array | Int32Array | Uint8Array>(from: T, to: T): T {
  to.set(from as never);
  return to;
}

/**
 * A binary max-heap of small integers (task indices, scheduler entry ids) by
 * a key array, higher first; ties go to the lower `order` (when given) or the
 * lower integer. Typed arrays, no objects. Serves both levels of the ready
 * queue: a run's backlog and the scheduler's per-profile queues.
 */
export class IndexHeap {
  #keys: Float64Array;
  #order: Float64Array | undefined;
  #heap: Int32Array;
  #size = 0;

  /**
   * Creates an empty heap.
   *
   * @param keys The key of each integer; higher goes first.
   * @param order The tie-break of each integer, lower first (default: the integer itself).
   * @param heap Room for the heap, as long as `keys` (default: a new array).
   */
  constructor(keys: Float64Array, order?: Float64Array, heap?: Int32Array) {
    this.#keys = keys;
    this.#order = order;
    this.#heap = heap ?? new Int32Array(keys.length);
  }

  /** Integers waiting. */
  get size(): number {
    return this.#size;
  }

  /**
   * Takes longer key (and order) arrays (the same values, more integers), keeping what waits.
   *
   * @param keys The new key array.
   * @param order The new order array, when the heap has one.
   */
  resize(keys: Float64Array, order?: Float64Array): void {
    this.#keys = keys;
    if (order !== undefined) this.#order = order;
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
   * Restores the heap order after the key of one waiting integer changed (a no-op when it does not wait).
   *
   * @param item The integer.
   */
  fix(item: number): void {
    const i = this.#heap.subarray(0, this.#size).indexOf(item);
    if (i >= 0) this.#siftDown(this.#siftUp(item, i));
  }

  /**
   * Adds an integer (each at most once at a time).
   *
   * @param item The integer.
   */
  push(item: number): void {
    this.#siftUp(item, this.#size++);
  }

  /**
   * The first integer, left waiting.
   *
   * @returns The integer, or -1 when empty.
   */
  peek(): number {
    return this.#size === 0 ? -1 : this.#heap[0];
  }

  /**
   * Removes and returns the first integer.
   *
   * @returns The integer, or -1 when empty.
   */
  pop(): number {
    if (this.#size === 0) return -1;
    const heap = this.#heap;
    const top = heap[0];
    const last = heap[--this.#size];
    if (this.#size > 0) {
      heap[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /**
   * Whether `a` goes before `b`: a higher key, or the same key and a lower order.
   *
   * @param a An integer.
   * @param b Another.
   * @returns `true` when `a` goes first.
   */
  before(a: number, b: number): boolean {
    const ka = this.#keys[a];
    const kb = this.#keys[b];
    if (ka !== kb) return ka > kb;
    const order = this.#order;
    return order === undefined ? a < b : order[a] < order[b];
  }

  /** Moves `item` (to be placed at `i`) up to its place; returns where it lands. */
  #siftUp(item: number, i: number): number {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(item, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = item;
    return i;
  }

  /** Moves the integer at `i` down to its place. */
  #siftDown(i: number): void {
    const heap = this.#heap;
    const item = heap[i];
    const n = this.#size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(heap[r], heap[l]) ? r : l;
      if (!this.before(heap[c], item)) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = item;
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
