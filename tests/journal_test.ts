import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { flowEvent } from "../src/event.ts";
import { Journal } from "../src/log/journal.ts";
import type { AnyFlowEvent } from "../src/types.ts";

// Events as the engine makes them (kept in columns, made again on read), with a completion's data (kept as its result
// and a number), a finished run's (a number) or other data (kept as it is), and events of another shape (no attempt
// field: kept as they are).
const dataOf = (seq: number) =>
  seq % 3 === 0 ? { result: { n: seq }, durationMs: seq / 7 } : seq % 3 === 1 ? { durationMs: -seq } : { input: seq };
const event = (seq: number, runId: string, made: boolean) =>
  made
    ? flowEvent(
      "task.completed",
      seq,
      runId,
      "w",
      "t",
      seq % 3 === 0 ? undefined : seq % 5,
      1.7e12 + seq / 3,
      dataOf(seq) as never,
    )
    : ({ type: "task.started", seq, runId, workflowId: "w", taskId: "t", timestamp: 0, data: {} }) as AnyFlowEvent;
/** The data read back is the data appended, or a completion's made again around the same result. */
const sameData = (got: unknown, want: unknown) => {
  const w = want as { durationMs?: number; result?: unknown };
  if (w.durationMs === undefined || Object.keys(w).length > 2) return assert.equal(got, want);
  assert.deepEqual(got, want);
  assert.equal((got as { result?: unknown }).result, w.result);
};

type Op =
  | { kind: "push"; run: string; n: number; made: boolean }
  | { kind: "drop"; runs: string[] }
  | { kind: "dropThrough"; at: number };
const run = fc.constantFrom("a", "b", "c", "d");
const op: fc.Arbitrary<Op> = fc.oneof(
  // Stretches of up to 5,000 events of one run: pushes cross the 4,096-event chunk boundary.
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("push" as const),
      run,
      n: fc.integer({ min: 1, max: 5000 }),
      made: fc.boolean(),
    }),
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
            const e = event(++seq, o.run, o.made);
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
      assert.deepEqual(journal.ofRuns((id) => id === "b"), model.filter((e) => e.runId === "b"));
      assert.deepEqual(journal.ofRuns((id) => id !== "c"), model.filter((e) => e.runId !== "c"));
      if (n > 0) {
        const got = journal.slice(from % n, from % n + 1)[0], want = model[from % n];
        assert.deepEqual(got, want);
        sameData(got.data, want.data);
      }
      // positionOf: the events with seq <= s.
      for (const s of [0, a % (seq + 2), seq, seq + 1]) {
        assert.equal(journal.positionOf(s), model.filter((e) => e.seq <= s).length);
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("the journal keeps the engine's events in columns and any other event as it is", () => {
  const journal = new Journal();
  const result = { rows: [1, 2] };
  const made = [
    flowEvent("task.completed", 1, "r", "w", "a", 2, 1_733_400_000_123.5, { result, durationMs: -0 } as never),
    flowEvent("workflow.created", 2, "r", "w", undefined, undefined, -0, { input: 1, taskIds: [] } as never),
    flowEvent("workflow.completed", 9, "r", "w", undefined, undefined, 5, { durationMs: 3 } as never),
  ];
  // Data of another shape, kept as it is (the very objects): the fields in another order, a duration that is not a
  // number, a field more, a prototype of its own.
  const oddData = [
    { durationMs: 1, result },
    { result, durationMs: "1" },
    { result, durationMs: 1, cached: true },
    Object.assign(Object.create(null), { durationMs: 1 }),
  ];
  const withOddData = oddData.map((data, i) => flowEvent("task.completed", 10 + i, "r", "w", "a", 1, 0, data as never));
  class Custom {
    type = "workflow.started";
    seq = 6;
    runId = "r";
    workflowId = "w";
    taskId = undefined;
    attempt = undefined;
    timestamp = 0;
    data = {};
  }
  const odd = [
    { type: "workflow.started", seq: 3, runId: "r", workflowId: "w", timestamp: 0, data: {} }, // no taskId, attempt
    {
      seq: 4,
      type: "workflow.started",
      runId: "r",
      workflowId: "w",
      taskId: undefined,
      attempt: undefined,
      timestamp: 0,
      data: {},
    }, // order
    { ...made[1], seq: 5, extra: true }, // a field more
    new Custom(), // a prototype of its own
    { ...made[1], seq: 7, timestamp: "now" }, // not a number
    { ...made[1], seq: 8, attempt: NaN }, // NaN: the column's mark for no attempt
  ] as unknown as AnyFlowEvent[];
  for (const e of [...made, ...odd]) journal.push(e);
  const back = journal.slice();
  // Made again: equal (fields, order, -0, undefined kept as a field), not the same objects; the data is the same object
  // but a completion's or a finished run's, made again (equal, fields in order, around the same result).
  for (let i = 0; i < made.length; i++) {
    assert.notEqual(back[i], made[i]);
    assert.deepEqual(back[i], made[i]);
    assert.deepEqual(Object.keys(back[i]), Object.keys(made[i]));
    assert.deepEqual(Object.keys(back[i].data), Object.keys(made[i].data));
    assert.equal(Object.getPrototypeOf(back[i]), Object.prototype);
    assert.equal(Object.getPrototypeOf(back[i].data), Object.prototype);
  }
  assert.equal(back[1].data, made[1].data);
  assert.notEqual(back[0].data, made[0].data);
  assert.equal((back[0].data as { result: unknown }).result, result);
  assert.ok(Object.is((back[0].data as { durationMs: number }).durationMs, -0));
  assert.ok(Object.isFrozen(back[0].data) && Object.isFrozen(back[2].data));
  assert.ok(Object.is(back[1].timestamp, -0));
  const other = new Journal();
  for (const e of withOddData) other.push(e);
  other.slice().forEach((e, i) => assert.equal(e.data, oddData[i], `odd data ${i} kept as it is`));
  // Kept as they are: the very objects.
  for (let i = 0; i < odd.length; i++) assert.equal(back[made.length + i], odd[i]);
  // Compaction keeps both kinds as they were.
  journal.drop(new Set(["other"]));
  assert.deepEqual(journal.slice(), back);
  const kept = journal.slice(made.length);
  for (let i = 0; i < odd.length; i++) assert.equal(kept[i], odd[i]);
});

Deno.test("a first event with no run id is kept by drops and run reads; a push that throws leaves the journal as it was", () => {
  const journal = new Journal();
  const odd = { type: "workflow.started", seq: 1, runId: undefined, workflowId: "w", timestamp: 0, data: {} };
  journal.push(odd as unknown as AnyFlowEvent);
  journal.push(event(2, "a", true));
  journal.push(event(3, "b", true));
  assert.equal(journal.ofRuns((id) => id !== "b").length, 2);
  const throwing = { ...event(4, "c", true) };
  Object.defineProperty(throwing, "timestamp", {
    enumerable: true,
    get: () => {
      throw new Error("no time");
    },
  });
  assert.throws(() => journal.push(throwing), /no time/);
  assert.equal(journal.length, 3);
  journal.push(event(5, "c", true));
  assert.deepEqual([...journal].map((e) => e.seq), [1, 2, 3, 5]);
  journal.drop(new Set(["b"]));
  assert.deepEqual([...journal].map((e) => e.seq), [1, 2, 5]);
  assert.equal(journal.slice(0, 1)[0], odd);
});

/** An event of the engine's shape whose `field` is an enumerable getter. */
function withGetter(seq: number, runId: string, taskId: string, field: string, get: () => unknown): AnyFlowEvent {
  const e = { ...flowEvent("task.started", seq, runId, "w", taskId, 1, 100, undefined as never) } as Record<
    string,
    unknown
  >;
  Object.defineProperty(e, field, { enumerable: true, configurable: true, get });
  return e as unknown as AnyFlowEvent;
}

Deno.test("a push reads each field of an event once, and keeps the values it checked", () => {
  for (const field of ["type", "seq", "runId", "workflowId", "taskId", "attempt", "timestamp", "data"]) {
    const journal = new Journal();
    const value = (flowEvent("task.started", 1, "r", "w", "t", 1, 100, undefined as never) as never)[field];
    let reads = 0;
    journal.push(withGetter(1, "r", "t", field, () => (reads++, value)));
    assert.equal(reads, 1, `${field} read once`);
  }
  // A number when checked, a string after: the number is what the journal keeps.
  const journal = new Journal();
  let reads = 0;
  journal.push(withGetter(1, "r", "t", "timestamp", () => (reads++ === 0 ? 100 : "later")));
  assert.equal(journal.slice()[0].timestamp, 100);
});

Deno.test("pushes that throw after reading new ids leave no trace: a later event reads back its own ids", () => {
  const journal = new Journal();
  journal.push(flowEvent("task.started", 1, "r0", "w", "t0", 1, 100, undefined as never));
  // More failed pushes with new ids than 16-bit positions can number (the data is read after the ids).
  for (let i = 0; i < 70_000; i++) {
    const bad = withGetter(2, `rx${i}`, `tx${i}`, "data", () => {
      throw new Error("no data");
    });
    assert.throws(() => journal.push(bad), /no data/);
  }
  assert.equal(journal.length, 1);
  const next = flowEvent("task.started", 3, "r-new", "w", "t-new", 1, 100, undefined as never);
  journal.push(next);
  assert.deepEqual(journal.slice(), [flowEvent("task.started", 1, "r0", "w", "t0", 1, 100, undefined as never), next]);
  // In columns (made again on read): had the failed pushes placed their ids, the table would be full and the event
  // kept as it is (the very object).
  assert.notEqual(journal.slice()[1], next);
});

Deno.test("ids that are not strings are kept as they are: a task id of -0 after one of 0 stays -0", () => {
  const journal = new Journal();
  const a = flowEvent("task.started", 1, "r", "w", 0 as unknown as string, 1, 100, undefined as never);
  const b = flowEvent("task.started", 2, "r", "w", -0 as unknown as string, 1, 100, undefined as never);
  journal.push(a);
  journal.push(b);
  const back = journal.slice();
  assert.ok(Object.is(back[1].taskId, -0));
  assert.deepStrictEqual(back, [a, b]);
});
