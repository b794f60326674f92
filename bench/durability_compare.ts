// The cost of durability, measured in one process:
//
// 1. The DAG benchmark of dag_compare.ts (no-op tasks, creation to final
//    state) with the memory store and the file store under each flush policy
//    (and Deno KV), µs per task and the ratio to the memory store.
// 2. Resuming a run from a file log of ~100,000 events (a wide run of 25,000
//    tasks, killed with one task left), with run checkpoints and without:
//    opening the file (every record's checksum verified), reading and folding
//    the run, and the whole resume to the run's end.
//
// Usage: deno run -A --unstable-kv bench/durability_compare.ts [--sizes 1000,10000] [--trials 3]
//        [--event-max 1000] [--resume-tasks 25000] [--shapes wide,chain,layered]
import { createEngine, defineWorkflow, type TaskDef } from "../mod.ts";
import { foldRun, type LogStore } from "../extend.ts";
import { type FlushPolicy, openFileLogStore, openKvLogStore } from "../adapters/mod.ts";
import { type Dag, makeDag, type Shape } from "./_dags.ts";

const args = parseArgs(Deno.args);
const sizes = (args.sizes ?? "1000,10000").split(",").map(Number);
const shapes = (args.shapes ?? "wide,chain,layered").split(",") as Shape[];
const trials = Number(args.trials ?? 3);
const eventMax = Number(args["event-max"] ?? 1000);
const resumeTasks = Number(args["resume-tasks"] ?? 25_000);
const dir = await Deno.makeTempDir({ prefix: "nerv-bench-" });
const noop = () => undefined;

type StoreKind = "memory" | "file:none" | "file:batch" | "file:event" | "kv:batch";

async function openStore(kind: StoreKind, path: string): Promise<{ store?: LogStore; close(): Promise<void> }> {
  if (kind === "memory") return { close: () => Promise.resolve() };
  if (kind === "kv:batch") {
    const store = await openKvLogStore({ path });
    return { store, close: () => store.close() };
  }
  const store = await openFileLogStore(path, { flush: kind.slice(5) as FlushPolicy });
  return { store, close: () => store.close() };
}

async function dagRun(dag: Dag, kind: StoreKind, trial: number): Promise<number> {
  const path = `${dir}/${kind.replace(":", "-")}-${dag.shape}-${dag.n}-${trial}`;
  const { store, close } = await openStore(kind, path);
  const t0 = performance.now();
  const tasks: TaskDef[] = new Array(dag.n);
  for (let i = 0; i < dag.n; i++) tasks[i] = { id: `t${i}`, dependsOn: dag.deps[i].map((d) => `t${d}`), run: noop };
  const engine = createEngine({ limits: { io: 16 }, logStore: store });
  const result = await engine.run(defineWorkflow({ name: `${dag.shape}-${dag.n}`, tasks }));
  const dt = performance.now() - t0;
  if (result.status !== "completed") throw new Error(`run ${result.status}`);
  await engine.close();
  await close();
  return dt;
}

console.log(
  `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${navigator.hardwareConcurrency} threads; min of ${trials} runs`,
);
console.log("\n### DAG of no-op tasks: memory store vs durable stores (µs/task; × = vs memory, same run)\n");
const summary: string[] = [];
const kinds: StoreKind[] = ["memory", "file:none", "file:batch", "file:event", "kv:batch"];
console.log(`| shape | tasks | ${kinds.map((k) => k === "memory" ? "memory (baseline)" : k).join(" | ")} |`);
console.log(`| --- | ---: | ${kinds.map(() => "---:").join(" | ")} |`);
for (const n of sizes) {
  for (const shape of shapes) {
    const dag = makeDag(shape, n);
    const best: Partial<Record<StoreKind, number>> = {};
    for (let t = 0; t < trials; t++) {
      for (const kind of kinds) {
        if (kind === "file:event" && n > eventMax) continue;
        if (kind === "kv:batch" && n > 10_000) continue;
        best[kind] = Math.min(best[kind] ?? Infinity, await dagRun(dag, kind, t));
      }
    }
    const cells = kinds.map((k) => {
      const ms = best[k];
      if (ms === undefined) return "—";
      const us = (ms * 1000) / n;
      return k === "memory" ? us.toFixed(2) : `${us.toFixed(1)} (${(ms / best.memory!).toFixed(1)}×)`;
    });
    console.log(`| ${shape} | ${n} | ${cells.join(" | ")} |`);
    if (n === Math.max(...sizes) && best["file:batch"] !== undefined) {
      summary.push(`${shape} ${n}: file:batch ${(best["file:batch"] / best.memory!).toFixed(1)}× memory`);
    }
  }
}

// ---- resume from a ~100,000-event log ------------------------------------

async function crashedLog(path: string, runCheckpointEvery: number): Promise<{ runId: string; events: number }> {
  const store = await openFileLogStore(path, { flush: "none", runCheckpointEvery });
  const engine = createEngine({ logStore: store });
  const tasks: TaskDef[] = Array.from({ length: resumeTasks }, (_, i) => ({ id: `t${i}`, run: () => i }));
  let release = () => {};
  const last: TaskDef = { id: "last", run: () => new Promise<number>((resolve) => release = () => resolve(-1)) };
  const handle = engine.start(defineWorkflow({ name: "resume", tasks: [last, ...tasks] }));
  while (engine.log.events(handle.id).filter((e) => e.type === "task.completed").length < resumeTasks) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await engine.log.sync();
  await Deno.copyFile(path, `${path}.crashed`);
  const events = engine.log.events(handle.id).length;
  release();
  await handle.result;
  await engine.close();
  await store.close();
  return { runId: handle.id, events };
}

const workflow = defineWorkflow({
  name: "resume",
  tasks: [
    { id: "last", run: () => -1 },
    ...Array.from({ length: resumeTasks }, (_, i) => ({ id: `t${i}`, run: () => i })),
  ],
});
const resumeTitle = `Resuming a run from a file log (wide run of ${resumeTasks + 1} tasks, one left to run`;
console.log(`\n### ${resumeTitle}; × = vs no checkpoints, same run)\n`);
console.log(
  "| checkpoints | events stored | file MB | open (verify) ms | readRun + fold ms | events read | resume to end ms |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
let noCheckpoints: { open: number; read: number; total: number; mb: number; events: number } | undefined;
for (const [label, every] of [["none", Infinity], ["default (10,000, at least the task count)", 10_000]] as const) {
  const path = `${dir}/resume-${label.replaceAll(/\W/g, "")}.log`;
  const { runId, events } = await crashedLog(path, every);
  const best = { open: Infinity, read: Infinity, total: Infinity };
  let read = 0;
  for (let t = 0; t < trials; t++) {
    const copy = `${path}.trial${t}`;
    await Deno.copyFile(`${path}.crashed`, copy);
    const t0 = performance.now();
    const store = await openFileLogStore(copy, { runCheckpointEvery: every });
    const t1 = performance.now();
    const stored = await store.readRun(runId);
    foldRun(stored);
    const t2 = performance.now();
    read = stored.events.length;
    const engine = createEngine({ logStore: store });
    const t3 = performance.now();
    const result = await engine.resume(workflow, runId);
    const t4 = performance.now();
    if (result.status !== "completed" || result.tasks.last.attempts !== 2) throw new Error("resume went wrong");
    await engine.close();
    await store.close();
    best.open = Math.min(best.open, t1 - t0);
    best.read = Math.min(best.read, t2 - t1);
    // The resume itself reads and folds again: time it from the open, without the read above.
    best.total = Math.min(best.total, (t1 - t0) + (t4 - t3));
  }
  const mb = (await Deno.stat(`${path}.crashed`)).size / 1e6;
  const base = noCheckpoints ?? { open: best.open, read: best.read, total: best.total, mb, events: read };
  const x = (v: number, b: number) => `${(v / b).toFixed(2)}×`;
  console.log(
    `| ${label} | ${events} | ${mb.toFixed(1)} (${x(mb, base.mb)}) | ${best.open.toFixed(0)} (${
      x(best.open, base.open)
    }) | ${best.read.toFixed(0)} (${x(best.read, base.read)}) | ${read} (${x(read, base.events)}) | ${
      best.total.toFixed(0)
    } (${x(best.total, base.total)}) |`,
  );
  if (noCheckpoints === undefined) noCheckpoints = base;
  else {
    summary.push(
      `resume of a ${events}-event run: ${best.total.toFixed(0)} ms with checkpoints (${
        x(best.total, base.total)
      } without)`,
    );
  }
}
console.log(`\nsummary: durability, ${summary.join("; ")}`);
await Deno.remove(dir, { recursive: true });

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[i + 1] ?? "";
  }
  return out;
}
