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
import { createEngine, defineWorkflow, type TaskDef } from "../mod.ts";
import { type Parsed, type Scored, tasks as cpu } from "./tasks/knowledge.ts";

const DOCS_DIR = new URL("./docs/", import.meta.url);

/** What `discover` adds for the documents it found. */
function tasksFor(slugs: readonly string[]): TaskDef<{ topK: number }>[] {
  const tasks: TaskDef<{ topK: number }>[] = [];
  for (const slug of slugs) {
    tasks.push(
      {
        id: `fetch:${slug}`,
        dependsOn: ["discover"],
        profile: "io",
        run: ({ signal }) => Deno.readTextFile(new URL(`${slug}.md`, DOCS_DIR), { signal }),
      },
      { id: `parse:${slug}`, dependsOn: [`fetch:${slug}`], profile: "cpu", run: cpu.parse },
    );
  }
  tasks.push({ id: "df", dependsOn: slugs.map((s) => `parse:${s}`), profile: "cpu", run: cpu.df });
  for (const slug of slugs) {
    tasks.push({ id: `score:${slug}`, dependsOn: [`parse:${slug}`, "df"], profile: "cpu", run: cpu.score });
  }
  tasks.push({
    id: "terms",
    description: "Fan-in: the corpus' top terms over every score",
    dependsOn: slugs.map((s) => `score:${s}`),
    run: ({ deps }) => {
      const totals = new Map<string, number>();
      for (const doc of Object.values(deps) as Scored[]) {
        for (const [term, w] of Object.entries(doc.weights)) totals.set(term, (totals.get(term) ?? 0) + w);
      }
      return { docs: slugs.length, top: [...totals].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([t]) => t) };
    },
  });
  return tasks;
}

const workflow = defineWorkflow<{ topK: number }>({
  name: "dynamic-pipeline",
  description: "A knowledge pipeline whose fan-out is decided by the documents found",
  tasks: [
    {
      id: "discover",
      profile: "io",
      run: async (ctx) => {
        const slugs = (await Array.fromAsync(Deno.readDir(DOCS_DIR)))
          .filter((e) => e.isFile && e.name.endsWith(".md"))
          .map((e) => e.name.slice(0, -3))
          .sort();
        ctx.spawn(tasksFor(slugs) as unknown as TaskDef[]); // spawn takes tasks of any input
        return slugs;
      },
    },
  ],
});

const engine = createEngine();
let spawned = 0;
engine.bus.onAny((e) => {
  switch (e.type) {
    case "task.spawned":
      spawned += e.data.taskIds.length;
      console.log(`+ ${e.taskId} spawned ${e.data.taskIds.length} tasks (graph now ${1 + spawned})`);
      return;
    case "task.completed":
      if (e.taskId?.startsWith("parse:")) {
        const p = e.data.result as Parsed;
        console.log(`✓ ${e.taskId!.padEnd(24)} ${p.tokens} tokens`);
      }
      return;
    case "task.failed":
      console.log(`✗ ${e.taskId} failed: ${e.data.error.message}`);
      return;
  }
});

const result = await engine.run(workflow, { input: { topK: 5 } });
const found = result.tasks.discover.result as string[];
const summary = result.tasks.terms?.result as { docs: number; top: string[] } | undefined;
console.log(`discovered ${found.length} documents; the run had ${Object.keys(result.tasks).length} tasks`);
console.log(`top terms over ${summary?.docs ?? 0} documents: ${summary?.top.join(", ") ?? "-"}`);
console.log(`dynamic pipeline ${result.status}`);
await engine.close();
if (result.status !== "completed") Deno.exitCode = 1;
