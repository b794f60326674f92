// A map over N items spawned at run time (ctx.spawn + mapTasks: N items and a
// fan-in) against the same shape declared up front (a root, N static tasks
// depending on it, a fan-in), in one process. Both have N + 2 tasks, no-op bodies.
// Each figure is the minimum of `--trials` runs, definition to final state.
// Second table: N map items that each spawn one follow-up (N + 1 spawn() calls) against the
// same shape declared up front (root, N items, N follow-ups each depending on its item).
// Third: the spawning shape at growing sizes (one run each), to show its time is linear in its size.
// Usage: deno run --allow-env --allow-read bench/dynamic_compare.ts [--sizes 1000,10000] [--trials 5]
//   [--spawning 500,4000] [--linear 10000,100000]
//   or one run in a fresh process: --one dynamic|static --items 100000
import process from "node:process";
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

// Each item spawns one follow-up that depends on it: one spawn() call per item.
async function staticFollowRun(n: number): Promise<number> {
  const t0 = performance.now();
  const tasks: TaskDef[] = [{ id: "root", run: noop }];
  for (let k = 0; k < n; k++) {
    tasks.push({ id: `item/${k}`, dependsOn: ["root"], run: noop });
    tasks.push({ id: `next/${k}`, dependsOn: [`item/${k}`], run: noop });
  }
  const engine = createEngine({ concurrency: 16 });
  const result = await engine.run(defineWorkflow({ name: "static-follow", tasks }));
  const ms = performance.now() - t0;
  if (result.status !== "completed" || Object.keys(result.tasks).length !== 2 * n + 1) {
    throw new Error("static follow-up run failed");
  }
  await engine.close();
  return ms;
}

async function dynamicFollowRun(n: number): Promise<number> {
  const t0 = performance.now();
  const items = Array.from({ length: n }, (_, k) => k);
  const wf = defineWorkflow({
    name: "dynamic-follow",
    tasks: [{
      id: "root",
      run: (ctx) =>
        void ctx.spawn(mapTasks("item", items, (k, c) => {
          c.spawn([{ id: `next/${k}`, dependsOn: [c.taskId], run: noop }]);
        }, { join: noop })),
    }],
  });
  const engine = createEngine({ concurrency: 16 });
  const result = await engine.run(wf);
  const ms = performance.now() - t0;
  if (result.status !== "completed" || Object.keys(result.tasks).length !== 2 * n + 2) {
    throw new Error(`dynamic follow-up run ${result.status}`);
  }
  await engine.close();
  return ms;
}

// One run in this (fresh) process, CPU time of the run only: `--one dynamic|static --items N`.
if (args.one !== undefined) {
  const n = Number(args.items ?? 10000);
  const c0 = process.cpuUsage();
  await (args.one === "dynamic" ? dynamicFollowRun(n) : staticFollowRun(n));
  const c = process.cpuUsage(c0);
  console.log(
    `${args.one} ${n} items (one spawn per item): ${((c.user + c.system) / (2 * n + 2)).toFixed(1)} CPU µs/task`,
  );
  Deno.exit(0);
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

const spawning = (args.spawning ?? "500,4000").split(",").map(Number);
console.log("\nEach item spawns one follow-up (one spawn() call per item), against the same shape declared up front\n");
console.log("| items | tasks | static µs/task | dynamic (a spawn per item) µs/task | dynamic / static |");
console.log("| --- | --- | ---: | ---: | ---: |");
const summary2: string[] = [];
for (const n of spawning) {
  let s = Infinity;
  let d = Infinity;
  for (let t = 0; t < trials; t++) {
    s = Math.min(s, await staticFollowRun(n));
    d = Math.min(d, await dynamicFollowRun(n));
  }
  const per = (ms: number) => ((ms * 1000) / (2 * n + 2)).toFixed(1);
  console.log(`| ${n} | ${2 * n + 2} | ${per(s)} | ${per(d)} | ${(d / s).toFixed(2)}× |`);
  summary2.push(`${n} items ${(d / s).toFixed(2)}× static`);
}
const linear = (args.linear ?? "10000,100000").split(",").map(Number);
console.log(
  "\nThe spawning shape at growing sizes, one run each, against the static shape of the same size: time per task, " +
    "wall clock and CPU (user + system, less disturbed by other processes on a shared machine); flat = linear\n",
);
console.log(
  "| items | spawn() calls | dynamic ms | dynamic µs/task | dynamic CPU µs/task | static CPU µs/task | dynamic / static (CPU) | dynamic CPU µs/task vs the smallest |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
let first = 0;
const summary3: string[] = [];
for (const n of linear) {
  const c0 = process.cpuUsage();
  const ms = await dynamicFollowRun(n);
  const c1 = process.cpuUsage(c0);
  const c2 = process.cpuUsage();
  await staticFollowRun(n);
  const c3 = process.cpuUsage(c2);
  const tasks = 2 * n + 2;
  const cpu = (c1.user + c1.system) / tasks;
  const cpuStatic = (c3.user + c3.system) / tasks;
  if (first === 0) first = cpu;
  console.log(
    `| ${n} | ${n + 1} | ${ms.toFixed(0)} | ${((ms * 1000) / tasks).toFixed(1)} | ${cpu.toFixed(1)} | ` +
      `${cpuStatic.toFixed(1)} | ${(cpu / cpuStatic).toFixed(2)}× | ${(cpu / first).toFixed(2)}× |`,
  );
  summary3.push(
    `${n} items ${cpu.toFixed(1)} CPU µs/task (${(cpu / first).toFixed(2)}×, ${(cpu / cpuStatic).toFixed(2)}× static)`,
  );
}
console.log(`summary: a spawn per item: ${summary2.join(", ")}; growing: ${summary3.join(", ")}`);
