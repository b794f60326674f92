/**
 * Each run's engine under a coordinator: made from the coordinator's `engine`
 * options on its log store (executors given there serve every run's engine and
 * are closed by the coordinator alone; a write refused to a run this
 * coordinator stopped touching is not printed), or given by the caller's
 * function (the caller closes it).
 *
 * Private to `adapters/nats/coordinator.ts`.
 *
 * @module
 */
import { createEngine, type Engine, type EngineOptions } from "../../mod.ts";
import { createSnapshotLog, TOKENS } from "../../extend.ts";
import type { CoordinatorOptions } from "./coordinator.ts";
import { LogConflictError, RunReleasedError } from "./errors.ts";
import type { JetStreamLogStore } from "./log_store.ts";

/** How a coordinator gets, and closes, each run's engine. */
export interface RunEngines {
  /** A fresh engine for a run. */
  make(runId: string): Engine;
  /** Closes an engine the coordinator made; one that the caller's function gave is left to the caller. */
  close(engine: Engine | undefined): Promise<void> | undefined;
  /** The executors given in the engine options: the coordinator's `close()` closes them. */
  readonly given: EngineOptions["executors"] | undefined;
}

/**
 * The engines of a coordinator's runs.
 *
 * @param options The coordinator's options (`engine`).
 * @param store The coordinator's log store.
 * @returns How to make and close them.
 */
export function runEngines(options: CoordinatorOptions, store: JetStreamLogStore): RunEngines {
  /** Whether the coordinator makes (and closes) each run's engine. */
  const ownsEngines = typeof options.engine !== "function";
  const closeEngine = (engine: Engine | undefined) => ownsEngines ? engine?.close().catch(() => {}) : undefined;
  // Executors given in the engine options serve every run's engine: an engine's close() must not close them
  // (the coordinator's close() does).
  const given = typeof options.engine === "function" ? undefined : options.engine?.executors;
  const sharedExecutors = given === undefined ? undefined : Object.fromEntries(
    Object.entries(given).map(([profile, ex]) => [
      profile,
      ex === undefined ? undefined : new Proxy(ex, {
        get: (target, key) => {
          if (key === "close") return undefined;
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
    ]),
  ) as EngineOptions["executors"];
  const makeEngine = (runId: string): Engine => {
    const e = options.engine;
    if (typeof e === "function") return e(runId, store);
    return createEngine({
      ...e,
      ...(sharedExecutors === undefined ? {} : { executors: sharedExecutors }),
      logStore: store,
      configure: (container) => {
        // A run this coordinator stopped touching refuses writes: expected, not worth a line on stderr.
        container.register(TOKENS.log, {
          useFactory: (c) =>
            createSnapshotLog({
              store: c.resolve(TOKENS.logStore),
              onStoreError: (error) => {
                if (!(error instanceof RunReleasedError) && !(error instanceof LogConflictError)) {
                  console.error("nerv-flow: the log store rejected a batch", error);
                }
              },
            }),
        });
        e?.configure?.(container);
      },
    });
  };
  return { make: makeEngine, close: closeEngine, given };
}
