/**
 * The worker pool's slots: each worker's lifecycle. A worker starts on first
 * use, announces that its entry loaded (`READY_MESSAGE`), and is replaced when
 * it dies; a worker whose entry did not load is a failed start, and starts back
 * off (100 ms, ×4 each time, at most 30 s) until, after `START_ATTEMPTS` in a
 * row, the tasks waiting for a worker fail with `WorkerStartError`.
 *
 * Private to `workers/pool.ts`. Knows the queue only through {@linkcode SlotHooks};
 * time (the backoff) only through the `Clock` port.
 *
 * @module
 */
import { type Remote, wrap } from "../src/deps_comlink.ts";
import { WorkerCrashedError, WorkerStartError } from "../src/errors.ts";
import type { Clock } from "../src/types.ts";
import type { Pending } from "./_pool_queue.ts";
import { CLOSING_MESSAGE, READY_MESSAGE, type WorkerApi } from "./protocol.ts";

/** One worker of the pool and the batches it holds. */
export interface Slot {
  n: number;
  worker: Worker;
  api: Remote<WorkerApi>;
  /** Batches sent and not answered, oldest first (at most two: the next is queued behind the first). */
  inflight: Pending[][];
  /** When each in-flight batch was sent (`performance.now()`: a measurement of this host, not logical time). */
  sentAt: number[];
  /** When the last answer came, to time a queued batch from when its worker turned to it. */
  lastAnswer: number;
  /** No batch finished yet: the first one also pays for start-up and module loading. */
  cold: boolean;
  dead: boolean;
  /** The abort grace timer (a `Clock` handle), while one runs. */
  graceTimer: unknown;
  /** Set when posting to the worker threw (the call never left this thread). */
  postError: unknown;
  /** The worker's entry loaded (it posted `READY_MESSAGE`): an error before that is a failed start. */
  ready: boolean;
  /** Called once when the worker ends (for `warm`, whose ping would otherwise never settle). */
  onEnd: ((error: unknown) => void) | undefined;
}

/** What the slots need from the rest of the pool. */
export interface SlotHooks {
  /** Settles a task. */
  settle(p: Pending, ok: boolean, value: unknown): void;
  /** Puts tasks back at the front of the queue. */
  requeue(tasks: Pending[]): void;
  /** Fails every task waiting for a worker, each with a fresh `startError()`. */
  failWaiting(): void;
  /** Hands waiting tasks to workers. */
  pump(): void;
}

/** Failed starts in a row after which the tasks waiting for a worker fail with `WorkerStartError`. */
export const START_ATTEMPTS = 3;
/** The wait before the next start after `f` failed starts in a row: 100 ms, ×4 each time, at most 30 s. */
const startBackoffMs = (f: number) => Math.min(30_000, 100 * 4 ** (f - 1));

/** Words for a worker's load error: browsers give an `ErrorEvent` with no error and, for a 404, no message. */
function startReason(cause: unknown): string {
  const message = (cause as Error)?.message;
  return typeof message === "string" && message !== ""
    ? message
    : "the script failed to load (not found, not a module, or blocked), or threw while loading";
}

/** The pool's workers: starting, replacing and terminating them. */
export class Slots {
  /** Each slot's worker, `undefined` until started or after it ended. */
  readonly list: (Slot | undefined)[];
  /** Workers terminated and replaced so far. */
  replaced = 0;
  /** The pool was closed: no worker starts again. */
  closed = false;
  readonly #name: string;
  readonly #entry: URL | string | undefined;
  readonly #shownEntry: string | undefined;
  readonly #clock: Clock;
  readonly #hooks: SlotHooks;
  #spawned = 0;
  /** Failed starts (the entry did not load) in a row; no worker starts before `#retryAt`. */
  #startFailures = 0;
  #startCause: unknown;
  #retryAt = 0;
  #retryTimer: unknown;

  /**
   * @param size Workers in the pool.
   * @param name The pool's name, for worker names and errors.
   * @param entry The worker script (`undefined`: none, never started).
   * @param shownEntry The script's URL for messages.
   * @param clock The time source of the start backoff.
   * @param hooks The rest of the pool.
   */
  constructor(
    size: number,
    name: string,
    entry: URL | string | undefined,
    shownEntry: string | undefined,
    clock: Clock,
    hooks: SlotHooks,
  ) {
    this.list = new Array(size);
    this.#name = name;
    this.#entry = entry;
    this.#shownEntry = shownEntry;
    this.#clock = clock;
    this.#hooks = hooks;
  }

  /** Workers alive now. */
  get alive(): number {
    return this.list.filter((s) => s !== undefined && !s.dead).length;
  }

  /** Starts are backing off after a failed one: no worker starts now. */
  backingOff(): boolean {
    return this.#startFailures > 0 && this.#clock.now() < this.#retryAt;
  }

  /** Starts failed `START_ATTEMPTS` times in a row and still back off: new tasks fail at once. */
  gaveUp(): boolean {
    return this.#startFailures >= START_ATTEMPTS && this.#clock.now() < this.#retryAt;
  }

  /**
   * The error of the failed starts.
   *
   * @returns A `WorkerStartError`.
   */
  startError(): WorkerStartError {
    return new WorkerStartError(
      this.#name,
      this.#shownEntry,
      this.#startFailures,
      startReason(this.#startCause),
      { cause: this.#startCause },
    );
  }

  /**
   * Starts the worker of slot `k`.
   *
   * @param k The slot.
   * @returns The slot, or `undefined` when the start failed at once.
   */
  spawn(k: number): Slot | undefined {
    let worker: Worker;
    try {
      worker = new Worker(this.#entry!, { type: "module", name: `${this.#name}#${++this.#spawned}` });
    } catch (error) {
      // Refused at once (a malformed URL, another origin): a failed start like a load error.
      this.failedStart(undefined, error);
      return undefined;
    }
    const slot: Slot = {
      n: this.#spawned,
      worker,
      api: undefined as never,
      inflight: [],
      sentAt: [],
      lastAnswer: 0,
      cold: true,
      dead: false,
      graceTimer: undefined,
      postError: undefined,
      ready: false,
      onEnd: undefined,
    };
    // Comlink rejects a call alike whether posting it threw here or the worker answered with an
    // error; the pool's `send` needs to know which, so the endpoint records a failed post.
    slot.api = wrap<WorkerApi>({
      postMessage(message: unknown, transfer?: Transferable[]) {
        try {
          worker.postMessage(message, transfer ?? []);
        } catch (error) {
          slot.postError = error;
          throw error;
        }
      },
      addEventListener: worker.addEventListener.bind(worker),
      removeEventListener: worker.removeEventListener.bind(worker),
    });
    worker.addEventListener("error", (event) => {
      event.preventDefault();
      const cause = event.error ?? new Error(startReason(event));
      if (slot.ready) this.die(slot, cause);
      else this.failedStart(slot, cause);
    });
    worker.addEventListener("messageerror", (event) => {
      this.die(slot, new Error("A message from the worker could not be deserialized", { cause: event }));
    });
    worker.addEventListener("message", (event) => {
      if (event.data === CLOSING_MESSAGE) this.die(slot, new Error("The worker called self.close()"));
      else if (event.data === READY_MESSAGE) {
        slot.ready = true;
        this.#startFailures = 0;
      }
    });
    this.list[k] = slot;
    return slot;
  }

  /**
   * A worker whose entry did not load (or could not be constructed): the tasks it held go back
   * to the queue, no worker starts before a backoff, and after `START_ATTEMPTS` failures in a
   * row the waiting tasks fail with `WorkerStartError` (new ones too, until the backoff ends).
   *
   * @param slot The worker (`undefined`: its constructor threw).
   * @param cause Why.
   */
  failedStart(slot: Slot | undefined, cause: unknown): void {
    if (slot !== undefined) {
      if (slot.dead) return;
      this.#end(slot);
      const held = slot.inflight.flat().filter((p) => !p.done);
      slot.inflight = [];
      slot.sentAt = [];
      for (const p of held) p.slot = undefined;
      if (held.length > 0) this.#hooks.requeue(held);
    }
    this.#startFailures++;
    this.#startCause = cause;
    this.#retryAt = this.#clock.now() + startBackoffMs(this.#startFailures);
    slot?.onEnd?.(this.startError());
    if (this.#startFailures >= START_ATTEMPTS) this.#hooks.failWaiting();
    if (slot !== undefined) queueMicrotask(this.#hooks.pump);
  }

  /** Pumps again when the backoff ends (only while tasks wait, so an idle pool keeps no timer). */
  armRetry(): void {
    if (this.#retryTimer !== undefined || this.closed) return;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#hooks.pump();
    }, Math.max(0, this.#retryAt - this.#clock.now()));
  }

  /**
   * Terminates a worker, fails what it held, and puts a fresh one in its place.
   *
   * @param slot The worker.
   * @param cause Why it ends.
   * @param culprit An aborted task: only it fails; the others it held go back to the queue.
   */
  die(slot: Slot, cause: unknown, culprit?: Pending): void {
    if (slot.dead) return;
    slot.dead = true;
    if (slot.graceTimer !== undefined) this.#clock.clearTimeout(slot.graceTimer);
    slot.worker.terminate();
    this.replaced++;
    slot.onEnd?.(new Error(`Worker ${this.#name}#${slot.n} died`, { cause }));
    const k = this.list.indexOf(slot);
    const held = slot.inflight.flat();
    slot.inflight = [];
    slot.sentAt = [];
    const innocent: Pending[] = [];
    for (const p of held) {
      if (p.done) continue;
      p.slot = undefined;
      if (culprit !== undefined && p !== culprit) innocent.push(p);
      else this.#hooks.settle(p, false, new WorkerCrashedError(`${this.#name}#${slot.n}`, p.payload.taskId, { cause }));
    }
    if (k >= 0) {
      this.list[k] = undefined;
      if (!this.closed && this.#clock.now() >= this.#retryAt) this.spawn(k);
    }
    // Tasks that shared the batch of an aborted one: back to the front of the queue.
    if (innocent.length > 0) this.#hooks.requeue(innocent);
    this.#hooks.pump();
  }

  /**
   * Terminates every worker; what they held fails with `error`. No worker starts again.
   *
   * @param error Why.
   */
  close(error: Error): void {
    this.closed = true;
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (let k = 0; k < this.list.length; k++) {
      const slot = this.list[k];
      if (slot === undefined) continue;
      slot.dead = true;
      if (slot.graceTimer !== undefined) this.#clock.clearTimeout(slot.graceTimer);
      slot.worker.terminate();
      slot.onEnd?.(error);
      for (const p of slot.inflight.flat()) this.#hooks.settle(p, false, error);
      this.list[k] = undefined;
    }
  }

  /** Marks a worker dead, stops its grace timer, terminates it and frees its slot. */
  #end(slot: Slot): void {
    slot.dead = true;
    if (slot.graceTimer !== undefined) this.#clock.clearTimeout(slot.graceTimer);
    slot.worker.terminate();
    const k = this.list.indexOf(slot);
    if (k >= 0) this.list[k] = undefined;
  }
}
