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
import { flow } from "../mod.ts";

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

const keys = (n: number) => Array.from({ length: n }, (_, k) => String(k));
let flaky = 0;

/** The workflow the CLI runs (typed: each merge adds the numbers its ten parses return). */
export const workflow = flow<{ scale: number }>("cli-demo")
  .each("fetch", keys(12), {
    run: async ({ input, signal }, f) => {
      await sleep(40 * input.scale + Number(f) * 5, signal);
      return Number(f);
    },
  })
  .each("parse", keys(60), {
    dependsOn: (p): `fetch:${number}`[] => [`fetch:${Number(p) % 12}`],
    retry: { maxAttempts: 3, initialDelayMs: 50 },
    run: async ({ input, signal }, p) => {
      await sleep(20 * input.scale + (Number(p) % 7) * 10, signal);
      if (p === "13" && ++flaky === 1) throw new Error("parse:13 hit a flaky parser");
      return Number(p);
    },
  })
  .each("merge", keys(6), {
    dependsOn: (m) => Array.from({ length: 10 }, (_, k): `parse:${number}` => `parse:${Number(m) * 10 + k}`),
    run: async ({ deps, input, signal }) => {
      await sleep(60 * input.scale, signal);
      return Object.values(deps).reduce((a, b) => a + b, 0);
    },
  })
  .task("report", {
    dependsOn: ["merge:*"],
    priority: "high",
    run: ({ deps }) => `sum ${Object.values(deps).reduce((a, b) => a + b, 0)}`,
  })
  .build();

/** The run's input: a time scale for the sleeps. */
export const input: { scale: number } = { scale: 1 };
