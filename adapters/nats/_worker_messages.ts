/**
 * The worker process's task messages, each from taking to acknowledging: its
 * delivery counted in the deliveries stream before anything runs (a message
 * taken more than `maxDeliver` times is dead-lettered and its tasks fail),
 * its tasks run in the profile's local pool with their own timeouts and the
 * executor's cancellations, in-progress acks while they run, and the outcomes
 * published to the executor that sent them (retried while the broker is away).
 *
 * Private to `adapters/nats/worker.ts`, whose consumer loops take the messages.
 *
 * @module
 */
import { serialize } from "node:v8";
import { NotCloneableError, TaskModuleError, TaskTimeoutError } from "../../src/errors.ts";
import { serializeError } from "../../src/serialize.ts";
import { TASK_REF } from "../../src/tasks.ts";
import type { ErrorData, Profile, TaskSpec } from "../../src/types.ts";
import type { WorkerPool } from "../../workers/pool.ts";
import { lastMessage, retryTransient } from "./connect.ts";
import {
  headers,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from "./deps.ts";
import { decode, encode, H, type Names, type WireOutcome, type WireTasks } from "./_wire.ts";

/** A task message held: taken and not yet acknowledged or handed back. */
export interface Held {
  msg: JsMsg;
  controllers: AbortController[];
  handedBack: boolean;
}

/** What handling task messages needs of the worker process. */
export interface MessagesEnv {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  /** This process's name on the bus. */
  workerName: string;
  /** The profiles it serves. */
  profiles: readonly Profile[];
  /** Called each time a message is let go (a drain waits for none held). */
  wake(): void;
}

/** The task messages of a worker process. */
export interface TaskMessages {
  /** The messages held now. */
  readonly held: Set<Held>;
  /** Tasks whose outcome was published. */
  readonly ran: number;
  /**
   * Handles one task message: counts its delivery, runs its tasks (or
   * dead-letters it), publishes their outcomes and acknowledges it.
   *
   * @param msg The message.
   * @param profile Its profile.
   * @param pool The profile's local pool.
   * @returns When the message is let go.
   */
  handle(msg: JsMsg, profile: Profile, pool: WorkerPool): Promise<void>;
}

/**
 * Starts listening for the executors' cancellations and returns the handler of task messages.
 *
 * @param env The connection, names and profiles.
 * @returns The task messages' handler.
 */
export function taskMessages(env: MessagesEnv): TaskMessages {
  const { nc, js, jsm, names, workerName, profiles, wake } = env;
  const loaded = new Map<Profile, Set<string>>(profiles.map((p) => [p, new Set<string>()]));
  const held = new Set<Held>();
  /** Stream sequences of the task messages held. */
  const holding = new Set<number>();
  const running = new Map<string, AbortController>();
  const cancelled = new Set<string>();
  let ran = 0;

  nc.subscribe(names.cancel, {
    callback: (_err, msg) => {
      let keys: string[];
      try {
        keys = (msg.json() as { keys: string[] }).keys;
      } catch {
        return;
      }
      for (const key of keys) {
        cancelled.add(key);
        running.get(key)?.abort(new DOMException(`Task attempt "${key}" was cancelled by its executor`, "AbortError"));
      }
      if (cancelled.size > 100_000) {
        const drop = [...cancelled].slice(0, 50_000);
        for (const k of drop) cancelled.delete(k);
      }
    },
  });

  const handle = async (msg: JsMsg, profile: Profile, pool: WorkerPool): Promise<void> => {
    const seq = msg.info.streamSequence;
    // A second copy of a message held here (nats-server before 2.10.14 can
    // hand out one message twice at once, see countDelivery): the holder
    // answers for it, and its in-progress acks keep the message.
    if (holding.has(seq)) return;
    holding.add(seq);
    const h: Held = { msg, controllers: [], handedBack: false };
    held.add(h);
    const ackWait = Number(msg.headers?.get(H.ackWait)) || 30_000;
    const maxDeliver = Number(msg.headers?.get(H.maxDeliver)) || Infinity;
    const reply = msg.headers?.get(H.reply) ?? "";
    const beat = setInterval(() => msg.working(), Math.max(50, ackWait / 3));
    try {
      // Counted before anything runs; unanswered, the message is left to be redelivered after ack_wait.
      const deliveries = await countDelivery(js, jsm, names, msg, workerName);
      if (deliveries === undefined || h.handedBack) return;
      let body: WireTasks;
      try {
        body = decode<WireTasks>(msg.data);
      } catch {
        msg.term();
        return;
      }
      const live = body.tasks.filter((t) => !cancelled.has(t.key));
      if (deliveries > maxDeliver) {
        // Taken maxDeliver times without a result: dead-letter it, fail its tasks. Each taking up to
        // maxDeliver may have run it; the ones after (this one) do not. The message keeps its
        // Nats-Msg-Id, so a copy dead-lettered again within the dead stream's duplicate window is stored once.
        await publishRetrying(js, names.deadLetter(profile), msg.data, msg.headers, ackWait);
        const outcomes: WireOutcome[] = live.map((t) => ({
          key: t.key,
          ok: false,
          kind: "deliveries",
          error: { name: "TaskDeliveryError", message: `delivered ${maxDeliver} times without a result` },
        }));
        if (reply !== "" && outcomes.length > 0) {
          await publishRetrying(
            js,
            reply,
            encode({ worker: workerName, deliveries: maxDeliver, elapsedMs: -1, outcomes }),
            undefined,
            ackWait,
          );
        }
        msg.ack();
        return;
      }
      const started = performance.now();
      const known = loaded.get(profile)!;
      let cold = false;
      for (const t of live) {
        if (!known.has(t.moduleUrl)) {
          known.add(t.moduleUrl);
          cold = true;
        }
      }
      const outcomes = await Promise.all(live.map(async (t): Promise<WireOutcome | undefined> => {
        const ac = new AbortController();
        h.controllers.push(ac);
        running.set(t.key, ac);
        // The task's own timeout, applied here too (a lost cancel message must not leave the body running).
        const timedOut = t.timeoutMs === undefined ? undefined : new TaskTimeoutError(t.taskId, t.attempt, t.timeoutMs);
        const timer = timedOut === undefined ? undefined : setTimeout(() => ac.abort(timedOut), t.timeoutMs);
        const spec = specOf(t.moduleUrl, t.name, profile);
        try {
          const value = await pool.run(
            spec,
            { input: t.input, deps: t.deps ?? {}, attempt: t.attempt, taskId: t.taskId, runId: t.runId },
            ac.signal,
          );
          return { key: t.key, ok: true, value };
        } catch (error) {
          if (cancelled.has(t.key)) return undefined;
          // Said apart from the body's own errors, so that the executor rebuilds a TaskTimeoutError.
          if (error === timedOut) return { key: t.key, ok: false, kind: "timeout", error: serializeError(error) };
          return { key: t.key, ok: false, ...classify(error) };
        } finally {
          if (timer !== undefined) clearTimeout(timer);
          running.delete(t.key);
        }
      }));
      if (h.handedBack) return;
      const list = outcomes.filter((o): o is WireOutcome => o !== undefined);
      if (reply !== "" && list.length > 0) {
        const data = encodeResults(workerName, deliveries, performance.now() - started, list, cold);
        if (!await publishRetrying(js, reply, data, undefined, ackWait)) return; // not acked: redelivered
      }
      ran += list.length;
      if (!h.handedBack) msg.ack();
    } finally {
      clearInterval(beat);
      held.delete(h);
      holding.delete(seq);
      wake();
    }
  };

  return {
    held,
    get ran() {
      return ran;
    },
    handle,
  };
}

/** Header of a delivery record: which delivery wrote it (`<worker>#<consumer delivery sequence>`). */
const DELIVERY = "Nerv-Delivery";

/**
 * Counts one taking of a task message by a worker and returns how many
 * times workers took it, this one included; `undefined` when the broker
 * does not answer (for about 20 s) or refuses.
 *
 * The server's count (`msg.info.deliveryCount`) cannot bound the runs of a
 * task: nats-server before 2.10.14 (nats-io/nats-server#5305) hands a
 * message out again as a first delivery, count 1, when a redelivery found
 * only pull requests of a worker that is gone (killed while it waited for
 * messages): the redelivery is counted and lost, the server's cursor goes
 * back, and the next pull gets the message with count 1, often besides its
 * redelivery. So each taking adds one to the message's record in the
 * deliveries stream (subject: the message's stream sequence and time) with a
 * compare-and-set on the subject's last sequence, before anything runs.
 */
async function countDelivery(
  js: JetStreamClient,
  jsm: JetStreamManager,
  names: Names,
  msg: JsMsg,
  workerName: string,
): Promise<number | undefined> {
  const subject = names.delivery(`${msg.info.streamSequence}_${msg.timestampNanos}`);
  const mark = `${workerName}#${msg.info.deliverySequence}`;
  const h = headers();
  h.set(DELIVERY, mark);
  // The server's first delivery usually finds no record: write without reading first.
  let last: { seq: number; n: number } | undefined = msg.info.deliveryCount === 1 ? { seq: 0, n: 0 } : undefined;
  try {
    for (let round = 0; round < 1000; round++) {
      if (last === undefined) {
        const m = await lastMessage(jsm, names.deliveries, subject);
        const n = m === undefined ? 0 : Number(new TextDecoder().decode(m.data)) || 0;
        // Ours: it was stored and its acknowledgement lost.
        if (m !== undefined && m.header?.get(DELIVERY) === mark) return n;
        last = { seq: m?.seq ?? 0, n };
      }
      const n = last.n + 1;
      const expect = last.seq;
      try {
        await retryTransient(() =>
          js.publish(subject, String(n), { headers: h, expect: { lastSubjectSequence: expect }, timeout: 5000 })
        );
        return n;
      } catch (error) {
        // Another copy counted meanwhile, or ours was stored and its acknowledgement lost: read again.
        if (!(error instanceof JetStreamApiError && error.code === 10071)) throw error;
        last = undefined;
      }
    }
  } catch {
    // Unreachable or refused: not counted, so not run.
  }
  return undefined;
}

const specs = new Map<string, TaskSpec>();

/** What the local pool needs of a task: a reference to its module and name (cached). */
function specOf(moduleUrl: string, name: string, profile: Profile): TaskSpec {
  const key = `${profile}\n${moduleUrl}\n${name}`;
  let spec = specs.get(key);
  if (spec === undefined) {
    const ref = Object.defineProperty(() => {}, TASK_REF, { value: Object.freeze({ moduleUrl, name }) });
    spec = { id: name, run: ref, profile } as unknown as TaskSpec;
    specs.set(key, spec);
  }
  return spec;
}

function classify(error: unknown): { error: ErrorData; kind: "task" | "load" | "clone" } {
  if (error instanceof TaskModuleError) {
    const reason = error.message.replace(/^Cannot run task "[^"]*" of \S+: /, "");
    return { error: { ...serializeError(error), reason }, kind: "load" };
  }
  if (error instanceof NotCloneableError && error.part === "result") {
    return { error: serializeError(error), kind: "clone" };
  }
  return { error: serializeError(error), kind: "task" };
}

function encodeResults(
  worker: string,
  deliveries: number,
  elapsedMs: number,
  outcomes: WireOutcome[],
  cold: boolean,
): Uint8Array {
  try {
    return encode({ worker, deliveries, elapsedMs, outcomes, cold });
  } catch {
    // A value that a local worker could clone but V8 cannot serialise: name it.
    const fixed = outcomes.map((o): WireOutcome => {
      if (!o.ok) return o;
      try {
        serialize(o.value);
        return o;
      } catch (cause) {
        const taskId = o.key.split("/").at(-2) ?? o.key;
        return {
          key: o.key,
          ok: false,
          kind: "clone",
          error: serializeError(new NotCloneableError(taskId, "result", { cause })),
        };
      }
    });
    return encode({ worker, deliveries, elapsedMs, outcomes: fixed, cold });
  }
}

async function publishRetrying(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  hdrs: JsMsg["headers"],
  budgetMs: number,
): Promise<boolean> {
  const deadline = Date.now() + Math.max(budgetMs * 10, 60_000);
  while (Date.now() < deadline) {
    try {
      await js.publish(subject, data, hdrs === undefined ? { timeout: 5000 } : { headers: hdrs, timeout: 5000 });
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return false;
}
