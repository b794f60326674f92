// A map over N items spawned at run time (ctx.spawn + mapTasks: N items and a
// fan-in) against the same shape declared up front (a root, N static tasks
// depending on it, a fan-in), in one process. Both have N + 2 tasks, no-op bodies.
// Each figure is the minimum of `--trials` runs, definition to final state.
// Usage: deno run --allow-env --allow-read bench/dynamic_compare.ts [--sizes 1000,10000] [--trials 5]
import { createEngine, defineWorkflow, mapTasks, type TaskDef } from "../mod.ts";

const args: Record<string, string> = {};
for (let i = 0; i < Deno.args.length; i += 2) args[Deno.args[i].replace(/^--/, "")] = Deno.args[i + 1];
const sizes = (args.sizes ?? "1000,10000").split(",").map(Number);
const trials = Number(args.trials ?? 5);
const noop = () => undefined;

async function staticRun(n: number): Promise<number> {
  const t0 = performance.now();
  const tasks: TaskDef[] = [{ id: "root", run: noop }];
  const ids: string[] = [];
  for (let k = 0; k < n; k++) {
    ids.push(`item/${k}`);
    tasks.push({ id: `item/${k}`, dependsOn: ["root"], run: noop });
  }
  tasks.push({ id: "item", dependsOn: ids, run: noop });
  const engine = createEngine({ concurrency: 16 });
  const result = await engine.run(defineWorkflow({ name: "static", tasks }));
  const ms = performance.now() - t0;
  if (result.status !== "completed" || Object.keys(result.tasks).length !== n + 2) throw new Error("static run failed");
  await engine.close();
  return ms;
}

async function dynamicRun(n: number): Promise<number> {
  const t0 = performance.now();
  const items = Array.from({ length: n }, (_, k) => k);
  const wf = defineWorkflow({
    name: "dynamic",
    tasks: [{ id: "root", run: (ctx) => void ctx.spawn(mapTasks("item", items, noop, { join: noop })) }],
  });
  const engine = createEngine({ concurrency: 16 });
  const result = await engine.run(wf);
  const ms = performance.now() - t0;
  if (result.status !== "completed" || Object.keys(result.tasks).length !== n + 2) {
    throw new Error("dynamic run failed");
  }
  await engine.close();
  return ms;
}

console.log(`Deno ${Deno.version.deno}; min of ${trials} runs; × = vs the static run of the same size, same run\n`);
console.log("| tasks | static µs/task | dynamic (spawned map) µs/task | dynamic / static |");
console.log("| --- | ---: | ---: | ---: |");
const summary: string[] = [];
for (const n of sizes) {
  let s = Infinity;
  let d = Infinity;
  for (let t = 0; t < trials; t++) {
    s = Math.min(s, await staticRun(n));
    d = Math.min(d, await dynamicRun(n));
  }
  const per = (ms: number) => ((ms * 1000) / (n + 2)).toFixed(1);
  console.log(`| ${n + 2} | ${per(s)} | ${per(d)} | ${(d / s).toFixed(2)}× |`);
  summary.push(`${n + 2} tasks ${per(d)} µs/task (${(d / s).toFixed(2)}× static)`);
}
console.log(`\nsummary: a spawned map (ctx.spawn + mapTasks): ${summary.join(", ")}`);
