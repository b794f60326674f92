/**
 * An `Executor` that runs task bodies on worker processes, anywhere, through
 * NATS JetStream. Tasks go to a work-queue stream (one subject per profile),
 * worker processes ({@linkcode serveTasks}) take them, run them in their own
 * worker pools and publish the outcomes to this executor's results subject.
 *
 * This file holds the options, the executor's interface and its factory
 * (checking the options, connecting, making the streams); the executor's parts
 * are `_executor_remote.ts` (the attempts given and not settled, abort
 * signals, a lost broker, closing), `_executor_send.ts` (lanes, task messages,
 * publishing) and `_executor_results.ts` (the results consumer, outcomes into
 * settled tasks or typed errors).
 *
 * @module
 */
import { PROFILES } from "../../src/tables.ts";
import type { Executor } from "../../src/types.ts";
import { connectNats, type NatsConnectOptions, retryTransient, serverList } from "./connect.ts";
import { jetstream, jetstreamManager } from "./deps.ts";
import { Remote } from "./_executor_remote.ts";
import { Results } from "./_executor_results.ts";
import { ensureStreams, namesOf } from "./_wire.ts";

/** Options of {@linkcode natsExecutor}. */
export interface NatsExecutorOptions extends Omit<NatsConnectOptions, "servers"> {
  /** NATS server URLs (a cluster's, for failover). */
  servers: string | readonly string[];
  /**
   * Prefix of the streams and subjects; workers must use the same.
   * @default {"nerv"}
   */
  prefix?: string;
  /**
   * How long a worker may hold a task message without a sign of life (ms)
   * before JetStream redelivers it; workers send in-progress acks at a
   * third of it, so it can stay short for long tasks.
   * @default {30000}
   */
  ackWaitMs?: number;
  /**
   * Deliveries of a task message after which the task fails with
   * {@linkcode TaskDeliveryError} and the message moves to the dead-letter
   * subject: the task runs at most this many times. Workers count the
   * deliveries themselves (the server's count can go back to 1).
   * @default {5}
   */
  maxDeliver?: number;
  /**
   * Stream replicas: 3 on a 3-node cluster so that a node may die.
   * @default {1}
   */
  replicas?: number;
  /**
   * Stream storage.
   * @default {"file"}
   */
  storage?: "file" | "memory";
  /**
   * Most tasks in one message. Tasks of one message are redelivered
   * together when their worker dies.
   * @default {512}
   */
  maxBatch?: number;
  /**
   * Aim for messages whose tasks take about this long on a worker (ms),
   * from the times workers report: long tasks go one per message.
   * @default {50}
   */
  targetBatchMs?: number;
  /**
   * Task messages per profile published and not answered; further tasks
   * wait here (and are packed into fuller messages).
   * @default {64}
   */
  maxInFlight?: number;
  /**
   * How long tasks wait for a lost broker to come back (ms) before they fail
   * with {@linkcode BrokerUnavailableError}.
   * @default {30000}
   */
  brokerTimeoutMs?: number;
  /**
   * Told once when a task body is a plain function: it cannot cross to
   * another process, so it runs here.
   * @default {a console warning}
   */
  onInline?: (taskId: string) => void;
}

/** A NATS executor: an `Executor` with counters and a `close()`. */
export interface NatsExecutor extends Executor {
  /** This executor's id (its results subject ends with it). */
  readonly id: string;
  /** Tasks sent and not ended, plus tasks waiting to be sent. */
  readonly pending: number;
  /** Results that came for a task already ended (late duplicates, ignored). */
  readonly duplicates: number;
  /** Task messages published. */
  readonly published: number;
  /** The current number of tasks per message. */
  readonly batchSize: number;
  /**
   * Fails what is pending, stops listening and closes the connection.
   *
   * @returns When closed.
   */
  close(): Promise<void>;
}

/**
 * Connects to NATS, makes sure the streams exist and returns an executor
 * that sends task bodies to worker processes ({@linkcode serveTasks}).
 *
 * Each attempt is at least once on a worker and completes exactly once
 * here: a result for a task already ended (a worker that finished after its
 * message went to another) is ignored. A timeout or cancellation aborts the
 * remote attempt. Plain functions (not from `defineTasks`) run in this process.
 *
 * @param options Servers, prefix, delivery and batching settings.
 * @returns The executor, connected.
 * @throws {NatsUnreachableError} No server answered.
 * @throws {RangeError} A setting is out of range.
 *
 * @example CPU tasks on worker processes, io tasks here
 * ```ts ignore
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { natsExecutor } from "@nerv/flow/nats";
 * import { tasks } from "./tasks.ts"; // defineTasks(import.meta.url, { ... })
 *
 * const cpu = await natsExecutor({ servers: "nats://127.0.0.1:4222" });
 * const engine = createEngine({ executors: { cpu }, limits: { cpu: 64 } });
 * const result = await engine.run(defineWorkflow({ name: "w", tasks: [
 *   { id: "h", run: tasks.hash, profile: "cpu" },
 * ] }), { input: "hello" });
 * await engine.close(); // closes the executor too
 * ```
 */
export async function natsExecutor(options: NatsExecutorOptions): Promise<NatsExecutor> {
  const servers = serverList(options.servers);
  const names = namesOf(options.prefix ?? "nerv");
  const ackWaitMs = positive("ackWaitMs", options.ackWaitMs ?? 30_000);
  const maxDeliver = positive("maxDeliver", options.maxDeliver ?? 5, true);
  const replicas = positive("replicas", options.replicas ?? 1, true);
  const maxBatch = positive("maxBatch", options.maxBatch ?? 512, true);
  const targetBatchMs = positive("targetBatchMs", options.targetBatchMs ?? 50);
  const maxInFlight = positive("maxInFlight", options.maxInFlight ?? 64, true);
  const brokerTimeoutMs = positive("brokerTimeoutMs", options.brokerTimeoutMs ?? 30_000);
  const id = crypto.randomUUID().slice(0, 8) + crypto.randomUUID().slice(0, 4);
  const nc = await connectNats({ ...options, servers, name: options.name ?? `nerv-executor-${id}` });
  try {
    const jsm = await retryTransient(() => jetstreamManager(nc));
    await ensureStreams(jsm, names, PROFILES, {
      replicas,
      ackWaitMs,
      storage: options.storage ?? "file",
      resultsMaxAgeMs: 15 * 60_000,
    }, true);
    const js = jetstream(nc);
    const results = await Results.open({ js, jsm, names, id });
    return new Remote(nc, js, results, names, servers, id, {
      ackWaitMs,
      maxDeliver,
      maxBatch,
      targetBatchMs,
      maxInFlight,
      brokerTimeoutMs,
      onInline: options.onInline,
    });
  } catch (e) {
    await nc.close().catch(() => {});
    throw e;
  }
}

function positive(name: string, value: number, integer = false): number {
  if (typeof value !== "number" || !(value > 0) || (integer && !Number.isInteger(value))) {
    throw new RangeError(
      `Cannot create NATS executor: ${name} ${JSON.stringify(value)} must be ${
        integer ? "an integer" : "a number"
      } > 0`,
    );
  }
  return value;
}
