// The tail of small runs, nothing else timed: 5-task diamonds (root → 3 → sink, no-op bodies) one after another on one
// `createEngine({ workers: false })`, single-run wall latency with no per-run readings beside the clock; p50, p90, p95,
// p99 for three trials; p-graph on a fan-out calibrated to the same p50 in the same process (the runtime's own spread
// for promise-heavy, allocating work of that length); and the most frequent gaps, in runs, between runs slower than
// 3× the p50 (a periodic cause shows as one gap repeated, e.g. V8 pretenuring's 76 runs before src/event.ts), and for
// each runner the share of its slow runs that start in the busiest tenth of the kernel's timer-tick cycle. With
// --spaced, each run starts in a macrotask of its own (`setImmediate`), as a request handler's would: the log's
// end-of-macrotask flush then falls between runs, and only the run itself is timed. With --causes, one more trial per
// runner reads the process's minor page faults after each run (a system call per run, outside the timed span) and the
// V8 old space's bytes in use every 1,000 runs: the share of runs slower than 1.6× and 3× the p50 among runs that took a page
// fault and among those that did not, and how fast the old space fills between major collections (what runs leave behind
// or keep: retained runs, tables).
// Usage: deno run -A bench/tail.ts [checkout (a directory with mod.ts; default: this one)] [--runs 20000] [--tick-ms 4]
//        [--spaced] [--causes]
// Before/after: run it for the two checkouts in turns, one process each.
import { PGraph } from "npm:p-graph@^2.0.0";
import process from "node:process";
import { setImmediate } from "node:timers";
import v8 from "node:v8";
import { fanTasks } from "./_dags.ts";

const valued = new Set(["--runs", "--tick-ms"]);
const positional = Deno.args.filter((a, i) => !a.startsWith("--") && !valued.has(Deno.args[i - 1]));
const spaced = Deno.args.includes("--spaced");
const causes = Deno.args.includes("--causes");
const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));
const runsAt = Deno.args.indexOf("--runs");
const N = runsAt >= 0 ? Number(Deno.args[runsAt + 1]) : 20_000;
const root = positional[0] === undefined
  ? new URL("..", import.meta.url)
  : new URL(`file://${Deno.realPathSync(positional[0])}/`);
const { createEngine, defineWorkflow } = await import(new URL("mod.ts", root).href);

const workflow = defineWorkflow({ name: "diamond", tasks: fanTasks(3) });
const engine = createEngine({ workers: false });
const nerv = () => engine.run(workflow);
const fan = (width: number) => () => {
  const nodes = new Map<string, { run: () => Promise<void> }>();
  const edges: [string, string][] = [];
  for (const id of ["root", "sink"]) nodes.set(id, { run: () => Promise.resolve() });
  for (let i = 0; i < width; i++) {
    nodes.set(`m${i}`, { run: () => Promise.resolve() });
    edges.push(["root", `m${i}`], [`m${i}`, "sink"]);
  }
  return new PGraph(nodes, edges).run();
};

let starts = new Float64Array(0); // the start times (ms) of the last call's runs
async function latencies(n: number, once: () => Promise<unknown>): Promise<Float64Array> {
  const lat = new Float64Array(n);
  starts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (spaced) await nextMacrotask();
    const s = performance.now();
    await once();
    lat[i] = (performance.now() - s) * 1000;
    starts[i] = s;
  }
  return lat;
}
// Where slow runs fall in the machine's timer-tick cycle (CONFIG_HZ=250: 4 ms; `--tick-ms` to change): a run that a
// tick interrupts is slow whatever it runs, and where taking an interrupt is expensive (a virtual machine), those runs
// crowd into one tenth of the cycle. Counts per tenth, summed over the trials.
const tickAt = Deno.args.indexOf("--tick-ms");
const TICK = tickAt >= 0 ? Number(Deno.args[tickAt + 1]) : 4;
const phases = { nerv: new Array(10).fill(0), pgraph: new Array(10).fill(0) };
const slowRuns = { nerv: 0, pgraph: 0 };
const tally = (who: "nerv" | "pgraph", lat: Float64Array) => {
  const p50 = p50Of(lat);
  for (let i = 0; i < lat.length; i++) {
    if (lat[i] <= 3 * p50) continue;
    slowRuns[who]++;
    phases[who][Math.floor(((starts[i] % TICK) / TICK) * 10)]++;
  }
};
const tickRow = (who: "nerv" | "pgraph", name: string) => {
  const busiest = Math.max(...phases[who]);
  return `${name}: ${slowRuns[who]} runs slower than 3× the p50 (${(slowRuns[who] / (3 * N) * 100).toFixed(2)}%), ${
    (busiest / Math.max(1, slowRuns[who]) * 100).toFixed(0)
  }% of them starting in the busiest tenth of a ${TICK} ms cycle (10% if the tick played no part)`;
};
const p50Of = (lat: Float64Array) => q(lat.slice().sort(), 0.5);
const q = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const row = (name: string, lat: Float64Array) => {
  const s = lat.slice().sort(), p50 = q(s, 0.5);
  const x = (p: number) => `${(q(s, p) / p50).toFixed(2)}×`;
  return `| ${name} | ${p50.toFixed(1)} | ${x(0.9)} | ${x(0.95)} | ${x(0.99)} | ${q(s, 0.99).toFixed(1)} |`;
};

console.log(
  `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; ${
    N.toLocaleString("en-US")
  } runs per trial after as many warm-up runs, ${spaced ? "each run in a macrotask of its own" : "one after another"}`,
);
await latencies(N, nerv);
let width = 36;
const target = p50Of(await latencies(N / 4, nerv));
for (let k = 0; k < 5; k++) {
  width = Math.max(1, Math.round((width * target) / p50Of(await latencies(2000, fan(width)))));
}
console.log(
  "\n| runner | p50 µs | p90 × p50 | p95 × p50 | p99 × p50 | p99 µs |\n| --- | ---: | ---: | ---: | ---: | ---: |",
);
const gaps = new Map<number, number>();
for (let t = 1; t <= 3; t++) {
  const lat = await latencies(N, nerv);
  console.log(row(`nerv-flow 5-task, trial ${t}`, lat));
  tally("nerv", lat);
  const nervStarts = starts;
  const pg = await latencies(N, fan(width));
  console.log(row(`p-graph ${width + 2}-task fan-out, trial ${t}`, pg));
  tally("pgraph", pg);
  starts = nervStarts;
  const p50 = p50Of(lat);
  let last = -1;
  for (let i = 0; i < N; i++) {
    if (lat[i] <= 3 * p50) continue;
    if (last >= 0) gaps.set(i - last, (gaps.get(i - last) ?? 0) + 1);
    last = i;
  }
}
const top = [...gaps].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([g, c]) => `${g} runs ×${c}`).join(", ");
console.log(`\nsummary: most frequent gaps between nerv-flow runs slower than 3× the p50: ${top}`);
console.log(tickRow("nerv", "nerv-flow"));
console.log(tickRow("pgraph", "p-graph"));
if (causes) {
  console.log(causeRow("nerv-flow", await withFaults(N, nerv)));
  console.log(causeRow("p-graph", await withFaults(N, fan(width))));
}
await engine.close();

interface FaultTrial {
  lat: Float64Array;
  /** Minor page faults taken between the end of the previous run and the end of this one. */
  faults: Float64Array;
  /** What the old space's live bytes grew by per 1,000 runs (KB; the blocks a major collection shrank left out). */
  oldGrowth: number[];
}
/** One trial with a page-fault count after each run and the old space's bytes in use every 1,000 runs. */
async function withFaults(n: number, once: () => Promise<unknown>): Promise<FaultTrial> {
  const lat = new Float64Array(n), faults = new Float64Array(n), oldGrowth: number[] = [];
  const oldSize = () => v8.getHeapSpaceStatistics().find((x) => x.space_name === "old_space")?.space_used_size ?? 0;
  let before = process.resourceUsage().minorPageFault;
  let old = oldSize();
  for (let i = 0; i < n; i++) {
    if (spaced) await nextMacrotask();
    const s = performance.now();
    await once();
    lat[i] = (performance.now() - s) * 1000;
    const now = process.resourceUsage().minorPageFault;
    faults[i] = now - before;
    before = now;
    if (i % 1000 === 999) {
      const size = oldSize();
      if (size >= old) oldGrowth.push((size - old) / 1024);
      old = size;
    }
  }
  return { lat, faults, oldGrowth };
}
function causeRow(name: string, { lat, faults, oldGrowth }: FaultTrial): string {
  const p50 = p50Of(lat);
  const share = (pred: (i: number) => boolean, over: number) => {
    let n = 0, hit = 0;
    for (let i = 0; i < lat.length; i++) {
      if (!pred(i)) continue;
      n++;
      if (lat[i] > over * p50) hit++;
    }
    return n === 0 ? "—" : `${(hit / n * 100).toFixed(1)}%`;
  };
  const faulted = (i: number) => faults[i] > 0, clean = (i: number) => faults[i] === 0;
  const runs = lat.filter((_, i) => faulted(i)).length;
  const total = faults.reduce((a, b) => a + b, 0);
  const growth = oldGrowth.slice().sort((a, b) => a - b)[oldGrowth.length >> 1] ?? 0;
  return `${name}, a trial reading page faults: p99 ${
    (q(lat.slice().sort(), 0.99) / p50).toFixed(2)
  }× the p50; ${runs} of ${lat.length} runs took a page fault (${total} faults); slower than 1.6× / 3× the p50: ${
    share(faulted, 1.6)
  } / ${share(faulted, 3)} of those, ${share(clean, 1.6)} / ${share(clean, 3)} of the others; ${
    growth.toFixed(0)
  } KB promoted into the old space per 1,000 runs (median of the blocks without a major GC)`;
}
