/**
 * The knowledge pipeline with its fan-out decided at run time: the workflow
 * declares two tasks, `discover` and `index`. `discover` lists the Markdown
 * documents in `examples/docs/` and adds, with `ctx.spawn`, one fetch, one
 * parse and one score task per document, plus the `df` and `terms` fan-ins:
 *
 * ```
 * discover ─► fetch:<doc> ─► parse:<doc> ─┬─► df ─┐
 * (declared)  (spawned, ×n)  (cpu, ×n)    └───────┴─► score:<doc> ─► terms
 *                                                      (cpu, ×n)     (fan-in)
 * ```
 *
 * Only `discover` is declared; everything else is spawned, one branch per
 * document found, and `terms` fans them in. Progress comes from the bus
 * (`task.spawned` says how the graph grew).
 *
 * Run it with `deno task demo:dynamic`.
 *
 * @module
 */
import { createEngine, flow, isTaskCompleted, taskResult } from "../mod.ts";
import { cpu } from "./tasks/knowledge.ts";

const DOCS_DIR = new URL("./docs/", import.meta.url);

/**
 * What `discover` adds for the documents it found: a typed task list (the spawned tasks' deps are checked and typed
 * like a workflow's; they may depend on `discover`, a task of the run).
 */
function tasksFor(slugs: readonly string[]) {
  return flow<{ topK: number }>("dynamic-pipeline")
    .external("discover")
    .each("fetch", slugs, {
      dependsOn: ["discover"],
      profile: "io",
      run: ({ signal }, slug) => Deno.readTextFile(new URL(`${slug}.md`, DOCS_DIR), { signal }),
    })
    .each("parse", slugs, { dependsOn: ["fetch:{key}"], profile: "cpu", run: cpu.parse })
    .task("df", { dependsOn: ["parse:*"], profile: "cpu", run: cpu.df })
    .each("score", slugs, { dependsOn: ["parse:{key}", "df"], profile: "cpu", run: cpu.score })
    .task("terms", {
      description: "Fan-in: the corpus' top terms over every score",
      dependsOn: ["score:*"],
      run: ({ deps }) => {
        const totals = new Map<string, number>();
        for (const doc of Object.values(deps)) {
          for (const [term, w] of Object.entries(doc.weights)) totals.set(term, (totals.get(term) ?? 0) + w);
        }
        return { docs: slugs.length, top: [...totals].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([t]) => t) };
      },
    })
    .list();
}

/** The tasks `discover` spawned (typed: their events and results are read through it below). */
let spawnedTasks: ReturnType<typeof tasksFor> = [];

const workflow = flow<{ topK: number }>("dynamic-pipeline", {
  description: "A knowledge pipeline whose fan-out is decided by the documents found",
})
  .task("discover", {
    profile: "io",
    run: async (ctx) => {
      const slugs = (await Array.fromAsync(Deno.readDir(DOCS_DIR)))
        .filter((e) => e.isFile && e.name.endsWith(".md"))
        .map((e) => e.name.slice(0, -3))
        .sort();
      spawnedTasks = tasksFor(slugs);
      ctx.spawn(spawnedTasks);
      return slugs;
    },
  })
  .build();

const engine = createEngine();
let spawned = 0;
engine.bus.onAny((e) => {
  switch (e.type) {
    case "task.spawned":
      spawned += e.data.taskIds.length;
      console.log(`+ ${e.taskId} spawned ${e.data.taskIds.length} tasks (graph now ${1 + spawned})`);
      return;
    case "task.completed":
      if (isTaskCompleted(spawnedTasks, e, "parse:*")) {
        console.log(`✓ ${e.taskId.padEnd(24)} ${e.data.result.tokens} tokens`);
      }
      return;
    case "task.failed":
      console.log(`✗ ${e.taskId} failed: ${e.data.error.message}`);
      return;
  }
});

const result = await engine.run(workflow, { input: { topK: 5 } });
const found = result.tasks.discover.result ?? [];
// The spawned tasks are not the workflow's: their results are typed by the list that was spawned.
const summary = taskResult(result, spawnedTasks, "terms");
console.log(`discovered ${found.length} documents; the run had ${Object.keys(result.tasks).length} tasks`);
console.log(`top terms over ${summary?.docs ?? 0} documents: ${summary?.top.join(", ") ?? "-"}`);
console.log(`dynamic pipeline ${result.status}`);
await engine.close();
if (result.status !== "completed") Deno.exitCode = 1;
