// Small workflows on one long-lived engine: a 5-task diamond (root → 3 → sink) and a 20-task fan-out (root → 18
// → sink), no-op bodies, run one after another on one `createEngine({ workers: false, ...retention })` with actors, events and
// the log on (the engine's defaults otherwise), against p-graph running the same graph in the same process.
// Reports µs per run (mean over the timed runs, after a warm-up) and the latency of single runs (p50, p99),
// the p-graph figure being the baseline of the ratios, and the same latencies of fixed synchronous work as long as
// nerv-flow's p50 (the tail the machine itself adds at that duration). Then the heap-state sensitivity of a 10,000-task run:
// after a forced GC and a short pause vs back to back, for nerv-flow and p-graph.
// Usage: deno run --allow-read --allow-env --allow-run --v8-flags=--expose-gc bench/small_runs.ts [--runs 20000] [--trials 3]
//        [--heap-size 10000] [--only heap] [--retention RUNS (the engines' retention.runs; default: the engine's)]
// Then the old-space bytes a 5-task run allocates (bench/old_space.ts, needs --allow-run). With --profile-loop N it only runs N diamonds on
// one engine (after N / 10 warm-up runs), for a CPU profile that bench/small_profile.ts summarizes.
import process from "node:process";
import { PGraph } from "npm:p-graph@^2.0.0";
import { createEngine, defineWorkflow, type TaskDef } from "../mod.ts";
import { makeDag } from "./_dags.ts";

const args = parseArgs(Deno.args);
const runs = Number(args.runs ?? 20_000);
const trials = Number(args.trials ?? 3);
const gc = (globalThis as { gc?: () => void }).gc;
const retention = args.retention === undefined ? {} : { retention: { runs: Number(args.retention) } };
const noop = () => undefined;

interface Shape {
  name: string;
  /** Task ids and their dependencies. */
  deps: [string, string[]][];
}
const fan = (width: number): Shape => {
  const mids = Array.from({ length: width }, (_, i) => `m${i}`);
  return {
    name: `${width + 2}-task ${width === 3 ? "diamond" : "fan-out"}`,
    deps: [["root", []], ...mids.map((m): [string, string[]] => [m, ["root"]]), ["sink", mids]],
  };
};
const shapes = [fan(3), fan(18)];

if (args["profile-loop"] !== undefined) {
  const n = Number(args["profile-loop"]);
  const tasks: TaskDef[] = shapes[0].deps.map(([id, dependsOn]) => ({ id, dependsOn, run: noop }));
  const workflow = defineWorkflow({ name: shapes[0].name, tasks });
  const engine = createEngine({ workers: false, ...retention });
  for (let i = 0; i < n / 10; i++) await engine.run(workflow); // warm-up: N / 10 runs
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await engine.run(workflow);
  console.log(`${n} runs: ${(((performance.now() - t0) * 1000) / n).toFixed(1)} µs/run under the profiler`);
  await engine.close();
  Deno.exit(0);
}

function pgraphRun(shape: Shape): Promise<void> {
  const nodes = new Map<string, { run: () => Promise<void> }>();
  const edges: [string, string][] = [];
  for (const [id, deps] of shape.deps) {
    nodes.set(id, { run: () => Promise.resolve() });
    for (const d of deps) edges.push([d, id]);
  }
  return new PGraph(nodes, edges).run();
}

interface Measured {
  /** Wall µs per run. */
  mean: number;
  /** The process's CPU µs per run (user + system, every thread). */
  cpu: number;
  /** Single-run wall latencies, µs, sorted. */
  sorted: Float64Array;
  /** Single-run CPU times, µs, sorted. */
  cpuSorted: Float64Array;
}
/** Per-run latencies (µs) of `n` runs back to back, and their means: wall time, and CPU time (which the other
 * processes of a shared machine disturb less; `process.cpuUsage()` around each run adds ~1 µs to both). */
async function measure(n: number, once: () => Promise<unknown>): Promise<Measured> {
  const lat = new Float64Array(n);
  const cpuLat = new Float64Array(n);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const c = process.cpuUsage();
    const s = performance.now();
    await once();
    lat[i] = (performance.now() - s) * 1000;
    const d = process.cpuUsage(c);
    cpuLat[i] = d.user + d.system;
  }
  const mean = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(c0);
  return { mean, cpu: (c.user + c.system) / n, sorted: lat.sort(), cpuSorted: cpuLat.sort() };
}
const pct = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

console.log(
  `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; ${runs.toLocaleString("en-US")} runs per trial after as many ` +
    `warm-up runs, best of ${trials} trials (by CPU time); one engine per shape, workers: false${
      args.retention === undefined ? "" : `, retention.runs ${args.retention}`
    }`,
);
console.log(
  "\n| workflow | runner | wall µs/run | CPU µs/run | CPU × p-graph | wall p50 / p99 µs | wall p99 × p50 | CPU p50 / p99 µs | CPU p99 × p50 |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
const summary: string[] = [];
const floors: string[] = [];
let sink = 0;
/** Synchronous arithmetic, `n` rounds (no allocation). */
function spin(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x += Math.sqrt(i + sink);
  sink = x % 7;
  return x;
}
/** Rounds of `spin` that take about `us` µs, timed as the runs are. */
async function calibrate(us: number): Promise<number> {
  let n = 1000;
  for (let round = 0; round < 8; round++) {
    const m = await measure(501, () => Promise.resolve(spin(n)));
    n = Math.max(1, Math.round((n * us) / Math.max(pct(m.sorted, 0.5), 0.1)));
  }
  return n;
}
for (const shape of args.only === "heap" ? [] : shapes) {
  const tasks: TaskDef[] = shape.deps.map(([id, dependsOn]) => ({ id, dependsOn, run: noop }));
  const workflow = defineWorkflow({ name: shape.name, tasks });
  const engine = createEngine({ workers: false, ...retention });
  const nerv = async () => {
    const r = await engine.run(workflow);
    if (r.status !== "completed") throw new Error(`nerv-flow: run ${r.status}`);
  };
  const pg = () => pgraphRun(shape);
  await measure(runs, nerv);
  await measure(runs, pg);
  let bestN: Measured | undefined;
  let bestP: Measured | undefined;
  for (let t = 0; t < trials; t++) {
    const a = await measure(runs, pg);
    if (bestP === undefined || a.cpu < bestP.cpu) bestP = a;
    const b = await measure(runs, nerv);
    if (bestN === undefined || b.cpu < bestN.cpu) bestN = b;
  }
  await engine.close();
  const f = (x: number) => x.toFixed(1);
  for (const [name, m] of [["p-graph", bestP!], ["nerv-flow", bestN!]] as const) {
    const w50 = pct(m.sorted, 0.5), w99 = pct(m.sorted, 0.99);
    const c50 = pct(m.cpuSorted, 0.5), c99 = pct(m.cpuSorted, 0.99);
    console.log(
      `| ${shape.name} | ${name} | ${f(m.mean)} | ${f(m.cpu)} | ${(m.cpu / bestP!.cpu).toFixed(2)}× | ${f(w50)} / ${
        f(w99)
      } | ${(w99 / w50).toFixed(2)}× | ${f(c50)} / ${f(c99)} | ${(c99 / c50).toFixed(2)}× |`,
    );
  }
  // The machine's own tail at this duration: a fixed synchronous computation calibrated to nerv-flow's p50 (no
  // allocation), timed the same way. Its p99 / p50 is the floor under any runner's on this machine.
  const target = pct(bestN!.sorted, 0.5);
  const spins = await calibrate(target);
  const floor = await measure(runs, () => Promise.resolve(spin(spins)));
  const fw50 = pct(floor.sorted, 0.5), fw99 = pct(floor.sorted, 0.99);
  const fc50 = pct(floor.cpuSorted, 0.5), fc99 = pct(floor.cpuSorted, 0.99);
  console.log(
    `| ${shape.name} | fixed work (machine floor) | ${f(floor.mean)} | ${f(floor.cpu)} | — | ${f(fw50)} / ${
      f(fw99)
    } | ${(fw99 / fw50).toFixed(2)}× | ${f(fc50)} / ${f(fc99)} | ${(fc99 / fc50).toFixed(2)}× |`,
  );
  const n = bestN!;
  floors.push(
    `${shape.name} ${(fw99 / fw50).toFixed(2)}× (nerv-flow ${(pct(n.sorted, 0.99) / pct(n.sorted, 0.5)).toFixed(2)}×)`,
  );
  summary.push(
    `${shape.name}: nerv-flow ${f(n.cpu)} CPU µs/run (${f(n.mean)} wall; p50 ${f(pct(n.sorted, 0.5))}, p99 ${
      f(pct(n.sorted, 0.99))
    } wall), ${(n.cpu / bestP!.cpu).toFixed(2)}× p-graph`,
  );
}
// What a run allocates straight in the old generation: bench/old_space.ts, in a process of its own (it needs a young
// generation big enough that nothing is collected while it counts).
let oldSpace: string | undefined;
if (args.only !== "heap") {
  const flags = "--expose-gc,--single-threaded,--min-semi-space-size=128,--max-semi-space-size=128";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", `--v8-flags=${flags}`, new URL("old_space.ts", import.meta.url).href],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  oldSpace = out.success ? new TextDecoder().decode(out.stdout).trim() : "old-space bytes: bench/old_space.ts failed";
}
if (summary.length > 0) {
  console.log(`\nsummary: small runs on one engine: ${summary.join("; ")}`);
  console.log(
    `summary: wall p99 / p50 of fixed work as long as a run's p50 (the machine's floor): ${floors.join("; ")}`,
  );
  console.log(`summary: ${oldSpace}`);
}

// ---- heap state: a 10,000-task run after a forced GC and a pause vs back to back -------------------------------
const size = Number(args["heap-size"] ?? 10_000);
const dag = makeDag("layered", size);
const ids = Array.from({ length: size }, (_, i) => `t${i}`);
const bigTasks: TaskDef[] = ids.map((id, i) => ({ id, dependsOn: dag.deps[i].map((d) => ids[d]), run: noop }));
const bigWorkflow = defineWorkflow({ name: `layered-${size}`, tasks: bigTasks });
const bigEngine = createEngine({ workers: false, limits: { io: 16 } });
const bigShape: Shape = { name: "layered", deps: ids.map((id, i) => [id, dag.deps[i].map((d) => ids[d])]) };
const pgBig = async () => {
  const nodes = new Map<string, { run: () => Promise<void> }>();
  const edges: [string, string][] = [];
  for (const [id, deps] of bigShape.deps) {
    nodes.set(id, { run: () => Promise.resolve() });
    for (const d of deps) edges.push([d, id]);
  }
  await new PGraph(nodes, edges).run({ concurrency: 16 });
};
const nervBig = async () => {
  const r = await bigEngine.run(bigWorkflow);
  if (r.status !== "completed") throw new Error(`nerv-flow: run ${r.status}`);
};
/** Wall and CPU µs per task of one run. */
const timeOne = async (f: () => Promise<void>): Promise<[number, number]> => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const wall = ((performance.now() - t0) * 1000) / size;
  const c = process.cpuUsage(c0);
  return [wall, (c.user + c.system) / size];
};
const rounds = Math.max(3, trials);
const heapRows: { name: string; hot: [number, number]; cold: [number, number] }[] = [];
const best = (a: [number, number], b: [number, number]): [number, number] => [
  Math.min(a[0], b[0]),
  Math.min(a[1], b[1]),
];
for (const [name, f] of [["p-graph", pgBig], ["nerv-flow", nervBig]] as const) {
  for (let i = 0; i < 3; i++) await f(); // warm up
  let hot: [number, number] = [Infinity, Infinity], cold: [number, number] = [Infinity, Infinity];
  for (let r = 0; r < rounds; r++) {
    await f();
    hot = best(hot, await timeOne(f)); // right after another run
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 200));
    cold = best(cold, await timeOne(f)); // after a forced GC and a pause
  }
  heapRows.push({ name, hot, cold });
}
await bigEngine.close();
console.log(
  `\n### Heap state: a ${size.toLocaleString("en-US")}-task layered run after a forced GC and a 200 ms pause ` +
    `vs right after another run (best of ${rounds}, wall and CPU time)`,
);
console.log(
  "\n| runner | back to back wall / CPU µs/task | after GC + pause wall / CPU µs/task | after GC × back to back, wall / CPU |",
);
console.log("| --- | ---: | ---: | ---: |");
const f2 = (x: number) => x.toFixed(2);
for (const { name, hot, cold } of heapRows) {
  console.log(
    `| ${name} | ${f2(hot[0])} / ${f2(hot[1])} | ${f2(cold[0])} / ${f2(cold[1])} | ${f2(cold[0] / hot[0])}× / ${
      f2(cold[1] / hot[1])
    }× |`,
  );
}
console.log(
  `\nsummary: a ${size.toLocaleString("en-US")}-task run after GC + pause vs back to back (wall / CPU): ${
    heapRows.map(({ name, hot, cold }) => `${name} ${f2(cold[0] / hot[0])}× / ${f2(cold[1] / hot[1])}×`).join(", ")
  }${gc === undefined ? " (no --expose-gc: no forced GC)" : ""}`,
);

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[i + 1] ?? "";
  }
  return out;
}
