/**
 * Events leave the engine frozen: `freezeEvents`, and the stores that hand
 * them out frozen already.
 *
 * @module
 */
import { deepFreeze } from "../freeze.ts";
import type { AnyFlowEvent, LogStore } from "../types.ts";

/** The stores `createMemoryLogStore` made: they hand events out frozen, so the log need not freeze what it gives them. */
export const OWN_STORES = new WeakSet<LogStore>();

/**
 * Freezes events, to any depth, as they leave the engine's hands (to a listener, a reader,
 * a store): once each, then an `isFrozen` check. The engine does not freeze them as it
 * makes them, which would cost its hot path ~1 µs a task (bench/immutability.ts).
 */
export function freezeEvents<T extends readonly AnyFlowEvent[]>(events: T): T {
  for (let i = 0; i < events.length; i++) if (!Object.isFrozen(events[i])) deepFreeze(events[i]);
  return events;
}
