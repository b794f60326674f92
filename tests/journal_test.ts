import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Journal } from "../src/log/journal.ts";
import type { AnyFlowEvent } from "../src/types.ts";

const event = (seq: number, runId: string) =>
  ({ type: "task.started", seq, runId, workflowId: "w", taskId: "t", timestamp: 0, data: {} }) as AnyFlowEvent;

type Op =
  | { kind: "push"; run: string; n: number }
  | { kind: "drop"; runs: string[] }
  | { kind: "dropThrough"; at: number };
const run = fc.constantFrom("a", "b", "c", "d");
const op: fc.Arbitrary<Op> = fc.oneof(
  // Stretches of up to 5,000 events of one run: pushes cross the 4,096-event chunk boundary.
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("push" as const), run, n: fc.integer({ min: 1, max: 5000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("drop" as const), runs: fc.array(run, { maxLength: 3 }) }) },
  // A prefix: the events up to a seq picked among (and around) those held, `at` in [0, 1].
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("dropThrough" as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
);

Deno.test("the journal holds what a plain array holds, across chunk boundaries, drops and prefix drops", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 12 }), fc.nat(20_000), fc.nat(20_000), (ops, a, b) => {
      const journal = new Journal();
      let model: AnyFlowEvent[] = [];
      let seq = 0;
      for (const o of ops) {
        if (o.kind === "push") {
          for (let i = 0; i < o.n; i++) {
            const e = event(++seq, o.run);
            journal.push(e);
            model.push(e);
          }
        } else if (o.kind === "drop") {
          const dropped = new Set(o.runs);
          journal.drop(dropped);
          model = model.filter((e) => !dropped.has(e.runId));
        } else {
          const through = Math.floor(o.at * (seq + 1)); // 0 (nothing) to seq (everything)
          journal.dropThrough(through);
          model = model.filter((e) => e.seq > through);
        }
        assert.equal(journal.length, model.length);
      }
      const n = model.length;
      assert.deepEqual([...journal], model);
      const from = n === 0 ? 0 : a % (n + 1), to = n === 0 ? 0 : Math.max(from, b % (n + 1));
      assert.deepEqual(journal.slice(from, to), model.slice(from, to));
      assert.deepEqual(journal.filter((e) => e.runId === "b"), model.filter((e) => e.runId === "b"));
      if (n > 0) assert.equal(journal.at(from % n), model[from % n]);
      // positionOf: the events with seq <= s.
      for (const s of [0, a % (seq + 2), seq, seq + 1]) {
        assert.equal(journal.positionOf(s), model.filter((e) => e.seq <= s).length);
      }
    }),
    { numRuns: 200 },
  );
});
