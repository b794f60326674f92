import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { type TaskDraft, TaskStates } from "../src/log/task_states.ts";
import { TASK_STATUSES } from "../src/tables.ts";

const draft: fc.Arbitrary<TaskDraft> = fc.record({
  status: fc.constantFrom(...TASK_STATUSES),
  attempts: fc.nat(5),
  startedAt: fc.option(fc.double({ noNaN: true }), { nil: undefined }),
  endedAt: fc.option(fc.double({ noNaN: true }), { nil: undefined }),
  result: fc.option(fc.oneof(fc.integer(), fc.string(), fc.array(fc.integer(), { maxLength: 3 })), { nil: undefined }),
  cached: fc.boolean(),
  path: fc.option(fc.constantFrom("primary" as const, "fallback" as const), { nil: undefined }),
  error: fc.option(fc.record({ name: fc.string(), message: fc.string() }), { nil: undefined }),
  order: fc.nat(100),
}).map((d) => ({ ...d })); // plain objects (fast-check's records have no prototype)
/** Batches of task writes, over indexes that cross leaves of 32 tasks. */
const batches = fc.array(fc.array(fc.tuple(fc.nat(99), draft), { maxLength: 12 }), { minLength: 1, maxLength: 12 });

Deno.test("task states read back what each batch wrote, and older versions stay as they were", () => {
  fc.assert(
    fc.property(batches, (writes) => {
      let states = TaskStates.EMPTY;
      let model = new Map<number, TaskDraft>();
      const versions: [TaskStates, Map<number, TaskDraft>][] = [[states, model]];
      for (const batch of writes) {
        states = states.with(new Map(batch));
        model = new Map([...model, ...batch]);
        versions.push([states, model]);
      }
      for (const [v, m] of versions) {
        assert.equal(v.size, m.size === 0 ? 0 : Math.max(...m.keys()) + 1);
        for (let k = 0; k < 100; k++) {
          const want = m.get(k);
          assert.deepEqual(v.get(k), want);
          assert.equal(v.statusAt(k), want?.status);
          assert.equal(v.errorAt(k), want?.error);
        }
        const seen: number[] = [];
        v.forEach((t, k) => {
          seen.push(k);
          assert.deepEqual(t, m.get(k));
        });
        assert.deepEqual(seen, [...m.keys()].sort((a, b) => a - b));
      }
    }),
  );
});

Deno.test("task states compare equal exactly when every task's state is equal", () => {
  fc.assert(
    fc.property(batches, fc.nat(), (writes, pick) => {
      const build = (ws: [number, TaskDraft][][]) => ws.reduce((s, b) => s.with(new Map(b)), TaskStates.EMPTY);
      const a = build(writes);
      // The same final states written in one batch, as copies: equal, with equal hashes.
      const flat = new Map(writes.flat());
      const b = TaskStates.EMPTY.with(new Map([...flat].map(([k, t]) => [k, structuredClone(t)])));
      assert.ok(a.equals(b) && b.equals(a));
      assert.equal(a.hashCode(), b.hashCode());
      // One task changed in one field: unequal.
      if (flat.size === 0) return;
      const keys = [...flat.keys()];
      const k = keys[pick % keys.length];
      const t = flat.get(k)!;
      const fields: Partial<TaskDraft>[] = [
        { attempts: t.attempts + 1 },
        { startedAt: t.startedAt === undefined ? 0 : undefined },
        { endedAt: t.endedAt === undefined ? 0 : undefined },
        { order: t.order + 1 },
        { cached: !t.cached },
        { status: t.status === "failed" ? "completed" : "failed" },
        { result: [t.result] },
        { error: { name: "Other", message: String(t.error?.message) + "!" } },
        { path: t.path === "fallback" ? "primary" : "fallback" },
      ];
      for (const change of fields) {
        const c = a.with(new Map([[k, { ...t, ...change }]]));
        assert.ok(!c.equals(a) && !a.equals(c), `a change of ${Object.keys(change)[0]} compares unequal`);
      }
    }),
  );
});

Deno.test("a task with no state equals one never written; a time of NaN reads back as undefined", () => {
  const t: TaskDraft = {
    status: "ready",
    attempts: 0,
    startedAt: undefined,
    endedAt: undefined,
    result: undefined,
    cached: false,
    path: undefined,
    error: undefined,
    order: 0,
  };
  const far = TaskStates.EMPTY.with(new Map([[40, t]]));
  assert.equal(far.size, 41);
  assert.equal(far.get(3), undefined);
  assert.equal(far.statusAt(3), undefined);
  assert.ok(!far.equals(TaskStates.EMPTY));
  assert.ok(far.equals(TaskStates.EMPTY.with(new Map([[40, { ...t }]]))));
  assert.equal(TaskStates.EMPTY.with(new Map([[0, { ...t, startedAt: NaN }]])).get(0)!.startedAt, undefined);
});
