/**
 * The projection store: an `@xstate/store` store holding each run's
 * `workflowStatus` projection, refreshed whenever the log folds a batch, so a
 * UI can subscribe with selectors.
 *
 * @module
 */
import { createStore } from "./deps.ts";
import type { RunView } from "./log.ts";

/** What the store holds. */
export interface StoreState {
  /** The log seq the projections reflect. */
  seq: number;
  /** Each run's status, times and task counts, by run id. */
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
   * Merges fresh run views (the engine calls this after each log batch).
   *
   * @param seq The log seq they reflect.
   * @param runs The views that changed.
   */
  update(seq: number, runs: Readonly<Record<string, RunView>>): void;
}

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
  const store = createStore({
    context: { seq: 0, runs: {} } as StoreState,
    on: {
      synced: (ctx, event: { seq: number; runs: Readonly<Record<string, RunView>> }) => ({
        seq: event.seq,
        runs: { ...ctx.runs, ...event.runs },
      }),
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
  };
}
