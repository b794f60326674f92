// Dispatch throughput of one warm pool, round after round: 100,000 no-op
// worker tasks per round through `pool.run` (section (b) of workers_compare.ts, repeated).
// Usage: deno run --allow-read --allow-env bench/pool_throughput.ts [--rounds 5]
import { createWorkerPool } from "../mod.ts";
import type { TaskSpec } from "../extend.ts";
import { tasks } from "./_tasks.ts";

const rounds = Number(Deno.args[Deno.args.indexOf("--rounds") + 1] || 5);
const pool = createWorkerPool({ size: navigator.hardwareConcurrency, name: "bench" });
await pool.warm();
const spec = { id: "noop", run: tasks.noop, profile: "cpu" } as unknown as TaskSpec;
const signal = new AbortController().signal;
const N = 100_000;
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  const calls: Promise<unknown>[] = new Array(N);
  for (let i = 0; i < N; i++) {
    calls[i] = pool.run(spec, { input: undefined, deps: {}, attempt: 1, taskId: "noop", runId: "bench" }, signal);
  }
  await Promise.all(calls);
  const ms = performance.now() - t0;
  console.log(
    `round ${r + 1}: ${ms.toFixed(0)} ms, ${
      Math.round((N / ms) * 1000).toLocaleString("en-US")
    } tasks/s, batch size ${pool.batchSize}`,
  );
}
await pool.close();
