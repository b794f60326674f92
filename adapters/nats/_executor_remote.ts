/**
 * The NATS executor object: the attempts given and not settled (one promise
 * each, keyed `runId/taskId/attempt`), plain-function bodies run here, the
 * tasks' abort signals (a cancel is broadcast to the workers), a broker lost
 * for longer than `brokerTimeoutMs` (what is pending fails), and closing.
 * Sending is `_executor_send.ts`, results are `_executor_results.ts`.
 *
 * Private to `adapters/nats/executor.ts`, which connects and makes it.
 *
 * @module
 */
import type { TaskPayload, TaskSpec } from "../../src/types.ts";
import { taskLocation } from "../../src/tasks.ts";
import { runInline } from "../../workers/inline_context.ts";
import type { JetStreamClient, NatsConnection } from "./deps.ts";
import { BrokerUnavailableError } from "./errors.ts";
import type { NatsExecutor } from "./executor.ts";
import type { Results } from "./_executor_results.ts";
import { type Pending, Sender, type SendSettings } from "./_executor_send.ts";
import type { Names } from "./_wire.ts";

/** The executor's settings, checked. */
export interface Settings extends SendSettings {
  onInline: ((taskId: string) => void) | undefined;
}

/** The executor that `natsExecutor()` returns. */
export class Remote implements NatsExecutor {
  readonly name = "nats";
  readonly concurrency = Infinity;
  readonly id: string;
  #nc: NatsConnection;
  #results: Results;
  #sender: Sender;
  #names: Names;
  #servers: readonly string[];
  #s: Settings;
  #pending = new Map<string, Pending>();
  #watched = new Map<AbortSignal, { set: Set<Pending>; listener: () => void }>();
  #closed = false;
  #inlineSaid = false;
  #lostAt: number | undefined;
  #lostTimer: ReturnType<typeof setTimeout> | undefined;
  #loops: Promise<unknown>[] = [];

  /**
   * @param nc The connection (closed by `close()`).
   * @param js Its JetStream client, for publishing tasks.
   * @param results This executor's results consumer, pulling.
   * @param names The stream and subject names.
   * @param servers The servers, for errors.
   * @param id This executor's id.
   * @param settings The settings, checked.
   */
  constructor(
    nc: NatsConnection,
    js: JetStreamClient,
    results: Results,
    names: Names,
    servers: readonly string[],
    id: string,
    settings: Settings,
  ) {
    this.#nc = nc;
    this.#results = results;
    this.#names = names;
    this.#servers = servers;
    this.id = id;
    this.#s = settings;
    this.#sender = new Sender({ js, names, servers, id, settings }, {
      closed: () => this.#closed,
      settle: (p, ok, value) => this.#settle(p, ok, value),
    });
    this.#loops.push(
      this.#results.read({
        pending: this.#pending,
        settle: (p, ok, value) => this.#settle(p, ok, value),
        adapt: (n, elapsedMs) => this.#sender.adapt(n, elapsedMs),
      }),
      this.#watchStatus(),
    );
  }

  get pending(): number {
    return this.#pending.size;
  }
  get duplicates(): number {
    return this.#results.duplicates;
  }
  get published(): number {
    return this.#sender.published;
  }
  get batchSize(): number {
    return this.#sender.batchSize;
  }

  run(task: TaskSpec, payload: TaskPayload, signal: AbortSignal): Promise<unknown> {
    const loc = taskLocation(task.run);
    if (loc === undefined) return this.#runHere(task, payload, signal);
    if (this.#closed) {
      return Promise.reject(new Error(`Cannot run task "${payload.taskId}": NATS executor ${this.id} is closed`));
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    const key = `${payload.runId}/${payload.taskId}/${payload.attempt}`;
    if (this.#pending.has(key)) {
      return Promise.reject(new TypeError(`Cannot run task "${payload.taskId}": attempt "${key}" is already running`));
    }
    return new Promise((resolve, reject) => {
      const p: Pending = {
        key,
        task,
        loc,
        payload,
        signal,
        resolve,
        reject,
        done: false,
        batch: undefined,
        queued: true,
      };
      this.#watch(p);
      this.#pending.set(key, p);
      this.#sender.enqueue(p);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#lostTimer !== undefined) clearTimeout(this.#lostTimer);
    const error = new Error(`NATS executor ${this.id} was closed`);
    for (const p of [...this.#pending.values()]) this.#settle(p, false, error);
    this.#results.stop();
    if (this.#lostAt !== undefined || this.#nc.isClosed()) {
      // No broker to say goodbye to: the server drops the consumer after its inactive threshold.
      await this.#nc.close().catch(() => {});
    } else {
      await this.#results.delete();
      await this.#nc.drain().catch(() => this.#nc.close());
    }
    await Promise.allSettled(this.#loops);
  }

  #runHere(task: TaskSpec, payload: TaskPayload, signal: AbortSignal): Promise<unknown> {
    if (!this.#inlineSaid) {
      this.#inlineSaid = true;
      const say = this.#s.onInline ??
        ((taskId: string) =>
          console.warn(
            `nerv-flow: task "${taskId}" has a plain function body, which cannot cross to a worker process: ` +
              `it and other such tasks run in this process (use defineTasks() to run them on workers)`,
          ));
      say(payload.taskId);
    }
    return runInline(task, payload, signal);
  }

  async #watchStatus() {
    for await (const s of this.#nc.status()) {
      if (s.type === "disconnect") {
        if (this.#lostAt === undefined) {
          this.#lostAt = Date.now();
          this.#lostTimer = setTimeout(() => this.#brokerLost(), this.#s.brokerTimeoutMs);
        }
      } else if (s.type === "reconnect") {
        this.#lostAt = undefined;
        if (this.#lostTimer !== undefined) clearTimeout(this.#lostTimer);
        this.#lostTimer = undefined;
      }
    }
  }

  #brokerLost() {
    this.#lostTimer = undefined;
    if (this.#lostAt === undefined) return;
    for (const p of [...this.#pending.values()]) {
      this.#settle(p, false, new BrokerUnavailableError(p.payload.taskId, this.#servers, this.#s.brokerTimeoutMs));
    }
  }

  // One listener per signal (the tasks of a run share its signal): adding one
  // per task to the same signal costs O(n) each in EventTarget.
  #watch(p: Pending) {
    let w = this.#watched.get(p.signal);
    if (w === undefined) {
      const signal = p.signal;
      const set = new Set<Pending>();
      const listener = () => this.#abort(signal, set);
      w = { set, listener };
      this.#watched.set(signal, w);
      signal.addEventListener("abort", listener, { once: true });
    }
    w.set.add(p);
  }

  #unwatch(p: Pending) {
    const w = this.#watched.get(p.signal);
    if (w === undefined) return;
    w.set.delete(p);
    if (w.set.size === 0) {
      this.#watched.delete(p.signal);
      p.signal.removeEventListener("abort", w.listener);
    }
  }

  #abort(signal: AbortSignal, set: Set<Pending>) {
    this.#watched.delete(signal);
    const keys: string[] = [];
    for (const p of [...set]) {
      if (p.batch !== undefined) keys.push(p.key);
      this.#settle(p, false, signal.reason);
    }
    // Tell the workers: the one running a task aborts its signal (and
    // terminates its local worker if the body does not yield); one that takes
    // the message later skips it.
    if (keys.length > 0 && !this.#closed) {
      try {
        this.#nc.publish(this.#names.cancel, JSON.stringify({ keys }));
      } catch { /* the broker is gone: the worker's own timeout or our ignoring the result covers it */ }
    }
  }

  #settle(p: Pending, ok: boolean, value: unknown) {
    if (p.done) return;
    p.done = true;
    this.#pending.delete(p.key);
    this.#unwatch(p);
    this.#sender.left(p);
    if (ok) p.resolve(value);
    else p.reject(value);
  }
}
