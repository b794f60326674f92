/**
 * The NATS executor against a real `nats-server` and real worker processes
 * (`deno run adapters/nats/worker.ts`): results equal to in-process runs,
 * errors, cancellation and timeouts that reach the remote attempt, late
 * duplicate results, plain functions in process, an unreachable broker.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createEngine,
  defineWorkflow,
  NotCloneableError,
  type TaskDef,
  TaskModuleError,
  TaskTimeoutError,
} from "../mod.ts";
import type { AnyFlowEvent } from "../extend.ts";
import { type NatsExecutor, natsExecutor, NatsUnreachableError } from "../adapters/nats/mod.ts";
import { freePort, hasNatsServer, type NatsServer, startNatsServer } from "./_nats.ts";
import { startWorker, type WorkerProcess } from "./_nats_workers.ts";
import { readMarks, waitForMark } from "./_nats_marks.ts";
import { type MarkInput, tasks } from "./fixtures/nats_tasks.ts";
import { defineTasks } from "../mod.ts";
import { connectNats } from "../adapters/nats/connect.ts";
import { jetstreamManager } from "../adapters/nats/deps.ts";

const ignore = !hasNatsServer();
const PERMS = { ignore };

/** A server, `n` worker processes and a marker directory for `fn`; all stopped and removed after. */
async function withCluster(
  n: number,
  concurrency: number,
  fn: (ctx: { server: NatsServer; workers: WorkerProcess[]; dir: string }) => Promise<void>,
): Promise<void> {
  const server = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "nerv-nats-marks-" });
  const workers: WorkerProcess[] = [];
  try {
    for (let i = 0; i < n; i++) workers.push(await startWorker({ servers: server.url, concurrency, name: `w${i}` }));
    await fn({ server, workers, dir });
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A layered random DAG of `mark` tasks (seeded). */
function randomDag(seed: number, n: number, profile: "cpu" | "io" = "cpu"): TaskDef<MarkInput>[] {
  let s = seed >>> 0;
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const defs: TaskDef<MarkInput>[] = [];
  for (let i = 0; i < n; i++) {
    const deps = new Set<string>();
    for (let k = 0; k < 3 && i > 0; k++) if (rnd() < 0.6) deps.add(`t${Math.floor(rnd() * i)}`);
    defs.push({
      id: `t${i}`,
      dependsOn: [...deps],
      run: tasks.mark,
      profile,
      retry: { maxAttempts: 3, initialDelayMs: 5 },
    });
  }
  return defs;
}

Deno.test({
  name: "natsExecutor runs cpu tasks on worker processes and a random DAG gives the in-process results",
  ...PERMS,
  fn: async () => {
    await withCluster(2, 2, async ({ server, workers, dir }) => {
      const defs = randomDag(42, 40);
      const plan: MarkInput["plan"] = { t3: { failAttempts: 1 }, t7: { ms: 50 }, t11: { failAttempts: 5 } };
      const wf = defineWorkflow({ name: "dag", tasks: defs });

      const local = createEngine({ workers: { cpu: 2 } });
      let expected;
      try {
        expected = await local.run(wf, { input: { dir, plan } });
      } finally {
        await local.close();
      }
      for (const f of Deno.readDirSync(dir)) Deno.removeSync(`${dir}/${f.name}`);

      const cpu = await natsExecutor({ servers: server.url });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 32 } });
      try {
        const where = await engine.run(
          defineWorkflow({ name: "where", tasks: [{ id: "w", run: tasks.where, profile: "cpu" }] }),
        );
        const w = where.tasks.w.result as { pid: number; worker: boolean };
        assert.ok(workers.some((p) => p.pid === w.pid), `ran in a worker process (pid ${w.pid})`);
        assert.equal(w.worker, true, "in the worker process's local pool");

        const completions = new Map<string, number>();
        engine.bus.on("task.completed", (e) => completions.set(e.taskId!, (completions.get(e.taskId!) ?? 0) + 1));
        const got = await engine.run(wf, { input: { dir, plan } });
        assert.equal(got.status, expected.status);
        for (const id of Object.keys(expected.tasks)) {
          assert.equal(got.tasks[id].status, expected.tasks[id].status, id);
          assert.deepEqual(got.tasks[id].result, expected.tasks[id].result, id);
          assert.equal(got.tasks[id].attempts, expected.tasks[id].attempts, id);
        }
        assert.equal(got.tasks.t11.error?.message, 'Task "t11" fails attempt 3 on purpose');
        for (const n of completions.values()) assert.equal(n, 1);
        const pids = new Set(readMarks(dir).map((m) => m.pid));
        assert.ok([...pids].every((p) => workers.some((w) => w.pid === p)), "every body ran in a worker process");
      } finally {
        await engine.close();
      }
      assert.equal(cpu.pending, 0);
    });
  },
});

Deno.test({
  name: "errors cross the broker typed: thrown errors intact, NotCloneableError, TaskModuleError",
  ...PERMS,
  fn: async () => {
    await withCluster(1, 2, async ({ server }) => {
      const cpu = await natsExecutor({ servers: server.url });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 8 } });
      const broken = defineTasks(new URL("./fixtures/nats_tasks.ts", import.meta.url).href, { missing: () => 0 });
      try {
        const fn = () => 1;
        const r = await engine.run(
          defineWorkflow({
            name: "errors",
            tasks: [
              { id: "f", run: tasks.fail, profile: "cpu" },
              { id: "nc", run: tasks.notCloneable, profile: "cpu" },
              { id: "src", run: () => ({ fn }), profile: "io" },
              { id: "bad", dependsOn: ["src"], run: tasks.echo, profile: "cpu" },
              { id: "m", run: broken.missing, profile: "cpu" },
              { id: "ok", run: tasks.echo, profile: "cpu" },
            ],
          }),
          { input: { when: new Date(5), map: new Map([[1, 2n]]) } },
        );
        const f = r.tasks.f.error as Error & { code?: number };
        assert.equal(f.name, "RangeError");
        assert.equal(f.message, 'Task "f" failed on purpose');
        assert.equal((f.cause as Error).message, "root");
        assert.equal(f.code, 7);
        assert.match(f.stack ?? "", /nats_tasks\.ts/);
        const nc = r.tasks.nc.error;
        assert.ok(nc instanceof NotCloneableError && nc.part === "result" && nc.taskId === "nc", String(nc));
        const bad = r.tasks.bad.error;
        assert.ok(bad instanceof NotCloneableError && bad.part === "input" && bad.taskId === "bad", String(bad));
        const m = r.tasks.m.error;
        assert.ok(m instanceof TaskModuleError, String(m));
        assert.equal(m.exportName, "missing");
        assert.deepEqual((r.tasks.ok.result as { input: unknown }).input, {
          when: new Date(5),
          map: new Map([[1, 2n]]),
        });
      } finally {
        await engine.close();
      }
    });
  },
});

Deno.test({
  name: "a cancel and a timeout reach the remote attempt: awaiting and spinning bodies stop",
  ...PERMS,
  fn: async () => {
    // One worker process with one local worker: a body left running would block the next task.
    await withCluster(1, 1, async ({ server, dir }) => {
      const cpu = await natsExecutor({ servers: server.url });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 8 } });
      try {
        const handle = engine.start(
          defineWorkflow({ name: "cancel", tasks: [{ id: "long", run: tasks.mark, profile: "cpu" }] }),
          { input: { dir, plan: { long: { ms: 1500 } } } },
        );
        await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.taskId === "long"));
        handle.cancel("stop");
        const r = await handle.result;
        assert.equal(r.status, "cancelled");
        assert.ok(r.tasks.long.error instanceof CancelledError);

        const t = await engine.run(
          defineWorkflow({
            name: "timeouts",
            tasks: [
              { id: "spin", run: tasks.spin, profile: "cpu", timeoutMs: 300 },
              { id: "slow", run: tasks.sleep, profile: "cpu", timeoutMs: 300 },
            ],
          }),
          { input: { ms: 60_000 } },
        );
        assert.ok(t.tasks.spin.error instanceof TaskTimeoutError, String(t.tasks.spin.error));
        assert.ok(t.tasks.slow.error instanceof TaskTimeoutError, String(t.tasks.slow.error));
        // The single local worker was freed (the spinning one terminated and replaced): later tasks run.
        const after = await engine.run(
          defineWorkflow({
            name: "after",
            tasks: [1, 2, 3].map((k) => ({ id: `a${k}`, run: tasks.inc, profile: "cpu" as const, timeoutMs: 20_000 })),
          }),
          { input: 1 },
        );
        assert.equal(after.status, "completed", JSON.stringify(after.tasks.a1.error?.message));
        // The cancelled body was aborted remotely: it never finished (its sleep outlasts this check).
        await new Promise((r) => setTimeout(r, 1700));
        assert.equal(readMarks(dir).filter((m) => m.kind === "done").length, 0, "the cancelled body did not finish");
      } finally {
        await engine.close();
      }
    });
  },
});

Deno.test({
  name: "a late duplicate result (a stopped worker that resumes) is ignored: the task completes once",
  ...PERMS,
  fn: async () => {
    await withCluster(1, 1, async ({ server, workers, dir }) => {
      const cpu = await natsExecutor({ servers: server.url, ackWaitMs: 600 });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 8 } });
      const events: AnyFlowEvent[] = [];
      engine.bus.onAny((e) => events.push(e));
      let second: WorkerProcess | undefined;
      try {
        const handle = engine.start(
          defineWorkflow({ name: "dup", tasks: [{ id: "x", run: tasks.mark, profile: "cpu" }] }),
          { input: { dir, plan: { x: { ms: 1000 } } } },
        );
        await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.pid === workers[0].pid));
        // Frozen: no in-progress acks, so JetStream redelivers after ack_wait to the other worker.
        workers[0].signal("SIGSTOP");
        second = await startWorker({ servers: server.url, concurrency: 1, name: "second" });
        const r = await handle.result;
        assert.equal(r.status, "completed");
        workers[0].signal("SIGCONT");
        // The first worker finishes too and publishes its result: ignored.
        await waitForMark(dir, (ms) => ms.filter((m) => m.kind === "done").length === 2 ? true : undefined);
        const deadline = Date.now() + 10_000;
        while (cpu.duplicates === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(cpu.duplicates, 1, "the late result reached the executor and was ignored");
        assert.equal(events.filter((e) => e.type === "task.completed").length, 1);
        assert.equal(events.filter((e) => e.type === "task.started").length, 1, "one attempt, executed twice");
        const done = readMarks(dir).filter((m) => m.kind === "done");
        assert.deepEqual(new Set(done.map((m) => m.pid)), new Set([workers[0].pid, second.pid]));
      } finally {
        workers[0].signal("SIGCONT");
        await second?.stop();
        await engine.close();
      }
    });
  },
});

Deno.test({
  name: "plain functions run in process and are told once; a closed executor refuses work",
  ...PERMS,
  fn: async () => {
    await withCluster(1, 1, async ({ server }) => {
      const told: string[] = [];
      const cpu: NatsExecutor = await natsExecutor({ servers: server.url, onInline: (id) => told.push(id) });
      const engine = createEngine({ executors: { cpu } });
      try {
        const r = await engine.run(defineWorkflow({
          name: "plain",
          tasks: [
            { id: "p1", run: () => Deno.pid, profile: "cpu" },
            { id: "p2", run: () => 2, profile: "cpu" },
          ],
        }));
        assert.equal(r.tasks.p1.result, Deno.pid);
        assert.deepEqual(told, ["p1"]);
      } finally {
        await engine.close();
      }
      await assert.rejects(
        cpu.run({ run: tasks.inc, profile: "cpu" } as never, {
          input: 1,
          deps: {},
          attempt: 1,
          taskId: "z",
          runId: "r",
        }, new AbortController().signal),
        /closed/,
      );
    });
  },
});

Deno.test({
  name: "an unreachable broker at start is a NatsUnreachableError naming the servers",
  ...PERMS,
  fn: async () => {
    const url = `nats://127.0.0.1:${freePort()}`;
    const error = await natsExecutor({ servers: url, timeout: 500 }).then(() => undefined, (e) => e);
    assert.ok(error instanceof NatsUnreachableError, String(error));
    assert.deepEqual(error.servers, [url]);
    assert.ok(error.message.includes(`"${url}"`), error.message);
    await assert.rejects(() => natsExecutor({ servers: [] }), TypeError);
    await assert.rejects(() => natsExecutor({ servers: url, maxDeliver: 0 }), RangeError);
  },
});

Deno.test({
  name: "the README's scale-out commands work: a server, a worker process, examples/scale_out.ts",
  ...PERMS,
  fn: async () => {
    await withCluster(1, 2, async ({ server }) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-env",
          "--allow-net",
          new URL("../examples/scale_out.ts", import.meta.url).pathname,
          "--servers",
          server.url,
          "--n",
          "8",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);
      assert.match(text, /^completed: 8 cpu tasks on worker processes in \d+ ms, total \d+/m);
    });
  },
});

Deno.test({
  name: "a task cancelled while its message waits in the queue is skipped by the worker that takes it later",
  ...PERMS,
  fn: async () => {
    const server = await startNatsServer();
    const dir = await Deno.makeTempDir({ prefix: "nerv-nats-skip-" });
    // One local worker holding one message at a time: b waits in the queue while a runs.
    const worker = await startWorker({ servers: server.url, concurrency: 1, prefetch: 1, name: "single" });
    try {
      const cpu = await natsExecutor({ servers: server.url });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 8 } });
      try {
        const plan = { a: { ms: 800 }, b: {} };
        const ha = engine.start(defineWorkflow({ name: "a", tasks: [{ id: "a", run: tasks.mark, profile: "cpu" }] }), {
          input: { dir, plan },
        });
        await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.taskId === "a"));
        const hb = engine.start(defineWorkflow({ name: "b", tasks: [{ id: "b", run: tasks.mark, profile: "cpu" }] }), {
          input: { dir, plan },
        });
        const deadline = Date.now() + 10_000;
        while (cpu.published < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.equal(cpu.published, 2, "b's message is in the queue");
        hb.cancel();
        assert.equal((await hb.result).status, "cancelled");
        assert.equal((await ha.result).status, "completed");
        // The worker takes b's message after a and drops it: the queue empties, b never starts.
        const nc = await connectNats({ servers: server.url });
        try {
          const jsm = await jetstreamManager(nc);
          while ((await jsm.streams.info("NERV_TASKS")).state.messages > 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 20));
          }
          assert.equal((await jsm.streams.info("NERV_TASKS")).state.messages, 0);
        } finally {
          await nc.close();
        }
        assert.deepEqual(readMarks(dir).filter((m) => m.taskId === "b"), [], "b did not run");
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
  name: "a timeout that the worker process applies reaches the executor as a TaskTimeoutError",
  ...PERMS,
  fn: async () => {
    await withCluster(1, 1, async ({ server }) => {
      const cpu = await natsExecutor({ servers: server.url });
      try {
        // Called without an engine (whose own timer would win the race): only the worker's timer fires.
        const error = await cpu.run(
          { id: "slow", run: tasks.sleep, profile: "cpu", timeoutMs: 100 } as never,
          { input: { ms: 60_000 }, deps: {}, attempt: 2, taskId: "slow", runId: "r" },
          new AbortController().signal,
        ).then(() => undefined, (e) => e);
        assert.ok(error instanceof TaskTimeoutError, `got ${error?.name}: ${error?.message}`);
        assert.equal(error.taskId, "slow");
        assert.equal(error.attempt, 2);
        assert.equal(error.timeoutMs, 100);
      } finally {
        await cpu.close();
      }
    });
  },
});
