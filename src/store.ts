/**
 * The projection store: an `@xstate/store` store holding each run's
 * `workflowStatus` projection, refreshed whenever the log folds a batch, so a
 * UI can subscribe with selectors.
 *
 * Each update costs what it changed, not what the store holds: the runs sit
 * in a persistent ordered map (Immutable.js), and `runs` is a read-only
 * record view of one version of it, so an update touches only the runs in the
 * batch and a state read earlier never changes.
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
   * Removes runs (the engine calls this when the log evicts them).
   *
   * @param runIds The runs to remove.
   */
  remove(runIds: readonly string[]): void;
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

/**
 * Creates a projection store.
 *
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
export function createProjectionStore(): ProjectionStore {
  // The map behind the current state's `runs` (the store's transitions are its only writers).
  let current = EMPTY;
  const store = createStore({
    context: { seq: 0, runs: recordOf(EMPTY) } as StoreState,
    on: {
      synced: (ctx, event: { seq: number; runs: Readonly<Record<string, RunView>> }) => {
        const before = current;
        const after = before.withMutations((m) => {
          for (const id in event.runs) m.set(id, event.runs[id]);
        });
        current = after;
        return { seq: event.seq, runs: after === before ? ctx.runs : recordOf(after) };
      },
      removed: (ctx, event: { runIds: readonly string[] }) => {
        const before = current;
        const after = before.withMutations((m) => {
          for (const id of event.runIds) m.delete(id);
        });
        current = after;
        return after === before ? ctx : { seq: ctx.seq, runs: recordOf(after) };
      },
    },
  });
  return {
    getSnapshot: () => store.getSnapshot().context,
    select(selector, listener, equal) {
      const sub = store.select((ctx) => selector(ctx), equal).subscribe(listener);
      return () => sub.unsubscribe();
    },
    update(seq, runs) {
      store.trigger.synced({ seq, runs });
    },
    remove(runIds) {
      if (runIds.length > 0) store.trigger.removed({ runIds });
    },
  };
}
