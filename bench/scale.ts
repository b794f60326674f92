// Scale (issue 7): 1,000,000-task workflows (wide, chain, layered) in one process, per-task
// overhead against the same shape at 10,000 tasks, and memory per task: retained at the end of the
// run (engine, log and result alive) and after dropping the result and the engine but keeping the log.
// Usage: deno run --allow-read --allow-env --v8-flags=--expose-gc,--max-old-space-size=16384 bench/scale.ts
//          [--sizes 10000,1000000] [--shapes wide,chain,layered]
import { createEngine, defineWorkflow, type TaskDef } from "../mod.ts";
import { makeDag, type Shape } from "./_dags.ts";

const argOf = (name: string, fallback: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
};
const sizes = argOf("sizes", "10000,1000000").split(",").map(Number);
const shapes = argOf("shapes", "wide,chain,layered").split(",") as Shape[];
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const heap = () => {
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
};
const noop = () => undefined;

console.log(`Deno ${Deno.version.deno}; ${navigator.hardwareConcurrency} threads`);
console.log(
  "| shape | tasks | run µs/task | vs 10k | retained B/task: run end | log only | peak RSS MB |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
);
const base: Record<string, number> = {};
for (const shape of shapes) {
  for (const n of sizes) {
    const dag = makeDag(shape, n);
    const defs: TaskDef[] = new Array(n);
    for (let i = 0; i < n; i++) defs[i] = { id: `t${i}`, dependsOn: dag.deps[i].map((d) => `t${d}`), run: noop };
    const workflow = defineWorkflow({ name: `${shape}-${n}`, tasks: defs });
    // Small sizes: best of 3 (the first run pays for JIT warm-up); 1M: one run.
    let ms = Infinity;
    let atEnd = 0;
    let logOnly = 0;
    let rss = 0;
    for (let trial = 0; trial < (n <= 100_000 ? 3 : 1); trial++) {
      const before = heap();
      const engine = createEngine({ workers: false });
      const t0 = performance.now();
      let result: Awaited<ReturnType<typeof engine.run>> | undefined = await engine.run(workflow);
      ms = Math.min(ms, performance.now() - t0);
      if (result.status !== "completed") throw new Error(`${shape} ${n}: ${result.status}`);
      rss = Math.max(rss, Deno.memoryUsage().rss);
      atEnd = heap() - before;
      result = undefined;
      const log = engine.log;
      await engine.close();
      logOnly = heap() - before;
      if (log.state().size !== 3 + 4 * n) throw new Error("the log lost events");
    }
    const us = (ms * 1000) / n;
    if (n === Math.min(...sizes)) base[shape] = us;
    console.log(
      `| ${shape} | ${n.toLocaleString("en-US")} | ${us.toFixed(2)} | ${(us / base[shape]).toFixed(2)}× | ${
        (atEnd / n).toFixed(0)
      } | ${(logOnly / n).toFixed(0)} | ${(rss / 2 ** 20).toFixed(0)} |`,
    );
  }
}
