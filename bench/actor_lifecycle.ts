// One task actor's lifecycle (create, start → ready, dispatch → running, run.done → completed), XState's
// interpreter vs the compiled flat machine (its actions through XState's action executor, as with an inspector, and
// called directly, as without one), with a host whose actions do nothing: µs per lifecycle, and, when run with
// --v8-flags=--expose-gc,--single-threaded,--min-semi-space-size=128,--max-semi-space-size=128, the bytes a lifecycle
// allocates in the young generation.
// Usage: deno run bench/actor_lifecycle.ts
import v8 from "node:v8";
import { createActor } from "../src/deps.ts";
import { taskMachine } from "../actors/task_machine.ts";
import { compileFlatMachine } from "../actors/flat_machine.ts";

const host = {
  depsBlocked: () => false,
  depsCompleted: () => true,
  canRetry: () => false,
  enqueue() {},
  dequeue() {},
  execute() {},
  release() {},
  recordError() {},
  scheduleRetry() {},
  cancelRetry() {},
  settle() {},
};
const logics = {
  interpreted: taskMachine,
  "compiled (executor)": compileFlatMachine(taskMachine),
  "compiled (direct)": compileFlatMachine(taskMachine, { actions: "direct" }),
} as const;
const DISPATCH = { type: "dispatch" } as const;
function lifecycle(name: string, logic: typeof taskMachine, i: number): void {
  const actor = createActor(logic, { input: { host, index: i } as never });
  actor.start();
  actor.send(DISPATCH);
  actor.send({ type: "run.done", result: i });
  if (actor.getSnapshot().value !== "completed") throw new Error(`${name}: not completed`);
}
const N = 20_000;
for (let round = 0; round < 3; round++) {
  const row: string[] = [];
  for (const [name, logic] of Object.entries(logics)) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) lifecycle(name, logic as typeof taskMachine, i);
    row.push(`${name} ${((performance.now() - t0) * 1000 / N).toFixed(2)} µs`);
  }
  console.log(`round ${round + 1}: ${row.join(", ")} per lifecycle`);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) {
  const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_used_size ?? 0;
  const row: string[] = [];
  for (const [name, logic] of Object.entries(logics)) {
    const counts: number[] = [];
    for (let t = 0; t < 5; t++) {
      gc();
      gc();
      const before = young();
      for (let i = 0; i < 1000; i++) lifecycle(name, logic as typeof taskMachine, i);
      counts.push((young() - before) / 1000);
    }
    row.push(`${name} ${counts.sort((a, b) => a - b)[2].toFixed(0)} B`);
  }
  console.log(`young generation per lifecycle (median of 5 counts of 1,000): ${row.join(", ")}`);
}
