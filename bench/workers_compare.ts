// Worker benchmarks, side by side in one process (issue 3):
//  (a) CPU-bound: 16 independent ~50 ms tasks, serial inline vs the engine's cpu pool vs 2 raw Workers (the floor)
//  (b) dispatch throughput: 100,000 no-op worker tasks through the pool (batched) vs a raw postMessage
//      batch loop (the floor) vs one Comlink call per task vs the npm peers piscina and workerpool
//      (run here under Deno, through node:worker_threads; bench/_node_peers.mjs runs them under Node)
//  (c) single-task latency p50/p99 through a warm pool, vs a raw worker round trip
//  (d) the core DAG benchmark (10,000 layered tasks) with worker tasks vs inline
// Every pool has as many workers as there are hardware threads. Each figure is the minimum of `--trials` runs.
// Usage: deno run --allow-read --allow-env --allow-sys=cpus bench/workers_compare.ts [--trials 3] [--no-peers]
// (workerpool reads os.cpus() when loaded: without --allow-sys its row says so and the rest runs)
import type { Piscina } from "npm:piscina@^5.3.2";
import type WorkerPoolModule from "npm:workerpool@^10.0.3";
import { fileURLToPath } from "node:url";
import { wrap } from "../src/deps_comlink.ts";
import { createEngine, createWorkerPool, defineWorkflow, type TaskDef } from "../mod.ts";
import type { TaskSpec } from "../extend.ts";
import { spin, tasks } from "./_tasks.ts";
import { makeDag } from "./_dags.ts";

const trials = Deno.args.includes("--trials") ? Number(Deno.args[Deno.args.indexOf("--trials") + 1]) : 3;
const peers = !Deno.args.includes("--no-peers");
const threads = navigator.hardwareConcurrency;
const rawUrl = new URL("./_raw_worker.ts", import.meta.url);
const comlinkUrl = new URL("./_comlink_worker.ts", import.meta.url);
const piscinaUrl = new URL("./_piscina_worker.ts", import.meta.url);
const workerpoolUrl = new URL("./_workerpool_worker.ts", import.meta.url);
const ratio = (x: number, base: number) => `${(x / base).toFixed(2)}×`;

// Calibrate ~50 ms of pure computation.
let rounds = 1_000_000;
for (;;) {
  const t0 = performance.now();
  spin(rounds);
  const dt = performance.now() - t0;
  if (dt > 20) {
    rounds = Math.round((rounds * 50) / dt);
    break;
  }
  rounds *= 2;
}

function startRaw(n: number): Worker[] {
  return Array.from({ length: n }, () => new Worker(rawUrl, { type: "module" }));
}
function rawCall(w: Worker, msg: Record<string, unknown>): Promise<{ value?: number; values?: unknown[] }> {
  return new Promise((resolve) => {
    w.onmessage = (e) => resolve(e.data);
    w.postMessage(msg);
  });
}

console.log(`Deno ${Deno.version.deno}, ${threads} threads, min of ${trials} runs; spin(${rounds}) ≈ 50 ms\n`);
const summary: string[] = [];

// ---- (a) CPU-bound ---------------------------------------------------------
{
  const N = 16;
  const best = { serial: Infinity, raw: Infinity, pool: Infinity };
  const raw = startRaw(threads);
  await Promise.all(raw.map((w) => rawCall(w, { op: "spin", id: 0, rounds: 1 })));
  const engine = createEngine({ workers: { cpu: threads } });
  const wf = defineWorkflow({
    name: "cpu16",
    tasks: Array.from({ length: N }, (_, i) => ({ id: `s${i}`, run: tasks.spin, profile: "cpu" as const })),
  });
  await engine.run(wf, { input: 1 }); // warm the pool
  for (let t = 0; t < trials; t++) {
    let t0 = performance.now();
    for (let i = 0; i < N; i++) spin(rounds);
    best.serial = Math.min(best.serial, performance.now() - t0);

    t0 = performance.now();
    let next = 0;
    await Promise.all(raw.map(async (w) => {
      while (next < N) {
        next++;
        await rawCall(w, { op: "spin", id: next, rounds });
      }
    }));
    best.raw = Math.min(best.raw, performance.now() - t0);

    t0 = performance.now();
    const r = await engine.run(wf, { input: rounds });
    if (r.status !== "completed") throw new Error(`cpu run ${r.status}`);
    best.pool = Math.min(best.pool, performance.now() - t0);
  }
  raw.forEach((w) => w.terminate());
  await engine.close();
  const rawSpeedup = best.serial / best.raw;
  const poolSpeedup = best.serial / best.pool;
  console.log("### (a) CPU-bound, 16 tasks of ~50 ms\n");
  console.log("| runner | ms | speedup vs serial | time / raw Workers |\n| --- | ---: | ---: | ---: |");
  console.log(`| serial inline (baseline) | ${best.serial.toFixed(0)} | 1.00× | ${ratio(best.serial, best.raw)} |`);
  console.log(`| ${threads} raw Workers (floor) | ${best.raw.toFixed(0)} | ${rawSpeedup.toFixed(2)}× | 1.00× |`);
  console.log(
    `| nerv-flow cpu pool (${threads}) | ${best.pool.toFixed(0)} | ${poolSpeedup.toFixed(2)}× | ${
      ratio(best.pool, best.raw)
    } |`,
  );
  console.log(`\npool speedup / raw speedup: ${((poolSpeedup / rawSpeedup) * 100).toFixed(1)}%\n`);
  summary.push(
    `CPU-bound (16 × 50 ms): the cpu pool is ${poolSpeedup.toFixed(2)}× serial, raw Workers ${
      rawSpeedup.toFixed(2)
    }× (${threads} threads)`,
  );
}

// ---- (b) dispatch throughput --------------------------------------------------
{
  const N = 100_000;
  type Runner = "raw" | "pool" | "comlink" | "piscina" | "workerpool";
  const best: Record<Runner, number> = {
    raw: Infinity,
    pool: Infinity,
    comlink: Infinity,
    piscina: NaN,
    workerpool: NaN,
  };
  const failed: Partial<Record<Runner, string>> = {};
  const raw = startRaw(threads);
  const comlinkWorkers = Array.from({ length: threads }, () => new Worker(comlinkUrl, { type: "module" }));
  const comlinkApis = comlinkWorkers.map((w) => wrap<{ noop(): undefined }>(w));
  await Promise.all(comlinkApis.map((api) => api.noop()));
  await Promise.all(raw.map((w) => rawCall(w, { op: "batch", id: 0, count: 1 })));
  const pool = createWorkerPool({ size: threads, name: "bench" });
  await pool.warm();
  const spec = { id: "noop", run: tasks.noop, profile: "cpu" } as unknown as TaskSpec;
  const signal = new AbortController().signal;

  // The npm peers, run under Deno through node:worker_threads, each with `threads` workers and its defaults otherwise.
  let piscina: Piscina | undefined;
  let wpool: ReturnType<typeof WorkerPoolModule.pool> | undefined;
  if (peers) {
    try {
      const { Piscina } = await import("npm:piscina@^5.3.2");
      piscina = new Piscina({ filename: piscinaUrl.href, minThreads: threads, maxThreads: threads });
      await Promise.all(Array.from({ length: threads * 4 }, () => piscina!.run(null)));
      best.piscina = Infinity;
    } catch (e) {
      failed.piscina = `failed under Deno: ${e}`;
      piscina = undefined;
    }
    try {
      const workerpool = (await import("npm:workerpool@^10.0.3")).default;
      wpool = workerpool.pool(fileURLToPath(workerpoolUrl), {
        minWorkers: threads,
        maxWorkers: threads,
        workerType: "thread",
      });
      await Promise.all(Array.from({ length: threads * 4 }, () => wpool!.exec("noop", [])));
      best.workerpool = Infinity;
    } catch (e) {
      failed.workerpool = `failed under Deno: ${e}`;
      wpool = undefined;
    }
  }

  for (let t = 0; t < trials; t++) {
    // Floor: batches of 1,000 per message, every worker kept busy.
    let t0 = performance.now();
    let sent = 0;
    await Promise.all(raw.map(async (w) => {
      while (sent < N) {
        const count = Math.min(1000, N - sent);
        sent += count;
        await rawCall(w, { op: "batch", id: sent, count });
      }
    }));
    best.raw = Math.min(best.raw, performance.now() - t0);

    t0 = performance.now();
    const calls: Promise<unknown>[] = new Array(N);
    for (let i = 0; i < N; i++) {
      calls[i] = pool.run(spec, { input: undefined, deps: {}, attempt: 1, taskId: "noop", runId: "bench" }, signal);
    }
    await Promise.all(calls);
    best.pool = Math.min(best.pool, performance.now() - t0);

    t0 = performance.now();
    const cl: Promise<unknown>[] = new Array(N);
    for (let i = 0; i < N; i++) cl[i] = comlinkApis[i % threads].noop();
    await Promise.all(cl);
    best.comlink = Math.min(best.comlink, performance.now() - t0);

    if (piscina !== undefined) {
      t0 = performance.now();
      const ps: Promise<unknown>[] = new Array(N);
      for (let i = 0; i < N; i++) ps[i] = piscina.run(null);
      await Promise.all(ps);
      best.piscina = Math.min(best.piscina, performance.now() - t0);
    }

    if (wpool !== undefined) {
      t0 = performance.now();
      const ws: PromiseLike<unknown>[] = new Array(N);
      for (let i = 0; i < N; i++) ws[i] = wpool.exec("noop", []);
      await Promise.all(ws);
      best.workerpool = Math.min(best.workerpool, performance.now() - t0);
    }
  }
  raw.forEach((w) => w.terminate());
  comlinkWorkers.forEach((w) => w.terminate());
  await pool.close();
  await piscina?.destroy();
  await wpool?.terminate();
  const rate = (ms: number) => Math.round(N / (ms / 1000)).toLocaleString("en-US");
  const us = (ms: number) => ((ms * 1000) / N).toFixed(2);
  console.log(`### (b) dispatch throughput, 100,000 no-op worker tasks, ${threads} workers each\n`);
  console.log(
    "| runner | runtime | ms | tasks/s | µs/task | × raw floor | × nerv-flow pool |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  );
  const rows: [Runner, string][] = [
    ["raw", "raw postMessage, 1,000 per message (floor)"],
    ["pool", `nerv-flow pool, adaptive batches (last batch size ${pool.batchSize})`],
    ["comlink", "raw Comlink, one call per task"],
    ["piscina", "piscina 5 (npm), one `run` per task"],
    ["workerpool", "workerpool 10 (npm), one `exec` per task"],
  ];
  for (const [key, label] of rows) {
    const ms = best[key];
    if (Number.isNaN(ms)) {
      const why = failed[key] ?? "skipped (--no-peers)";
      console.log(`| ${label} | Deno | — | — | — | — | ${why.replaceAll("|", "\\|").replaceAll("\n", " ")} |`);
      continue;
    }
    console.log(
      `| ${label} | Deno ${Deno.version.deno} | ${ms.toFixed(0)} | ${rate(ms)} | ${us(ms)} | ${ratio(ms, best.raw)} | ${
        ratio(ms, best.pool)
      } |`,
    );
  }
  console.log("");
  const peerText = (["comlink", "piscina", "workerpool"] as const).filter((k) => !Number.isNaN(best[k])).map((k) =>
    `${k === "comlink" ? "raw Comlink" : k} ${us(best[k])} µs/task (${ratio(best[k], best.pool)} ours)`
  ).join(", ");
  summary.push(
    `100,000 no-op worker tasks under Deno: nerv-flow pool ${us(best.pool)} µs/task (${
      ratio(best.pool, best.raw)
    } the raw postMessage floor); ${peerText}`,
  );
}

// ---- (c) single-task latency ---------------------------------------------------
{
  const N = 2000;
  const pool = createWorkerPool({ size: threads, name: "latency" });
  await pool.warm();
  const [raw] = startRaw(1);
  await rawCall(raw, { op: "spin", id: 0, rounds: 1 });
  const spec = { id: "noop", run: tasks.noop, profile: "cpu" } as unknown as TaskSpec;
  const signal = new AbortController().signal;
  const poolTimes: number[] = [];
  const rawTimes: number[] = [];
  for (let i = 0; i < N; i++) {
    let t0 = performance.now();
    await pool.run(spec, { input: undefined, deps: {}, attempt: 1, taskId: "noop", runId: "bench" }, signal);
    poolTimes.push(performance.now() - t0);
    t0 = performance.now();
    await rawCall(raw, { op: "spin", id: i, rounds: 1 });
    rawTimes.push(performance.now() - t0);
  }
  raw.terminate();
  await pool.close();
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))] * 1000;
  const raw50 = q(rawTimes, 0.5), raw99 = q(rawTimes, 0.99), pool50 = q(poolTimes, 0.5), pool99 = q(poolTimes, 0.99);
  console.log(`### (c) single-task latency, one in flight, ${N} calls, warm (percentiles, not minima)\n`);
  console.log("| runner | p50 µs | p99 µs | p50 × floor | p99 × floor |\n| --- | ---: | ---: | ---: | ---: |");
  console.log(`| raw worker round trip (floor) | ${raw50.toFixed(0)} | ${raw99.toFixed(0)} | 1.00× | 1.00× |`);
  console.log(
    `| nerv-flow pool | ${pool50.toFixed(0)} | ${pool99.toFixed(0)} | ${ratio(pool50, raw50)} | ${
      ratio(pool99, raw99)
    } |\n`,
  );
  summary.push(
    `one task at a time through a warm pool: p50 ${pool50.toFixed(0)} µs (${ratio(pool50, raw50)} a raw round trip)`,
  );
}

// ---- (d) DAG with worker tasks ----------------------------------------------------
{
  const n = 10_000;
  const dag = makeDag("layered", n);
  const best = { inline: Infinity, workers: Infinity };
  for (let t = 0; t < trials; t++) {
    for (const mode of ["inline", "workers"] as const) {
      const t0 = performance.now();
      const defs: TaskDef[] = dag.deps.map((d, i) => ({
        id: `t${i}`,
        dependsOn: d.map((x) => `t${x}`),
        run: tasks.noop,
        profile: "cpu",
      }));
      const engine = createEngine(mode === "inline" ? { workers: false } : { limits: { cpu: 1024 } });
      const r = await engine.run(defineWorkflow({ name: "dag", tasks: defs }));
      if (r.status !== "completed") throw new Error(`dag ${r.status}`);
      best[mode] = Math.min(best[mode], performance.now() - t0);
      await engine.close();
    }
  }
  const us = (ms: number) => ((ms * 1000) / n).toFixed(2);
  console.log(`### (d) 10,000-task layered DAG of no-op task references (cpu profile)\n`);
  console.log("| executor | µs/task | × inline |\n| --- | ---: | ---: |");
  console.log(`| inline (workers: false; baseline) | ${us(best.inline)} | 1.00× |`);
  console.log(
    `| cpu pool (${threads} workers, limit 1,024 in flight) | ${us(best.workers)} | ${
      ratio(best.workers, best.inline)
    } |\n`,
  );
  summary.push(
    `10,000-task layered DAG on the cpu pool: ${us(best.workers)} µs/task (${ratio(best.workers, best.inline)} inline)`,
  );
}

for (const line of summary) console.log(`summary: ${line}`);
