/**
 * A run's task table: one typed array per fact about its tasks, indexed by
 * task, with the graph and specs they belong to, and their growth (by the
 * growing graph's capacity doubling) when tasks are added during the run.
 *
 * Plain data with public fields: the run and its collaborators read and
 * write it on the hot path, so nothing here allocates per task. It depends
 * on the graph and the scheduler's dispatch keys, never on actors or the log.
 *
 * @module
 */
import type { AnyActorRef } from "../deps.ts";
import type { Graph } from "../graph.ts";
import { GrowingGraph } from "../graph/growing.ts";
import { type Dispatchable, dispatchKey, IndexHeap, type Scheduler } from "../scheduler.ts";
import { PROFILE_INDEX, STATUS_CODE, TERMINAL_OF } from "../tables.ts";
import type { TaskDef, TaskSpec, TerminalTaskStatus } from "../types.ts";

/** How a run orders its ready tasks. */
export type Ordering = "critical-path" | "fifo" | "io-first";

/** A task's status code while it has not ended. */
export const UNSETTLED = 0;
/** Status codes of ended tasks: the log's codes (`src/tables.ts`, the one table of statuses). */
export const CODE: Readonly<Record<TerminalTaskStatus, number>> = STATUS_CODE;
/** Ended tasks' statuses by code. */
export const STATUS_OF: readonly (TerminalTaskStatus | undefined)[] = TERMINAL_OF;
const NO_DEPS: Readonly<Record<string, unknown>> = Object.freeze({});

/** The per-task state of one run. */
export class TaskTable {
  g: Graph;
  /** Specs by index, including tasks added during the run. */
  tasks: readonly TaskSpec<unknown>[];
  /** The run's own graph once tasks were added (`ctx.spawn`, a resumed run's added tasks). */
  grown: GrowingGraph | undefined;
  /** Length of the per-task arrays (at least the number of tasks; more once tasks were added). */
  cap: number;
  /** Per task: UNSETTLED or its end's `CODE`. */
  status: Uint8Array;
  /** Per task: dependencies not yet completed. */
  remaining: Int32Array;
  /** Per task: 1 = its actor was created (it may have ended since). */
  spawned: Uint8Array;
  /** Per task: 1 = in the scheduler's ready queue. */
  queued: Uint8Array;
  attempts: Int32Array;
  startedAt: Float64Array;
  endedAt: Float64Array;
  /** Per task: its profile's scheduler index. */
  profile: Uint8Array;
  /** Per task: its live actor. */
  readonly actors: (AnyActorRef | undefined)[];
  readonly results: unknown[];
  readonly errors: (Error | undefined)[];
  /** Per task: its timeout or retry timer. */
  readonly timers: unknown[];
  /** Per task: its attempt's controller when it has a timeout. */
  readonly controllers: (AbortController | undefined)[];
  /** Per task: its dispatch key (priority, then rank), which orders the backlog. */
  keys: Float64Array;
  rank: Float64Array;
  /** Priority weight per task: the graph's until `setPriority` changes one (then a copy). */
  prio: Uint8Array;
  /** Per task: its concurrency key's scheduler id (-1: none). Allocated when a task has a key. */
  group: Int32Array | undefined;
  /** Tasks whose dependencies completed, beyond the ready window. */
  readonly backlog: IndexHeap;
  /** Per task: 1 = no retry (the result cannot be stored, the cache key failed, ...). Allocated at the first. */
  noRetry: Uint8Array | undefined;
  /** Per task: attempts cut off by a crash (not charged to the retry policy). Allocated on resume. */
  interrupted: Int32Array | undefined;
  /** Tasks ended. */
  settled = 0;
  /** The first task that failed (-1: none). */
  firstFailure = -1;
  readonly #ordering: Ordering;
  readonly #scheduler: Scheduler;

  constructor(graph: Graph, tasks: readonly TaskSpec<unknown>[], ordering: Ordering, scheduler: Scheduler) {
    this.g = graph;
    this.tasks = tasks;
    this.#ordering = ordering;
    this.#scheduler = scheduler;
    const n = graph.n;
    this.cap = n;
    // The columns are views of one buffer: in Deno each typed array of its own costs ~0.8 µs (a backing store of its
    // own), 11 of them most of a small run's table; one buffer and its views cost ~3 µs in all. Growth (tasks added
    // during the run) gives each grown column a buffer of its own.
    const own = ordering === "fifo" || ordering === "io-first"; // the run's own rank column
    const columns = new Columns(n, own ? 4 : 3, 3, 4);
    this.startedAt = columns.f64().fill(NaN);
    this.endedAt = columns.f64().fill(NaN);
    const keys = columns.f64();
    this.rank = ordering === "fifo"
      ? columns.f64()
      : ordering === "io-first"
      ? ioFirst(graph.rank, tasks, 0, n, columns.f64())
      : graph.rank;
    this.remaining = columns.i32();
    for (let i = 0; i < n; i++) this.remaining[i] = graph.depStart[i + 1] - graph.depStart[i];
    this.attempts = columns.i32();
    const heap = columns.i32();
    this.status = columns.u8();
    this.spawned = columns.u8();
    this.queued = columns.u8();
    this.profile = columns.u8();
    for (let i = 0; i < n; i++) this.profile[i] = PROFILE_INDEX[tasks[i].profile];
    this.actors = new Array(n);
    this.results = new Array(n);
    this.errors = new Array(n);
    this.timers = new Array(n);
    this.controllers = new Array(n);
    for (let i = 0; i < n; i++) keys[i] = dispatchKey(graph.priority[i], this.rank[i]);
    this.keys = keys;
    this.prio = graph.priority;
    this.backlog = new IndexHeap(keys, undefined, heap);
    if (tasks.some((t) => t.concurrencyKey !== undefined)) {
      this.group = Int32Array.from(tasks, (t) => scheduler.keyId(t.concurrencyKey));
    }
  }

  /** Marks a task as not to be retried. */
  noRetryAt(i: number): void {
    (this.noRetry ??= new Uint8Array(this.cap))[i] = 1;
  }

  /** The first dependency of a task that ended other than completed (-1: none). */
  blockingDep(i: number): number {
    const g = this.g;
    for (let k = g.depStart[i]; k < g.depStart[i + 1]; k++) {
      const s = this.status[g.depList[k]];
      if (s !== UNSETTLED && s !== CODE.completed) return g.depList[k];
    }
    return -1;
  }

  /** The results of a task's dependencies, by id: a fresh object. */
  depsOf(i: number): Readonly<Record<string, unknown>> {
    const g = this.g;
    const from = g.depStart[i];
    const to = g.depStart[i + 1];
    if (from === to) return NO_DEPS;
    const deps: Record<string, unknown> = {};
    for (let k = from; k < to; k++) deps[g.ids[g.depList[k]]] = this.results[g.depList[k]];
    return deps;
  }

  /**
   * Adds tasks to the graph and sizes the table to it (nothing changes when
   * the graph refuses them).
   *
   * @param name The workflow's name (for errors).
   * @param defs The tasks.
   * @param owner The run, as the scheduler knows it (queued tasks whose rank changed are re-keyed).
   * @param frozen Tasks whose dependencies can no longer change.
   * @param extra Room for tasks to make when the graph starts growing.
   * @returns The index of the first task added.
   * @throws {TypeError} The graph refused the tasks.
   */
  add(
    name: string,
    defs: readonly TaskDef[],
    owner: Dispatchable,
    frozen?: (j: number) => boolean,
    extra: number = defs.length,
  ): number {
    const from = this.g.n;
    this.grown ??= new GrowingGraph(name, this.g, this.tasks, extra);
    const changed = this.grown.add(defs, frozen);
    this.#extend(from, changed, owner);
    return from;
  }

  /** Sizes the arrays to the grown graph: tasks from `from` are new; `changed` tasks got a new rank. */
  #extend(from: number, changed: readonly number[], owner: Dispatchable): void {
    const grown = this.grown!;
    const graph = grown.graph;
    const n = graph.n;
    const shared = this.prio === this.g.priority;
    this.g = graph;
    this.tasks = grown.specs;
    const specs = this.tasks;
    const cap = grown.capacity;
    const fifo = this.#ordering === "fifo";
    const io = this.#ordering === "io-first";
    if (cap > this.cap) {
      this.cap = cap;
      this.status = grow(this.status, cap);
      this.remaining = grow(this.remaining, cap);
      this.spawned = grow(this.spawned, cap);
      this.queued = grow(this.queued, cap);
      this.attempts = grow(this.attempts, cap);
      this.startedAt = grow(this.startedAt, cap, NaN);
      this.endedAt = grow(this.endedAt, cap, NaN);
      this.profile = grow(this.profile, cap);
      this.keys = grow(this.keys, cap);
      this.backlog.resize(this.keys);
      if (fifo || io) this.rank = grow(this.rank, cap);
    }
    if (io) {
      ioFirst(graph.rank, specs, from, n, this.rank);
      for (const j of changed) ioFirst(graph.rank, specs, j, j + 1, this.rank);
    } else if (!fifo) this.rank = graph.rank;
    if (shared) this.prio = graph.priority;
    else {
      this.prio = fit(this.prio, cap);
      this.prio.set(graph.priority.subarray(from, n), from);
    }
    for (let j = from; j < n; j++) {
      this.profile[j] = PROFILE_INDEX[specs[j].profile];
      this.keys[j] = dispatchKey(this.prio[j], this.rank[j]);
    }
    let rebuild = false;
    for (const j of changed) {
      this.keys[j] = dispatchKey(this.prio[j], this.rank[j]);
      if (this.spawned[j] === 0 && this.remaining[j] === 0) rebuild = true;
      if (this.queued[j] === 1) this.#scheduler.update(owner, j, this.prio[j], this.rank[j]);
    }
    if (rebuild) this.backlog.rebuild();
    if (this.noRetry !== undefined) this.noRetry = fit(this.noRetry, cap);
    if (this.interrupted !== undefined) this.interrupted = fit(this.interrupted, cap);
    let key = false;
    for (let j = from; j < n && !key; j++) key = specs[j].concurrencyKey !== undefined;
    if (this.group !== undefined || key) {
      const start = this.group === undefined ? 0 : from;
      this.group = this.group === undefined ? new Int32Array(cap) : fit(this.group, cap);
      for (let j = start; j < n; j++) this.group[j] = this.#scheduler.keyId(specs[j].concurrencyKey);
    }
  }
}

/** Columns of `n` items carved from one buffer: doubles first, then 32-bit integers, then bytes (each aligned). */
class Columns {
  readonly #buffer: ArrayBuffer;
  readonly #n: number;
  #at = 0;
  constructor(n: number, doubles: number, ints: number, bytes: number) {
    this.#n = n;
    this.#buffer = new ArrayBuffer(n * (8 * doubles + 4 * ints + bytes));
  }
  f64(): Float64Array {
    const a = new Float64Array(this.#buffer, this.#at, this.#n);
    this.#at += 8 * this.#n;
    return a;
  }
  i32(): Int32Array {
    const a = new Int32Array(this.#buffer, this.#at, this.#n);
    this.#at += 4 * this.#n;
    return a;
  }
  u8(): Uint8Array {
    const a = new Uint8Array(this.#buffer, this.#at, this.#n);
    this.#at += this.#n;
    return a;
  }
}

/** Whether any of the specs [from, to) has the property. */
export function anyHas(
  specs: readonly TaskSpec<unknown>[],
  from: number,
  to: number,
  key: keyof TaskSpec<unknown>,
): boolean {
  for (let j = from; j < to; j++) if (specs[j][key] !== undefined) return true;
  return false;
}

/** Above any critical-path rank: `io-first` adds it to the rank of io tasks, so they go first within a priority. */
const IO_FIRST = 2 ** 39;

/** Dispatch ranks for `io-first` of tasks [from, to): io tasks ahead, then by critical-path rank. */
function ioFirst(
  rank: Float64Array,
  tasks: readonly TaskSpec<unknown>[],
  from: number,
  to: number,
  out: Float64Array,
): Float64Array {
  for (let i = from; i < to; i++) out[i] = tasks[i].profile === "io" ? IO_FIRST + rank[i] : rank[i];
  return out;
}

/** The array if it is long enough, else a longer copy (see `grow`). */
export function fit<T extends Uint8Array | Int32Array | Float64Array>(a: T, n: number, fill = 0): T {
  return a.length >= n ? a : grow(a, n, fill);
}

/** A copy of a typed array, longer, the new items set to `fill`. */
function grow<T extends Uint8Array | Int32Array | Float64Array>(a: T, n: number, fill = 0): T {
  const out = new (a.constructor as new (n: number) => T)(n);
  out.set(a);
  if (fill !== 0) out.fill(fill, a.length);
  return out;
}
