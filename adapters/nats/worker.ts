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
 * This file holds the options, the server (its consumer loops, one per
 * prefetch slot, and draining) and the program; one task message, from its
 * delivery count to its acknowledgement, is `_worker_messages.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { PROFILES } from "../../src/tables.ts";
import type { Profile } from "../../src/types.ts";
import { createWorkerPool, defaultPoolSize, type WorkerPool } from "../../workers/pool.ts";
import { connectNats, type NatsConnectOptions, retryTransient, serverList } from "./connect.ts";
import { type Consumer, jetstream, type JetStreamManager, jetstreamManager, type JsMsg } from "./deps.ts";
import { taskMessages } from "./_worker_messages.ts";
import { ensureStreams, namesOf } from "./_wire.ts";

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
  let stopping = false;
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const w of wakers) w();
    wakers.clear();
  };
  const messages = taskMessages({ nc, js, jsm, names, workerName, profiles, wake });
  const { held, handle } = messages;

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
      return messages.ran;
    },
    stop,
  };
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
