/**
 * Runs that outlive their coordinator, with real processes and real
 * `nats-server`s: a coordinator process is SIGKILLed at seeded random
 * moments and a standby process finishes its runs (same results as an
 * uninterrupted run, no completed task run again, one writer at a time in
 * each run's log); a paused owner that wakes up after the takeover writes
 * nothing more; two processes appending after the same read: one is refused;
 * a 3-node cluster with an R3 stream keeps the log whole when a node dies.
 *
 * `NERV_FAILOVER_TRIALS` sets the number of kill trials (default 16),
 * `NERV_FAILOVER_SEED` the seed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, defineWorkflow, type RunResult } from "../mod.ts";
import type { AnyFlowEvent } from "../extend.ts";
import { connectNats } from "../adapters/nats/connect.ts";
import { DeliverPolicy, jetstream, type NatsConnection } from "../adapters/nats/deps.ts";
import { createCoordinator } from "../adapters/nats/coordinator.ts";
import { jetstreamLogStore, runToken } from "../adapters/nats/log_store.ts";
import { hasNatsServer, startNatsCluster, startNatsServer } from "./_nats.ts";
import { FAILOVER_TASKS, failoverWorkflow } from "./_nats_failover_workflow.ts";
import { prng } from "../bench/_dags.ts";

const ignore = !hasNatsServer();
const CHILD = new URL("./_nats_failover_child.ts", import.meta.url).pathname;
const STREAM = "NERV_FLOW";

type Line = Record<string, unknown> & { type: string; at: number };

/** A child process whose stdout lines are JSON, collected as they come. */
export class Child {
  readonly proc: Deno.ChildProcess;
  readonly lines: Line[] = [];
  readonly #waiters: { test: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly done: Promise<void>;
  stderr = "";

  constructor(args: string[]) {
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write=/tmp", "--allow-env", "--allow-net=127.0.0.1", CHILD, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.proc = proc;
    this.#stdin = proc.stdin.getWriter();
    const out = (async () => {
      let buffer = "";
      for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const text = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          let line: Line;
          try {
            line = JSON.parse(text);
          } catch {
            continue;
          }
          this.lines.push(line);
          for (let i = this.#waiters.length - 1; i >= 0; i--) {
            if (this.#waiters[i].test(line)) this.#waiters.splice(i, 1)[0].resolve(line);
          }
        }
      }
    })();
    const err = (async () => {
      for await (const chunk of proc.stderr.pipeThrough(new TextDecoderStream())) this.stderr += chunk;
    })();
    this.done = Promise.all([out, err, proc.status]).then(() => {});
  }

  /** The first line (seen or to come) that passes `test`. */
  waitFor(test: (l: Line) => boolean, ms = 20_000, what = "a line"): Promise<Line> {
    const found = this.lines.find(test);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<Line>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Timed out waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`)),
        ms,
      );
      this.#waiters.push({
        test,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  async send(text: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(text));
  }

  async closeStdin(): Promise<void> {
    await this.#stdin.close().catch(() => {});
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    try {
      this.proc.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Each event message of a run, in stream order: its writer (`Nerv-Owner`) and its events. */
async function rawLog(nc: NatsConnection, runId: string): Promise<{ owner: string; events: AnyFlowEvent[] }[]> {
  const js = jetstream(nc);
  const subject = `${STREAM}.e.${runToken(runId)}`;
  const consumer = await js.consumers.get(STREAM, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.All,
  });
  const out: { owner: string; events: AnyFlowEvent[] }[] = [];
  const batch = await consumer.fetch({ max_messages: 10_000, expires: 2000 });
  for await (const m of batch) {
    out.push({ owner: m.headers?.get("Nerv-Owner") ?? "", events: JSON.parse(new TextDecoder().decode(m.data)) });
    if (m.info.pending === 0) break;
  }
  return out;
}

/** Whether a run's log ends with the run's end. */
async function ended(nc: NatsConnection, runId: string): Promise<boolean> {
  const last = (await rawLog(nc, runId)).at(-1)?.events.at(-1)?.type;
  return last === "workflow.completed" || last === "workflow.failed" || last === "workflow.cancelled";
}

/** The results of an uninterrupted run, by task. */
async function uninterrupted(): Promise<Record<string, unknown>> {
  const markers = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-fo-ref-" });
  try {
    const engine = createEngine({ workers: false });
    const result = await engine.run(failoverWorkflow(), { input: { markers } });
    await engine.close();
    return Object.fromEntries(Object.entries(result.tasks).map(([k, t]) => [k, t.result]));
  } finally {
    await Deno.remove(markers, { recursive: true });
  }
}

/** Checks one run after failover; returns whether it was taken over. */
async function checkRun(
  nc: NatsConnection,
  runId: string,
  ownerId: string,
  ownerPid: number,
  markers: string,
  expected: Record<string, unknown>,
): Promise<boolean> {
  const raw = await rawLog(nc, runId);
  const events = raw.flatMap((m) => m.events);
  // One writer at a time: the owner's messages, then the taker's; never the owner's again.
  const owners = raw.map((m) => m.owner);
  const firstOther = owners.findIndex((o) => o !== ownerId);
  assert.equal(owners[0], ownerId, `run ${runId}: the first writer is its owner`);
  if (firstOther >= 0) {
    assert.ok(
      owners.slice(firstOther).every((o) => o === owners[firstOther]),
      `run ${runId}: writers interleaved: ${owners.join(" ")}`,
    );
  }
  // Ends with the uninterrupted results; every task completed exactly once; seqs increase.
  assert.equal(events.at(-1)?.type, "workflow.completed", `run ${runId} ended ${events.at(-1)?.type}`);
  for (let i = 1; i < events.length; i++) assert.ok(events[i].seq > events[i - 1].seq, "seqs increase");
  const completed = events.filter((e) => e.type === "task.completed");
  assert.equal(completed.length, FAILOVER_TASKS, `run ${runId}: each task completed once`);
  const results = Object.fromEntries(
    completed.map((e) => [e.taskId, (e as AnyFlowEvent & { data: { result: unknown } }).data.result]),
  );
  assert.deepEqual(results, expected);
  // No task completed before the takeover ran again: its markers are all the owner's.
  const resumedAt = events.find((e) => e.type === "workflow.resumed")?.seq ?? Infinity;
  const doneBefore = new Set(completed.filter((e) => e.seq < resumedAt).map((e) => e.taskId!));
  const files = [...Deno.readDirSync(markers)].map((f) => f.name).filter((n) => n.startsWith(`${runId}.`));
  for (const name of files) {
    const [, task, pid] = name.split(".");
    if (doneBefore.has(task)) {
      assert.equal(Number(pid), ownerPid, `run ${runId}: task ${task} completed before the takeover ran again`);
    }
  }
  // Every task ran at least once.
  for (let i = 0; i < FAILOVER_TASKS; i++) assert.ok(files.some((n) => n.split(".")[1] === `t${i}`));
  return firstOther >= 0;
}

Deno.test({
  name: "SIGKILL the owning coordinator at random moments: a standby process finishes every run as if uninterrupted",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const trials = Number(Deno.env.get("NERV_FAILOVER_TRIALS") ?? 16);
    const seed = Number(Deno.env.get("NERV_FAILOVER_SEED") ?? 20261205);
    const rnd = prng(seed);
    const leaseMs = 1000;
    const server = await startNatsServer();
    const markers = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-fo-" });
    const nc = await connectNats({ servers: server.url });
    const standby = new Child(["standby", server.url, "standby", String(leaseMs)]);
    const expected = await uninterrupted();
    let takenOver = 0;
    try {
      await standby.waitFor((l) => l.type === "ready", 20_000, "the standby");
      for (let t = 0; t < trials; t++) {
        const id = `owner${t}`;
        const owner = new Child(["owner", server.url, id, String(leaseMs), "2", markers]);
        const runs: string[] = [];
        for (let r = 0; r < 2; r++) {
          const line = await owner.waitFor((l) => l.type === "run" && !runs.includes(l.runId as string));
          runs.push(line.runId as string);
        }
        // A moment within the runs (they take ~300 ms idle), or just after.
        await new Promise((r) => setTimeout(r, Math.floor(rnd() * 400)));
        owner.kill("SIGKILL");
        await owner.done;
        for (const runId of runs) {
          // Ended: by the owner before the kill (its "done" line may not have made it out), or by the standby.
          const deadline = Date.now() + 60_000;
          while (!(await ended(nc, runId))) {
            if (Date.now() > deadline) {
              throw new Error(
                `Run ${runId} (trial ${t}) did not end; the standby's lines on it: ${
                  JSON.stringify(standby.lines.filter((l) => l.runId === runId))
                }; stderr: ${standby.stderr.slice(-2000)}`,
              );
            }
            await new Promise((r) => setTimeout(r, 100));
          }
          if (await checkRun(nc, runId, id, owner.proc.pid, markers, expected)) takenOver++;
        }
      }
      // The seeded moments must have hit runs in flight, or the test tested nothing.
      assert.ok(takenOver >= trials / 2, `only ${takenOver} of ${2 * trials} runs were taken over`);
      // Nothing is left unfinished.
      const coordinator = await createCoordinator({ connection: nc, workflows: [failoverWorkflow()], takeover: false });
      assert.deepEqual(await coordinator.runs({ status: "running" }), []);
      assert.equal((await coordinator.runs()).length, 2 * trials);
      await coordinator.close();
    } finally {
      await standby.closeStdin();
      standby.kill("SIGTERM");
      await standby.done;
      await nc.close();
      await server.stop();
      await Deno.remove(markers, { recursive: true });
    }
  },
});

Deno.test({
  name: "a paused owner that wakes up after the takeover writes nothing more to the run, and its run stops there",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const leaseMs = 400;
    const server = await startNatsServer();
    const markers = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-fo-" });
    const nc = await connectNats({ servers: server.url });
    const standby = new Child(["standby", server.url, "standby", String(leaseMs)]);
    const owner = new Child(["owner", server.url, "sleeper", String(leaseMs), "1", markers, "120"]);
    try {
      await standby.waitFor((l) => l.type === "ready", 20_000, "the standby");
      const { runId } = await owner.waitFor((l) => l.type === "run");
      await owner.waitFor((l) => l.type === "run");
      await new Promise((r) => setTimeout(r, 200));
      owner.kill("SIGSTOP");
      const takeover = await standby.waitFor((l) => l.type === "takeover" && l.runId === runId, 20_000, "takeover");
      assert.equal(takeover.from, "sleeper");
      await new Promise((r) => setTimeout(r, 300)); // The taker appends meanwhile.
      owner.kill("SIGCONT");
      const done = await owner.waitFor((l) => l.type === "done", 20_000, "the owner to stop");
      assert.ok(
        done.error === "LeaseLostError" || done.error === "LogConflictError",
        `the owner's run stopped with ${done.error}: ${done.message}`,
      );
      assert.ok(owner.lines.some((l) => (l.type === "lost" || l.type === "conflict") && l.runId === runId));
      await standby.waitFor((l) => l.type === "finished" && l.runId === runId, 20_000, "the standby to finish");
      await owner.done;
      assert.ok(await checkRun(nc, runId as string, "sleeper", owner.proc.pid, markers, await uninterrupted()));
    } finally {
      owner.kill("SIGKILL");
      await standby.closeStdin();
      standby.kill("SIGTERM");
      await Promise.all([standby.done, owner.done]);
      await nc.close();
      await server.stop();
      await Deno.remove(markers, { recursive: true });
    }
  },
});

Deno.test({
  name: "two processes append to one run after the same read: one is stored, the other refused with LogConflictError",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await startNatsServer();
    const store = await jetstreamLogStore({ servers: server.url, stream: STREAM });
    const engine = createEngine({ logStore: store });
    const { runId } = await engine.run(defineWorkflow({ name: "one", tasks: [{ id: "a", run: () => 1 }] }));
    await engine.close();
    const a = new Child(["append", server.url, STREAM, runId]);
    const b = new Child(["append", server.url, STREAM, runId]);
    try {
      await Promise.all([a.waitFor((l) => l.type === "read"), b.waitFor((l) => l.type === "read")]);
      await Promise.all([a.send("go\n"), b.send("go\n")]);
      const outcomes = await Promise.all(
        [a, b].map((c) => c.waitFor((l) => l.type === "appended" || l.type === "refused")),
      );
      const kinds = outcomes.map((o) => o.type).sort();
      assert.deepEqual(kinds, ["appended", "refused"]);
      const refused = outcomes.find((o) => o.type === "refused")!;
      assert.equal(refused.error, "LogConflictError");
      assert.equal(refused.runId, runId);
      assert.ok((refused.actual as number) > (refused.expected as number));
      const events = await store.read(runId);
      assert.equal(events.filter((e) => e.type === "workflow.completed").length, 2, "one extra event, not two");
    } finally {
      a.kill();
      b.kill();
      await Promise.all([a.done, b.done]);
      await store.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "3-node cluster, R3 stream: the stream leader killed during a run, the log stays readable and complete",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cluster = await startNatsCluster(3);
    try {
      const store = await jetstreamLogStore({ servers: cluster.urls, stream: "R3", replicas: 3, timeout: 1000 });
      const tasks = Array.from({ length: 30 }, (_, i) => ({
        id: `t${i}`,
        dependsOn: i === 0 ? [] : [`t${i - 1}`],
        run: async () => {
          await new Promise((r) => setTimeout(r, 40));
          return i * i;
        },
      }));
      const engine = createEngine({ logStore: store, workers: false });
      const handle = engine.start(defineWorkflow({ name: "r3", tasks }));
      await new Promise((r) => setTimeout(r, 400));
      const nc = await connectNats({ servers: cluster.urls });
      const { jetstreamManager } = await import("../adapters/nats/deps.ts");
      const leader = (await (await jetstreamManager(nc)).streams.info("R3")).cluster?.leader;
      await nc.close();
      const victim = cluster.servers.find((s) => s.name === leader) ?? cluster.servers[0];
      await victim.kill();
      const result: RunResult = await handle.result;
      const live = engine.log.events(handle.id);
      await engine.close();
      assert.equal(result.status, "completed");
      assert.equal(result.tasks.t29.result, 29 * 29);
      await store.close();
      // Read back through a survivor only.
      const survivor = cluster.servers.find((s) => s !== victim)!;
      const reader = await jetstreamLogStore({ servers: survivor.url, stream: "R3" });
      assert.deepEqual(await reader.read(handle.id), JSON.parse(JSON.stringify(live)));
      await reader.close();
    } finally {
      await cluster.stop();
    }
  },
});
