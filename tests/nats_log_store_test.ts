/**
 * The JetStream log store and task cache against a real `nats-server`: the
 * cases of the file and KV store tests (events, large events, run list,
 * checkpoints, compaction, `loadLog`, resume), durability (a run's result
 * resolves once the server holds its events), and the conflict of two
 * writers on one run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, createVirtualClock, defineWorkflow, loadLog, type TaskDef } from "../mod.ts";
import { foldRun, type RunCheckpoint } from "../extend.ts";
import { connectNats } from "../adapters/nats/connect.ts";
import { jetstreamLogStore, runToken } from "../adapters/nats/log_store.ts";
import { LogConflictError, RunReleasedError } from "../adapters/nats/errors.ts";
import { jetstreamTaskCache } from "../adapters/nats/task_cache.ts";
import { hasNatsServer, type NatsServer, startNatsServer } from "./_nats.ts";

const ignore = !hasNatsServer();

async function withServer(fn: (server: NatsServer) => Promise<void>): Promise<void> {
  const server = await startNatsServer();
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

const diamond = defineWorkflow({
  name: "diamond",
  tasks: [
    { id: "a", run: () => ({ words: ["x", "y"] }) },
    { id: "b", dependsOn: ["a"], run: ({ deps }) => (deps.a as { words: string[] }).words.length },
    { id: "c", dependsOn: ["a"], run: () => "ü — non-ASCII is fine" },
    { id: "d", dependsOn: ["b", "c"], run: ({ deps }) => `${deps.b} ${deps.c}` },
  ],
});

Deno.test({
  name: "the JetStream store keeps events (large ones in several messages), lists runs and reads from a checkpoint",
  ignore,
  fn: () =>
    withServer(async (server) => {
      const store = await jetstreamLogStore({ servers: server.url, stream: "T1", runCheckpointEvery: 10 });
      const n = 20;
      const tasks: TaskDef[] = Array.from({ length: n }, (_, i) => ({
        id: `t${i}`,
        dependsOn: i === 0 ? [] : [`t${i - 1}`],
        run: () => "é".repeat(i * 30_000), // up to ~1.1 MB of UTF-8 in one event: more than one message holds
      }));
      const engine = createEngine({ logStore: store });
      const result = await engine.run(defineWorkflow({ name: "js", tasks }));
      const second = await engine.run(diamond);
      const live = engine.project("tasks", result.runId);
      const liveEvents = engine.log.events(result.runId);
      await engine.close();
      assert.deepEqual(await store.runs(), [result.runId, second.runId]);
      const events = await store.read(result.runId);
      assert.deepEqual(events, JSON.parse(JSON.stringify(liveEvents)));
      const stored = await store.readRun(result.runId);
      assert.ok(stored.checkpoint !== undefined, "a checkpoint was written");
      assert.ok(stored.events.length < events.length);
      assert.deepEqual(foldRun(stored), foldRun({ events }));
      assert.deepEqual((await loadLog(store)).project("tasks", result.runId), live);
      await store.close();
      // Reopened (a new connection): the same runs, and lastSeq after every stored event.
      const again = await jetstreamLogStore({ servers: server.url, stream: "T1" });
      assert.equal(again.lastSeq, (await again.read(second.runId)).at(-1)!.seq);
      assert.deepEqual(await again.runs(), [result.runId, second.runId]);
      await again.close();
    }),
});

Deno.test({
  name: "a run's result resolves only once the server holds its events; another connection reads them",
  ignore,
  fn: () =>
    withServer(async (server) => {
      const store = await jetstreamLogStore({ servers: server.url, stream: "T2" });
      const reader = await jetstreamLogStore({ servers: server.url, stream: "T2" });
      const engine = createEngine({ logStore: store });
      const heard: string[] = [];
      engine.bus.onAny((e) => heard.push(e.type));
      const result = await engine.run(diamond, { runId: "odd id/ü.1" });
      const onServer = await reader.read(result.runId);
      assert.equal(onServer.at(-1)?.type, "workflow.completed");
      assert.equal(result.tasks.d.result, "2 ü — non-ASCII is fine");
      // Every event the bus delivered was on the server by then.
      assert.deepEqual(heard, onServer.map((e) => e.type).slice(0, heard.length));
      assert.ok(runToken(result.runId).startsWith("="));
      await engine.close();
      await store.close();
      await reader.close();
    }),
});

Deno.test({
  name: "compact() keeps each ended run's final state, leaves live runs, and resume() returns the stored result",
  ignore,
  fn: () =>
    withServer(async (server) => {
      const store = await jetstreamLogStore({ servers: server.url, stream: "T3" });
      const engine = createEngine({ logStore: store });
      const done = await engine.run(diamond);
      let release!: () => void;
      const gate = new Promise<void>((r) => release = r);
      const hanging = engine.start(
        defineWorkflow({ name: "hang", tasks: [{ id: "h", run: () => gate.then(() => 1) }] }),
      );
      await new Promise((r) => setTimeout(r, 100));
      const liveBefore = await store.read(hanging.id);
      const report = await store.compact();
      assert.equal(report.runsCompacted, 1);
      assert.ok(report.recordsDropped >= 1);
      assert.ok(report.bytesAfter < report.bytesBefore);
      assert.deepEqual(await store.read(done.runId), []);
      assert.deepEqual(await store.read(hanging.id), liveBefore);
      const stored = await store.readRun(done.runId);
      assert.equal(stored.events.length, 0);
      assert.equal(foldRun(stored)!.status, "completed");
      assert.deepEqual((await store.compact()).runsCompacted, 0);
      release();
      await hanging.result;
      const resumed = await engine.resume(diamond, done.runId);
      assert.equal(resumed.tasks.d.result, done.tasks.d.result);
      await engine.close();
      await store.close();
    }),
});

Deno.test({
  name: "two writers of one run: the second append gets a LogConflictError naming the sequences, then stops",
  ignore,
  fn: () =>
    withServer(async (server) => {
      const a = await jetstreamLogStore({ servers: server.url, stream: "T4", owner: "A" });
      const b = await jetstreamLogStore({ servers: server.url, stream: "T4", owner: "B" });
      const engine = createEngine({ logStore: a });
      const { runId } = await engine.run(diamond);
      await engine.close();
      const base = (await a.readRun(runId)).events.at(-1)!;
      await b.readRun(runId);
      const conflicts: LogConflictError[] = [];
      b.onConflict((e) => conflicts.push(e));
      const ev = (seq: number) => ({ ...base, seq });
      await a.append([ev(base.seq + 1)]); // A first: after what both read.
      const error = await b.append([ev(base.seq + 2)]).then(() => undefined, (e) => e);
      assert.ok(error instanceof LogConflictError, String(error));
      assert.equal(error.runId, runId);
      assert.ok(error.actual! > error.expected);
      assert.match(error.message, /another writer appended/);
      assert.deepEqual(conflicts, [error]);
      // B stops touching the run: later writes reject at once, nothing reaches the server.
      await assert.rejects(b.append([ev(base.seq + 3)]), RunReleasedError);
      const checkpoint: RunCheckpoint = { runId, seq: base.seq + 3, state: foldRun({ events: [base] })! };
      await assert.rejects(b.writeCheckpoint(checkpoint), RunReleasedError);
      const tail = (await a.read(runId)).slice(-2).map((e) => e.seq);
      assert.deepEqual(tail, [base.seq, base.seq + 1]);
      // Reading the run again takes it over after what is there.
      await b.readRun(runId);
      await b.append([ev(base.seq + 4)]);
      assert.equal((await a.read(runId)).at(-1)!.seq, base.seq + 4);
      // A released run is refused too.
      await b.release(runId, "its lease was lost");
      await assert.rejects(b.append([ev(base.seq + 5)]), /its lease was lost/);
      await a.close();
      await b.close();
    }),
});

Deno.test({
  name:
    "the KV task cache serves an entry until it expires by the engine's clock; the bucket TTL drops it on the server",
  ignore,
  fn: () =>
    withServer(async (server) => {
      const clock = createVirtualClock();
      const nc = await connectNats({ servers: server.url });
      const cache = await jetstreamTaskCache({ connection: nc, bucket: "c1", ttlMs: 1000, clock });
      const key = "k".repeat(5000) + " any key at all: ü/.*>";
      await cache.set(key, { value: { big: "x".repeat(100_000) }, createdAt: 0, expiresAt: 500 });
      assert.deepEqual((await cache.get(key))?.value, { big: "x".repeat(100_000) });
      assert.equal(await cache.get("other"), undefined);
      clock.advance(500);
      assert.equal(await cache.get(key), undefined, "expired by the clock");
      await cache.set("short", { value: 1, createdAt: 500, expiresAt: 1e12 });
      assert.equal((await cache.get("short"))?.value, 1);
      await new Promise((r) => setTimeout(r, 1600));
      assert.equal(await cache.get("short"), undefined, "dropped by the bucket's TTL");
      await assert.rejects(
        cache.set("huge", { value: "x".repeat(2_000_000), createdAt: 0, expiresAt: 1e12 }),
        RangeError,
      );
      // Cached task results across engines.
      let runs = 0;
      const wf = defineWorkflow({
        name: "cached",
        tasks: [{ id: "a", cache: { ttlMs: 60_000 }, run: () => ++runs }],
      });
      const e1 = createEngine({ cache, clock });
      await e1.run(wf);
      await e1.close();
      const e2 = createEngine({ cache: await jetstreamTaskCache({ connection: nc, bucket: "c1", clock }), clock });
      const again = await e2.run(wf);
      await e2.close();
      assert.equal(runs, 1);
      assert.equal(again.tasks.a.result, 1);
      await cache.close();
      await nc.close();
    }),
});

Deno.test({
  name: "bad options are refused with errors naming them",
  ignore,
  fn: async () => {
    await assert.rejects(jetstreamLogStore({ servers: "nats://127.0.0.1:1", stream: "a.b" }), TypeError);
    await assert.rejects(jetstreamLogStore({ servers: "nats://127.0.0.1:1", replicas: 2.5 }), RangeError);
    await assert.rejects(jetstreamLogStore({}), /give servers or connection/);
    const notConnection = { close: () => Promise.resolve(), drain: () => Promise.resolve() };
    await assert.rejects(jetstreamLogStore({ connection: notConnection }), /not an open NATS connection/);
    await assert.rejects(jetstreamTaskCache({ servers: "nats://127.0.0.1:1", bucket: "a b" }), TypeError);
    await assert.rejects(jetstreamTaskCache({ servers: "nats://127.0.0.1:1", ttlMs: -1 }), RangeError);
  },
});

Deno.test({
  name:
    "an append whose acknowledgement was lost, retried after the broker forgot its message id, is not taken for another writer's",
  ignore,
  fn: () =>
    withServer(async (server) => {
      // The broker forgets message ids after 100 ms (a leader that took over may not know them at all): the retry of an
      // append that was stored is refused as a wrong last sequence, and the store must recognize its own message.
      const admin = await connectNats({ servers: server.url });
      const { jetstreamManager } = await import("../adapters/nats/deps.ts");
      const jsm = await jetstreamManager(admin);
      await jsm.streams.add({ name: "T9", subjects: ["T9.>"], duplicate_window: 100_000_000 });
      const nc = await connectNats({ servers: server.url });
      let lost = 0;
      const lossy = new Proxy(nc, {
        get(target, prop) {
          if (prop !== "request") {
            const value = Reflect.get(target, prop, target);
            return typeof value === "function" ? value.bind(target) : value;
          }
          return async (subject: string, data: Uint8Array, opts: Parameters<typeof target.request>[2]) => {
            const reply = await target.request(subject, data, opts);
            if (lost === 0 && opts?.headers?.get("Nats-Msg-Id")?.startsWith("e:")) {
              lost++; // stored, but the acknowledgement never arrives (and the broker forgets the id meanwhile)
              await new Promise((resolve) => setTimeout(resolve, 300));
              const error = new Error("timeout");
              error.name = "TimeoutError";
              throw error;
            }
            return reply;
          };
        },
      });
      const store = await jetstreamLogStore({ connection: lossy, stream: "T9" });
      const engine = createEngine({ logStore: store });
      const result = await engine.run(diamond);
      await engine.close();
      assert.equal(lost, 1);
      assert.equal(result.status, "completed");
      const events = await store.read(result.runId);
      assert.deepEqual(events.map((e) => e.seq), engine.log.events(result.runId).map((e) => e.seq));
      await store.close();
      await nc.close();
      await admin.close();
    }),
});
