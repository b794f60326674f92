// One task actor's lifecycle (create, start → ready, dispatch → running, run.done → completed),
// XState's interpreter vs the compiled flat machine, with a host whose actions do nothing.
// Usage: deno run bench/actor_lifecycle.ts
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
  recordResult() {},
  recordError() {},
  scheduleRetry() {},
  cancelRetry() {},
  settle() {},
};
const logics = { interpreted: taskMachine, compiled: compileFlatMachine(taskMachine) } as const;
const N = 20_000;
for (let round = 0; round < 3; round++) {
  const row: string[] = [];
  for (const [name, logic] of Object.entries(logics)) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const actor = createActor(logic as typeof taskMachine, { input: { host, index: i } as never });
      actor.start();
      actor.send({ type: "dispatch" });
      actor.send({ type: "run.done", result: i });
      if (actor.getSnapshot().value !== "completed") throw new Error(`${name}: not completed`);
    }
    row.push(`${name} ${((performance.now() - t0) * 1000 / N).toFixed(2)} µs`);
  }
  console.log(`round ${round + 1}: ${row.join(", ")} per lifecycle`);
}
