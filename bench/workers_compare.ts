// Worker benchmarks, side by side in one process (issue 3):
//  (a) CPU-bound: 16 independent ~50 ms tasks, serial inline vs the engine's cpu pool vs 2 raw Workers (the floor)
//  (b) dispatch throughput: 100,000 no-op worker tasks through the pool (batched) vs a raw postMessage
//      batch loop (the floor) vs one Comlink call per task
//  (c) single-task latency p50/p99 through a warm pool, vs a raw worker round trip
//  (d) the core DAG benchmark (10,000 layered tasks) with worker tasks vs inline
// Usage: deno run --allow-read --allow-env bench/workers_compare.ts [--trials 3]
import { wrap } from "../src/deps_comlink.ts";
import { createEngine, createWorkerPool, defineWorkflow, type TaskDef, type TaskSpec } from "../mod.ts";
import { spin, tasks } from "./_tasks.ts";
import { makeDag } from "./_dags.ts";

const trials = Number(Deno.args[Deno.args.indexOf("--trials") + 1] || 3);
const threads = navigator.hardwareConcurrency;
const rawUrl = new URL("./_raw_worker.ts", import.meta.url);
const comlinkUrl = new URL("./_comlink_worker.ts", import.meta.url);

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
  console.log("(a) CPU-bound, 16 tasks of ~50 ms");
  console.log("| runner | ms | speedup vs serial |\n| --- | ---: | ---: |");
  console.log(`| serial inline | ${best.serial.toFixed(0)} | 1.00× |`);
  console.log(`| ${threads} raw Workers (floor) | ${best.raw.toFixed(0)} | ${rawSpeedup.toFixed(2)}× |`);
  console.log(`| nerv-flow cpu pool (${threads}) | ${best.pool.toFixed(0)} | ${poolSpeedup.toFixed(2)}× |`);
  console.log(`pool speedup / raw speedup: ${((poolSpeedup / rawSpeedup) * 100).toFixed(1)}%\n`);
}

// ---- (b) dispatch throughput --------------------------------------------------
{
  const N = 100_000;
  const best = { raw: Infinity, pool: Infinity, comlink: Infinity };
  const raw = startRaw(threads);
  const comlinkWorkers = Array.from({ length: threads }, () => new Worker(comlinkUrl, { type: "module" }));
  const comlinkApis = comlinkWorkers.map((w) => wrap<{ noop(): undefined }>(w));
  await Promise.all(comlinkApis.map((api) => api.noop()));
  await Promise.all(raw.map((w) => rawCall(w, { op: "batch", id: 0, count: 1 })));
  const pool = createWorkerPool({ size: threads, name: "bench" });
  await pool.warm();
  const spec = { id: "noop", run: tasks.noop, profile: "cpu" } as unknown as TaskSpec;
  const signal = new AbortController().signal;
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
  }
  raw.forEach((w) => w.terminate());
  comlinkWorkers.forEach((w) => w.terminate());
  await pool.close();
  const rate = (ms: number) => Math.round(N / (ms / 1000)).toLocaleString("en-US");
  console.log("(b) dispatch throughput, 100,000 no-op worker tasks");
  console.log("| runner | ms | tasks/s | µs/task |\n| --- | ---: | ---: | ---: |");
  for (
    const [label, ms] of [
      ["raw postMessage, 1,000 per message (floor)", best.raw],
      [`nerv-flow pool, adaptive batches (last batch size ${pool.batchSize})`, best.pool],
      ["one Comlink call per task", best.comlink],
    ] as const
  ) console.log(`| ${label} | ${ms.toFixed(0)} | ${rate(ms)} | ${((ms * 1000) / N).toFixed(2)} |`);
  console.log("");
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
  console.log(`(c) single-task latency, one in flight, ${N} calls, warm`);
  console.log("| runner | p50 µs | p99 µs |\n| --- | ---: | ---: |");
  console.log(`| raw worker round trip (floor) | ${q(rawTimes, 0.5).toFixed(0)} | ${q(rawTimes, 0.99).toFixed(0)} |`);
  console.log(`| nerv-flow pool | ${q(poolTimes, 0.5).toFixed(0)} | ${q(poolTimes, 0.99).toFixed(0)} |\n`);
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
  console.log(`(d) 10,000-task layered DAG of no-op task references (cpu profile)`);
  console.log("| executor | µs/task |\n| --- | ---: |");
  console.log(`| inline (workers: false) | ${((best.inline * 1000) / n).toFixed(2)} |`);
  console.log(`| cpu pool (${threads} workers, limit 1,024 in flight) | ${((best.workers * 1000) / n).toFixed(2)} |`);
}
