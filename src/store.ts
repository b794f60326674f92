/**
 * The projection store: an `@xstate/store` store holding each run's
 * `workflowStatus` projection, refreshed whenever the log folds a batch, so a
 * UI can subscribe with selectors. It is the read model of the adapters: the
 * CLI's progress bar subscribes to its run's view, the dashboard lists the
 * runs (`/runs.json`) from a snapshot.
 *
 * Each update costs what it changed, not what the store holds: the runs sit
 * in a persistent ordered map (Immutable.js), and `runs` is a read-only
 * record view of one version of it, so an update touches only the runs in the
 * batch and a state read earlier never changes. While nobody listens, the
 * changes wait in a plain map until the next read (`getSnapshot`, `select`):
 * what a listener or a reader sees is the same, and an engine that nobody
 * watches does not pay a store transition per run.
 *
 * @module
 */
import { createStore, OrderedMap } from "./deps.ts";
import type { RunView } from "./log/types.ts";

/** What the store holds. */
export interface StoreState {
  /** The log seq the projections reflect. */
  seq: number;
  /**
   * Each run's status, times and task counts, by run id, oldest first (read-only: a
   * record view of one version of the store; the runs the log evicted are gone).
   */
  runs: Readonly<Record<string, RunView>>;
}

/** A subscribable store of projections. */
export interface ProjectionStore {
  /**
   * The current state.
   *
   * @returns The state.
   */
  getSnapshot(): StoreState;
  /**
   * Calls `listener` with a selected value whenever it changes.
   *
   * @param selector Picks a value from the state.
   * @param listener Receives each new value.
   * @param equal Decides whether two values are the same.
   * @returns A function that stops listening.
   */
  select<T>(
    selector: (state: StoreState) => T,
    listener: (value: T) => void,
    equal?: (a: T, b: T) => boolean,
  ): () => void;
  /**
   * Merges fresh run views (the engine calls this after each log batch); costs what changed.
   *
   * @param seq The log seq they reflect.
   * @param runs The views that changed.
   */
  update(seq: number, runs: Readonly<Record<string, RunView>>): void;
  /**
   * Marks runs as changed without their views: the store reads each through the `view` it was created with when it
   * takes the change in (at once while someone listens, else at the next read), so a batch nobody reads costs no view.
   *
   * @param seq The log seq they changed at.
   * @param runIds The runs that changed.
   * @throws {TypeError} The store was created without `view`.
   */
  touch(seq: number, runIds: Iterable<string>): void;
  /**
   * Removes runs (the engine calls this when the log evicts them).
   *
   * @param runIds The runs to remove.
   */
  remove(runIds: readonly string[]): void;
}

/**
 * A run's view in a store state, or `undefined` when the store does not hold
 * it (not seen yet, or evicted). Reads own keys only, so a run id such as
 * `"constructor"` is never answered from `Object.prototype`: a selector for
 * {@linkcode ProjectionStore.select}.
 *
 * @param state A state of the store.
 * @param runId The run.
 * @returns Its status view, or `undefined`.
 *
 * @example Following one run
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { runView } from "./store.ts";
 * const engine = createEngine();
 * let done = 0;
 * engine.store.select((s) => runView(s, "r1"), (view) => done = view?.counts.completed ?? done);
 * await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }), { runId: "r1" });
 * console.log(done); // 1
 * await engine.close();
 * ```
 */
export function runView(state: StoreState, runId: string): RunView | undefined {
  const runs = state.runs;
  return Object.hasOwn(runs, runId) ? runs[runId] : undefined;
}

type Runs = OrderedMap<string, RunView>;

/** A read-only record view of one version of the map: O(1) to make, each read a map look-up. */
function recordOf(map: Runs): Readonly<Record<string, RunView>> {
  const own = (key: string | symbol): key is string => typeof key === "string" && map.has(key);
  const view = new Proxy({} as Record<string, RunView>, {
    get: (target, key, receiver) => (own(key) ? map.get(key) : Reflect.get(target, key, receiver)),
    has: (target, key) => own(key) || Reflect.has(target, key),
    ownKeys: () => map.keySeq().toArray(),
    getOwnPropertyDescriptor: (_target, key) =>
      own(key) ? { value: map.get(key), writable: false, enumerable: true, configurable: true } : undefined,
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
    setPrototypeOf: () => false,
  });
  return view;
}

const EMPTY: Runs = OrderedMap<string, RunView>();

/** A pending change whose view is read when the store takes it in. */
const STALE = Symbol("stale");

/**
 * Creates a projection store.
 *
 * @param view Reads a run's current view, for {@linkcode ProjectionStore.touch} (the engine passes its log's).
 * @returns The store.
 *
 * @example Watching a run's completed count
 * ```ts
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * const engine = createEngine();
 * const counts: number[] = [];
 * engine.store.select((s) => Object.values(s.runs)[0]?.counts.completed ?? 0, (n) => counts.push(n));
 * await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
 * console.log(counts.at(-1)); // 1
 * await engine.close();
 * ```
 */
export function createProjectionStore(view?: (runId: string) => RunView): ProjectionStore {
  // The map behind the current state's `runs` (the store's transition is its only writer).
  let current = EMPTY;
  // Changes the store has not taken in yet: each run's newest view, or `null` to remove it, in the order they came
  // (`moved`: runs removed, then seen again, which go to the end). While someone listens they are taken in at once;
  // otherwise at the next read, so an engine nobody watches pays a map write per run and batch, not a store update
  // (`bench/store_feed.ts`). Bounded by the runs held or kept: a run evicted before a read never reaches the store.
  let pending = new Map<string, RunView | null | typeof STALE>();
  const moved = new Set<string>();
  let pendingSeq = 0;
  let listeners = 0;
  const store = createStore({
    context: { seq: 0, runs: recordOf(EMPTY) } as StoreState,
    on: {
      changed: (
        ctx,
        event: { seq: number; changes: ReadonlyMap<string, RunView | null>; moved: ReadonlySet<string> },
      ) => {
        const before = current;
        const after = before.withMutations((m) => {
          for (const [id, view] of event.changes) {
            if (view === null || event.moved.has(id)) m.delete(id);
            if (view !== null) m.set(id, view);
          }
        });
        current = after;
        if (after === before && event.seq === ctx.seq) return ctx;
        return { seq: event.seq, runs: after === before ? ctx.runs : recordOf(after) };
      },
    },
  });
  const takeIn = () => {
    if (pending.size === 0 && pendingSeq === store.getSnapshot().context.seq) return;
    const changes = pending;
    pending = new Map();
    for (const [id, change] of changes) if (change === STALE) changes.set(id, view!(id));
    store.trigger.changed({ seq: pendingSeq, changes: changes as Map<string, RunView | null>, moved });
    moved.clear();
  };
  const change = (id: string, next: RunView | typeof STALE) => {
    if (pending.get(id) === null) { // removed, then seen again: to the end
      pending.delete(id);
      moved.add(id);
    }
    pending.set(id, next);
  };
  return {
    getSnapshot() {
      takeIn();
      return store.getSnapshot().context;
    },
    select(selector, listener, equal) {
      takeIn();
      const sub = store.select((ctx) => selector(ctx), equal).subscribe(listener);
      listeners++;
      let on = true;
      return () => {
        if (!on) return;
        on = false;
        listeners--;
        sub.unsubscribe();
      };
    },
    update(seq, runs) {
      for (const id in runs) change(id, runs[id]);
      pendingSeq = seq;
      if (listeners > 0) takeIn();
    },
    touch(seq, runIds) {
      if (view === undefined) throw new TypeError("Cannot touch runs: the store was created without a view reader");
      for (const id of runIds) change(id, STALE);
      pendingSeq = seq;
      if (listeners > 0) takeIn();
    },
    remove(runIds) {
      for (const id of runIds) {
        pending.delete(id);
        moved.delete(id);
        if (current.has(id)) pending.set(id, null); // never taken in: nothing to remove
      }
      if (listeners > 0 && runIds.length > 0) takeIn();
    },
  };
}
