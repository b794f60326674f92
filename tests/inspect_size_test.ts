// Issue 11, section 5 (the inspector): what an inspector receives per event must not grow with the
// run. Measured through @statelyai/inspect's own createInspector and its serialisation
// (fast-safe-stringify, as its browser inspector does), with an adapter that keeps the sizes.
import assert from "node:assert/strict";
import { createInspector } from "npm:@statelyai/inspect@^0.7.2";
import fastSafeStringify from "npm:fast-safe-stringify@^2.1.1";

const safeStringify = fastSafeStringify as unknown as (value: unknown) => string;
import { createEngine, defineWorkflow } from "../mod.ts";

async function inspectedSizes(n: number, taskLogic: "compiled" | "interpreted") {
  let largest = 0;
  let total = 0;
  let snapshots = 0;
  const adapter = {
    send(event: unknown) {
      const size = safeStringify(event).length;
      total += size;
      largest = Math.max(largest, size);
    },
    start() {},
    stop() {},
  };
  const inspector = createInspector(adapter, {
    serialize: (event: unknown) => {
      if ((event as { type: string }).type === "@xstate.snapshot") snapshots++;
      return JSON.parse(safeStringify(event));
    },
  });
  const engine = createEngine({ inspect: inspector.inspect, taskLogic });
  try {
    const tasks = Array.from({ length: n }, (_, k) => ({
      id: `t${k}`,
      dependsOn: k === 0 ? [] : [`t${k - 1}`],
      description: "a task with some text in its spec, as real workflows have".repeat(4),
      run: () => k,
    }));
    const result = await engine.run(defineWorkflow({ name: `inspected-${n}`, tasks }));
    assert.equal(result.status, "completed");
    // The inspector sends each event on a later timer turn: let them all go out.
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    await engine.close();
  }
  return { largest, total, snapshots };
}

for (const taskLogic of ["compiled", "interpreted"] as const) {
  Deno.test(`an inspection snapshot carries the task's own state, not the run (${taskLogic})`, async () => {
    const small = await inspectedSizes(20, taskLogic);
    const large = await inspectedSizes(200, taskLogic);
    assert.ok(small.snapshots > 0 && large.snapshots > 0);
    // The largest event does not grow with the run (it grew with every task's spec before).
    assert.ok(
      large.largest < 2 * small.largest,
      `largest event ${small.largest} B at 20 tasks, ${large.largest} B at 200`,
    );
    // In all: linear in the tasks (10x the tasks, well under 20x the bytes), not quadratic (100x).
    assert.ok(large.total < 20 * small.total, `${small.total} B at 20 tasks, ${large.total} B at 200`);
  });
}
