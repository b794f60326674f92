// What a small run allocates straight in V8's old generation, where each new 256 KB page stalls the run that needs it
// (bench/RESULTS.md §14): pretenured objects (src/event.ts) and the new backing stores of long-lived tables keyed by
// run id as keys come and go (src/log/retention.ts). Deterministic: the young generation is made big enough that
// nothing is collected while the runs are counted, the collector runs on the main thread, and a full GC before each
// count settles the old generation; old-space bytes used after the runs minus before, five counts after 20,000
// warm-up runs (their median is the figure). Also what a run allocates in the young generation (the rate that sets how
// often the scavenger runs, and so how many runs a scavenge's pause lands in), for the 5-task diamond (counts of 1,000
// runs) and the 20-task fan-out (counts of 300 runs, after 10,000 warm-up runs).
// Usage: deno run -A --v8-flags=--expose-gc,--single-threaded,--min-semi-space-size=128,--max-semi-space-size=128 \
//          bench/old_space.ts [checkout (a directory with mod.ts; default: this one)]
// (bench/small_runs.ts runs it so, and prints its line.)
import v8 from "node:v8";
import { fanTasks } from "./_dags.ts";

const root = Deno.args[0] === undefined
  ? new URL("..", import.meta.url)
  : new URL(`file://${Deno.realPathSync(Deno.args[0])}/`);
const { createEngine, defineWorkflow } = await import(new URL("mod.ts", root).href);
const exposed = (globalThis as { gc?: () => void }).gc;
if (exposed === undefined) throw new Error("bench/old_space.ts needs --v8-flags=--expose-gc (see its usage)");
const gc: () => void = exposed;
const used = (name: string) => v8.getHeapSpaceStatistics().find((s) => s.space_name === name)?.space_used_size ?? 0;
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

/** Old- and young-generation bytes per run of a `width`-wide fan-out: five counts of `k` runs, after `warmUp`. */
async function count(width: number, warmUp: number, k: number) {
  const workflow = defineWorkflow({ name: `fan-${width}`, tasks: fanTasks(width) });
  const engine = createEngine({ workers: false });
  for (let i = 0; i < warmUp; i++) await engine.run(workflow);
  const old: number[] = [];
  const young: number[] = [];
  let collected = false;
  for (let t = 0; t < 5; t++) {
    gc();
    gc();
    const old0 = used("old_space"), young0 = used("new_space");
    for (let i = 0; i < k; i++) await engine.run(workflow);
    const old1 = used("old_space"), young1 = used("new_space");
    if (young1 < young0) collected = true;
    old.push((old1 - old0) / k);
    young.push((young1 - young0) / k);
  }
  await engine.close();
  return { old, young: median(young), collected };
}

const diamond = await count(3, 20_000, 1000);
const fan = await count(18, 10_000, 300);
const warn = diamond.collected || fan.collected
  ? "; a scavenge ran during a count: give the young generation more room"
  : "";
console.log(
  `old-space bytes allocated per 5-task run: ${median(diamond.old).toFixed(0)} (median of 5 counts of 1,000 runs: ${
    diamond.old.map((c) => c.toFixed(0)).join(", ")
  }${warn}); young generation: ${(diamond.young / 1024).toFixed(1)} KB a run (20-task fan-out: ${
    (fan.young / 1024).toFixed(1)
  } KB)`,
);
