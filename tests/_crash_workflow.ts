// The workflow of the crash test, shared by the child process that runs it
// (and is killed) and the parent that resumes it. Deterministic: its shape,
// delays and results depend only on the seed; each execution of a task body
// leaves a marker file `<task>.<pid>.<attempt>` (the side-effect counter).
import { defineWorkflow, type TaskDef, type Workflow } from "../mod.ts";

export { prng } from "../bench/_dags.ts";
import { prng } from "../bench/_dags.ts";

/** A task's result: its id and a digest of its dependencies' results. */
export interface CrashResult {
  id: string;
  digest: number;
}

export const CRASH_TASKS = 40;

/** The workflow: 40 tasks, each depending on up to 3 earlier ones; t5 fails its first attempt. */
export function crashWorkflow(markers: string | undefined, seed = 7): Workflow {
  const rnd = prng(seed);
  const tasks: TaskDef[] = [];
  for (let i = 0; i < CRASH_TASKS; i++) {
    const deps = new Set<string>();
    const k = i === 0 ? 0 : Math.floor(rnd() * 4);
    for (let j = 0; j < k; j++) deps.add(`t${Math.floor(rnd() * i)}`);
    const delay = Math.floor(rnd() * 6);
    const id = `t${i}`;
    tasks.push({
      id,
      dependsOn: [...deps],
      retry: { maxAttempts: 3, initialDelayMs: 2 },
      run: async ({ deps, attempt }) => {
        if (markers !== undefined) Deno.writeTextFileSync(`${markers}/${id}.${Deno.pid}.${attempt}`, "");
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (id === "t5" && attempt === 1) throw new Error("t5 fails its first attempt");
        let digest = i + 1;
        for (const key of Object.keys(deps).sort()) {
          digest = (Math.imul(digest, 31) + (deps[key] as CrashResult).digest) | 0;
        }
        return { id, digest } satisfies CrashResult;
      },
    });
  }
  return defineWorkflow({ name: "crash", tasks });
}
