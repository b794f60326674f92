/**
 * The JetStream log store: a run's log in a JetStream stream, one subject per
 * run, durable once the server acknowledged it (replicated where the stream
 * has replicas). Every append to a run names the run subject's last sequence
 * this store saw, so two writers can never interleave one run's log: the
 * second gets a {@linkcode LogConflictError} and the store stops touching the run.
 *
 * Subjects of a stream `S`: `S.e.<run>` holds the run's events (one message
 * per run and batch, a JSON array), `S.c.<run>` its checkpoints, `S.r` one
 * message per run created (the run list, oldest first).
 *
 * @module
 */
import { type AnyFlowEvent, foldRun, type LogStore, type RunCheckpoint, type StoredRun } from "../../extend.ts";
import type { CompactionReport } from "../file_store.ts";
import { isTransient, lastMessage, type OpenConnection, openConnection, retryTransient } from "./connect.ts";
import { LogConflictError, RunReleasedError } from "./errors.ts";
import {
  DeliverPolicy,
  headers,
  jetstream,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  StorageType,
} from "./deps.ts";

/** Options of {@linkcode jetstreamLogStore}. */
export interface JetStreamLogStoreOptions {
  /** Server URLs to connect to (the store closes that connection); or give `connection`. */
  servers?: string | readonly string[];
  /** An open connection to use (not closed by the store): what `connect()` of `@nats-io/transport-node` returns. */
  connection?: OpenConnection;
  /**
   * The stream's name; created with subjects `<stream>.>` when missing.
   * @default {"NERV_FLOW"}
   */
  stream?: string;
  /**
   * Replicas of the stream when the store creates it (1, 3 or 5 on a cluster).
   * @default {1}
   */
  replicas?: number;
  /**
   * Who writes: put in the `Nerv-Owner` header of every message this store publishes.
   * Default: a random id.
   */
  owner?: string;
  /**
   * The log writes a checkpoint of a run every this many of its events (at least as many as it has tasks); `Infinity`: none.
   * @default {10000}
   */
  runCheckpointEvery?: number;
  /**
   * Milliseconds to wait for the server's acknowledgement of one publish before trying again (same message id, so at most once stored).
   * @default {5000}
   */
  timeout?: number;
}

/** The JetStream log store. */
export interface JetStreamLogStore extends LogStore {
  /** Always `true`: events are acknowledged once the server stored them. */
  readonly durable: true;
  /** The highest event seq this store stored or found at opening. */
  readonly lastSeq: number;
  /** How often runs are checkpointed, in events. */
  readonly runCheckpointEvery: number;
  /** The stream's name. */
  readonly stream: string;
  /** The id in the `Nerv-Owner` header of this store's messages. */
  readonly owner: string;
  /**
   * Publishes events, each run's after its previous ones, and settles once the server acknowledged all.
   *
   * @param events The events.
   * @returns When they are stored.
   * @throws {LogConflictError} Another writer appended to one of the runs (as a rejection).
   * @throws {RunReleasedError} One of the runs was released or lost before (as a rejection).
   */
  append(events: readonly AnyFlowEvent[]): Promise<void>;
  /**
   * Every event stored for a run, in order.
   *
   * @param runId The run.
   * @returns Its events.
   */
  read(runId: string): Promise<AnyFlowEvent[]>;
  /**
   * A run's latest checkpoint and the events after it. This is what resume
   * reads: the store then appends to the run after the last event it read,
   * and only after it (it takes the run over).
   *
   * @param runId The run.
   * @returns What resume needs.
   */
  readRun(runId: string): Promise<StoredRun>;
  /**
   * Like `readRun`, without taking the run over (for listings and observers).
   *
   * @param runId The run.
   * @returns Its latest checkpoint and the events after it.
   */
  peekRun(runId: string): Promise<StoredRun>;
  /**
   * The runs created in the stream, oldest first.
   *
   * @returns Their ids.
   */
  runs(): Promise<string[]>;
  /**
   * Publishes a run checkpoint after the run's queued events.
   *
   * @param checkpoint The run's state at a seq.
   * @returns When it is stored.
   */
  writeCheckpoint(checkpoint: RunCheckpoint): Promise<void>;
  /**
   * Stops touching a run: its later appends and checkpoints reject with
   * {@linkcode RunReleasedError} until `readRun` reads it again.
   *
   * @param runId The run.
   * @param reason Why (put in the error).
   * @returns When the run's queued writes have settled.
   */
  release(runId: string, reason?: string): Promise<void>;
  /**
   * Calls `listener` when an append to a run met another writer's events.
   *
   * @param listener Receives the conflict.
   * @returns A function that removes the listener.
   */
  onConflict(listener: (error: LogConflictError) => void): () => void;
  /**
   * Replaces every ended run's messages by its final checkpoint (checkpoint
   * first, then purges, so no state is lost if it stops half way).
   *
   * @returns What was dropped (`records*` count messages, `bytes*` their payloads).
   */
  compact(): Promise<CompactionReport>;
  /**
   * Waits for queued writes; closes the connection if the store opened it.
   *
   * @returns When it is done.
   */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const STREAM_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * The subject token of a run id: the id itself when it is made of
 * `[A-Za-z0-9_-]`, else `=` and the hex of its UTF-8 bytes.
 *
 * @param runId The run id.
 * @returns A subject token.
 */
export function runToken(runId: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(runId)) return runId;
  return "=" + Array.from(encoder.encode(runId), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Opens a JetStream log store, creating its stream when missing.
 *
 * @param options The servers (or a connection), stream, replicas, checkpoints.
 * @returns The store.
 * @throws {TypeError} Neither `servers` nor `connection` is given, or the stream name is not `[A-Za-z0-9_-]+` (as a rejection).
 * @throws {RangeError} An option is out of range (as a rejection).
 * @throws {NatsUnreachableError} No server answered (as a rejection).
 *
 * @example
 * ```ts ignore
 * import { createEngine, defineWorkflow } from "@nerv/flow";
 * import { jetstreamLogStore } from "@nerv/flow/nats";
 * const store = await jetstreamLogStore({ servers: "nats://127.0.0.1:4222", stream: "RUNS", replicas: 1 });
 * const engine = createEngine({ logStore: store });
 * const { runId } = await engine.run(defineWorkflow({ name: "js", tasks: [{ id: "a", run: () => 42 }] }));
 * await engine.close();
 * console.log((await store.read(runId)).at(-1)?.type); // workflow.completed
 * await store.close();
 * ```
 */
export async function jetstreamLogStore(options: JetStreamLogStoreOptions): Promise<JetStreamLogStore> {
  const stream = options.stream ?? "NERV_FLOW";
  if (typeof stream !== "string" || !STREAM_NAME.test(stream)) {
    throw new TypeError(`Cannot open JetStream log store: stream ${JSON.stringify(stream)} must match [A-Za-z0-9_-]+`);
  }
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new RangeError(`Cannot open JetStream log store: replicas ${replicas} must be an integer in [1, 5]`);
  }
  const runCheckpointEvery = options.runCheckpointEvery ?? 10_000;
  if (!(runCheckpointEvery === Infinity || (Number.isInteger(runCheckpointEvery) && runCheckpointEvery >= 1))) {
    throw new RangeError(
      `Cannot open JetStream log store: runCheckpointEvery ${runCheckpointEvery} must be an integer >= 1 or Infinity`,
    );
  }
  const timeout = options.timeout ?? 5000;
  if (!(Number.isFinite(timeout) && timeout > 0)) {
    throw new RangeError(`Cannot open JetStream log store: timeout ${timeout} must be a number > 0`);
  }
  const owner = options.owner ?? crypto.randomUUID();
  const { nc, owned } = await openConnection("JetStream log store", options, `nerv-flow log ${owner}`);
  const js = jetstream(nc);
  // A cluster that has just formed may not answer its JetStream API for a moment.
  const jsm = await retryTransient(() => jetstreamManager(nc));
  await retryTransient(() => ensureStream(jsm, stream, replicas));
  // Leave room for headers under the server's max payload.
  const maxPayload = Math.max(4096, (nc.info?.max_payload ?? 1024 * 1024) - 4096);

  const eSubject = (runId: string) => `${stream}.e.${runToken(runId)}`;
  const cSubject = (runId: string) => `${stream}.c.${runToken(runId)}`;
  const rSubject = `${stream}.r`;

  let lastSeq = 0;
  {
    const last = await lastMessage(jsm, stream, `${stream}.e.*`);
    const seq = Number(last?.header?.get("Nerv-Seq") ?? 0);
    if (Number.isInteger(seq) && seq > 0) lastSeq = seq;
  }

  /** The stream sequence of each run's last message as this store saw it. */
  const expected = new Map<string, number>();
  /** Runs this store no longer touches, and why. */
  const released = new Map<string, string>();
  /** Each run's writes, in order. */
  const tails = new Map<string, Promise<void>>();
  const conflictListeners = new Set<(e: LogConflictError) => void>();
  let closed = false;

  const publish = async (
    subject: string,
    body: Uint8Array,
    msgID: string,
    hdrs: Record<string, string>,
    expect?: number,
  ): Promise<number> => {
    const h = headers();
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
    h.set("Nerv-Owner", owner);
    for (let attempt = 1;; attempt++) {
      try {
        const ack = await js.publish(subject, body, {
          msgID,
          timeout,
          headers: h,
          ...(expect === undefined ? {} : { expect: { lastSubjectSequence: expect } }),
        });
        return ack.seq;
      } catch (error) {
        // A lost acknowledgement or a stream without a leader for a moment: the same message id again is stored at most once.
        if (attempt < 14 && isTransient(error)) {
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
          continue;
        }
        // A retry after a lost acknowledgement: a leader that knows the message id answers with a duplicate
        // acknowledgement, but across a change of stream leader the retry can be refused as a wrong last sequence
        // (the leader killed mid-run: expected 18, found 19). The message an earlier attempt stored is ours if the
        // subject's last message carries this message id and this store as its owner.
        const found = attempt > 1 && expect !== undefined ? conflictSeq(error) : undefined;
        if (found !== undefined) {
          const last = await lastMessage(jsm, stream, subject);
          const h = last?.header;
          if (
            last !== undefined && (found < 0 || last.seq === found) && h?.get("Nats-Msg-Id") === msgID &&
            h.get("Nerv-Owner") === owner
          ) return last.seq;
        }
        throw error;
      }
    }
  };

  /**
   * Publishes one record, cut into parts of at most `maxPayload` bytes when
   * larger (`Nerv-Part: k/n`; parts after the first name the first's sequence
   * in `Nerv-First`). With `expect`, each part follows the one before.
   *
   * @returns The stream sequence of the last part.
   */
  const publishParts = async (
    subject: string,
    body: Uint8Array,
    msgID: string,
    hdrs: Record<string, string>,
    expect?: number,
  ): Promise<number> => {
    if (body.length <= maxPayload) return await publish(subject, body, msgID, hdrs, expect);
    const n = Math.ceil(body.length / maxPayload);
    let first = 0;
    let seq = expect;
    for (let k = 1; k <= n; k++) {
      const part = body.subarray((k - 1) * maxPayload, k * maxPayload);
      const h: Record<string, string> = { ...hdrs, "Nerv-Part": `${k}/${n}` };
      if (k > 1) h["Nerv-First"] = String(first);
      const got = await publish(subject, part, `${msgID}:${k}`, h, expect === undefined ? undefined : seq);
      if (k === 1) first = got;
      seq = got;
    }
    return seq!;
  };

  /** Queues `job` after the run's earlier writes. */
  const chain = (runId: string, job: () => Promise<void>): Promise<void> => {
    const before = tails.get(runId) ?? Promise.resolve();
    const done = before.then(job);
    const tail = done.catch(() => {});
    tails.set(runId, tail);
    tail.then(() => {
      if (tails.get(runId) === tail) tails.delete(runId);
    });
    return done;
  };
  const settled = () => Promise.all([...tails.values()]).then(() => {});

  const checkOwned = (runId: string) => {
    const reason = released.get(runId);
    if (reason !== undefined) throw new RunReleasedError(runId, reason);
  };

  const appendRun = (runId: string, events: AnyFlowEvent[]) =>
    chain(runId, async () => {
      if (closed) throw new TypeError("Cannot write to the JetStream log store: it is closed");
      checkOwned(runId);
      let base = expected.get(runId);
      if (base === undefined) {
        if (events[0].type === "workflow.created") {
          base = 0;
          // The run list first: a run whose events are stored is always listed.
          await publish(rSubject, encoder.encode(runId), `r:${runId}`, {});
        } else {
          // Appending to a run this store did not read: after whatever is there now.
          base = (await lastMessage(jsm, stream, eSubject(runId)))?.seq ?? 0;
        }
      }
      const lastEvent = events[events.length - 1].seq;
      const body = encoder.encode(JSON.stringify(events));
      const id = `e:${runId}:${events[0].seq}:${lastEvent}`;
      try {
        base = await publishParts(eSubject(runId), body, id, { "Nerv-Seq": String(lastEvent) }, base);
      } catch (error) {
        const actual = conflictSeq(error);
        if (actual === undefined) throw error;
        const conflict = new LogConflictError(runId, stream, base, actual >= 0 ? actual : undefined);
        released.set(runId, `another writer appended to it: ${conflict.message}`);
        expected.delete(runId);
        for (const l of conflictListeners) {
          try {
            l(conflict);
          } catch (e) {
            console.error("nerv-flow: a conflict listener threw", e);
          }
        }
        throw conflict;
      }
      expected.set(runId, base);
      const end = events[events.length - 1].type;
      if (end === "workflow.completed" || end === "workflow.failed" || end === "workflow.cancelled") {
        expected.delete(runId); // Nothing follows a run's end; a resume reads it again.
      }
    });

  const readSubject = (subject: string, from = 1) => retryTransient(() => readSubjectOnce(subject, from));
  const readSubjectOnce = async (subject: string, from: number): Promise<{ seq: number; data: Uint8Array }[]> => {
    const last = await lastMessage(jsm, stream, subject);
    if (last === undefined || last.seq < from) return [];
    const consumer = await js.consumers.get(stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
    });
    const out: { seq: number; data: Uint8Array }[] = [];
    let parts: Uint8Array[] = [];
    let seen = from - 1;
    let empty = 0;
    while (seen < last.seq) {
      const batch = await consumer.fetch({ max_messages: 256, expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        seen = m.seq;
        const part = m.headers?.get("Nerv-Part");
        if (part === undefined || part === "") {
          parts = [];
          out.push({ seq: m.seq, data: m.data });
        } else {
          const [k, n] = part.split("/").map(Number);
          if (k === 1) parts = [];
          if (parts.length === k - 1) parts.push(m.data);
          if (k === n && parts.length === n) {
            out.push({ seq: m.seq, data: concat(parts) });
            parts = [];
          }
        }
        if (m.info.pending === 0 || seen >= last.seq) break;
      }
      if (got === 0 && ++empty >= 3) {
        // Never a partial read: the whole read again (a compaction may have purged the subject meanwhile).
        throw new Error(`Timed out reading "${subject}": stopped at sequence ${seen} of ${last.seq}`);
      }
      if (seen >= last.seq) break;
    }
    return out;
  };
  const eventsOf = (messages: { data: Uint8Array }[]): AnyFlowEvent[] =>
    messages.flatMap((m) => JSON.parse(decoder.decode(m.data)) as AnyFlowEvent[]);

  const latestCheckpoint = async (runId: string) => {
    const m = await lastMessage(jsm, stream, cSubject(runId));
    if (m === undefined) return undefined;
    let data = m.data;
    const part = m.header?.get("Nerv-Part");
    if (part !== undefined && part !== "") {
      // The last part of a checkpoint in parts (a torn one is not the latest: none is taken).
      const whole = (await readSubject(cSubject(runId), Number(m.header.get("Nerv-First")))).at(-1);
      if (whole === undefined) return undefined;
      data = whole.data;
    }
    return {
      checkpoint: JSON.parse(decoder.decode(data)) as RunCheckpoint,
      upto: Number(m.header?.get("Nerv-Upto") ?? 0),
    };
  };
  /** A run's latest checkpoint and the events after it, and the stream sequence of its last event message. */
  const load = async (runId: string): Promise<{ stored: StoredRun; last: number }> => {
    const found = await latestCheckpoint(runId);
    const lastMsg = (await lastMessage(jsm, stream, eSubject(runId)))?.seq ?? 0;
    const messages = lastMsg > (found?.upto ?? 0) ? await readSubject(eSubject(runId), (found?.upto ?? 0) + 1) : [];
    const after = found?.checkpoint.seq ?? 0;
    const events = eventsOf(messages).filter((e) => e.seq > after);
    const stored = found === undefined ? { events } : { checkpoint: found.checkpoint, events };
    return { stored, last: Math.max(lastMsg, messages.at(-1)?.seq ?? 0) };
  };
  const runIds = async (): Promise<string[]> => {
    const seen = new Set<string>();
    for (const m of await readSubject(rSubject)) seen.add(decoder.decode(m.data));
    return [...seen];
  };

  return {
    durable: true,
    get lastSeq() {
      return lastSeq;
    },
    runCheckpointEvery,
    stream,
    owner,
    append(batch) {
      if (batch.length === 0) return Promise.resolve();
      const byRun = new Map<string, AnyFlowEvent[]>();
      for (const e of batch) {
        let list = byRun.get(e.runId);
        if (list === undefined) byRun.set(e.runId, list = []);
        list.push(e);
        if (e.seq > lastSeq) lastSeq = e.seq;
      }
      return Promise.all([...byRun].map(([runId, events]) => appendRun(runId, events))).then(() => {});
    },
    async read(runId) {
      await (tails.get(runId) ?? Promise.resolve());
      return eventsOf(await readSubject(eSubject(runId)));
    },
    async readRun(runId) {
      await (tails.get(runId) ?? Promise.resolve());
      const { stored, last } = await load(runId);
      // The store now appends to this run after what it read, and only after it.
      expected.set(runId, last);
      released.delete(runId);
      return stored;
    },
    async peekRun(runId) {
      return (await load(runId)).stored;
    },
    async runs() {
      await settled();
      return runIds();
    },
    writeCheckpoint(checkpoint) {
      const runId = checkpoint.runId;
      return chain(runId, async () => {
        checkOwned(runId);
        const upto = expected.get(runId) ?? 0;
        await publishParts(
          cSubject(runId),
          encoder.encode(JSON.stringify(checkpoint)),
          `c:${runId}:${checkpoint.seq}`,
          {
            "Nerv-Upto": String(upto),
          },
        );
      });
    },
    release(runId, reason = "released") {
      released.set(runId, reason);
      expected.delete(runId);
      return (tails.get(runId) ?? Promise.resolve()).then(() => {});
    },
    onConflict(listener) {
      conflictListeners.add(listener);
      return () => conflictListeners.delete(listener);
    },
    async compact() {
      await settled();
      let runsCompacted = 0;
      let recordsDropped = 0;
      let bytesBefore = 0;
      let bytesAfter = 0;
      for (const runId of await runIds()) {
        const eMsgs = await readSubject(eSubject(runId));
        const cMsgs = await readSubject(cSubject(runId));
        const size = [...eMsgs, ...cMsgs].reduce((n, m) => n + m.data.length, 0);
        bytesBefore += size;
        const found = await latestCheckpoint(runId);
        const all = eventsOf(eMsgs).filter((e) => e.seq > (found?.checkpoint.seq ?? 0));
        const state = foldRun({ checkpoint: found?.checkpoint, events: all });
        const ended = state !== undefined &&
          (state.status === "completed" || state.status === "failed" || state.status === "cancelled");
        if (!ended || (eMsgs.length === 0 && cMsgs.length === 1)) {
          bytesAfter += size;
          continue;
        }
        const seq = Math.max(all.at(-1)?.seq ?? 0, found?.checkpoint.seq ?? 0);
        const final: RunCheckpoint = { runId, seq, state: state! };
        const body = encoder.encode(JSON.stringify(final));
        // The final checkpoint first, then the rest goes: stopping half way loses nothing.
        await publishParts(cSubject(runId), body, `c:${runId}:${seq}:final`, {
          "Nerv-Upto": String(eMsgs.at(-1)?.seq ?? found?.upto ?? 0),
        });
        await retryTransient(() => jsm.streams.purge(stream, { filter: eSubject(runId) }));
        // Keep the final checkpoint's parts (the last messages of the subject).
        await retryTransient(() =>
          jsm.streams.purge(stream, {
            filter: cSubject(runId),
            keep: Math.max(1, Math.ceil(body.length / maxPayload)),
          })
        );
        runsCompacted++;
        recordsDropped += eMsgs.length + cMsgs.length - 1;
        bytesAfter += body.length;
      }
      return { runsCompacted, recordsDropped, bytesBefore, bytesAfter };
    },
    async close() {
      if (closed) return;
      await settled();
      closed = true;
      if (owned) await nc.close();
    },
  };
}

/** Creates the stream, or checks that the one there holds `<stream>.>`. */
async function ensureStream(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  try {
    const info = await jsm.streams.info(stream);
    if (!info.config.subjects?.includes(`${stream}.>`)) {
      throw new TypeError(
        `Cannot open JetStream log store: stream "${stream}" exists without the subjects "${stream}.>"`,
      );
    }
    return;
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== 10059) throw error; // 10059: stream not found
  }
  try {
    await jsm.streams.add({
      name: stream,
      subjects: [`${stream}.>`],
      num_replicas: replicas,
      storage: StorageType.File,
      duplicate_window: 2 * 60 * 1_000_000_000,
    });
  } catch (error) {
    // Another store created it meanwhile.
    if (!(error instanceof JetStreamApiError) || error.code !== 10058) throw error;
  }
}

/** The actual last sequence of a "wrong last sequence" refusal (-1: not said); `undefined` for other errors. */
function conflictSeq(error: unknown): number | undefined {
  if (!(error instanceof JetStreamApiError) || error.code !== 10071) return undefined;
  const m = /wrong last sequence: (\d+)/.exec(error.message);
  return m === null ? -1 : Number(m[1]);
}

/** The parts, joined into one array. */
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
