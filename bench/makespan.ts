// Scheduling quality (issue 7): makespan of a seeded random DAG with long-tailed task durations,
// simulated on the virtual clock (deterministic), divided by the lower bound
// max(critical path, total work / workers). Compared side by side:
//   - critical-path first, ranks weighted by each task's cost (its duration estimate)
//   - critical-path first by task count (no estimates)
//   - FIFO ready order
//   - level by level (each level waits for the previous one: the original plan)
// Then a mixed io/cpu workload under a concurrency limit: critical-path vs FIFO vs io-first (skip: --no-mixed).
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

// Deterministic (virtual time): one run per cell, no minimum needed.
const labels = [
  "critical-path first, cost-weighted ranks",
  "critical-path first, ranks by task count",
  "FIFO ready order",
  "level by level (barrier per level)",
];
const cells: string[][] = labels.map(() => []);
const bounds: string[] = [];
const summary: string[] = [];
console.log(
  `${n} tasks, seed ${seed}, one run per cell (deterministic): total work ${total} ms, critical path ${criticalPath} ms (virtual time; task durations ` +
    `Pareto(α = 1.5), 1..400 ms; each task depends on up to 3 of the 60 before it)\n`,
);
for (const w of workersList) {
  workers = w;
  const lowerBound = Math.max(criticalPath, total / workers);
  const t0 = performance.now();
  const makespans = [
    await simulate("critical-path", true),
    await simulate("critical-path", false),
    await simulate("fifo", false),
    await levelByLevel(),
  ];
  console.log(
    `- ${workers} workers: lower bound max(${criticalPath}, ${total} / ${workers}) = ${lowerBound.toFixed(0)} ms; ` +
      `simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  bounds.push(`${lowerBound.toFixed(0)} (1.000)`);
  makespans.forEach((ms, k) => cells[k].push(`${ms} (${(ms / lowerBound).toFixed(3)})`));
  summary.push(
    `${workers} workers ${(makespans[0] / lowerBound).toFixed(3)} (FIFO ${(makespans[2] / lowerBound).toFixed(3)}, ` +
      `level by level ${(makespans[3] / lowerBound).toFixed(3)})`,
  );
}
console.log("\nmakespan ms (makespan / lower bound)\n");
console.log(`| schedule | ${workersList.map((w) => `${w} workers`).join(" | ")} |`);
console.log(`| --- | ${workersList.map(() => "---:").join(" | ")} |`);
console.log(`| lower bound max(critical path, work / workers) | ${bounds.join(" | ")} |`);
labels.forEach((label, k) => console.log(`| ${label} | ${cells[k].join(" | ")} |`));
console.log(`\nsummary: makespan / lower bound, critical-path first with costs: ${summary.join("; ")}`);

// Ordering by workload (issue 12): a mixed workload on the same DAG shape, each task io (40%: waits
// 20..400 ms, Pareto) or cpu (60%: 1..40 ms), with no duration estimates; `cpu` slots 4, `io` slots 16,
// `--mix-concurrency` (default 8) tasks at once in all. Orderings: critical-path (ranks by task count), FIFO, io-first.
if (!Deno.args.includes("--no-mixed")) {
  const mixConcurrency = arg("mix-concurrency", 8);
  const mixRnd = prng(seed + 1);
  const io = dur.map(() => mixRnd() < 0.4);
  const mixDur = dur.map((_, i) =>
    io[i]
      ? Math.min(400, Math.max(20, Math.round(20 / Math.pow(1 - mixRnd(), 1 / 1.5))))
      : 1 + Math.floor(mixRnd() * 40)
  );
  const mixedTasks = (): TaskDef[] =>
    dur.map((_, i) => ({
      id: `t${i}`,
      dependsOn: deps[i].map((d) => `t${d}`),
      profile: io[i] ? "io" : "cpu",
      run: ({ input }) => {
        const clock = input as ReturnType<typeof createVirtualClock>;
        return new Promise<void>((resolve) => clock.setTimeout(resolve, mixDur[i]));
      },
    }));
  const mixed = async (ordering: "critical-path" | "fifo" | "io-first"): Promise<number> => {
    const clock = createVirtualClock();
    const engine = createEngine({
      clock,
      ordering,
      limits: { cpu: 4, io: 16 },
      concurrency: mixConcurrency,
      workers: false,
    });
    const result = await clock.runUntil(
      engine.run(defineWorkflow({ name: "mixed", tasks: mixedTasks() }), { input: clock }),
    );
    if (result.status !== "completed") throw new Error(`mixed run ${result.status}`);
    await engine.close();
    return clock.now();
  };
  const cp = await mixed("critical-path");
  const ff = await mixed("fifo");
  const iof = await mixed("io-first");
  const ioWork = mixDur.reduce((a, d, i) => a + (io[i] ? d : 0), 0);
  const cpuWork = mixDur.reduce((a, d, i) => a + (io[i] ? 0 : d), 0);
  console.log(
    `\nMixed workload: ${io.filter(Boolean).length} io tasks (${ioWork} ms of waiting), ` +
      `${io.filter((x) => !x).length} cpu tasks (${cpuWork} ms); cpu 4 slots, io 16, concurrency ${mixConcurrency}; ` +
      "no duration estimates; one run each (virtual time)\n",
  );
  console.log("| ordering | makespan ms | vs critical-path |");
  console.log("| --- | ---: | ---: |");
  for (const [label, ms] of [["critical-path", cp], ["FIFO", ff], ["io-first", iof]] as const) {
    console.log(`| ${label} | ${ms} | ${(ms / cp).toFixed(3)} |`);
  }
  console.log(
    `\nsummary: mixed workload makespan, io-first / critical-path ${(iof / cp).toFixed(3)}, FIFO ${
      (ff / cp).toFixed(3)
    }`,
  );
}
