// How to keep history immutable, by measurement (issue 11, section 1): the per-task cost of each way
// to stop a dependent, a listener or a caller from changing a recorded value.
//   - freeze:    deep-freeze the result once when recorded (src/freeze.ts), and the task's 4 events;
//                every reader then reads the same object for free
//   - freeze, events at hand-out: what the engine does: the result frozen when recorded, an event only
//                when it reaches a listener, a reader or a foreign store (here: nobody listens)
//   - clone:     structuredClone at hand-out: one copy per reader (here 2: a dependent and the run's
//                result) and one copy of each event for the bus
//   - immutable: Immutable.fromJS once when recorded, toJS per reader (users read plain values), and
//                each event's data as an Immutable map
// Each figure is the minimum over `--trials` rounds of `--n` tasks, in µs per task.
// Usage: deno run bench/immutability.ts [--n 20000] [--trials 5]
import { fromJS } from "npm:immutable@^5.1.4";
import { deepFreeze } from "../src/freeze.ts";

const args = Object.fromEntries(
  Deno.args.flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1]]] : [])),
) as Record<string, string | undefined>;
const n = Number(args.n ?? 20000);
const trials = Number(args.trials ?? 5);
const READERS = 2;

const shapes: Record<string, () => unknown> = {
  "number": () => 42,
  "small object": () => ({ id: "doc-1", score: 0.93, tags: ["a", "b", "c"] }),
  "100-item array": () => Array.from({ length: 100 }, (_, k) => ({ id: k, v: `item-${k}` })),
};

/** The ~5 events one task emits, built fresh as the engine does. */
function events(result: unknown): Record<string, unknown>[] {
  const base = { runId: "r", workflowId: "w", taskId: "t", attempt: 1, timestamp: 0 };
  return [
    { ...base, type: "task.pending", seq: 1, data: { dependsOn: [] } },
    { ...base, type: "task.ready", seq: 2, data: { priority: "medium", rank: 1 } },
    { ...base, type: "task.started", seq: 3, data: { profile: "io" } },
    { ...base, type: "task.completed", seq: 4, data: { result, durationMs: 1 } },
  ];
}

let sink: unknown;
const strategies: Record<string, (make: () => unknown) => void> = {
  none: (make) => {
    const result = make();
    for (const e of events(result)) sink = e;
    for (let r = 0; r < READERS; r++) sink = result;
  },
  // What the engine does: the result frozen when recorded; an event only when it leaves the engine's
  // hands (a listener, a reader, a store of one's own), so a run nobody listens to pays for the result only.
  "freeze, events at hand-out": (make) => {
    const result = deepFreeze(make());
    for (const e of events(result)) sink = e;
    for (let r = 0; r < READERS; r++) sink = result;
  },
  freeze: (make) => {
    const result = deepFreeze(make());
    for (const e of events(result)) {
      deepFreeze(e.data);
      sink = Object.freeze(e);
    }
    for (let r = 0; r < READERS; r++) sink = result;
  },
  clone: (make) => {
    const result = make();
    for (const e of events(result)) sink = structuredClone(e);
    for (let r = 0; r < READERS; r++) sink = structuredClone(result);
  },
  immutable: (make) => {
    const result = fromJS(make());
    for (const e of events(result)) sink = { ...e, data: fromJS(e.data) };
    for (let r = 0; r < READERS; r++) {
      sink = typeof result === "object" && result !== null && "toJS" in result
        ? (result as { toJS(): unknown }).toJS()
        : result;
    }
  },
};

function measure(fn: (make: () => unknown) => void, make: () => unknown): number {
  let best = Infinity;
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(make);
    best = Math.min(best, ((performance.now() - t0) * 1000) / n);
  }
  return best;
}

console.log(`Deno ${Deno.version.deno}; min of ${trials} rounds of ${n} tasks; ${READERS} readers per result\n`);
console.log(
  "| result | none µs/task | freeze, events at hand-out µs/task | freeze all µs/task | clone µs/task | immutable µs/task | engine's choice − none | clone × freeze all | immutable × freeze all |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [label, make] of Object.entries(shapes)) {
  for (const fn of Object.values(strategies)) measure(fn, make); // warm up
  const [none, lazy, freeze, clone, immutable] = ["none", "freeze, events at hand-out", "freeze", "clone", "immutable"]
    .map((s) => measure(strategies[s], make));
  const f = (x: number) => x.toFixed(2);
  console.log(
    `| ${label} | ${f(none)} | ${f(lazy)} | ${f(freeze)} | ${f(clone)} | ${f(immutable)} | ${f(lazy - none)} | ${
      (clone / freeze).toFixed(1)
    }× | ${(immutable / freeze).toFixed(1)}× |`,
  );
}
void sink;
