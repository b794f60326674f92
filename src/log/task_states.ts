/**
 * A run's task states in the log: `TaskStates`, a persistent vector of them in
 * leaves of 32 tasks, each leaf a `Float64Array` of numbers (status code,
 * attempts, start and end times, order, cached) and, when a task of the leaf
 * holds a result, path or error, an array of those references. A read makes a
 * task's state (a plain object) on demand.
 *
 * Why not a `List` of `TaskState` objects: a finished run the log keeps is
 * copied and promoted by the garbage collector, and per task an object and two
 * boxed times (plus the list's own nodes and owner ids) were ~21 of the ~88
 * objects of a kept 5-task run. Why typed arrays rather than arrays of numbers:
 * their numbers live outside V8's heap, so the scavenger neither copies nor
 * promotes them, and what kept runs promote sets how often a major GC runs,
 * whose marking steps land in runs (a 20-task run promoted ~2.3 KB with arrays
 * of numbers, ~1.5 KB with typed arrays; bench/RESULTS.md §14). A batch's
 * changes copy the leaves they touch (and the array of leaves, one pointer per
 * 32 tasks), never the other leaves.
 *
 * Numbers only: a time that is `undefined` is kept as `NaN` (and a `NaN` time
 * reads back as `undefined`), a task with no state has no status code.
 *
 * @module
 */
import type { ErrorData, TaskPath, TaskStatus } from "../types.ts";
import { STATUS_CODE, TASK_STATUSES } from "../tables.ts";
import { deepEqual } from "./equality.ts";

/** A task's state: what a read of `TaskStates` makes (a new object each time), and what a batch changes. */
export interface TaskDraft {
  status: TaskStatus;
  attempts: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
  result: unknown;
  cached: boolean;
  path: TaskPath | undefined;
  error: ErrorData | undefined;
  order: number;
}

/** Tasks per leaf (a power of two). */
const SHIFT = 5;
const WIDTH = 1 << SHIFT;
const MASK = WIDTH - 1;
/** Numbers per task: status code (`NaN`: no state), attempts, startedAt, endedAt, order, cached (0 or 1). */
const NUMS = 6;
const STATUS = 0, ATTEMPTS = 1, STARTED = 2, ENDED = 3, ORDER = 4, CACHED = 5;
/** References per task: result, path, error. */
const REFS = 3;
const RESULT = 0, PATH = 1, ERROR = 2;

/**
 * A copy of a leaf, at least `length` long, the new slots `fill`: of exactly its length (an array grown by pushes keeps
 * spare room, which a kept run would carry), numbers kept unboxed.
 */
function copy<T>(leaf: T[] | undefined, length: number, fill: T): T[] {
  if (leaf !== undefined && leaf.length >= length) return leaf.slice();
  const old = leaf?.length ?? 0;
  const out = new Array<T>(Math.max(old, length));
  for (let i = 0; i < out.length; i++) out[i] = i < old ? leaf![i] : fill;
  return out;
}
/**
 * Numbers per slab (8 KB). A leaf of numbers is a view into a slab shared with the leaves made after it, so that a new
 * leaf allocates no buffer of its own (an `ArrayBuffer` each cost the hot path ~3%). A slab is freed once no leaf in it
 * is held: a leaf kept long after its neighbours holds up to 8 KB.
 */
const SLAB = 1024;
let slab: Float64Array | undefined;
let slabUsed = SLAB;
/** A new leaf of `length` numbers, carved from the current slab (a new slab when it is full; a long leaf its own). */
function leafOf(length: number): Float64Array {
  if (length > SLAB >> 2) return new Float64Array(length);
  if (slab === undefined || slabUsed + length > SLAB) {
    slab = new Float64Array(SLAB);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + length);
  slabUsed += length;
  return out;
}
/** A copy of a leaf of numbers, at least `length` long, the new slots `NaN`. */
function copyNums(leaf: Float64Array | undefined, length: number): Float64Array {
  const old = leaf?.length ?? 0;
  const out = leafOf(Math.max(old, length));
  if (leaf !== undefined) out.set(leaf);
  if (out.length > old) out.fill(NaN, old);
  return out;
}
/** Leaves: one leaf, or an array of them (see `TaskStates`). */
type Leaves<T> = T | (T | undefined)[] | undefined;
const same = (a: number, b: number) => a === b || (a !== a && b !== b);
const time = (v: number) => v === v ? v : undefined;

/** The task states of one run: a frozen, persistent vector (see the module's documentation). */
export class TaskStates {
  /** Positions held (one past the highest task index written). */
  readonly size: number;
  /**
   * Per leaf, `NUMS` numbers per task (the last leaf only as long as the run's tasks need); a run of at most `WIDTH`
   * tasks holds its one leaf itself, not in an array of leaves (two objects fewer per small run).
   */
  readonly #nums: Leaves<Float64Array>;
  /** Per leaf, `REFS` references per task, or `undefined` while none of its tasks holds one (held as `#nums` is). */
  readonly #refs: Leaves<unknown[]>;

  private constructor(size: number, nums: Leaves<Float64Array>, refs: Leaves<unknown[]>) {
    this.size = size;
    this.#nums = nums;
    this.#refs = refs;
    Object.freeze(this);
  }

  /** No task state. */
  static readonly EMPTY: TaskStates = new TaskStates(0, undefined, undefined);

  /** Leaf `leaf`'s numbers. */
  #n(leaf: number): Float64Array | undefined {
    return this.size > WIDTH
      ? (this.#nums as (Float64Array | undefined)[])[leaf]
      : leaf === 0
      ? this.#nums as Float64Array | undefined
      : undefined;
  }

  /** Leaf `leaf`'s references. */
  #r(leaf: number): unknown[] | undefined {
    return this.size > WIDTH ? (this.#refs as unknown[][])[leaf] : leaf === 0 ? this.#refs as unknown[] : undefined;
  }

  /**
   * The status of task `k`.
   *
   * @param k A task index.
   * @returns Its status, or `undefined` when it has no state yet (pending).
   */
  statusAt(k: number): TaskStatus | undefined {
    const code = this.#n(k >>> SHIFT)?.[(k & MASK) * NUMS + STATUS];
    return code === undefined || code !== code ? undefined : TASK_STATUSES[code];
  }

  /**
   * The state of task `k`, made on demand (a new object, the caller's to change).
   *
   * @param k A task index.
   * @returns Its state, or `undefined` when it has none yet (pending).
   */
  get(k: number): TaskDraft | undefined {
    const nums = this.#n(k >>> SHIFT);
    const at = (k & MASK) * NUMS;
    const code = nums?.[at + STATUS];
    if (nums === undefined || code === undefined || code !== code) return undefined;
    const refs = this.#r(k >>> SHIFT);
    const r = (k & MASK) * REFS;
    return {
      status: TASK_STATUSES[code],
      attempts: nums[at + ATTEMPTS],
      startedAt: time(nums[at + STARTED]),
      endedAt: time(nums[at + ENDED]),
      result: refs?.[r + RESULT],
      cached: nums[at + CACHED] === 1,
      path: refs?.[r + PATH] as TaskPath | undefined,
      error: refs?.[r + ERROR] as ErrorData | undefined,
      order: nums[at + ORDER],
    };
  }

  /**
   * The error task `k` holds, if any.
   *
   * @param k A task index.
   * @returns Its error.
   */
  errorAt(k: number): ErrorData | undefined {
    return this.#r(k >>> SHIFT)?.[(k & MASK) * REFS + ERROR] as ErrorData | undefined;
  }

  /**
   * Calls `fn` with each task that has a state, in index order.
   *
   * @param fn Gets the state and the task's index.
   */
  forEach(fn: (state: TaskDraft, k: number) => void): void {
    for (let k = 0; k < this.size; k++) {
      const t = this.get(k);
      if (t !== undefined) fn(t, k);
    }
  }

  /**
   * These states with some tasks' states replaced: the leaves they sit in are copied, the others shared.
   *
   * @param drafts The new states by task index.
   * @returns The new vector.
   */
  with(drafts: ReadonlyMap<number, TaskDraft>): TaskStates {
    if (drafts.size === 0) return this;
    let size = this.size;
    for (const k of drafts.keys()) if (k >= size) size = k + 1;
    const wide = this.size > WIDTH;
    const oldNums = (wide ? this.#nums : [this.#nums]) as (Float64Array | undefined)[];
    const oldRefs = (wide ? this.#refs : [this.#refs]) as (unknown[] | undefined)[];
    const nums = oldNums.slice();
    const refs = oldRefs.slice();
    for (const [k, t] of drafts) {
      const leaf = k >>> SHIFT;
      const o = k & MASK;
      // A leaf written covers the run's tasks up to `size` (every leaf but the last: all `WIDTH` of them).
      const tasks = Math.min(WIDTH, size - (leaf << SHIFT));
      let n = nums[leaf];
      if (n === undefined || n === oldNums[leaf] || n.length <= o * NUMS) n = nums[leaf] = copyNums(n, tasks * NUMS);
      const at = o * NUMS;
      n[at + STATUS] = STATUS_CODE[t.status];
      n[at + ATTEMPTS] = t.attempts;
      n[at + STARTED] = t.startedAt ?? NaN;
      n[at + ENDED] = t.endedAt ?? NaN;
      n[at + ORDER] = t.order;
      n[at + CACHED] = t.cached ? 1 : 0;
      let r = refs[leaf];
      if (r === undefined && t.result === undefined && t.path === undefined && t.error === undefined) continue;
      if (r === undefined || r === oldRefs[leaf] || r.length <= o * REFS) {
        r = refs[leaf] = copy(r, tasks * REFS, undefined);
      }
      r[o * REFS + RESULT] = t.result;
      r[o * REFS + PATH] = t.path;
      r[o * REFS + ERROR] = t.error;
    }
    return size > WIDTH ? new TaskStates(size, nums, refs) : new TaskStates(size, nums[0], refs[0]);
  }

  /** Equal when every task has an equal state (results and errors compared deeply, paths by identity). */
  equals(other: unknown): boolean {
    if (!(other instanceof TaskStates)) return false;
    if (other === this) return true;
    const n = Math.max(this.size, other.size);
    for (let k = 0; k < n; k++) {
      const a = this.#n(k >>> SHIFT), b = other.#n(k >>> SHIFT);
      const at = (k & MASK) * NUMS;
      const sa = a?.[at + STATUS], sb = b?.[at + STATUS];
      const noneA = sa === undefined || sa !== sa, noneB = sb === undefined || sb !== sb;
      if (noneA || noneB) {
        if (noneA !== noneB) return false;
        continue;
      }
      for (let f = 0; f < NUMS; f++) if (!same(a![at + f], b![at + f])) return false;
      const ra = this.#r(k >>> SHIFT), rb = other.#r(k >>> SHIFT);
      const r = (k & MASK) * REFS;
      if (
        ra?.[r + PATH] !== rb?.[r + PATH] || !deepEqual(ra?.[r + RESULT], rb?.[r + RESULT]) ||
        !deepEqual(ra?.[r + ERROR], rb?.[r + ERROR])
      ) return false;
    }
    return true;
  }

  hashCode(): number {
    let h = 0;
    for (let k = 0; k < this.size; k++) {
      const order = this.#n(k >>> SHIFT)?.[(k & MASK) * NUMS + ORDER];
      if (order !== undefined && order === order) h = (h * 31 + order) | 0;
    }
    return h;
  }
}
