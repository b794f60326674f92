// The workflow of the coordinator failover tests, shared by the coordinator
// processes (killed, standby) and the test that checks the results.
// Deterministic: shape, delays and results depend only on the seed; every
// execution of a task body leaves a marker file
// `<markers>/<run>.<task>.<pid>.<attempt>` (the side-effect counter), where
// `markers` comes from the run's input.
import { defineWorkflow, type TaskDef, type Workflow } from "../mod.ts";
import { prng } from "../bench/_dags.ts";

/** A task's result: its id and a digest of its dependencies' results. */
export interface FailoverResult {
  id: string;
  digest: number;
}

/** The run's input. */
export interface FailoverInput {
  /** Where task bodies leave markers. */
  markers: string;
  /** Added to every task's delay (ms). */
  slowMs?: number;
}

export const FAILOVER_TASKS = 12;

/** 12 tasks, each depending on up to 2 earlier ones, 15–60 ms each; t3 fails its first attempt. */
export function failoverWorkflow(seed = 11): Workflow<FailoverInput> {
  const rnd = prng(seed);
  const tasks: TaskDef<FailoverInput>[] = [];
  for (let i = 0; i < FAILOVER_TASKS; i++) {
    const deps = new Set<string>();
    const k = i === 0 ? 0 : 1 + Math.floor(rnd() * 2);
    for (let j = 0; j < k; j++) deps.add(`t${Math.floor(rnd() * i)}`);
    const delay = 15 + Math.floor(rnd() * 45);
    const id = `t${i}`;
    tasks.push({
      id,
      dependsOn: [...deps],
      retry: { maxAttempts: 3, initialDelayMs: 5 },
      run: async ({ deps, attempt, input, runId }) => {
        Deno.writeTextFileSync(`${input.markers}/${runId}.${id}.${Deno.pid}.${attempt}`, "");
        await new Promise((resolve) => setTimeout(resolve, delay + (input.slowMs ?? 0)));
        if (id === "t3" && attempt === 1) throw new Error("t3 fails its first attempt");
        let digest = i + 1;
        for (const key of Object.keys(deps).sort()) {
          digest = (Math.imul(digest, 31) + (deps[key] as FailoverResult).digest) | 0;
        }
        return { id, digest } satisfies FailoverResult;
      },
    });
  }
  return defineWorkflow({ name: "failover", tasks });
}
