// Validation and planning cost: `deno bench bench/graph_bench.ts` (`deno task bench` reads its --json output).
// The budget: 100,000 tasks validate in well under a second.
// Baseline of each group: a hand-written floor that checks only what validation must (unique ids, known
// dependencies, no cycle: a map of ids and Kahn's algorithm), with none of defineWorkflow's field checks,
// copies and freezing.
import { defineWorkflow, plan, type TaskDef } from "../mod.ts";
import { makeDag, type Shape } from "./_dags.ts";

function defs(shape: Shape, n: number): TaskDef[] {
  const dag = makeDag(shape, n);
  return dag.deps.map((d, i) => ({ id: `t${i}`, dependsOn: d.map((x) => `t${x}`), run: () => undefined }));
}

/** The floor: ids to indices, dependencies resolved, Kahn's algorithm to prove the graph acyclic. */
function floor(tasks: TaskDef[]): number {
  const n = tasks.length;
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    if (index.has(tasks[i].id)) throw new Error(`duplicate ${tasks[i].id}`);
    index.set(tasks[i].id, i);
  }
  const indeg = new Int32Array(n);
  const out: number[][] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = [];
  for (let i = 0; i < n; i++) {
    for (const d of tasks[i].dependsOn ?? []) {
      const j = index.get(d);
      if (j === undefined || j === i) throw new Error(`bad dependency ${d}`);
      out[j].push(i);
      indeg[i]++;
    }
  }
  const queue = new Int32Array(n);
  let tail = 0;
  for (let i = 0; i < n; i++) if (indeg[i] === 0) queue[tail++] = i;
  for (let head = 0; head < tail; head++) {
    for (const j of out[queue[head]]) if (--indeg[j] === 0) queue[tail++] = j;
  }
  if (tail !== n) throw new Error("cycle");
  return tail;
}

for (const shape of ["wide", "chain", "layered"] as const) {
  const tasks = defs(shape, 100_000);
  const group = `validate 100k ${shape}`;
  Deno.bench({
    group,
    name: `hand-written floor (id map + Kahn), 100,000 tasks, ${shape}`,
    baseline: true,
    fn: () => {
      floor(tasks);
    },
  });
  Deno.bench({
    group,
    name: `defineWorkflow, 100,000 tasks, ${shape}`,
    fn: () => {
      defineWorkflow({ name: shape, tasks });
    },
  });
  const workflow = defineWorkflow({ name: shape, tasks });
  Deno.bench({
    group,
    name: `plan, 100,000 tasks, ${shape}`,
    fn: () => {
      plan(workflow);
    },
  });
}
