// The log on JetStream, measured against the file store in the same run, on
// a local nats-server (loopback, one node, file storage):
//
// 1. Append throughput: events handed to `store.append` in batches (as the
//    snapshot log hands them over), awaited one batch at a time, one run and
//    16 runs; events per second.
// 2. Per-task cost of a durable run: a DAG of no-op tasks on the memory store,
//    the file store (flush "batch") and the JetStream store; µs per task.
// 3. Takeover time: a coordinator process owning one run is SIGKILLed; a
//    standby process (lease 500 ms, renewed every ~167 ms) takes the run over;
//    time from the kill to the standby's takeover and to the run's
//    `workflow.resumed` event; p50 / p99 over the trials. The standby counts
//    the lease's silence from the last renewal it saw, which came up to a
//    third of a lease before the kill: a takeover can come sooner than
//    `leaseMs` after the kill, never sooner than `leaseMs` after a renewal.
//
// Usage: deno run -A bench/nats_log_compare.ts [--events 20000] [--tasks 1000] [--trials 20] [--lease 500]
import { createEngine, defineWorkflow, type TaskDef } from "../mod.ts";
import type { AnyFlowEvent, LogStore } from "../extend.ts";
import { openFileLogStore } from "../adapters/mod.ts";
import { jetstreamLogStore } from "../adapters/nats/log_store.ts";
import { startNatsServer } from "../tests/_nats.ts";
import { Child } from "../tests/nats_failover_test.ts";
import { makeDag } from "./_dags.ts";

const args: Record<string, string> = {};
for (let i = 0; i < Deno.args.length; i += 2) args[Deno.args[i].replace(/^--/, "")] = Deno.args[i + 1];
const nEvents = Number(args.events ?? 20_000);
const nTasks = Number(args.tasks ?? 1000);
const trials = Number(args.trials ?? 20);
const leaseMs = Number(args.lease ?? 500);
const dir = await Deno.makeTempDir({ prefix: "nerv-bench-nats-" });
const server = await startNatsServer();
let streamNo = 0;
const summary: string[] = [];

const event = (runId: string, seq: number): AnyFlowEvent => ({
  type: "task.completed",
  seq,
  runId,
  workflowId: "bench",
  taskId: `t${seq}`,
  timestamp: 1_700_000_000_000 + seq,
  data: { result: { value: seq, text: "some result text of a task" }, attempt: 1, durationMs: 1 },
} as unknown as AnyFlowEvent);

async function open(kind: "file" | "jetstream", label: string): Promise<LogStore & { close(): Promise<void> }> {
  if (kind === "file") return await openFileLogStore(`${dir}/${label}.log`, { flush: "batch" });
  return await jetstreamLogStore({ servers: server.url, stream: `B${++streamNo}` });
}

async function appendRate(kind: "file" | "jetstream", runs: number, batch: number): Promise<number> {
  const store = await open(kind, `append-${runs}-${batch}-${streamNo}`);
  const ids = Array.from({ length: runs }, (_, i) => `run${i}`);
  // The first event of each run creates it (and, on JetStream, lists it).
  await store.append(ids.map((runId, i) => ({ ...event(runId, i + 1), type: "workflow.created" }) as AnyFlowEvent));
  let seq = runs;
  const t0 = performance.now();
  for (let done = 0; done < nEvents; done += batch) {
    const b: AnyFlowEvent[] = [];
    for (let k = 0; k < batch; k++) b.push(event(ids[k % runs], ++seq));
    await store.append(b);
  }
  const dt = performance.now() - t0;
  await store.close();
  return nEvents / (dt / 1000);
}

async function perTask(kind: "memory" | "file" | "jetstream"): Promise<number> {
  const dag = makeDag("layered", nTasks, 5);
  const store = kind === "memory" ? undefined : await open(kind, `dag-${streamNo}`);
  const tasks: TaskDef[] = dag.deps.map((d, i) => ({ id: `t${i}`, dependsOn: d.map((x) => `t${x}`), run: () => i }));
  const engine = createEngine({ logStore: store, workers: false, limits: { io: 16 } });
  const t0 = performance.now();
  const result = await engine.run(defineWorkflow({ name: "dag", tasks }));
  const dt = performance.now() - t0;
  if (result.status !== "completed") throw new Error(`run ${result.status}`);
  await engine.close();
  await store?.close();
  return (dt * 1000) / nTasks;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

try {
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ").slice(0, 3).join(", ");
  const version = new TextDecoder().decode(
    (await new Deno.Command("nats-server", { args: ["--version"] }).output()).stdout,
  ).trim();
  console.log(
    `Deno ${Deno.version.deno}, ${version}, ${navigator.hardwareConcurrency} threads, load average ${load}; ` +
      "best of 5, stores interleaved",
  );

  console.log(`\n### Append throughput, ${nEvents} events (events/s; × = JetStream vs file, same run)\n`);
  console.log("| runs | batch | file (flush batch) | JetStream (R1) | × |");
  console.log("| ---: | ---: | ---: | ---: | ---: |");
  for (const [runs, batch] of [[1, 1], [1, 64], [16, 64], [16, 512]]) {
    let file = 0;
    let js = 0;
    for (let t = 0; t < 5; t++) {
      file = Math.max(file, await appendRate("file", runs, batch));
      js = Math.max(js, await appendRate("jetstream", runs, batch));
    }
    console.log(
      `| ${runs} | ${batch} | ${Math.round(file).toLocaleString("en")} | ${Math.round(js).toLocaleString("en")} | ${
        (js / file).toFixed(2)
      } |`,
    );
  }

  console.log(`\n### Per-task cost of a durable run, layered DAG of ${nTasks} no-op tasks (µs/task; × vs memory)\n`);
  await perTask("memory"); // warm-up
  const costs: Record<string, number> = { memory: Infinity, file: Infinity, jetstream: Infinity };
  for (let t = 0; t < 5; t++) {
    // Interleaved, so that a noisy moment does not fall on one store only.
    for (const kind of ["memory", "file", "jetstream"] as const) {
      costs[kind] = Math.min(costs[kind], await perTask(kind));
    }
  }
  summary.push(`${costs.jetstream.toFixed(1)} µs/task on JetStream vs ${costs.file.toFixed(1)} on the file store`);
  console.log("| memory | file (flush batch) | JetStream (R1) | JetStream vs file |");
  console.log("| ---: | ---: | ---: | ---: |");
  console.log(
    `| ${costs.memory.toFixed(1)} | ${costs.file.toFixed(1)} (${(costs.file / costs.memory).toFixed(1)}×) | ${
      costs.jetstream.toFixed(1)
    } (${(costs.jetstream / costs.memory).toFixed(1)}×) | ${(costs.jetstream / costs.file).toFixed(2)}× |`,
  );

  console.log(
    `\n### Takeover after the owner is SIGKILLed, ${trials} trials, lease ${leaseMs} ms (ms from the kill)\n`,
  );
  const markers = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-bench-fo-" });
  const standby = new Child(["standby", server.url, "standby", String(leaseMs)]);
  await standby.waitFor((l) => l.type === "ready");
  const toTakeover: number[] = [];
  const toResumed: number[] = [];
  const reader = await jetstreamLogStore({ servers: server.url });
  for (let t = 0; t < trials; t++) {
    const owner = new Child(["owner", server.url, `owner${t}`, String(leaseMs), "1", markers, "200"]);
    const { runId } = await owner.waitFor((l) => l.type === "run");
    await new Promise((r) => setTimeout(r, 100 + (t * 37) % 200));
    const killedAt = Date.now();
    owner.kill("SIGKILL");
    await owner.done;
    const takeover = await standby.waitFor((l) => l.type === "takeover" && l.runId === runId);
    await standby.waitFor((l) => l.type === "finished" && l.runId === runId, 60_000);
    const resumed = (await reader.read(runId as string)).find((e) => e.type === "workflow.resumed")!;
    toTakeover.push(takeover.at - killedAt);
    toResumed.push(resumed.timestamp - killedAt);
  }
  await reader.close();
  await standby.closeStdin();
  await standby.done;
  await Deno.remove(markers, { recursive: true });
  console.log("| from the kill to | p50 | p99 | min | max |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const [label, xs] of [["takeover (lease won)", toTakeover], ["`workflow.resumed` stored", toResumed]] as const) {
    console.log(`| ${label} | ${pct(xs, 50)} | ${pct(xs, 99)} | ${Math.min(...xs)} | ${Math.max(...xs)} |`);
  }
  summary.push(
    `takeover ${pct(toResumed, 50)} ms p50, ${pct(toResumed, 99)} ms p99 after the kill (lease ${leaseMs} ms)`,
  );
  console.log(`\nsummary: JetStream log, ${summary.join("; ")}`);
} finally {
  await server.stop();
  await Deno.remove(dir, { recursive: true });
}
