/**
 * The typed event bus, on nanoevents: `on(type)`, `onAny`, middleware that
 * transforms or drops events before listeners see them, and a bounded
 * history. A throwing listener never stops the others or the engine.
 *
 * @module
 */
import { createNanoEvents, type Emitter } from "./deps.ts";
import { deepFreeze } from "./freeze.ts";
import type { AnyFlowEvent, DeliveredEvent, EventOf, FlowEventType } from "./types.ts";

/** Stops a subscription. */
export type Unsubscribe = () => void;

/** A listener of one event type: its `data` is that type's, and a task event's `taskId` is set. */
export type Listener<T extends FlowEventType> = (event: EventOf<T>) => void;

/**
 * Sees every event before listeners do and returns it, a replacement, or
 * `null` to drop it for listeners (the log still records the original). The
 * event it gets is frozen: return a new one to change it.
 */
export type Middleware = (event: AnyFlowEvent) => AnyFlowEvent | null;

/** Options of {@linkcode createEventBus}. */
export interface EventBusOptions {
  /**
   * How many delivered events `history()` keeps.
   * @default {1000}
   */
  historySize?: number;
  /**
   * Called when a listener or middleware throws; the event still reaches the other listeners.
   * @default {console.error}
   */
  onError?: (error: unknown, event: AnyFlowEvent) => void;
}

/** The event bus of an engine. */
export interface EventBus {
  /**
   * Listens to one event type.
   *
   * @param type The event type, e.g. `"task.completed"`.
   * @param listener Called with each event of that type.
   * @returns A function that stops listening.
   */
  on<T extends FlowEventType>(type: T, listener: Listener<T>): Unsubscribe;
  /**
   * Listens to every event.
   *
   * @param listener Called with each event (narrowed by `switch (event.type)`; a task event's `taskId` is set).
   * @returns A function that stops listening.
   */
  onAny(listener: (event: DeliveredEvent) => void): Unsubscribe;
  /**
   * Adds a middleware; middlewares run in the order added.
   *
   * @param middleware Transforms an event, or drops it with `null`.
   * @returns A function that removes it.
   */
  use(middleware: Middleware): Unsubscribe;
  /**
   * The last delivered events, oldest first.
   *
   * @returns At most `historySize` events.
   */
  history(): AnyFlowEvent[];
  /**
   * Delivers an event to middleware, history and listeners. The engine calls
   * this; users rarely do.
   *
   * @param event The event.
   */
  emit(event: AnyFlowEvent): void;
}

interface Events {
  [type: string]: (event: AnyFlowEvent) => void;
}

/**
 * Creates an event bus.
 *
 * @param options History size and error handler.
 * @returns The bus.
 * @throws {RangeError} `historySize` is negative or not an integer.
 *
 * @example Listening, filtering, history
 * ```ts
 * import { createEventBus } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 * const bus = createEventBus({ historySize: 2 });
 * const seen: string[] = [];
 * bus.on("task.completed", (e) => seen.push(e.taskId));
 * bus.use((e) => (e.taskId === "secret" ? null : e));
 * const base = { seq: 1, runId: "r", workflowId: "w", timestamp: 0 };
 * bus.emit({ ...base, type: "task.completed", taskId: "a", data: { result: 1, durationMs: 0 } });
 * bus.emit({ ...base, type: "task.completed", taskId: "secret", data: { result: 2, durationMs: 0 } });
 * assert.deepEqual(seen, ["a"]);
 * assert.equal(bus.history().length, 1);
 * ```
 */
export function createEventBus(options: EventBusOptions = {}): EventBus {
  const historySize = options.historySize ?? 1000;
  if (!Number.isInteger(historySize) || historySize < 0) {
    throw new RangeError(`Cannot create event bus: historySize ${historySize} must be an integer >= 0`);
  }
  const onError = options.onError ?? ((error: unknown, event: AnyFlowEvent) => {
    console.error(`nerv-flow: a listener of "${event.type}" threw`, error);
  });
  const emitter: Emitter<Events> = createNanoEvents<Events>();
  let middlewares: Middleware[] = [];
  let listeners = 0;
  const ring: (AnyFlowEvent | undefined)[] = new Array(historySize);
  let written = 0;

  const guard = (fn: (event: AnyFlowEvent) => void) => (event: AnyFlowEvent) => {
    try {
      fn(event);
    } catch (error) {
      reportSafely(onError, error, event);
    }
  };
  const subscribe = (key: string, fn: (event: AnyFlowEvent) => void): Unsubscribe => {
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot listen to "${key}": expected a function`);
    }
    const off = emitter.on(key, guard(fn));
    listeners++;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      listeners--;
      off();
    };
  };

  return {
    on<T extends FlowEventType>(type: T, listener: Listener<T>): Unsubscribe {
      return subscribe(type, listener as (event: AnyFlowEvent) => void);
    },
    onAny(listener) {
      return subscribe("*", listener as (event: AnyFlowEvent) => void);
    },
    use(middleware) {
      if (typeof middleware !== "function") throw new TypeError("Cannot use middleware: expected a function");
      middlewares = [...middlewares, middleware];
      return () => {
        middlewares = middlewares.filter((m) => m !== middleware);
      };
    },
    history() {
      const size = Math.min(written, historySize);
      const out: AnyFlowEvent[] = new Array(size);
      for (let k = 0; k < size; k++) out[k] = freeze(ring[(written - size + k) % historySize]!);
      return out;
    },
    emit(event) {
      // What a listener or middleware gets is frozen, to any depth: it cannot change the log, nor
      // what the next listener sees (the log records the original). Nobody listening: nothing to do.
      let e: AnyFlowEvent | null = middlewares.length > 0 ? freeze(event) : event;
      for (let m = 0; m < middlewares.length && e !== null; m++) {
        const before: AnyFlowEvent = e;
        try {
          e = middlewares[m](before);
        } catch (error) {
          e = before;
          reportSafely(onError, error, before);
        }
      }
      if (e === null) return;
      if (historySize > 0) ring[written++ % historySize] = e;
      if (listeners === 0) return;
      freeze(e);
      emitter.emit(e.type, e);
      emitter.emit("*", e);
    },
  };
}

function freeze(event: AnyFlowEvent): AnyFlowEvent {
  return Object.isFrozen(event) ? event : deepFreeze(event);
}

function reportSafely(onError: (error: unknown, event: AnyFlowEvent) => void, error: unknown, event: AnyFlowEvent) {
  try {
    onError(error, event);
  } catch {
    // The error handler itself threw: nothing more can be done without breaking the run.
  }
}
