// Child process of the dynamic crash test: runs (or resumes) a workflow whose
// task "plan" adds a map over 40 items at run time (ctx.spawn), on a file log
// store; prints "started" once the run is stored, then "done". Each execution
// of a body leaves a marker file `<task>.<pid>` (`/` in ids becomes `_`).
// Usage: deno run --allow-read --allow-write=/tmp tests/_crash_spawn_child.ts <log> <markers> <runId> <start|resume>
import { createEngine, defineWorkflow, mapTasks, type Workflow } from "../mod.ts";
import { openFileLogStore } from "../adapters/mod.ts";

export const ITEMS = 40;

/** The workflow; `markers` is where executions leave their marker files. */
export function spawnWorkflow(markers: string): Workflow {
  const mark = (id: string) => Deno.writeTextFileSync(`${markers}/${id.replace("/", "_")}.${Deno.pid}`, "");
  return defineWorkflow({
    name: "crash-spawn",
    tasks: [{
      id: "plan",
      run: (ctx) => {
        mark("plan");
        ctx.spawn(mapTasks(
          "sq",
          Array.from({ length: ITEMS }, (_, k) => k),
          async (k: number, c) => {
            mark(c.taskId);
            await new Promise((resolve) => setTimeout(resolve, 3 + (k % 5)));
            return k * k;
          },
          { join: (r) => (r as number[]).reduce((a, b) => a + b, 0), each: { profile: "io" } },
        ));
        return "planned";
      },
    }],
  });
}

if (import.meta.main) {
  const [path, markers, runId, mode] = Deno.args;
  const store = await openFileLogStore(path, { flush: "batch", onRecover: () => {} });
  const engine = createEngine({ logStore: store, limits: { io: 2 } });
  const workflow = spawnWorkflow(markers);
  const result = mode === "start" ? engine.run(workflow, { runId }) : engine.resume(workflow, runId);
  await engine.log.sync();
  console.log("started");
  await result;
  await engine.close();
  await store.close();
  console.log("done");
}
