/**
 * The worker process of the NATS executor: {@linkcode serveTasks} takes task
 * messages of some profiles from JetStream, imports each task's module by
 * the URL its reference carries, runs the bodies in a local worker pool per
 * profile (sized like the engine's pools: a 16-core host runs 16 at once),
 * and publishes the outcomes to the executor that sent them.
 *
 * Run as a program: `deno task worker --servers nats://127.0.0.1:4222 --profiles cpu,mixed`.
 * SIGTERM or SIGINT drains it: it takes no new message, finishes what it
 * holds (or hands it back after `--drain-timeout` ms), then exits 0.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { serialize } from "node:v8";
import { NotCloneableError, TaskModuleError, TaskTimeoutError } from "../../src/errors.ts";
import { serializeError } from "../../src/serialize.ts";
import { PROFILES } from "../../src/tables.ts";
import { TASK_REF } from "../../src/tasks.ts";
import type { ErrorData, Profile, TaskSpec } from "../../src/types.ts";
import { createWorkerPool, defaultPoolSize, type WorkerPool } from "../../workers/pool.ts";
import { connectNats, lastMessage, type NatsConnectOptions, retryTransient, serverList } from "./connect.ts";
import {
  type Consumer,
  headers,
  jetstream,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
} from "./deps.ts";
import { decode, encode, ensureStreams, H, type Names, namesOf, type WireOutcome, type WireTasks } from "./_wire.ts";

/** Options of {@linkcode serveTasks}. */
export interface ServeTasksOptions extends Omit<NatsConnectOptions, "servers"> {
  /** NATS server URLs. */
  servers: string | readonly string[];
  /**
   * The profiles whose tasks this process takes.
   * @default {["cpu"]}
   */
  profiles?: readonly Profile[];
  /**
   * Local workers per profile (a number for all, or per profile).
   * @default {the engine's pool sizes: cpu n, mixed 2n, memory max(1, n/2), io 2n; n = hardware threads}
   */
  concurrency?: number | Partial<Record<Profile, number>>;
  /**
   * Task messages held at once per profile (taken from the queue and not
   * finished): more than the local workers keeps them busy between messages;
   * all of them wait for `ack_wait` if this process dies.
   * @default {twice the local workers}
   */
  prefetch?: number;
  /**
   * Prefix of the streams and subjects, as the executor's.
   * @default {"nerv"}
   */
  prefix?: string;
  /**
   * On stop: how long to finish the tasks held before handing them back (ms).
   * @default {30000}
   */
  drainTimeoutMs?: number;
  /** The local pools' worker script (tests). Default: the package's worker entry. */
  entry?: URL | string;
}

/** A running task server. */
export interface TaskServer {
  /** This process's name on the bus (`worker-<pid>` unless named). */
  readonly name: string;
  /** Task messages held now. */
  readonly held: number;
  /** Tasks whose outcome was published. */
  readonly ran: number;
  /**
   * Drains: takes no new message, finishes what it holds (or hands it back
   * after `drainTimeoutMs`), closes the pools and the connection.
   *
   * @returns When done.
   */
  stop(): Promise<void>;
}

interface Held {
  msg: JsMsg;
  controllers: AbortController[];
  handedBack: boolean;
}

/**
 * Serves task messages until stopped.
 *
 * @param options Servers, profiles, concurrency.
 * @returns The server, once it listens.
 * @throws {NatsUnreachableError} No server answered.
 * @throws {RangeError} A profile or a concurrency is invalid.
 *
 * @example Embedding a worker in a process
 * ```ts ignore
 * import { serveTasks } from "@nerv/flow/nats";
 * const server = await serveTasks({ servers: "nats://127.0.0.1:4222", profiles: ["cpu"] });
 * Deno.addSignalListener("SIGTERM", () => server.stop());
 * ```
 */
export async function serveTasks(options: ServeTasksOptions): Promise<TaskServer> {
  const servers = serverList(options.servers);
  const names = namesOf(options.prefix ?? "nerv");
  const profiles: Profile[] = [...new Set<Profile>(options.profiles ?? ["cpu"])];
  for (const p of profiles) {
    if (!PROFILES.includes(p)) throw new RangeError(`Cannot serve tasks: unknown profile ${JSON.stringify(p)}`);
  }
  const threads = Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 1);
  const sizeOf = (p: Profile): number => {
    const c = options.concurrency;
    const n = typeof c === "number" ? c : c?.[p] ?? defaultPoolSize(p === "io" ? "mixed" : p, threads);
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`Cannot serve tasks: concurrency of "${p}" ${JSON.stringify(n)} must be an integer >= 1`);
    }
    return n;
  };
  const sizes = new Map(profiles.map((p) => [p, sizeOf(p)]));
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  const workerName = options.name ?? `worker-${Deno.pid}`;

  const nc = await connectNats({ ...options, servers, name: workerName });
  const js = jetstream(nc);
  let consumers: Map<Profile, Consumer>;
  let jsm: JetStreamManager;
  try {
    jsm = await retryTransient(() => jetstreamManager(nc));
    await ensureStreams(jsm, names, profiles, {
      replicas: 1,
      ackWaitMs: 30_000,
      storage: "file",
      resultsMaxAgeMs: 15 * 60_000,
    }, false);
    consumers = new Map();
    for (const p of profiles) consumers.set(p, await js.consumers.get(names.tasks, names.consumer(p)));
  } catch (e) {
    await nc.close();
    throw e;
  }

  const pools = new Map<Profile, WorkerPool>();
  for (const p of profiles) {
    pools.set(p, createWorkerPool({ size: sizes.get(p)!, name: `${workerName}/${p}`, entry: options.entry }));
  }
  // Every local worker started and task modules seen per profile: a message
  // that loads a module says so (its time is not the tasks').
  await Promise.all([...pools.values()].map((p) => p.warm()));
  const loaded = new Map<Profile, Set<string>>(profiles.map((p) => [p, new Set<string>()]));
  const held = new Set<Held>();
  /** Stream sequences of the task messages held. */
  const holding = new Set<number>();
  const running = new Map<string, AbortController>();
  const cancelled = new Set<string>();
  let ran = 0;
  let stopping = false;
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const w of wakers) w();
    wakers.clear();
  };

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

  // One loop per slot: each asks for one message, runs it, and asks again,
  // so this process holds at most `prefetch` messages (a crash strands no more).
  const slot = async (profile: Profile) => {
    const consumer = consumers.get(profile)!;
    const pool = pools.get(profile)!;
    while (!stopping) {
      let m: JsMsg | null;
      try {
        m = await consumer.next({ expires: 1000 });
      } catch {
        if (stopping) break;
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (m === null) continue;
      if (stopping) {
        m.nak();
        break;
      }
      await handle(m, profile, pool);
    }
  };
  const serve = (profile: Profile) =>
    Promise.all(Array.from({ length: options.prefetch ?? 2 * sizes.get(profile)! }, () => slot(profile)));
  const loops = profiles.map((p) => serve(p));

  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      stopping = true;
      wake();
      const deadline = Date.now() + drainTimeoutMs;
      while (held.size > 0 && Date.now() < deadline) {
        await new Promise<void>((r) => {
          wakers.add(r);
          setTimeout(r, 100);
        });
      }
      for (const h of held) {
        // Hand it back: another worker gets it now instead of after ack_wait.
        h.handedBack = true;
        h.msg.nak();
        for (const c of h.controllers) c.abort(new DOMException("The worker is stopping", "AbortError"));
      }
      await Promise.allSettled(loops);
      await nc.flush().catch(() => {});
      for (const pool of pools.values()) await pool.close();
      await nc.drain().catch(() => nc.close());
    })();

  return {
    name: workerName,
    get held() {
      return held.size;
    },
    get ran() {
      return ran;
    },
    stop,
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

function parseConcurrency(text: string | undefined): number | Partial<Record<Profile, number>> | undefined {
  if (text === undefined) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const out: Partial<Record<Profile, number>> = {};
  for (const part of text.split(",")) {
    const [p, n] = part.split("=");
    out[p.trim() as Profile] = Number(n);
  }
  return out;
}

/** The program: parses flags, serves until SIGTERM/SIGINT, exits 0 after draining. */
async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      servers: { type: "string", default: "nats://127.0.0.1:4222" },
      profiles: { type: "string", default: "cpu" },
      concurrency: { type: "string" },
      prefix: { type: "string", default: "nerv" },
      prefetch: { type: "string" },
      name: { type: "string" },
      "drain-timeout": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "Usage: deno task worker [--servers nats://host:4222[,…]] [--profiles cpu,mixed] [--concurrency N|cpu=N,…]\n" +
        "                        [--prefetch N] [--prefix nerv] [--name NAME] [--drain-timeout MS]",
    );
    return 0;
  }
  const server = await serveTasks({
    servers: values.servers,
    profiles: values.profiles.split(",").map((p) => p.trim()) as Profile[],
    concurrency: parseConcurrency(values.concurrency),
    prefix: values.prefix,
    ...(values.prefetch === undefined ? {} : { prefetch: Number(values.prefetch) }),
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(values["drain-timeout"] === undefined ? {} : { drainTimeoutMs: Number(values["drain-timeout"]) }),
  });
  console.log(`ready ${server.name} profiles=${values.profiles} servers=${values.servers}`);
  const { promise, resolve } = Promise.withResolvers<void>();
  const onSignal = () => resolve();
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  await promise;
  console.log(`draining ${server.name}: ${server.held} message(s) held`);
  await server.stop();
  console.log(`stopped ${server.name}: ran ${server.ran} task(s)`);
  return 0;
}

if (import.meta.main) {
  main(Deno.args).then((code) => Deno.exit(code), (error) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    Deno.exit(1);
  });
}
