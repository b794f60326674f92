// Task bodies for the worker benchmarks: loaded by the main thread, the pools' workers and the raw workers.
import { defineTasks } from "../mod.ts";

/** Pure computation: `rounds` rounds of an xorshift mix. Deterministic, allocation-free. */
export function spin(rounds: number): number {
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < rounds; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x >>> 0;
}

export const tasks = defineTasks(import.meta.url, {
  spin: ({ input }: { input: unknown }) => spin(input as number),
  noop: () => undefined,
});
