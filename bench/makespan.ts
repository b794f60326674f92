// Scheduling quality (issue 7): makespan of a seeded random DAG with long-tailed task durations,
// simulated on the virtual clock (deterministic), divided by the lower bound
// max(critical path, total work / workers). Compared side by side:
//   - critical-path first, ranks weighted by each task's cost (its duration estimate)
//   - critical-path first by task count (no estimates)
//   - FIFO ready order
//   - level by level (each level waits for the previous one: the original plan)
// Usage: deno run --allow-read --allow-env bench/makespan.ts [--tasks 2000] [--workers 4,8,14] [--seed 7]
import { createEngine, createVirtualClock, defineWorkflow, type TaskDef } from "../mod.ts";
import { prng } from "./_dags.ts";

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const n = arg("tasks", 2000);
const seed = arg("seed", 7);
const workersList = (Deno.args.includes("--workers") ? Deno.args[Deno.args.indexOf("--workers") + 1] : "4,8,14")
  .split(",").map(Number);
let workers = workersList[0];

// A random DAG: task i depends on up to 3 tasks among the 60 before it; durations Pareto(α = 1.5), 1..400 ms.
const rnd = prng(seed);
const deps: number[][] = [];
const dur: number[] = [];
for (let i = 0; i < n; i++) {
  const d = new Set<number>();
  const k = i === 0 ? 0 : Math.floor(rnd() * 4);
  for (let j = 0; j < k; j++) d.add(Math.max(0, i - 1 - Math.floor(rnd() * 60)));
  deps.push([...d]);
  dur.push(Math.min(400, Math.max(1, Math.round(5 / Math.pow(1 - rnd(), 1 / 1.5)))));
}
const total = dur.reduce((a, b) => a + b, 0);
const finish = new Array<number>(n).fill(0);
for (let i = 0; i < n; i++) finish[i] = dur[i] + Math.max(0, ...deps[i].map((d) => finish[d]));
const criticalPath = Math.max(...finish);

function tasksFor(withCost: boolean, subset?: number[]): TaskDef[] {
  const ids = subset ?? dur.map((_, i) => i);
  const inSubset = new Set(ids);
  return ids.map((i) => ({
    id: `t${i}`,
    dependsOn: deps[i].filter((d) => inSubset.has(d)).map((d) => `t${d}`),
    cost: withCost ? dur[i] : undefined,
    run: ({ input }) => {
      const clock = input as ReturnType<typeof createVirtualClock>;
      return new Promise<void>((resolve) => clock.setTimeout(resolve, dur[i]));
    },
  }));
}

async function simulate(ordering: "critical-path" | "fifo", withCost: boolean): Promise<number> {
  const clock = createVirtualClock();
  const engine = createEngine({ clock, ordering, limits: { io: workers }, workers: false });
  const result = await clock.runUntil(engine.run(defineWorkflow({ name: "makespan", tasks: tasksFor(withCost) }), {
    input: clock,
  }));
  if (result.status !== "completed") throw new Error(`run ${result.status}`);
  await engine.close();
  return clock.now();
}

async function levelByLevel(): Promise<number> {
  const level = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) level[i] = deps[i].length === 0 ? 0 : 1 + Math.max(...deps[i].map((d) => level[d]));
  const levels: number[][] = [];
  for (let i = 0; i < n; i++) (levels[level[i]] ??= []).push(i);
  const clock = createVirtualClock();
  const engine = createEngine({ clock, limits: { io: workers }, workers: false });
  for (const ids of levels) {
    const r = await clock.runUntil(engine.run(defineWorkflow({ name: "level", tasks: tasksFor(true, ids) }), {
      input: clock,
    }));
    if (r.status !== "completed") throw new Error(`level run ${r.status}`);
  }
  await engine.close();
  return clock.now();
}

for (const w of workersList) {
  workers = w;
  const lowerBound = Math.max(criticalPath, total / workers);
  const t0 = performance.now();
  const rows: [string, number][] = [
    ["critical-path first, cost-weighted ranks", await simulate("critical-path", true)],
    ["critical-path first, ranks by task count", await simulate("critical-path", false)],
    ["FIFO ready order", await simulate("fifo", false)],
    ["level by level (barrier per level)", await levelByLevel()],
  ];
  console.log(
    `\n${n} tasks, ${workers} workers, seed ${seed}: total work ${total} ms, critical path ${criticalPath} ms, ` +
      `lower bound ${lowerBound.toFixed(0)} ms (virtual time; simulated in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s)`,
  );
  console.log("| schedule | makespan ms | makespan / lower bound |\n| --- | ---: | ---: |");
  for (const [label, ms] of rows) console.log(`| ${label} | ${ms} | ${(ms / lowerBound).toFixed(3)} |`);
}
