import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { createProjectionStore, type RunView } from "../extend.ts";
import { runView } from "../src/store.ts";

const view = (runId: string, completed: number): RunView => ({
  runId,
  workflowId: "w",
  status: "running",
  createdAt: 0,
  taskCount: 1,
  counts: { pending: 0, running: 0, completed, failed: 0, skipped: 0, cancelled: 0 },
} as unknown as RunView);

type Op =
  | { kind: "update"; seq: number; ids: string[] }
  | { kind: "touch"; seq: number; ids: string[] }
  | { kind: "remove"; ids: string[] }
  | { kind: "read" }
  | { kind: "listen" }
  | { kind: "unlisten" };

const id = fc.constantFrom("a", "b", "c", "constructor", "7");
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("update" as const), seq: fc.nat(50), ids: fc.array(id, { maxLength: 3 }) }),
  fc.record({ kind: fc.constant("touch" as const), seq: fc.nat(50), ids: fc.array(id, { maxLength: 3 }) }),
  fc.record({ kind: fc.constant("remove" as const), ids: fc.array(id, { maxLength: 3 }) }),
  fc.record({ kind: fc.constant("read" as const) }),
  fc.record({ kind: fc.constant("listen" as const) }),
  fc.record({ kind: fc.constant("unlisten" as const) }),
);

Deno.test("the projection store holds what each update, touch and removal says, in order, read or listened to at any time", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      // Touched runs' views are read from `source` (the engine's log) when the store takes them in.
      const source = new Map<string, RunView>();
      let reads = 0;
      const store = createProjectionStore((runId) => {
        reads++;
        return source.get(runId)!;
      });
      // The model: runs in the order they were first set (a removed run set again goes to the end), the last seq.
      const model = new Map<string, RunView>();
      let seq = 0;
      let n = 0;
      const offs: (() => void)[] = [];
      const heard: { last: RunView | undefined }[] = [];
      const check = () => {
        const state = store.getSnapshot();
        assert.equal(state.seq, seq);
        assert.deepEqual(Object.keys(state.runs), [...model.keys()]);
        for (const [runId, v] of model) assert.equal(runView(state, runId), v);
        assert.equal(runView(state, "toString"), undefined);
      };
      for (const o of ops) {
        if (o.kind === "update") {
          if (o.ids.length === 0) continue; // the engine sends only batches that touched a run
          const runs: Record<string, RunView> = Object.create(null);
          for (const runId of o.ids) runs[runId] = view(runId, n++);
          for (const runId in runs) model.set(runId, runs[runId]);
          seq = o.seq;
          store.update(o.seq, runs);
        } else if (o.kind === "touch") {
          if (o.ids.length === 0) continue;
          for (const runId of o.ids) {
            const v = view(runId, n++);
            source.set(runId, v);
            model.set(runId, v);
          }
          seq = o.seq;
          const before = reads;
          store.touch(o.seq, o.ids);
          // Nobody listens: no view is read until the next read.
          if (heard.length === 0) assert.equal(reads, before);
        } else if (o.kind === "remove") {
          for (const runId of o.ids) model.delete(runId);
          store.remove(o.ids);
        } else if (o.kind === "read") check();
        else if (o.kind === "listen") {
          const ear = { last: model.get("a") };
          heard.push(ear);
          offs.push(store.select((s) => runView(s, "a"), (v) => ear.last = v));
        } else {
          offs.pop()?.();
          heard.pop();
        }
        // Each listener hears every change of its run at once, without a read.
        for (const ear of heard) assert.equal(ear.last, model.get("a"));
      }
      check();
    }),
    { numRuns: 1000 },
  );
});

Deno.test("touch() on a store created without a view reader is a TypeError", () => {
  assert.throws(() => createProjectionStore().touch(1, ["a"]), TypeError);
});
