/**
 * An `Executor` that runs task bodies on worker processes, anywhere, through
 * NATS JetStream. Tasks go to a work-queue stream (one subject per profile),
 * worker processes ({@linkcode serveTasks}) take them, run them in their own
 * worker pools and publish the outcomes to this executor's results subject.
 *
 * @module
 */
import { serialize } from "node:v8";
import { NotCloneableError, TaskModuleError, TaskTimeoutError } from "../../src/errors.ts";
import { deserializeError } from "../../src/serialize.ts";
import { PROFILES } from "../../src/tables.ts";
import { type RemoteTask, taskLocation } from "../../src/tasks.ts";
import type { Executor, Profile, TaskPayload, TaskSpec } from "../../src/types.ts";
import { runInline } from "../../workers/inline_context.ts";
import { connectNats, type NatsConnectOptions, retryTransient, serverList } from "./connect.ts";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  headers,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type NatsConnection,
} from "./deps.ts";
import { BrokerUnavailableError, TaskDeliveryError } from "./errors.ts";
import {
  decode,
  encode,
  ensureStreams,
  H,
  type Names,
  namesOf,
  type WireOutcome,
  type WireResults,
  type WireTask,
} from "./_wire.ts";

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

interface Pending extends RemoteTask {
  key: string;
  batch: Batch | undefined;
  /** Waiting in its lane's queue. */
  queued: boolean;
}

interface Batch {
  profile: Profile;
  members: Pending[];
  open: number;
}

interface Lane {
  /** Tasks waiting to be sent, from `head` on (aborted ones are skipped when taken). */
  queue: Pending[];
  head: number;
  /** Tasks in the queue that are not done (aborted ones leave it). */
  waiting: number;
  inflight: number;
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
    return new Remote(nc, js, jsm, durable, messages, names, servers, id, {
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

interface Settings {
  ackWaitMs: number;
  maxDeliver: number;
  maxBatch: number;
  targetBatchMs: number;
  maxInFlight: number;
  brokerTimeoutMs: number;
  onInline: ((taskId: string) => void) | undefined;
}

class Remote implements NatsExecutor {
  readonly name = "nats";
  readonly concurrency = Infinity;
  readonly id: string;
  #nc: NatsConnection;
  #js: JetStreamClient;
  #jsm: JetStreamManager;
  #durable: string;
  #messages: ConsumerMessages;
  #names: Names;
  #servers: readonly string[];
  #s: Settings;
  #pending = new Map<string, Pending>();
  #watched = new Map<AbortSignal, { set: Set<Pending>; listener: () => void }>();
  #lanes = new Map<Profile, Lane>();
  #duplicates = 0;
  #published = 0;
  #batchSeq = 0;
  #perTaskMs: number | undefined;
  #batchSize = 1;
  #closed = false;
  #inlineSaid = false;
  #lostAt: number | undefined;
  #lostTimer: ReturnType<typeof setTimeout> | undefined;
  #pumpScheduled = false;
  #loops: Promise<unknown>[] = [];

  constructor(
    nc: NatsConnection,
    js: JetStreamClient,
    jsm: JetStreamManager,
    durable: string,
    messages: ConsumerMessages,
    names: Names,
    servers: readonly string[],
    id: string,
    settings: Settings,
  ) {
    this.#nc = nc;
    this.#js = js;
    this.#jsm = jsm;
    this.#durable = durable;
    this.#messages = messages;
    this.#names = names;
    this.#servers = servers;
    this.id = id;
    this.#s = settings;
    this.#loops.push(this.#readResults(), this.#watchStatus());
  }

  get pending(): number {
    return this.#pending.size;
  }
  get duplicates(): number {
    return this.#duplicates;
  }
  get published(): number {
    return this.#published;
  }
  get batchSize(): number {
    return this.#batchSize;
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
      const lane = this.#lane(task.profile);
      lane.queue.push(p);
      lane.waiting++;
      this.#schedulePump();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#lostTimer !== undefined) clearTimeout(this.#lostTimer);
    const error = new Error(`NATS executor ${this.id} was closed`);
    for (const p of [...this.#pending.values()]) this.#settle(p, false, error);
    this.#messages.stop();
    if (this.#lostAt !== undefined || this.#nc.isClosed()) {
      // No broker to say goodbye to: the server drops the consumer after its inactive threshold.
      await this.#nc.close().catch(() => {});
    } else {
      await this.#jsm.consumers.delete(this.#names.results, this.#durable).catch(() => {});
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

  #lane(profile: Profile): Lane {
    let lane = this.#lanes.get(profile);
    if (lane === undefined) this.#lanes.set(profile, lane = { queue: [], head: 0, waiting: 0, inflight: 0 });
    return lane;
  }

  #schedulePump() {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      for (const [profile, lane] of this.#lanes) this.#pump(profile, lane);
    });
  }

  #pump(profile: Profile, lane: Lane) {
    if (this.#closed) return;
    const s = this.#s;
    const cap = this.#perTaskMs === undefined
      ? s.maxBatch
      : Math.max(1, Math.min(s.maxBatch, Math.floor(s.targetBatchMs / Math.max(this.#perTaskMs, 1e-3))));
    while (lane.waiting > 0 && lane.inflight < s.maxInFlight) {
      const free = s.maxInFlight - lane.inflight;
      const take = Math.min(cap, Math.ceil(lane.waiting / free));
      this.#batchSize = take;
      const members: Pending[] = [];
      while (members.length < take && lane.head < lane.queue.length) {
        const p = lane.queue[lane.head++];
        if (p.done) continue;
        p.queued = false;
        lane.waiting--;
        members.push(p);
      }
      if (lane.head > 4096 && lane.head * 2 > lane.queue.length) {
        lane.queue = lane.queue.slice(lane.head);
        lane.head = 0;
      }
      if (members.length === 0) break;
      const batch: Batch = { profile, members, open: members.length };
      for (const p of members) p.batch = batch;
      lane.inflight++;
      this.#send(batch);
    }
  }

  #send(batch: Batch) {
    const tasks: WireTask[] = batch.members.map((p) => {
      const t: WireTask = {
        key: p.key,
        moduleUrl: p.loc.moduleUrl,
        name: p.loc.name,
        runId: p.payload.runId,
        taskId: p.payload.taskId,
        attempt: p.payload.attempt,
        input: p.payload.input,
        deps: p.payload.deps,
      };
      if (p.task.timeoutMs !== undefined) t.timeoutMs = p.task.timeoutMs;
      return t;
    });
    let body: Uint8Array;
    try {
      body = encode({ tasks });
    } catch (error) {
      this.#refused(batch, error);
      return;
    }
    const h = headers();
    h.set(H.reply, this.#names.result(this.id));
    h.set(H.maxDeliver, String(this.#s.maxDeliver));
    h.set(H.ackWait, String(this.#s.ackWaitMs));
    // A re-publish of the same message (after a lost answer) is deduplicated by
    // JetStream. The executor's id is part of it: a coordinator that took over
    // a run publishes afresh instead of being deduplicated against the old one's.
    const msgID = batch.members.length === 1 ? `${batch.members[0].key}@${this.id}` : `${this.id}#${++this.#batchSeq}`;
    void this.#publish(batch, this.#names.task(batch.profile), body, h, msgID);
  }

  async #publish(batch: Batch, subject: string, body: Uint8Array, h: ReturnType<typeof headers>, msgID: string) {
    const started = Date.now();
    let last: unknown;
    while (!this.#closed && batch.open > 0) {
      try {
        await this.#js.publish(subject, body, { msgID, headers: h, timeout: 5000 });
        this.#published++;
        return;
      } catch (error) {
        last = error;
      }
      if (Date.now() - started > this.#s.brokerTimeoutMs) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (this.#closed || batch.open === 0) return;
    for (const p of batch.members) {
      this.#settle(
        p,
        false,
        new BrokerUnavailableError(p.payload.taskId, this.#servers, this.#s.brokerTimeoutMs, { cause: last }),
      );
    }
  }

  /** The message could not be serialised: find the culprits, send the others again. */
  #refused(batch: Batch, error: unknown) {
    const lane = this.#lane(batch.profile);
    lane.inflight--;
    if (batch.members.length === 1) {
      this.#settle(
        batch.members[0],
        false,
        new NotCloneableError(batch.members[0].payload.taskId, "input", { cause: error }),
      );
    } else {
      const again: Pending[] = [];
      for (const p of batch.members) {
        p.batch = undefined;
        try {
          serialize({ input: p.payload.input, deps: p.payload.deps });
          again.push(p);
        } catch (cause) {
          this.#settle(p, false, new NotCloneableError(p.payload.taskId, "input", { cause }));
        }
      }
      for (const p of again) p.queued = true;
      lane.queue = [...again, ...lane.queue.slice(lane.head)];
      lane.head = 0;
      lane.waiting += again.length;
    }
    this.#schedulePump();
  }

  async #readResults() {
    for await (const m of this.#messages) {
      m.ack();
      let r: WireResults;
      try {
        r = decode<WireResults>(m.data);
      } catch {
        continue;
      }
      if (!r.cold) this.#adapt(r.outcomes.length, r.elapsedMs);
      for (const o of r.outcomes) {
        const p = this.#pending.get(o.key);
        if (p === undefined || p.done) {
          this.#duplicates++;
          continue;
        }
        if (o.ok) this.#settle(p, true, o.value);
        else this.#settle(p, false, this.#errorOf(p, o, r.deliveries));
      }
    }
  }

  /**
   * Per-task time from what workers report, for messages of 8 or more tasks
   * (a lone task's time is mostly the message's own cost) whose worker had
   * its task modules loaded. It caps how many tasks a message takes: about
   * `targetBatchMs` of work.
   */
  #adapt(n: number, elapsedMs: number) {
    if (n < 8 || elapsedMs < 0) return;
    const per = elapsedMs / n;
    this.#perTaskMs = this.#perTaskMs === undefined ? per : this.#perTaskMs * 0.7 + per * 0.3;
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
    if (p.queued) {
      p.queued = false;
      this.#lane(p.task.profile).waiting--;
    }
    const batch = p.batch;
    if (batch !== undefined && --batch.open === 0) {
      const lane = this.#lane(batch.profile);
      lane.inflight--;
      this.#schedulePump();
    }
    if (ok) p.resolve(value);
    else p.reject(value);
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
