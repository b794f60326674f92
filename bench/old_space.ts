// What a 5-task run allocates straight in V8's old generation, where each new 256 KB page stalls the run that needs it
// (bench/RESULTS.md §14): pretenured objects (src/event.ts) and the new backing stores of long-lived tables keyed by
// run id as keys come and go (src/log/retention.ts). Deterministic: the young generation is made big enough that
// nothing is collected while 1,000 runs are counted, the collector runs on the main thread, and a full GC before each
// count settles the old generation; old-space bytes used after the 1,000 runs minus before, five counts after 20,000
// warm-up runs (their median is the figure). Also what a run allocates in the young generation (the rate that sets how
// often the scavenger runs).
// Usage: deno run -A --v8-flags=--expose-gc,--single-threaded,--min-semi-space-size=128,--max-semi-space-size=128 \
//          bench/old_space.ts [checkout (a directory with mod.ts; default: this one)]
// (bench/small_runs.ts runs it so, and prints its line.)
import v8 from "node:v8";
import { fanTasks } from "./_dags.ts";

const root = Deno.args[0] === undefined
  ? new URL("..", import.meta.url)
  : new URL(`file://${Deno.realPathSync(Deno.args[0])}/`);
const { createEngine, defineWorkflow } = await import(new URL("mod.ts", root).href);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("bench/old_space.ts needs --v8-flags=--expose-gc (see its usage)");

const workflow = defineWorkflow({ name: "diamond", tasks: fanTasks(3) });
const engine = createEngine({ workers: false });
const used = (name: string) => v8.getHeapSpaceStatistics().find((s) => s.space_name === name)?.space_used_size ?? 0;
for (let i = 0; i < 20_000; i++) await engine.run(workflow);
const K = 1000;
const counts: number[] = [];
const young: number[] = [];
let collected = false;
for (let t = 0; t < 5; t++) {
  gc();
  gc();
  const old0 = used("old_space"), young0 = used("new_space");
  for (let i = 0; i < K; i++) await engine.run(workflow);
  const old1 = used("old_space"), young1 = used("new_space");
  if (young1 < young0) collected = true;
  counts.push((old1 - old0) / K);
  young.push((young1 - young0) / K);
}
await engine.close();
const sorted = counts.slice().sort((a, b) => a - b);
console.log(
  `old-space bytes allocated per 5-task run: ${sorted[2].toFixed(0)} (median of 5 counts of 1,000 runs: ${
    counts.map((c) => c.toFixed(0)).join(", ")
  }${collected ? "; a scavenge ran during a count: give the young generation more room" : ""}); young generation: ${
    (young.slice().sort((a, b) => a - b)[2] / 1024).toFixed(1)
  } KB a run`,
);
