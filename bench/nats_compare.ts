// The NATS executor against the in-process worker pool, on this machine: a real nats-server (JetStream, file
// storage, temporary store) and 2 real worker processes (`adapters/nats/worker.ts`). Prints Markdown tables and
// `summary:` lines like the other benchmarks of bench/.
//
// (a) tiny tasks end to end: 100,000 no-op task references through the executor alone and through the engine;
// (b) CPU-bound: 64 tasks of ~50 ms, 2 worker processes of 1 local worker each vs the in-process cpu pool of 2;
// (c) warm single-task latency, one in flight, p50/p99, vs the in-process pool.
//
// Usage: deno run -A bench/nats_compare.ts [--trials 3] [--tiny 100000] [--only a,b,c]
import { createEngine, createWorkerPool, defineWorkflow } from "../mod.ts";
import type { TaskSpec } from "../extend.ts";
import { type NatsExecutor, natsExecutor } from "../adapters/nats/mod.ts";
import { startNatsServer } from "../tests/_nats.ts";
import { startWorker, type WorkerProcess } from "../tests/_nats_workers.ts";
import { spin, tasks } from "./_tasks.ts";

const args = Deno.args;
const option = (name: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const trials = Number(option("trials") ?? 3);
const TINY = Number(option("tiny") ?? 100_000);
const only = option("only")?.split(",");
const wanted = (key: string) => only === undefined || only.includes(key);
const threads = navigator.hardwareConcurrency;
const summary: string[] = [];
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const signal = new AbortController().signal;
const specOf = (run: unknown) => ({ id: "t", run, profile: "cpu", timeoutMs: undefined } as unknown as TaskSpec);

// Calibrate spin() to ~50 ms.
let rounds = 1_000_000;
{
  for (let i = 0; i < 5; i++) spin(rounds); // warm the JIT first
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    spin(rounds);
    best = Math.min(best, performance.now() - t0);
  }
  rounds = Math.round(rounds * 50 / Math.max(0.1, best));
}

const server = await startNatsServer();
const workers: WorkerProcess[] = [];
console.log(
  `Deno ${Deno.version.deno}, ${threads} threads, nats-server at ${server.url} (JetStream, file storage), ` +
    `2 worker processes, min of ${trials} runs; load average at the start ${Deno.loadavg().join(", ")}\n`,
);
try {
  // ---- (a) tiny tasks ------------------------------------------------------------------------------
  if (wanted("a")) {
    for (let i = 0; i < 2; i++) {
      workers.push(await startWorker({ servers: server.url, concurrency: threads, name: `bench-tiny-${i}` }));
    }
    const best = { poolDirect: Infinity, natsDirect: Infinity, poolEngine: Infinity, natsEngine: Infinity };
    let batch = 0;
    const pool = createWorkerPool({ size: threads, name: "cpu" });
    const nats: NatsExecutor = await natsExecutor({ servers: server.url, maxBatch: 1024 });
    const spec = specOf(tasks.noop);
    const direct = async (ex: { run: typeof pool.run }) => {
      const t0 = performance.now();
      const all: Promise<unknown>[] = new Array(TINY);
      for (let i = 0; i < TINY; i++) {
        all[i] = ex.run(spec, { input: i, deps: {}, attempt: 1, taskId: `t${i}`, runId: `r${t0}` }, signal);
      }
      await Promise.all(all);
      return performance.now() - t0;
    };
    await direct(pool);
    await direct(nats); // warm: modules loaded, batch size learnt
    for (let t = 0; t < trials; t++) {
      best.poolDirect = Math.min(best.poolDirect, await direct(pool));
      best.natsDirect = Math.min(best.natsDirect, await direct(nats));
      batch = Math.max(batch, nats.batchSize);
    }
    await pool.close();
    const wf = defineWorkflow({
      name: "tiny",
      tasks: Array.from({ length: TINY }, (_, i) => ({ id: `t${i}`, run: tasks.noop, profile: "cpu" as const })),
    });
    const local = createEngine({ workers: { cpu: threads }, limits: { cpu: Infinity } });
    const remote = createEngine({ executors: { cpu: nats }, limits: { cpu: Infinity } });
    for (let t = 0; t < trials; t++) {
      let t0 = performance.now();
      let r = await local.run(wf);
      if (r.status !== "completed") throw new Error(`local ${r.status}`);
      best.poolEngine = Math.min(best.poolEngine, performance.now() - t0);
      t0 = performance.now();
      r = await remote.run(wf);
      if (r.status !== "completed") throw new Error(`remote ${r.status}`);
      best.natsEngine = Math.min(best.natsEngine, performance.now() - t0);
    }
    const published = nats.published;
    await local.close();
    await remote.close();
    const perS = (ms: number) => TINY / (ms / 1000);
    console.log(`### (a) ${fmt(TINY)} no-op tasks, all at once\n`);
    console.log("| path | executor | ms | tasks/s | × in-process pool |\n| --- | --- | ---: | ---: | ---: |");
    console.log(
      `| executor.run() alone | in-process pool (${threads} workers; baseline) | ${best.poolDirect.toFixed(0)} | ${
        fmt(perS(best.poolDirect))
      } | 1.00× |`,
    );
    console.log(
      `| executor.run() alone | NATS, 2 worker processes × ${threads} | ${best.natsDirect.toFixed(0)} | ${
        fmt(perS(best.natsDirect))
      } | ${ratio(perS(best.natsDirect), perS(best.poolDirect))} |`,
    );
    console.log(
      `| engine.run(), one wide workflow | in-process pool (baseline) | ${best.poolEngine.toFixed(0)} | ${
        fmt(perS(best.poolEngine))
      } | 1.00× |`,
    );
    console.log(
      `| engine.run(), one wide workflow | NATS, 2 worker processes × ${threads} | ${best.natsEngine.toFixed(0)} | ${
        fmt(perS(best.natsEngine))
      } | ${ratio(perS(best.natsEngine), perS(best.poolEngine))} |\n`,
    );
    console.log(
      `Tasks per message at the end: ${batch} (maxBatch 1,024); ${fmt(published)} task messages published in all.\n`,
    );
    summary.push(
      `${fmt(TINY)} tiny tasks through NATS with 2 worker processes: ${
        fmt(perS(best.natsDirect))
      } tasks/s through the executor, ` +
        `${fmt(perS(best.natsEngine))} tasks/s through the engine (${
          ratio(perS(best.natsEngine), perS(best.poolEngine))
        } the in-process pool's)`,
    );
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  }

  // ---- (b) CPU-bound -------------------------------------------------------------------------------
  if (wanted("b")) {
    const N = 64;
    for (let i = 0; i < 2; i++) {
      workers.push(await startWorker({ servers: server.url, concurrency: 1, name: `bench-cpu-${i}` }));
    }
    const nats = await natsExecutor({ servers: server.url });
    const local = createEngine({ workers: { cpu: threads }, limits: { cpu: threads } });
    const remote = createEngine({ executors: { cpu: nats }, limits: { cpu: 64 } });
    const wf = defineWorkflow({
      name: "cpu64",
      tasks: Array.from({ length: N }, (_, i) => ({ id: `s${i}`, run: tasks.spin, profile: "cpu" as const })),
    });
    await local.run(wf, { input: 1 });
    await remote.run(wf, { input: 1 });
    const best = { serial: Infinity, pool: Infinity, nats: Infinity };
    for (let t = 0; t < trials; t++) {
      let t0 = performance.now();
      for (let i = 0; i < N; i++) spin(rounds);
      best.serial = Math.min(best.serial, performance.now() - t0);
      t0 = performance.now();
      let r = await local.run(wf, { input: rounds });
      if (r.status !== "completed") throw new Error(`local ${r.status}`);
      best.pool = Math.min(best.pool, performance.now() - t0);
      t0 = performance.now();
      r = await remote.run(wf, { input: rounds });
      if (r.status !== "completed") throw new Error(`remote ${r.status}`);
      best.nats = Math.min(best.nats, performance.now() - t0);
    }
    await local.close();
    await remote.close();
    const sPool = best.serial / best.pool, sNats = best.serial / best.nats;
    console.log(`### (b) CPU-bound, ${N} tasks of ~50 ms\n`);
    console.log("| runner | ms | speedup vs serial |\n| --- | ---: | ---: |");
    console.log(`| serial inline (baseline) | ${best.serial.toFixed(0)} | 1.00× |`);
    console.log(`| in-process cpu pool, ${threads} workers | ${best.pool.toFixed(0)} | ${sPool.toFixed(2)}× |`);
    console.log(`| NATS, 2 worker processes × 1 worker | ${best.nats.toFixed(0)} | ${sNats.toFixed(2)}× |`);
    console.log(`\nNATS speedup / in-process pool speedup: ${(sNats / sPool * 100).toFixed(1)}%\n`);
    summary.push(
      `${N} × 50 ms CPU-bound tasks: 2 worker processes reach ${(sNats / sPool * 100).toFixed(1)}% of the in-process ` +
        `pool's speedup (${sNats.toFixed(2)}× vs ${sPool.toFixed(2)}× serial)`,
    );
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  }

  // ---- (c) latency ---------------------------------------------------------------------------------
  if (wanted("c")) {
    const N = 1000;
    workers.push(await startWorker({ servers: server.url, concurrency: 1, name: "bench-lat-0" }));
    workers.push(await startWorker({ servers: server.url, concurrency: 1, name: "bench-lat-1" }));
    const pool = createWorkerPool({ size: threads, name: "cpu" });
    const nats = await natsExecutor({ servers: server.url });
    const spec = specOf(tasks.noop);
    const times = { pool: [] as number[], nats: [] as number[] };
    for (let i = 0; i < N + 50; i++) {
      for (const [k, ex] of [["pool", pool], ["nats", nats]] as const) {
        const t0 = performance.now();
        await ex.run(spec, { input: i, deps: {}, attempt: 1, taskId: `l${i}`, runId: `lat-${k}` }, signal);
        if (i >= 50) times[k].push(performance.now() - t0); // the first 50 warm up
      }
    }
    await pool.close();
    await nats.close();
    const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))] * 1000;
    const p50 = { pool: q(times.pool, 0.5), nats: q(times.nats, 0.5) };
    const p99 = { pool: q(times.pool, 0.99), nats: q(times.nats, 0.99) };
    console.log(`### (c) single-task latency, one in flight, ${N} calls, warm (percentiles, not minima)\n`);
    console.log("| executor | p50 µs | p99 µs | p50 × pool | p99 × pool |\n| --- | ---: | ---: | ---: | ---: |");
    console.log(`| in-process pool (baseline) | ${p50.pool.toFixed(0)} | ${p99.pool.toFixed(0)} | 1.00× | 1.00× |`);
    console.log(
      `| NATS (publish, worker process, result) | ${p50.nats.toFixed(0)} | ${p99.nats.toFixed(0)} | ${
        ratio(p50.nats, p50.pool)
      } | ${ratio(p99.nats, p99.pool)} |\n`,
    );
    summary.push(
      `one task at a time through NATS: p50 ${p50.nats.toFixed(0)} µs, p99 ${p99.nats.toFixed(0)} µs ` +
        `(${ratio(p50.nats, p50.pool)} / ${ratio(p99.nats, p99.pool)} the in-process pool's)`,
    );
  }
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  await server.stop();
}
console.log(`Load average at the end: ${Deno.loadavg().join(", ")}\n`);
for (const line of summary) console.log(`summary: ${line}`);
