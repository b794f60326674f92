// The wire between a NATS executor and its worker processes, in one place:
// stream and subject names, headers, message bodies, and the streams'
// creation. Bodies are V8's structured-clone serialisation (`node:v8`), so a
// value crosses the broker as it crosses to a local worker.
import { deserialize, serialize } from "node:v8";
import type { ErrorData } from "../../src/types.ts";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "./deps.ts";

/** Names derived from a prefix (default `nerv`). */
export interface Names {
  prefix: string;
  /** Work-queue stream of task messages. */
  tasks: string;
  /** Stream of results, one subject per executor. */
  results: string;
  /** Dead-letter stream. */
  dead: string;
  /** Stream of delivery counts: one record per task message, the times workers took it. */
  deliveries: string;
  /** Subject of a profile's tasks. */
  task(profile: string): string;
  /** Subject of an executor's results. */
  result(executorId: string): string;
  /** Dead-letter subject of a profile. */
  deadLetter(profile: string): string;
  /** Subject of a task message's delivery count (`id`: its stream sequence and time). */
  delivery(id: string): string;
  /** Durable consumer of a profile's tasks. */
  consumer(profile: string): string;
  /** Core NATS subject where cancellations are broadcast. */
  cancel: string;
}

/**
 * The names of `prefix`.
 *
 * @throws {TypeError} The prefix is not a NATS token (letters, digits, `-`, `_`).
 */
export function namesOf(prefix: string): Names {
  if (typeof prefix !== "string" || !/^[A-Za-z0-9_-]+$/.test(prefix)) {
    throw new TypeError(`Cannot use NATS prefix ${JSON.stringify(prefix)}: expected letters, digits, "-" or "_"`);
  }
  const up = prefix.toUpperCase().replaceAll("-", "_");
  return {
    prefix,
    tasks: `${up}_TASKS`,
    results: `${up}_RESULTS`,
    dead: `${up}_DEAD`,
    deliveries: `${up}_DELIVERIES`,
    task: (profile) => `${prefix}.task.${profile}`,
    result: (id) => `${prefix}.result.${id}`,
    deadLetter: (profile) => `${prefix}.dead.${profile}`,
    delivery: (id) => `${prefix}.delivery.${id}`,
    consumer: (profile) => `${prefix}-task-${profile}`,
    cancel: `${prefix}.cancel`,
  };
}

/** Header names. */
export const H = {
  /** Subject to publish results to. */
  reply: "Nerv-Reply",
  /** Deliveries after which the worker dead-letters the message. */
  maxDeliver: "Nerv-Max-Deliver",
  /** The consumer's ack wait (ms): the worker sends in-progress acks at a third of it. */
  ackWait: "Nerv-Ack-Wait",
} as const;

/** One task as it crosses. */
export interface WireTask {
  /** `runId/taskId/attempt`: unique per attempt; results name it. */
  key: string;
  moduleUrl: string;
  name: string;
  runId: string;
  taskId: string;
  attempt: number;
  input: unknown;
  deps: Readonly<Record<string, unknown>>;
  /** Attempt timeout (ms), enforced by the worker too (the coordinator may be gone). */
  timeoutMs?: number;
}

/** A task message: one or more tasks. */
export interface WireTasks {
  tasks: WireTask[];
}

/** How a task ended on a worker. */
export type WireOutcome =
  | { key: string; ok: true; value: unknown }
  | { key: string; ok: false; error: ErrorData; kind: "task" | "load" | "clone" | "deliveries" | "timeout" };

/** A result message: outcomes of some tasks of one task message. */
export interface WireResults {
  /** The worker (`host:pid`). */
  worker: string;
  /** The delivery count of the task message. */
  deliveries: number;
  /** Milliseconds the tasks took on the worker, in all. */
  elapsedMs: number;
  /** The worker loaded a task module for this message: its time is not the tasks' alone. */
  cold?: boolean;
  outcomes: WireOutcome[];
}

/** Encodes a body. @throws {Error} A value cannot be serialised. */
export function encode(value: WireTasks | WireResults): Uint8Array {
  return serialize(value);
}

/** Decodes a body. */
export function decode<T extends WireTasks | WireResults>(data: Uint8Array): T {
  return deserialize(data) as T;
}

/** Stream settings an executor (or worker) asks for. */
export interface StreamSettings {
  /** Stream replicas (3 on a 3-node cluster). */
  replicas: number;
  /** Consumer ack wait, ms. */
  ackWaitMs: number;
  /** Storage. */
  storage: "file" | "memory";
  /** How long results are kept (ms) for an executor that reconnects. */
  resultsMaxAgeMs: number;
}

const ns = (ms: number) => Math.round(ms * 1e6);

/**
 * Creates the streams and a profile's consumers when missing; with `update`,
 * also sets the consumers' ack wait to the one asked for (the executor owns
 * that setting; workers create with defaults and never change it).
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  names: Names,
  profiles: readonly string[],
  settings: StreamSettings,
  update: boolean,
): Promise<void> {
  const storage = settings.storage === "memory" ? StorageType.Memory : StorageType.File;
  const streams = [
    {
      name: names.tasks,
      subjects: [`${names.prefix}.task.*`],
      retention: RetentionPolicy.Workqueue,
      duplicate_window: ns(120_000),
    },
    {
      name: names.results,
      subjects: [`${names.prefix}.result.*`],
      retention: RetentionPolicy.Workqueue,
      max_age: ns(settings.resultsMaxAgeMs),
      max_bytes: 1 << 30,
      discard: DiscardPolicy.Old,
    },
    {
      name: names.dead,
      subjects: [`${names.prefix}.dead.*`],
      retention: RetentionPolicy.Limits,
      max_age: ns(7 * 24 * 3600_000),
      max_bytes: 1 << 28,
      discard: DiscardPolicy.Old,
    },
    {
      // How many times workers took each task message (see countDelivery in
      // worker.ts): the last record per message, kept for a day.
      name: names.deliveries,
      subjects: [`${names.prefix}.delivery.*`],
      retention: RetentionPolicy.Limits,
      max_msgs_per_subject: 1,
      max_age: ns(24 * 3600_000),
      max_bytes: 1 << 28,
      discard: DiscardPolicy.Old,
    },
  ];
  for (const cfg of streams) {
    let info;
    try {
      info = await jsm.streams.info(cfg.name);
    } catch {
      info = undefined;
    }
    if (info !== undefined) {
      // The executor owns the replicas: a stream a worker made first (R1) grows to what it asks.
      if (update && info.config.num_replicas !== settings.replicas) {
        await jsm.streams.update(cfg.name, { ...info.config, num_replicas: settings.replicas });
      }
    } else {
      try {
        await jsm.streams.add({ ...cfg, storage, num_replicas: settings.replicas });
      } catch (e) {
        // Another process created it meanwhile.
        if (!/already in use|already exists/i.test(String((e as Error)?.message))) throw e;
      }
    }
  }
  for (const profile of profiles) {
    const name = names.consumer(profile);
    const cfg = {
      durable_name: name,
      filter_subject: names.task(profile),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ns(settings.ackWaitMs),
      // Unlimited here: the worker dead-letters a message past the executor's
      // max deliveries itself (nats-server 2.9 keeps a message whose
      // max_deliver is exhausted in a work queue for good), counting the
      // deliveries in its own stream (the server's count can go back to 1).
      max_deliver: -1,
      max_ack_pending: 100_000,
    };
    let info;
    try {
      info = await jsm.consumers.info(names.tasks, name);
    } catch {
      info = undefined;
    }
    if (info === undefined) {
      try {
        await jsm.consumers.add(names.tasks, cfg);
      } catch (e) {
        if (!/already in use|already exists/i.test(String((e as Error)?.message))) throw e;
      }
    } else if (update && info.config.ack_wait !== cfg.ack_wait) {
      await jsm.consumers.update(names.tasks, name, { ack_wait: cfg.ack_wait });
    }
  }
}
