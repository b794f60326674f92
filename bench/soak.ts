// A long-lived engine: one `createEngine({ workers: false })` runs the 5-task diamond (root → 3 → sink, no-op
// bodies) again and again, one run at a time, as a server handling a workflow per request would. Reports the
// per-run cost of each tenth of the runs and the heap after a forced GC at the end of each tenth; the first
// tenth is the baseline of the ratios (same process, same engine). The machine is shared: besides wall time, each
// tenth reports the process's CPU time per run (user + system, all threads, `process.cpuUsage()`), which other
// processes disturb far less; the ratios are of CPU time.
// Usage: deno run --allow-read --allow-env --v8-flags=--expose-gc bench/soak.ts [--runs 1000000] [--retain 1000]
import process from "node:process";
import { createEngine, defineWorkflow } from "../mod.ts";

const args = parseArgs(Deno.args);
const runs = Number(args.runs ?? 1_000_000);
const retain = args.retain === undefined ? undefined : Number(args.retain);
const gc = (globalThis as { gc?: () => void }).gc;
const noop = () => undefined;

const workflow = defineWorkflow({
  name: "diamond",
  tasks: [
    { id: "root", run: noop },
    { id: "a", dependsOn: ["root"], run: noop },
    { id: "b", dependsOn: ["root"], run: noop },
    { id: "c", dependsOn: ["root"], run: noop },
    { id: "sink", dependsOn: ["a", "b", "c"], run: noop },
  ],
});
const engine = createEngine({ workers: false, ...(retain === undefined ? {} : { retention: { runs: retain } }) });
const tenth = Math.max(1, Math.floor(runs / 10));
const rows: { done: number; usPerRun: number; cpuPerRun: number; heapMB: number }[] = [];
const heap = () => {
  gc?.();
  gc?.();
  return Deno.memoryUsage().heapUsed / 2 ** 20;
};
console.log(
  `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; ${runs.toLocaleString("en-US")} runs of the 5-task diamond ` +
    `on one engine (workers: false${retain === undefined ? ", default retention" : `, retention.runs ${retain}`})` +
    (gc === undefined ? "; no --expose-gc: heap figures are without a forced GC" : ""),
);
console.log("\n| runs done | wall µs per run (this tenth) | CPU µs per run | CPU × first tenth | heap after GC MB |");
console.log("| ---: | ---: | ---: | ---: | ---: |");
let done = 0;
while (done < runs) {
  const n = Math.min(tenth, runs - done);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const result = await engine.run(workflow);
    if (result.status !== "completed") throw new Error(`run ${done + i}: ${result.status}`);
  }
  const us = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / n;
  done += n;
  const row = { done, usPerRun: us, cpuPerRun: cpu, heapMB: heap() };
  rows.push(row);
  console.log(
    `| ${done.toLocaleString("en-US")} | ${us.toFixed(1)} | ${cpu.toFixed(1)} | ${
      (cpu / rows[0].cpuPerRun).toFixed(2)
    }× | ${row.heapMB.toFixed(1)} |`,
  );
}
await engine.close();
const last = rows[rows.length - 1];
const heaps = rows.slice(Math.min(2, rows.length - 1)).map((r) => r.heapMB);
console.log(
  `\nsummary: soak, ${runs.toLocaleString("en-US")} runs of a 5-task workflow on one engine: CPU ${
    rows[0].cpuPerRun.toFixed(1)
  } µs/run in the first tenth, ${last.cpuPerRun.toFixed(1)} in the last (${
    (last.cpuPerRun / rows[0].cpuPerRun).toFixed(2)
  }×; wall ${rows[0].usPerRun.toFixed(1)} and ${last.usPerRun.toFixed(1)}); heap after GC ${
    Math.min(...heaps).toFixed(1)
  }–${Math.max(...heaps).toFixed(1)} MB from the third tenth on`,
);

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[i + 1] ?? "";
  }
  return out;
}
