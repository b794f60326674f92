/**
 * The NATS executor across servers and hosts: a 3-node cluster on loopback
 * with R3 streams that loses a node mid-run, and a worker host in its own
 * network namespace (veth to this host) cut off mid-task, whose work is
 * redelivered to a worker on another host. Needs root and `ip` for the
 * namespace test (ignored otherwise); every namespace is removed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, defineWorkflow, type TaskDef } from "../mod.ts";
import type { AnyFlowEvent } from "../extend.ts";
import { natsExecutor } from "../adapters/nats/mod.ts";
import { connectNats } from "../adapters/nats/connect.ts";
import { jetstreamManager } from "../adapters/nats/deps.ts";
import { hasNatsServer, startNatsCluster, startNatsServer } from "./_nats.ts";
import { startWorker, type WorkerProcess } from "./_nats_workers.ts";
import { readMarks, waitForMark } from "./_nats_marks.ts";
import { type MarkInput, markValue, tasks } from "./fixtures/nats_tasks.ts";

const ignore = !hasNatsServer();
const OPTS = {};

function run(cmd: string, ...args: string[]): void {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

function canNetns(): boolean {
  try {
    const id = new Deno.Command("id", { args: ["-u"], stdout: "piped", stderr: "null" }).outputSync();
    if (new TextDecoder().decode(id.stdout).trim() !== "0") return false;
    return new Deno.Command("ip", { args: ["netns", "list"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** A chain-and-fan DAG of `mark` tasks; every result is a function of the task's id and deps. */
function dag(n: number): TaskDef<MarkInput>[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `t${i}`,
    dependsOn: i >= 8 ? [...new Set([`t${i - 8}`, `t${(i * 7) % 8}`])] : [],
    run: tasks.mark,
    profile: "cpu" as const,
  }));
}

function depsOf(d: TaskDef<MarkInput>, results: Record<string, { result?: unknown }>): Record<string, unknown> {
  return Object.fromEntries((d.dependsOn ?? []).map((k) => [k, results[k].result]));
}

Deno.test({
  name: "a 3-node cluster with R3 streams loses a node mid-run: the run completes, nothing lost or doubled",
  ignore,
  ...OPTS,
  fn: async () => {
    const cluster = await startNatsCluster(3);
    const dir = await Deno.makeTempDir({ prefix: "nerv-nats-cluster-" });
    const workers: WorkerProcess[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        // Each worker prefers another node first; all know the three.
        const urls = [...cluster.urls.slice(i + 1), ...cluster.urls.slice(0, i + 1)];
        workers.push(await startWorker({ servers: urls, concurrency: 2, name: `k${i}` }));
      }
      const cpu = await natsExecutor({ servers: cluster.urls, replicas: 3, ackWaitMs: 1500 });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 16 } });
      const events: AnyFlowEvent[] = [];
      engine.bus.onAny((e) => events.push(e));
      try {
        const nc = await connectNats({ servers: cluster.urls });
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info("NERV_TASKS");
        assert.equal(info.config.num_replicas, 3);
        const leader = info.cluster?.leader;
        await nc.close();

        const defs = dag(32);
        const plan = Object.fromEntries(defs.map((d) => [d.id, { ms: 150 }]));
        const handle = engine.start(defineWorkflow({ name: "cluster", tasks: defs }), { input: { dir, plan } });
        await waitForMark(dir, (ms) => ms.filter((m) => m.kind === "done").length >= 6 ? true : undefined);
        // Kill the work queue's stream leader.
        const victim = cluster.servers.find((s) => s.name === leader) ?? cluster.servers[0];
        await victim.kill();
        const r = await handle.result;
        assert.equal(r.status, "completed", JSON.stringify(Object.values(r.tasks).map((t) => t.error?.message)));
        for (const d of defs) assert.equal(r.tasks[d.id].result, markValue(d.id, depsOf(d, r.tasks)), d.id);
        const completed = events.filter((e) => e.type === "task.completed");
        assert.equal(completed.length, defs.length, "each task completed once");
        assert.equal(new Set(completed.map((e) => e.taskId)).size, defs.length);
      } finally {
        await engine.close();
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a worker host cut off (link down) mid-task: its work is redelivered to a worker on another host",
  ignore: ignore || !canNetns(),
  ...OPTS,
  fn: async () => {
    const tag = crypto.randomUUID().slice(0, 6);
    const ns = `nerv-${tag}`;
    const hostIf = `nh${tag}`;
    const nsIf = `nn${tag}`;
    const octet = 16 + Math.floor(Math.random() * 200);
    const hostIp = `10.213.${octet}.1`;
    const nsIp = `10.213.${octet}.2`;
    const server = await startNatsServer({ host: "0.0.0.0" });
    const dir = await Deno.makeTempDir({ prefix: "nerv-nats-netns-" });
    const workers: WorkerProcess[] = [];
    let nsMade = false;
    try {
      run("ip", "netns", "add", ns);
      nsMade = true;
      run("ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
      run("ip", "link", "set", nsIf, "netns", ns);
      run("ip", "addr", "add", `${hostIp}/30`, "dev", hostIf);
      run("ip", "link", "set", hostIf, "up");
      run("ip", "netns", "exec", ns, "ip", "addr", "add", `${nsIp}/30`, "dev", nsIf);
      run("ip", "netns", "exec", ns, "ip", "link", "set", nsIf, "up");
      run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");

      const remote = await startWorker({
        servers: `nats://${hostIp}:${server.port}`,
        concurrency: 1,
        name: "remote-host",
        wrap: ["ip", "netns", "exec", ns],
      });
      workers.push(remote);
      const cpu = await natsExecutor({ servers: server.url, ackWaitMs: 1000 });
      const engine = createEngine({ executors: { cpu } });
      const events: AnyFlowEvent[] = [];
      engine.bus.onAny((e) => events.push(e));
      try {
        const handle = engine.start(
          defineWorkflow({ name: "netns", tasks: [{ id: "x", run: tasks.mark, profile: "cpu" }] }),
          { input: { dir, plan: { x: { ms: 2000 } } } },
        );
        await waitForMark(dir, (ms) => ms.find((m) => m.kind === "start" && m.pid !== 0));
        const starts = readMarks(dir).filter((m) => m.kind === "start");
        assert.equal(starts.length, 1);
        // The remote host's link goes down while it runs the task.
        run("ip", "link", "set", hostIf, "down");
        const local = await startWorker({ servers: server.url, concurrency: 1, name: "this-host" });
        workers.push(local);
        const r = await handle.result;
        assert.equal(r.status, "completed");
        assert.equal(r.tasks.x.result, markValue("x", {}));
        const done = readMarks(dir).filter((m) => m.kind === "done");
        assert.ok(done.some((m) => m.pid === local.pid), "the task was finished on this host");
        // The link comes back: whatever the cut-off worker sends late does not complete the task again.
        run("ip", "link", "set", hostIf, "up");
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(events.filter((e) => e.type === "task.completed").length, 1);
        assert.equal(events.filter((e) => e.type === "task.started").length, 1);
      } finally {
        await engine.close();
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      if (nsMade) {
        try {
          run("ip", "netns", "del", ns);
        } catch { /* reported below */ }
      }
      try {
        run("ip", "link", "del", hostIf);
      } catch { /* gone with the namespace's peer */ }
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
    const left = new TextDecoder().decode(
      new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).outputSync().stdout,
    );
    assert.ok(!left.includes(ns), `namespace ${ns} was removed`);
  },
});
