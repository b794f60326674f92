/**
 * The NATS executor's results: its own durable pull consumer on the results
 * stream (one subject per executor), the loop that reads the outcomes workers
 * publish and settles their tasks (a result for a task already ended is a late
 * duplicate: counted, ignored), and the typed error a failed outcome becomes.
 *
 * Private to `adapters/nats/executor.ts`. Settles tasks only through
 * {@linkcode ResultHooks}.
 *
 * @module
 */
import { NotCloneableError, TaskModuleError, TaskTimeoutError } from "../../src/errors.ts";
import { deserializeError } from "../../src/serialize.ts";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
} from "./deps.ts";
import { TaskDeliveryError } from "./errors.ts";
import type { Pending } from "./_executor_send.ts";
import { decode, type Names, type WireOutcome, type WireResults } from "./_wire.ts";

/** What reading results needs from the rest of the executor. */
export interface ResultHooks {
  /** The tasks not settled, by key (`runId/taskId/attempt`). */
  readonly pending: ReadonlyMap<string, Pending>;
  /** Settles a task. */
  settle(p: Pending, ok: boolean, value: unknown): void;
  /** Counts a message's time on its worker (it sizes the next messages). */
  adapt(n: number, elapsedMs: number): void;
}

/** This executor's results consumer. */
export class Results {
  /** Results that came for a task already ended (late duplicates, ignored). */
  duplicates = 0;
  readonly #jsm: JetStreamManager;
  readonly #names: Names;
  readonly #durable: string;
  readonly #messages: ConsumerMessages;

  /**
   * Creates the executor's consumer on its results subject and starts pulling.
   *
   * @param env The broker, the names, and the executor's id.
   * @returns The consumer, pulling.
   */
  static async open(
    env: { js: JetStreamClient; jsm: JetStreamManager; names: Names; id: string },
  ): Promise<Results> {
    const { js, jsm, names, id } = env;
    // Results: a pull consumer on this executor's subject (nats-server 2.9
    // has no multi-filter ordered consumers); deleted by close(), or by the
    // server an hour after this process vanished.
    const durable = `${names.prefix}-result-${id}`;
    await jsm.consumers.add(names.results, {
      durable_name: durable,
      filter_subject: names.result(id),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30_000_000_000,
      inactive_threshold: 3600_000_000_000,
    });
    const consumer = await js.consumers.get(names.results, durable);
    // Short pulls: a lost server is noticed (missed heartbeats) within seconds.
    const messages = await consumer.consume({ max_messages: 1000, expires: 2000 });
    return new Results(jsm, names, durable, messages);
  }

  /**
   * @param jsm The manager that deletes the consumer.
   * @param names The stream and subject names.
   * @param durable The consumer's name.
   * @param messages Its messages, pulling.
   */
  constructor(jsm: JetStreamManager, names: Names, durable: string, messages: ConsumerMessages) {
    this.#jsm = jsm;
    this.#names = names;
    this.#durable = durable;
    this.#messages = messages;
  }

  /**
   * Reads results until the consumer stops, settling each outcome's task.
   *
   * @param hooks The rest of the executor.
   * @returns When the consumer stopped.
   */
  async read(hooks: ResultHooks): Promise<void> {
    for await (const m of this.#messages) {
      m.ack();
      let r: WireResults;
      try {
        r = decode<WireResults>(m.data);
      } catch {
        continue;
      }
      if (!r.cold) hooks.adapt(r.outcomes.length, r.elapsedMs);
      for (const o of r.outcomes) {
        const p = hooks.pending.get(o.key);
        if (p === undefined || p.done) {
          this.duplicates++;
          continue;
        }
        if (o.ok) hooks.settle(p, true, o.value);
        else hooks.settle(p, false, this.#errorOf(p, o, r.deliveries));
      }
    }
  }

  /** Stops pulling (the consumer stays on the server). */
  stop(): void {
    this.#messages.stop();
  }

  /**
   * Deletes the consumer from the server; an error is ignored (the server drops it after its inactive threshold).
   *
   * @returns When done.
   */
  async delete(): Promise<void> {
    await this.#jsm.consumers.delete(this.#names.results, this.#durable).catch(() => {});
  }

  #errorOf(p: Pending, o: WireOutcome & { ok: false }, deliveries: number): Error {
    switch (o.kind) {
      case "load":
        return new TaskModuleError(p.loc.moduleUrl, p.loc.name, String(o.error.reason ?? o.error.message), {
          cause: deserializeError(o.error),
          taskId: p.payload.taskId,
        });
      case "clone":
        return new NotCloneableError(p.payload.taskId, "result", { cause: deserializeError(o.error) });
      case "timeout":
        // The worker's timer fired before this process's (an engine on a virtual clock, a stalled event loop).
        return new TaskTimeoutError(
          p.payload.taskId,
          p.payload.attempt,
          p.task.timeoutMs ?? Number(o.error.timeoutMs),
        );
      case "deliveries":
        return new TaskDeliveryError(
          p.payload.taskId,
          p.payload.attempt,
          deliveries,
          this.#names.deadLetter(p.task.profile),
        );
      default:
        return deserializeError(o.error);
    }
  }
}
