// Engine overhead per no-op task, side by side in one process:
//   - kahn:    a hand-written Kahn scheduler calling each no-op synchronously (the floor)
//   - p-graph: the npm promise-DAG runner, concurrency as ours
//   - nerv-flow: defineWorkflow + engine.run with actors, events and the log on
// and then nerv-flow's two ways of defining the same DAG: the object form (`defineWorkflow`) against the typed builder
// (`flow().task(...)...build()`), definition to final state, taken in turns (zero runtime cost means a ratio near 1).
// Each figure is the minimum of `--trials` runs, creation to final state; the ratios are to kahn and p-graph
// measured in the same run.
// Usage: deno run --allow-env --allow-read bench/dag_compare.ts [--sizes 1000,10000,100000] [--trials 3] [--shapes wide,chain,layered]
//   [--only kahn|p-graph|nerv|typed]
import { cpuUsage } from "node:process";
import { PGraph } from "npm:p-graph@^2.0.0";
import { createEngine, defineWorkflow, flow, type FlowBuilder, type TaskDef, type Workflow } from "../mod.ts";
import type { TaskResults } from "../extend.ts";
import { type Dag, makeDag, type Shape } from "./_dags.ts";

const args = parseArgs(Deno.args);
const sizes = (args.sizes ?? "1000,10000,100000").split(",").map(Number);
const shapes = (args.shapes ?? "wide,chain,layered").split(",") as Shape[];
const trials = Number(args.trials ?? 3);
const concurrency = Number(args.concurrency ?? 16);
const only = args.only; // "nerv" to profile the engine alone
const noop = () => undefined;

function kahn(dag: Dag): number {
  const n = dag.n;
  const t0 = performance.now();
  const indeg = new Int32Array(n);
  const out: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    for (const d of dag.deps[i]) {
      out[d].push(i);
      indeg[i]++;
    }
  }
  const queue = new Int32Array(n);
  let tail = 0;
  for (let i = 0; i < n; i++) if (indeg[i] === 0) queue[tail++] = i;
  for (let head = 0; head < tail; head++) {
    const i = queue[head];
    noop();
    for (const d of out[i]) if (--indeg[d] === 0) queue[tail++] = d;
  }
  if (tail !== n) throw new Error("kahn: not all tasks ran");
  return performance.now() - t0;
}

async function pgraph(dag: Dag): Promise<number> {
  const t0 = performance.now();
  const nodes = new Map<string, { run: () => Promise<void> }>();
  const edges: [string, string][] = [];
  let ran = 0;
  for (let i = 0; i < dag.n; i++) {
    nodes.set(`t${i}`, {
      run: () => {
        ran++;
        return Promise.resolve();
      },
    });
    for (const d of dag.deps[i]) edges.push([`t${d}`, `t${i}`]);
  }
  await new PGraph(nodes, edges).run(Number.isFinite(concurrency) ? { concurrency } : {});
  if (ran !== dag.n) throw new Error("p-graph: not all tasks ran");
  return performance.now() - t0;
}

async function nerv(dag: Dag): Promise<number> {
  const t0 = performance.now();
  const tasks: TaskDef[] = new Array(dag.n);
  for (let i = 0; i < dag.n; i++) tasks[i] = { id: `t${i}`, dependsOn: dag.deps[i].map((d) => `t${d}`), run: noop };
  const workflow = defineWorkflow({ name: `${dag.shape}-${dag.n}`, tasks });
  const engine = createEngine({ limits: { io: concurrency } });
  const result = await engine.run(workflow);
  const dt = performance.now() - t0;
  if (result.status !== "completed") throw new Error(`nerv-flow: run ${result.status}`);
  if (engine.log.state().size !== 3 + 4 * dag.n) throw new Error("nerv-flow: the log lacks events");
  await engine.close();
  return dt;
}

/**
 * The same DAG as nerv(), in the object form or with the typed builder; definition to final state: wall time and
 * this process's CPU time (user + system; steadier than wall time on a machine others load), in ms.
 */
async function nervForm(dag: Dag, typed: boolean): Promise<{ wall: number; cpu: number }> {
  const c0 = cpuUsage();
  const t0 = performance.now();
  const name = `${dag.shape}-${dag.n}`;
  let workflow: Workflow;
  if (typed) {
    // Ids computed at run time: the builder is typed loosely here (a static workflow gets every id's type).
    let builder: FlowBuilder<unknown, TaskResults, string> = flow(name);
    for (let i = 0; i < dag.n; i++) {
      builder = builder.task(`t${i}`, { dependsOn: dag.deps[i].map((d) => `t${d}`), run: noop });
    }
    workflow = builder.build();
  } else {
    const tasks: TaskDef[] = new Array(dag.n);
    for (let i = 0; i < dag.n; i++) tasks[i] = { id: `t${i}`, dependsOn: dag.deps[i].map((d) => `t${d}`), run: noop };
    workflow = defineWorkflow({ name, tasks });
  }
  const engine = createEngine({ limits: { io: concurrency } });
  const result = await engine.run(workflow);
  const wall = performance.now() - t0;
  const c = cpuUsage(c0);
  if (result.status !== "completed") {
    throw new Error(`nerv-flow (${typed ? "typed" : "object form"}): run ${result.status}`);
  }
  if (engine.log.state().size !== 3 + 4 * dag.n) throw new Error("nerv-flow: the log lacks events");
  await engine.close();
  return { wall, cpu: (c.user + c.system) / 1000 };
}

console.log(
  `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${navigator.hardwareConcurrency} threads; min of ${trials} runs; ` +
    `p-graph and nerv-flow at concurrency ${concurrency}`,
);
console.log(
  "\n| shape | tasks | kahn (floor) µs/task | p-graph µs/task | nerv-flow µs/task | p-graph × kahn | nerv-flow × kahn | nerv-flow × p-graph |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
const summary = new Map<number, { nerv: number[]; vsPgraph: number[] }>();
for (const n of sizes) {
  for (const shape of shapes) {
    const dag = makeDag(shape, n);
    const best = { kahn: Infinity, pgraph: Infinity, nerv: Infinity };
    for (let t = 0; t < trials; t++) {
      if (only === undefined || only === "kahn") best.kahn = Math.min(best.kahn, kahn(dag));
      if (only === undefined || only === "p-graph") best.pgraph = Math.min(best.pgraph, await pgraph(dag));
      if (only === undefined || only === "nerv") best.nerv = Math.min(best.nerv, await nerv(dag));
    }
    const us = (ms: number) => Number.isFinite(ms) ? ((ms * 1000) / n).toFixed(2) : "—";
    const x = (a: number, b: number) => Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}×` : "—";
    console.log(
      `| ${shape} | ${n} | ${us(best.kahn)} | ${us(best.pgraph)} | ${us(best.nerv)} | ${x(best.pgraph, best.kahn)} | ${
        x(best.nerv, best.kahn)
      } | ${x(best.nerv, best.pgraph)} |`,
    );
    const s = summary.get(n) ?? { nerv: [], vsPgraph: [] };
    s.nerv.push((best.nerv * 1000) / n);
    s.vsPgraph.push(best.nerv / best.pgraph);
    summary.set(n, s);
  }
}
if (only === undefined || only === "typed") {
  console.log(
    "\n| shape | tasks | object form µs/task (CPU) | `flow()` µs/task (CPU) | `flow()` × object form (CPU) | " +
      "object form µs/task (wall) | `flow()` µs/task (wall) | `flow()` × object form (wall) |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const ratios: number[] = [];
  for (const n of sizes) {
    for (const shape of shapes) {
      const dag = makeDag(shape, n);
      await nervForm(dag, false); // Warm-up (JIT) of both forms.
      await nervForm(dag, true);
      const best = { object: { wall: Infinity, cpu: Infinity }, typed: { wall: Infinity, cpu: Infinity } };
      for (let t = 0; t < trials; t++) {
        // In turns, the first one alternating, so that drift favours neither.
        for (const typed of t % 2 === 0 ? [false, true] : [true, false]) {
          const { wall, cpu } = await nervForm(dag, typed);
          const b = typed ? best.typed : best.object;
          b.wall = Math.min(b.wall, wall);
          b.cpu = Math.min(b.cpu, cpu);
        }
      }
      const us = (ms: number) => (ms * 1000 / n).toFixed(2);
      const ratio = best.typed.cpu / best.object.cpu;
      ratios.push(ratio);
      console.log(
        `| ${shape} | ${n} | ${us(best.object.cpu)} | ${us(best.typed.cpu)} | ${ratio.toFixed(3)}× | ${
          us(best.object.wall)
        } | ${us(best.typed.wall)} | ${(best.typed.wall / best.object.wall).toFixed(3)}× |`,
      );
    }
  }
  console.log(
    `\nsummary: typed workflows (\`flow()\`) against the object form, same DAGs: ${Math.min(...ratios).toFixed(3)}–${
      Math.max(...ratios).toFixed(3)
    }× the CPU time, definition to final state`,
  );
}
if (only === undefined) {
  const range = (xs: number[], digits: number) =>
    `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
  console.log("");
  for (const [n, s] of summary) {
    console.log(
      `summary: ${n.toLocaleString("en-US")} no-op tasks (${shapes.join(", ")}): nerv-flow ${
        range(s.nerv, 2)
      } µs/task, ${range(s.vsPgraph, 2)}× p-graph`,
    );
  }
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[i + 1] ?? "";
  }
  return out;
}
