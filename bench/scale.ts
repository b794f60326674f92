// Scale (issue 7): 1,000,000-task workflows (wide, chain, layered) in one process, per-task
// overhead against the same shape at 10,000 tasks, and memory per task: retained at the end of the
// run (engine, log and result alive) and after dropping the result and the engine but keeping the log.
// Usage: deno run --allow-read --allow-env --v8-flags=--expose-gc,--max-old-space-size=16384 bench/scale.ts
//          [--sizes 10000,1000000] [--shapes wide,chain,layered]
// (`deno task bench:scale` runs it as is, with the 1,000,000-task runs; `deno task bench` runs it with
// --sizes 10000,100000, and with 1,000,000 too when given --scale.)
import { createEngine, defineWorkflow, type Engine, type RunResult, type TaskDef } from "../mod.ts";
import type { SnapshotLog } from "../extend.ts";
import { makeDag, type Shape } from "./_dags.ts";

const argOf = (name: string, fallback: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
};
const sizes = argOf("sizes", "10000,1000000").split(",").map(Number);
const shapes = argOf("shapes", "wide,chain,layered").split(",") as Shape[];
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const heap = async () => {
  // Let timers and callbacks the last run left behind fire first, so that what they hold is released.
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
};
const noop = () => undefined;

const smallest = Math.min(...sizes);
const label = smallest.toLocaleString("en-US");
console.log(
  `Deno ${Deno.version.deno}; ${navigator.hardwareConcurrency} threads; up to 100,000 tasks min of 3 runs, ` +
    `above one run; × = vs the same shape at ${label} tasks, same run\n`,
);
console.log(
  `| shape | tasks | run µs/task | retained B/task at run end | B/task with only the log kept | peak RSS MB (process) |`,
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
const base: Record<string, { us: number; atEnd: number; logOnly: number; rss: number }> = {};
const summary: string[] = [];
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
      // Everything of a trial is dropped by hand at its end: locals of an async function outlive their
      // block (they sit in its context across awaits), and one trial's engine would otherwise count in
      // the next trial's baseline.
      const before = await heap();
      let engine: Engine | undefined = createEngine({ workers: false });
      const t0 = performance.now();
      let result: RunResult | undefined = await engine.run(workflow);
      ms = Math.min(ms, performance.now() - t0);
      if (result.status !== "completed") throw new Error(`${shape} ${n}: ${result.status}`);
      rss = Math.max(rss, Deno.memoryUsage().rss);
      atEnd = (await heap()) - before;
      result = undefined;
      let log: SnapshotLog | undefined = engine.log;
      await engine.close();
      engine = undefined;
      logOnly = (await heap()) - before;
      if (log.state().size !== 3 + 4 * n) throw new Error("the log lost events");
      log = undefined;
    }
    const us = (ms * 1000) / n;
    const row = { us, atEnd: atEnd / n, logOnly: logOnly / n, rss: rss / 2 ** 20 };
    if (n === smallest) base[shape] = row;
    const b = base[shape];
    const x = (v: number, bv: number) => b === undefined ? "" : ` (${(v / bv).toFixed(2)}×)`;
    console.log(
      `| ${shape} | ${n.toLocaleString("en-US")} | ${us.toFixed(2)}${x(us, b?.us)} | ${row.atEnd.toFixed(0)}${
        x(row.atEnd, b?.atEnd)
      } | ${row.logOnly.toFixed(0)}${x(row.logOnly, b?.logOnly)} | ${row.rss.toFixed(0)}${x(row.rss, b?.rss)} |`,
    );
    if (n === Math.max(...sizes) && n !== smallest) {
      summary.push(`${shape} ${(us / b.us).toFixed(2)}× (${us.toFixed(2)} µs/task, ${row.atEnd.toFixed(0)} B/task)`);
    }
  }
}
if (summary.length > 0) {
  console.log(
    `\nsummary: per-task overhead at ${Math.max(...sizes).toLocaleString("en-US")} tasks vs ${label}: ${
      summary.join(", ")
    }`,
  );
}
