// Validation and planning cost: `deno bench bench/graph_bench.ts`.
// The budget: 100,000 tasks validate in well under a second.
import { defineWorkflow, plan, type TaskDef } from "../mod.ts";
import { makeDag, type Shape } from "./_dags.ts";

function defs(shape: Shape, n: number): TaskDef[] {
  const dag = makeDag(shape, n);
  return dag.deps.map((d, i) => ({ id: `t${i}`, dependsOn: d.map((x) => `t${x}`), run: () => undefined }));
}

for (const shape of ["wide", "chain", "layered"] as const) {
  const tasks = defs(shape, 100_000);
  Deno.bench({
    group: `validate 100k ${shape}`,
    name: `defineWorkflow, 100,000 tasks, ${shape}`,
    baseline: true,
    fn: () => {
      defineWorkflow({ name: shape, tasks });
    },
  });
  const workflow = defineWorkflow({ name: shape, tasks });
  Deno.bench({
    group: `validate 100k ${shape}`,
    name: `plan, 100,000 tasks, ${shape}`,
    fn: () => {
      plan(workflow);
    },
  });
}
