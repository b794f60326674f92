// What the projection store (src/store.ts, `engine.store`) costs an engine per run, by measurement (issue 13):
// the engine hands it each run's `workflowStatus` view when the run's batch folds, and a removal when retention
// evicts the run (1000 kept, the default). Three readers:
//   - nobody:    no listener and no read (the CLI without its bar, an engine without a dashboard): the changes
//                wait in a map until someone reads
//   - a read every 100 runs: a dashboard asked for `/runs.json` now and then (each read takes the waiting changes in)
//   - a listener: someone `select`s (the CLI's bar): each change goes through the @xstate/store transition at once,
//                which is what every engine paid before the store waited for a reader
// The views are made up front: this is the store's own cost, not the log's projection.
// Each figure is the median over `--trials` rounds of `--runs` runs, in µs per run.
// Usage: deno run bench/store_feed.ts [--runs 200000] [--trials 7]
import { parseArgs } from "node:util";
import { createProjectionStore, type RunView } from "../mod.ts";

const { values } = parseArgs({ args: Deno.args, options: { runs: { type: "string" }, trials: { type: "string" } } });
const runs = Number(values.runs ?? 200_000);
const trials = Number(values.trials ?? 7);
const KEEP = 1000;
const ids = Array.from({ length: runs }, (_, i) => `r${i}`);
const views = ids.map((runId, i): RunView =>
  Object.freeze({
    runId,
    workflowId: "w",
    status: "completed",
    createdAt: i,
    taskCount: 5,
    counts: Object.freeze({ pending: 0, running: 0, completed: 5, failed: 0, skipped: 0, cancelled: 0 }),
  }) as RunView
);

function feed(reader: "nobody" | "read" | "listener"): number {
  const store = createProjectionStore();
  let heard = 0;
  const off = reader === "listener" ? store.select((s) => s.seq, () => heard++) : () => {};
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const batch: Record<string, RunView> = Object.create(null);
    batch[ids[i]] = views[i];
    store.update(i + 1, batch);
    if (i >= KEEP) store.remove([ids[i - KEEP]]);
    if (reader === "read" && i % 100 === 99) store.getSnapshot();
  }
  const us = ((performance.now() - t0) * 1000) / runs;
  off();
  if (Object.keys(store.getSnapshot().runs).length !== KEEP || (reader === "listener" && heard !== runs)) {
    throw new Error("the store lost a change");
  }
  return us;
}

const readers = ["nobody", "read", "listener"] as const;
const figures = new Map<string, number[]>(readers.map((r) => [r, []]));
for (let t = 0; t < trials; t++) for (const r of readers) figures.get(r)!.push(feed(r));
const median = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1];
console.log(`| reader (${runs} runs, ${KEEP} kept) | µs per run (median of ${trials}) |`);
console.log("| --- | ---: |");
const label = { nobody: "nobody", read: "a read every 100 runs", listener: "a listener" };
for (const r of readers) console.log(`| ${label[r]} | ${median(figures.get(r)!).toFixed(2)} |`);
