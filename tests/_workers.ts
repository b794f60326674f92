/**
 * Worker leak detection for tests. Deno's test sanitizers do not report a
 * `Worker` that was never terminated (a test that leaks one passes), so this
 * module replaces `globalThis.Worker` with a subclass that keeps the workers
 * not yet terminated; tests check {@linkcode sweepWorkers} after closing.
 * Where no `Worker` exists (the edge fallback test), it does nothing.
 *
 * @module
 */
const live = new Set<Worker>();

if (typeof globalThis.Worker === "function" && !("tracked" in globalThis.Worker)) {
  const Base = globalThis.Worker;
  class TrackedWorker extends Base {
    static readonly tracked = true;
    constructor(specifier: string | URL, options?: WorkerOptions) {
      super(specifier, options);
      live.add(this);
    }
    override terminate(): void {
      live.delete(this);
      super.terminate();
    }
  }
  globalThis.Worker = TrackedWorker;
}

/** Workers created and not terminated. */
export function liveWorkers(): number {
  return live.size;
}

/**
 * Terminates the workers still alive (so that one leak does not spill into
 * the next test) and says how many there were.
 *
 * @returns The number of leaked workers.
 */
export function sweepWorkers(): number {
  const leaked = live.size;
  for (const w of [...live]) w.terminate();
  return leaked;
}
