/**
 * The default `LogStore`: events kept in memory, per run; synchronous, not durable.
 *
 * @module
 */
import type { AnyFlowEvent, LogStore } from "../types.ts";
import { freezeEvents, OWN_STORES } from "./_frozen.ts";

/** The in-memory `LogStore`: synchronous, not durable. */
export interface MemoryLogStore extends LogStore {
  /** The highest seq appended (0 when empty): a second engine on this store numbers after it. */
  readonly lastSeq: number;
  /**
   * Appends events, in order.
   *
   * @param events The events.
   */
  append(events: readonly AnyFlowEvent[]): void;
  /**
   * Reads one run's events, in order.
   *
   * @param runId The run.
   * @returns A copy of its events (empty for an unknown run).
   */
  read(runId: string): AnyFlowEvent[];
  /**
   * The runs stored, oldest first.
   *
   * @returns Their ids.
   */
  runs(): string[];
  /**
   * Drops a run's events.
   *
   * @param runId The run.
   * @returns Whether the store had it.
   */
  delete(runId: string): boolean;
}

/**
 * Creates the default `LogStore`: events kept in memory, per run.
 *
 * @returns The store.
 *
 * @example
 * ```ts
 * import { createMemoryLogStore } from "@nerv/flow/extend";
 * const store = createMemoryLogStore();
 * console.log(store.read("nope").length); // 0
 * ```
 */
export function createMemoryLogStore(): MemoryLogStore {
  const runs = new Map<string, AnyFlowEvent[]>();
  let lastSeq = 0;
  const store: MemoryLogStore = {
    get lastSeq() {
      return lastSeq;
    },
    append(events) {
      if (events.length > 0) lastSeq = Math.max(lastSeq, events[events.length - 1].seq);
      let runId = "";
      let list: AnyFlowEvent[] | undefined;
      for (const e of events) {
        if (e.runId !== runId || list === undefined) {
          runId = e.runId;
          list = runs.get(runId);
          if (list === undefined) runs.set(runId, list = []);
        }
        list.push(e);
      }
    },
    read(runId) {
      return freezeEvents(runs.get(runId)?.slice() ?? []);
    },
    runs() {
      return [...runs.keys()];
    },
    delete(runId) {
      return runs.delete(runId);
    },
  };
  OWN_STORES.add(store);
  return store;
}
