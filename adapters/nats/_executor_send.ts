/**
 * The NATS executor's sending side: the tasks waiting per profile (a lane
 * each), packed into task messages whose size follows the times workers
 * report, published to the work-queue stream (retried while the broker is
 * away, for `brokerTimeoutMs`), and a message that cannot be serialised split
 * to find the culprits.
 *
 * Private to `adapters/nats/executor.ts`. Settles tasks only through
 * {@linkcode SendHooks}; knows nothing of results or abort signals.
 *
 * @module
 */
import { serialize } from "node:v8";
import { NotCloneableError } from "../../src/errors.ts";
import type { RemoteTask } from "../../src/tasks.ts";
import type { Profile } from "../../src/types.ts";
import { headers, type JetStreamClient } from "./deps.ts";
import { BrokerUnavailableError } from "./errors.ts";
import { encode, H, type Names, type WireTask } from "./_wire.ts";

/** A task given to the executor and not settled yet. */
export interface Pending extends RemoteTask {
  key: string;
  batch: Batch | undefined;
  /** Waiting in its lane's queue. */
  queued: boolean;
}

/** The tasks of one task message. */
export interface Batch {
  profile: Profile;
  members: Pending[];
  open: number;
}

/** A profile's tasks waiting to be sent, and its task messages not answered. */
interface Lane {
  /** Tasks waiting to be sent, from `head` on (aborted ones are skipped when taken). */
  queue: Pending[];
  head: number;
  /** Tasks in the queue that are not done (aborted ones leave it). */
  waiting: number;
  inflight: number;
}

/** The executor's settings that sending uses. */
export interface SendSettings {
  ackWaitMs: number;
  maxDeliver: number;
  maxBatch: number;
  targetBatchMs: number;
  maxInFlight: number;
  brokerTimeoutMs: number;
}

/** What sending needs to reach the broker. */
export interface SendEnv {
  js: JetStreamClient;
  names: Names;
  servers: readonly string[];
  /** The executor's id (its results subject ends with it). */
  id: string;
  settings: SendSettings;
}

/** What sending needs from the rest of the executor. */
export interface SendHooks {
  /** Whether the executor was closed: nothing more is sent. */
  closed(): boolean;
  /** Settles a task. */
  settle(p: Pending, ok: boolean, value: unknown): void;
}

/** The executor's outgoing tasks: lanes, task messages, publishing. */
export class Sender {
  /** Task messages published. */
  published = 0;
  /** The current number of tasks per message. */
  batchSize = 1;
  readonly #js: JetStreamClient;
  readonly #names: Names;
  readonly #servers: readonly string[];
  readonly #id: string;
  readonly #s: SendSettings;
  readonly #hooks: SendHooks;
  #lanes = new Map<Profile, Lane>();
  #batchSeq = 0;
  #perTaskMs: number | undefined;
  #pumpScheduled = false;

  /**
   * @param env The broker and the settings.
   * @param hooks The rest of the executor.
   */
  constructor(env: SendEnv, hooks: SendHooks) {
    this.#js = env.js;
    this.#names = env.names;
    this.#servers = env.servers;
    this.#id = env.id;
    this.#s = env.settings;
    this.#hooks = hooks;
  }

  /**
   * Queues a task in its profile's lane; it is sent at the next microtask's pump.
   *
   * @param p The task.
   */
  enqueue(p: Pending): void {
    const lane = this.#lane(p.task.profile);
    lane.queue.push(p);
    lane.waiting++;
    this.#schedulePump();
  }

  /**
   * A task settled: it leaves its lane's count, and its message frees a slot
   * in flight when it was the message's last open task.
   *
   * @param p The task.
   */
  left(p: Pending): void {
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
  }

  /**
   * Per-task time from what workers report, for messages of 8 or more tasks
   * (a lone task's time is mostly the message's own cost) whose worker had
   * its task modules loaded. It caps how many tasks a message takes: about
   * `targetBatchMs` of work.
   *
   * @param n The message's tasks.
   * @param elapsedMs Their time on the worker.
   */
  adapt(n: number, elapsedMs: number): void {
    if (n < 8 || elapsedMs < 0) return;
    const per = elapsedMs / n;
    this.#perTaskMs = this.#perTaskMs === undefined ? per : this.#perTaskMs * 0.7 + per * 0.3;
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
    if (this.#hooks.closed()) return;
    const s = this.#s;
    const cap = this.#perTaskMs === undefined
      ? s.maxBatch
      : Math.max(1, Math.min(s.maxBatch, Math.floor(s.targetBatchMs / Math.max(this.#perTaskMs, 1e-3))));
    while (lane.waiting > 0 && lane.inflight < s.maxInFlight) {
      const free = s.maxInFlight - lane.inflight;
      const take = Math.min(cap, Math.ceil(lane.waiting / free));
      this.batchSize = take;
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
    h.set(H.reply, this.#names.result(this.#id));
    h.set(H.maxDeliver, String(this.#s.maxDeliver));
    h.set(H.ackWait, String(this.#s.ackWaitMs));
    // A re-publish of the same message (after a lost answer) is deduplicated by
    // JetStream. The executor's id is part of it: a coordinator that took over
    // a run publishes afresh instead of being deduplicated against the old one's.
    const msgID = batch.members.length === 1
      ? `${batch.members[0].key}@${this.#id}`
      : `${this.#id}#${++this.#batchSeq}`;
    void this.#publish(batch, this.#names.task(batch.profile), body, h, msgID);
  }

  async #publish(batch: Batch, subject: string, body: Uint8Array, h: ReturnType<typeof headers>, msgID: string) {
    const started = Date.now();
    let last: unknown;
    while (!this.#hooks.closed() && batch.open > 0) {
      try {
        await this.#js.publish(subject, body, { msgID, headers: h, timeout: 5000 });
        this.published++;
        return;
      } catch (error) {
        last = error;
      }
      if (Date.now() - started > this.#s.brokerTimeoutMs) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (this.#hooks.closed() || batch.open === 0) return;
    for (const p of batch.members) {
      this.#hooks.settle(
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
      this.#hooks.settle(
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
          this.#hooks.settle(p, false, new NotCloneableError(p.payload.taskId, "input", { cause }));
        }
      }
      for (const p of again) p.queued = true;
      lane.queue = [...again, ...lane.queue.slice(lane.head)];
      lane.head = 0;
      lane.waiting += again.length;
    }
    this.#schedulePump();
  }
}
