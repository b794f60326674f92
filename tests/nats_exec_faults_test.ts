/**
 * Faults of the NATS executor, with a real `nats-server` and real worker
 * processes: workers SIGKILLed at seeded random moments, max deliveries
 * exhausted (dead letter), a worker drained by SIGTERM, the broker killed
 * and restarted in the middle of a run, and a broker that does not come back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, defineWorkflow, type TaskDef } from "../mod.ts";
import type { AnyFlowEvent } from "../extend.ts";
import { BrokerUnavailableError, natsExecutor, TaskDeliveryError } from "../adapters/nats/mod.ts";
import { connectNats } from "../adapters/nats/connect.ts";
import { jetstreamManager } from "../adapters/nats/deps.ts";
import { hasNatsServer, startNatsServer } from "./_nats.ts";
import { startWorker, type WorkerProcess } from "./_nats_workers.ts";
import { type Mark, readMarks, waitForMark } from "./_nats_marks.ts";
import { type MarkInput, markValue, tasks } from "./fixtures/nats_tasks.ts";

const ignore = !hasNatsServer();
const OPTS = { ignore };

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

Deno.test({
  name: "workers SIGKILLed at seeded random moments: every run ends with the in-process results, once each",
  ...OPTS,
  fn: async () => {
    const seed = Number(Deno.env.get("NERV_NATS_SEED") ?? 20261204);
    const rnd = rng(seed);
    const n = 48;
    const defs: TaskDef<MarkInput>[] = [];
    const plan: MarkInput["plan"] = {};
    for (let i = 0; i < n; i++) {
      const deps = new Set<string>();
      for (let k = 0; k < 3 && i > 0; k++) if (rnd() < 0.5) deps.add(`t${Math.floor(rnd() * i)}`);
      defs.push({
        id: `t${i}`,
        dependsOn: [...deps],
        run: tasks.mark,
        profile: "cpu",
        retry: { maxAttempts: 2, initialDelayMs: 5 },
      });
      const r = rnd();
      plan[`t${i}`] = r < 0.15
        ? { failAttempts: rnd() < 0.5 ? 1 : 2 }
        : r < 0.6
        ? { ms: 100 + Math.floor(rnd() * 300) }
        : {};
    }
    const wf = defineWorkflow({ name: "chaos", tasks: defs });
    /** A start marker of an execution that did not end (no done marker, not a planned failure). */
    const holding = (m: Mark, marks: Mark[]) =>
      m.kind === "start" && m.attempt > (plan[m.taskId].failAttempts ?? 0) &&
      !marks.some((d) => d.kind === "done" && d.taskId === m.taskId && d.attempt === m.attempt && d.pid === m.pid);
    const dir = await Deno.makeTempDir({ prefix: "nerv-nats-chaos-" });
    const server = await startNatsServer();
    const workers: WorkerProcess[] = [];
    const killed: number[] = [];
    try {
      const local = createEngine({ workers: { cpu: 2 } });
      const expected = await local.run(wf, { input: { dir, plan } }).finally(() => local.close());
      for (const f of Deno.readDirSync(dir)) Deno.removeSync(`${dir}/${f.name}`);

      for (let i = 0; i < 3; i++) {
        workers.push(await startWorker({ servers: server.url, concurrency: 2, name: `c${i}` }));
      }
      const cpu = await natsExecutor({ servers: server.url, ackWaitMs: 800, maxDeliver: 20 });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 16 } });
      const events: AnyFlowEvent[] = [];
      engine.bus.onAny((e) => events.push(e));
      try {
        const handle = engine.start(wf, { input: { dir, plan } });
        let over = false;
        handle.result.finally(() => over = true);
        // Kill a worker that holds a task, at seeded moments, and start a fresh one.
        while (!over && killed.length < 4) {
          await new Promise((r) => setTimeout(r, 150 + Math.floor(rnd() * 350)));
          if (over) break;
          const marks = readMarks(dir);
          const busy = workers.filter((w) =>
            !killed.includes(w.pid) && marks.some((m) => holding(m, marks) && m.pid === w.pid)
          );
          if (busy.length === 0) continue;
          const victim = busy[Math.floor(rnd() * busy.length)];
          victim.signal("SIGKILL");
          killed.push(victim.pid);
          workers.push(await startWorker({ servers: server.url, concurrency: 2, name: `c${workers.length}` }));
        }
        const got = await handle.result;
        assert.ok(killed.length >= 1, "at least one worker was killed during the run");
        assert.equal(got.status, expected.status);
        for (const id of Object.keys(expected.tasks)) {
          assert.equal(got.tasks[id].status, expected.tasks[id].status, id);
          assert.deepEqual(got.tasks[id].result, expected.tasks[id].result, id);
        }
        const completed = new Map<string, number>();
        for (const e of events) {
          if (e.type === "task.completed") completed.set(e.taskId!, (completed.get(e.taskId!) ?? 0) + 1);
        }
        for (const [id, count] of completed) assert.equal(count, 1, `task ${id} completed once`);
        for (const e of events.filter((e) => e.type === "task.failed")) {
          assert.equal(expected.tasks[e.taskId!].status, "failed", `task ${e.taskId} failed only as planned`);
        }
        // Work that a killed worker held was redelivered and done elsewhere.
        const marks = readMarks(dir);
        const orphaned = marks.filter((m) => killed.includes(m.pid) && holding(m, marks));
        for (const o of orphaned) {
          if (got.tasks[o.taskId].status !== "completed") continue;
          assert.ok(
            marks.some((d) => d.kind === "done" && d.taskId === o.taskId && d.pid !== o.pid),
            `task ${o.taskId} attempt ${o.attempt}, orphaned by a killed worker, was finished by another: ` +
              JSON.stringify({
                plan: plan[o.taskId],
                killed,
                marks: marks.filter((m) => m.taskId === o.taskId),
                t: got.tasks[o.taskId],
              }),
          );
        }
        assert.ok(orphaned.length >= 1, "a killed worker held a task that was redelivered");
      } finally {
        await engine.close();
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "max deliveries exhausted: TaskDeliveryError naming task and deliveries, message dead-lettered, queue empty",
  ...OPTS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nerv-nats-dlq-" });
    const server = await startNatsServer();
    let worker = await startWorker({ servers: server.url, concurrency: 1, name: "d0" });
    try {
      const cpu = await natsExecutor({ servers: server.url, ackWaitMs: 500, maxDeliver: 2 });
      const engine = createEngine({ executors: { cpu } });
      try {
        const handle = engine.start(
          defineWorkflow({ name: "dlq", tasks: [{ id: "doomed", run: tasks.mark, profile: "cpu" }] }),
          { input: { dir, plan: { doomed: { ms: 60_000 } } } },
        );
        // Each worker that takes it dies holding it.
        for (let k = 0; k < 2; k++) {
          const pid = worker.pid;
          await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.pid === pid));
          worker.signal("SIGKILL");
          await worker.exited;
          worker = await startWorker({ servers: server.url, concurrency: 1, name: `d${k + 1}` });
        }
        const r = await handle.result;
        assert.equal(r.status, "failed");
        const error = r.tasks.doomed.error;
        assert.ok(error instanceof TaskDeliveryError, String(error));
        assert.equal(error.taskId, "doomed");
        assert.equal(error.deliveries, 2);
        assert.equal(error.deadLetterSubject, "nerv.dead.cpu");
        assert.match(error.message, /"doomed".*2 times/);
        assert.equal(readMarks(dir).filter((m) => m.kind === "start").length, 2, "not run a third time");

        const nc = await connectNats({ servers: server.url });
        try {
          const jsm = await jetstreamManager(nc);
          assert.equal((await jsm.streams.info("NERV_TASKS")).state.messages, 0, "nothing stays in the work queue");
          const dead = await jsm.streams.info("NERV_DEAD");
          assert.equal(dead.state.messages, 1);
          const msg = await jsm.streams.getMessage("NERV_DEAD", { last_by_subj: "nerv.dead.cpu" });
          assert.ok(msg !== null && msg.data.length > 0);
        } finally {
          await nc.close();
        }
      } finally {
        await engine.close();
      }
    } finally {
      await worker.stop();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a message the server hands out again with a delivery count of 1 still runs at most maxDeliver times",
  ...OPTS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nerv-nats-recount-" });
    const server = await startNatsServer();
    // One pull at a time: the killed worker leaves no pull request of its own behind.
    const first = await startWorker({ servers: server.url, concurrency: 1, prefetch: 1, name: "r0" });
    const workers: WorkerProcess[] = [first];
    const nc = await connectNats({ servers: server.url });
    try {
      const cpu = await natsExecutor({ servers: server.url, ackWaitMs: 300, maxDeliver: 1 });
      const engine = createEngine({ executors: { cpu } });
      try {
        const handle = engine.start(
          defineWorkflow({ name: "recount", tasks: [{ id: "doomed", run: tasks.mark, profile: "cpu" }] }),
          { input: { dir, plan: { doomed: { ms: 10_000 } } } },
        );
        await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.pid === first.pid));
        first.signal("SIGKILL");
        await first.exited;
        // Its redelivery meets only a pull request whose asker is gone (what a worker killed while it waited for
        // messages leaves): nats-server before 2.10.14 counts that delivery, drops it and moves the consumer's cursor
        // back, so the next pull gets the message again with a delivery count of 1 (nats-io/nats-server#5305).
        // Planted until the cursor shows it (one planted before ack_wait ran out is dropped unused).
        const jsm = await jetstreamManager(nc);
        if (olderThan(nc.info?.version ?? "0", [2, 10, 14])) {
          const deadline = Date.now() + 20_000;
          const pull = JSON.stringify({ batch: 1, expires: 30e9 });
          for (let i = 0;; i++) {
            nc.publish("$JS.API.CONSUMER.MSG.NEXT.NERV_TASKS.nerv-task-cpu", pull, { reply: `nobody.${i}` });
            await nc.flush();
            await new Promise((r) => setTimeout(r, 100));
            const info = await jsm.consumers.info("NERV_TASKS", "nerv-task-cpu");
            if (info.delivered.stream_seq === 0 && info.num_redelivered > 0) break;
            assert.ok(
              Date.now() < deadline,
              `the consumer's cursor did not go back: ${JSON.stringify(info.delivered)}`,
            );
          }
        }
        // The next worker gets it as a first delivery (and, with two pulls, as the redelivery too).
        const next = await startWorker({ servers: server.url, concurrency: 1, name: "r1", drainTimeoutMs: 100 });
        workers.push(next);
        const r = await handle.result;
        next.signal("SIGTERM");
        assert.equal(await next.exited, 0);
        assert.equal(readMarks(dir).filter((m) => m.kind === "start").length, 1, "not run a second time");
        assert.equal(r.status, "failed");
        const error = r.tasks.doomed.error;
        assert.ok(error instanceof TaskDeliveryError, String(error));
        assert.equal(error.deliveries, 1);
        assert.equal((await jsm.streams.info("NERV_TASKS")).state.messages, 0, "nothing stays in the work queue");
        assert.equal((await jsm.streams.info("NERV_DEAD")).state.messages, 1, "dead-lettered once");
      } finally {
        await engine.close();
      }
    } finally {
      await nc.close();
      await Promise.all(workers.map((w) => w.stop()));
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Whether version `v` ("2.9.10") is older than `than`. */
function olderThan(v: string, than: number[]): boolean {
  const parts = v.split(/[.-]/).map(Number);
  for (let i = 0; i < than.length; i++) {
    const p = parts[i] || 0;
    if (p !== than[i]) return p < than[i];
  }
  return false;
}

Deno.test({
  name: "SIGTERM drains a worker: it finishes what it holds (or hands it back) and exits 0",
  ...OPTS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nerv-nats-drain-" });
    const server = await startNatsServer();
    const workers: WorkerProcess[] = [];
    try {
      // ack_wait of a minute: a task handed back is redelivered at once (nak), not after ack_wait.
      const cpu = await natsExecutor({ servers: server.url, ackWaitMs: 60_000 });
      const engine = createEngine({ executors: { cpu } });
      try {
        const patient = await startWorker({ servers: server.url, concurrency: 1, name: "patient" });
        workers.push(patient);
        const h1 = engine.start(
          defineWorkflow({ name: "finish", tasks: [{ id: "a", run: tasks.mark, profile: "cpu" }] }),
          { input: { dir, plan: { a: { ms: 700 } } } },
        );
        await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.taskId === "a"));
        patient.signal("SIGTERM");
        assert.equal(await patient.exited, 0);
        const r1 = await h1.result;
        assert.equal(r1.tasks.a.status, "completed");
        assert.ok(readMarks(dir).some((m) => m.kind === "done" && m.taskId === "a" && m.pid === patient.pid));

        const hasty = await startWorker({ servers: server.url, concurrency: 1, name: "hasty", drainTimeoutMs: 100 });
        workers.push(hasty);
        const h2 = engine.start(
          defineWorkflow({ name: "handback", tasks: [{ id: "b", run: tasks.mark, profile: "cpu" }] }),
          { input: { dir, plan: { b: { ms: 1500 } } } },
        );
        await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.taskId === "b"));
        hasty.signal("SIGTERM");
        assert.equal(await hasty.exited, 0);
        assert.match(hasty.output, /draining hasty: 1 message\(s\) held/);
        const next = await startWorker({ servers: server.url, concurrency: 1, name: "next" });
        workers.push(next);
        const r2 = await h2.result;
        assert.equal(r2.tasks.b.status, "completed");
        const done = readMarks(dir).filter((m) => m.kind === "done" && m.taskId === "b");
        assert.deepEqual(done.map((m) => m.pid), [next.pid], "the handed-back task ran to its end on the next worker");
      } finally {
        await engine.close();
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the broker killed mid-run: tasks wait and resume when it is back; if it stays away, BrokerUnavailableError",
  ...OPTS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nerv-nats-down-" });
    const server = await startNatsServer();
    const workers: WorkerProcess[] = [];
    try {
      workers.push(await startWorker({ servers: server.url, concurrency: 2, name: "b0" }));
      workers.push(await startWorker({ servers: server.url, concurrency: 2, name: "b1" }));
      const cpu = await natsExecutor({ servers: server.url, ackWaitMs: 2000, brokerTimeoutMs: 20_000 });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 16 } });
      try {
        const defs: TaskDef<MarkInput>[] = Array.from({ length: 12 }, (_, i) => ({
          id: `t${i}`,
          dependsOn: i >= 6 ? [`t${i - 6}`] : [],
          run: tasks.mark,
          profile: "cpu" as const,
        }));
        const plan = Object.fromEntries(defs.map((d) => [d.id, { ms: 300 }]));
        const handle = engine.start(defineWorkflow({ name: "down", tasks: defs }), { input: { dir, plan } });
        await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start"));
        await server.kill();
        await new Promise((r) => setTimeout(r, 1000));
        await server.restart();
        const r = await handle.result;
        assert.equal(r.status, "completed", JSON.stringify(Object.values(r.tasks).map((t) => t.error?.message)));
        for (const d of defs) assert.equal(r.tasks[d.id].result, markValue(d.id, depsOf(d.id, r)));

        // Away for good: the run fails with a typed error instead of hanging.
        const short = await natsExecutor({ servers: server.url, brokerTimeoutMs: 1000 });
        const engine2 = createEngine({ executors: { cpu: short } });
        try {
          const h = engine2.start(
            defineWorkflow({ name: "gone", tasks: [{ id: "g", run: tasks.mark, profile: "cpu" }] }),
            { input: { dir, plan: { g: { ms: 500 } } } },
          );
          await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.taskId === "g"));
          await server.kill();
          const r2 = await h.result;
          assert.equal(r2.status, "failed");
          const error = r2.tasks.g.error;
          assert.ok(error instanceof BrokerUnavailableError, String(error));
          assert.equal(error.taskId, "g");
          assert.equal(error.waitedMs, 1000);
        } finally {
          await engine2.close();
        }
      } finally {
        await engine.close();
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function depsOf(id: string, r: { tasks: Record<string, { result?: unknown }> }): Record<string, unknown> {
  const i = Number(id.slice(1));
  return i >= 6 ? { [`t${i - 6}`]: r.tasks[`t${i - 6}`].result } : {};
}
