/**
 * A workflow for the CLI and the dashboard: a fan-out of 12 fetches, 60
 * parses (one flaky, retried), 6 merges and a report, with short sleeps so
 * the progress can be watched.
 *
 * ```sh
 * deno task run examples/cli_demo.ts                 # progress bar, then a summary table
 * deno task run examples/cli_demo.ts --dashboard --keep-open
 * deno task run examples/cli_demo.ts --graph mermaid
 * ```
 *
 * @module
 */
import { defineWorkflow, type TaskDef } from "../mod.ts";

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

const tasks: TaskDef<{ scale: number }>[] = [];
for (let f = 0; f < 12; f++) {
  tasks.push({
    id: `fetch:${f}`,
    run: async ({ input, signal }) => {
      await sleep(40 * input.scale + f * 5, signal);
      return f;
    },
  });
}
let flaky = 0;
for (let p = 0; p < 60; p++) {
  tasks.push({
    id: `parse:${p}`,
    dependsOn: [`fetch:${p % 12}`],
    retry: { maxAttempts: 3, initialDelayMs: 50 },
    run: async ({ input, signal }) => {
      await sleep(20 * input.scale + (p % 7) * 10, signal);
      if (p === 13 && ++flaky === 1) throw new Error("parse:13 hit a flaky parser");
      return p;
    },
  });
}
for (let m = 0; m < 6; m++) {
  tasks.push({
    id: `merge:${m}`,
    dependsOn: Array.from({ length: 10 }, (_, k) => `parse:${m * 10 + k}`),
    run: async ({ deps, input, signal }) => {
      await sleep(60 * input.scale, signal);
      return Object.values(deps).reduce((a: number, b) => a + Number(b), 0);
    },
  });
}
tasks.push({
  id: "report",
  dependsOn: Array.from({ length: 6 }, (_, m) => `merge:${m}`),
  priority: "high",
  run: ({ deps }) => `sum ${Object.values(deps).reduce((a: number, b) => a + Number(b), 0)}`,
});

/** The workflow the CLI runs. */
export const workflow = defineWorkflow({ name: "cli-demo", tasks });

/** The run's input: a time scale for the sleeps. */
export const input: { scale: number } = { scale: 1 };
