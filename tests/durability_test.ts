/**
 * What the engine guarantees on a durable log store: nothing is
 * acknowledged — a completed task's dependents, bus delivery, the run's
 * result — before the store has the events; inputs and results must be JSON
 * data, and the error names the culprit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, defineWorkflow, NotSerializableError, TaskFailedError } from "../mod.ts";
import { type AnyFlowEvent, createMemoryLogStore } from "../extend.ts";
import { gatedStore, settle } from "./_stores.ts";

function chain() {
  const started: string[] = [];
  const wf = defineWorkflow({
    name: "chain",
    tasks: [
      { id: "a", run: () => (started.push("a"), 1) },
      { id: "b", dependsOn: ["a"], run: ({ deps }) => (started.push("b"), Number(deps.a) + 1) },
    ],
  });
  return { wf, started };
}

Deno.test("on a durable store, a completed task's dependents start only after its event is stored", async () => {
  const store = gatedStore();
  const engine = createEngine({ logStore: store });
  const { wf, started } = chain();
  const result = engine.run(wf);
  await settle();
  assert.deepEqual(started, ["a"]);
  const completedA = store.received.findIndex((e) => e.type === "task.completed" && e.taskId === "a");
  assert.ok(completedA >= 0, "a's completion was handed to the store");
  // However long we wait, b does not start until the store acknowledges.
  for (let i = 0; i < 5; i++) await settle();
  assert.deepEqual(started, ["a"]);
  store.release();
  await settle();
  assert.deepEqual(started, ["a", "b"]);
  store.release();
  await settle();
  store.release();
  assert.equal((await result).tasks.b.result, 2);
  await engine.close();
});

Deno.test("on a durable store, bus listeners hear an event only once it is stored, in order", async () => {
  const store = gatedStore();
  const engine = createEngine({ logStore: store });
  const heard: AnyFlowEvent[] = [];
  engine.bus.onAny((e) => heard.push(e));
  const result = engine.run(chain().wf);
  await settle();
  assert.equal(heard.length, 0);
  assert.ok(store.received.length > 0);
  while (store.waiting > 0) {
    store.release(1);
    await settle();
    assert.deepEqual(heard.map((e) => e.seq), store.stored.map((e) => e.seq));
  }
  await result;
  assert.deepEqual(heard.map((e) => e.seq), store.received.map((e) => e.seq));
  await engine.close();
});

Deno.test("on a durable store, the run's result resolves only once its last event is stored", async () => {
  const store = gatedStore();
  const engine = createEngine({ logStore: store });
  let resolved = false;
  const result = engine.run(chain().wf).then((r) => (resolved = true, r));
  // Acknowledge everything until workflow.completed has been handed over, but not that batch.
  for (;;) {
    await settle();
    if (store.received.some((e) => e.type === "workflow.completed")) break;
    store.release();
  }
  for (let i = 0; i < 3; i++) await settle();
  assert.notEqual(store.stored.at(-1)?.type, "workflow.completed");
  assert.equal(resolved, false, "resolved before workflow.completed was stored");
  store.release();
  assert.equal((await result).status, "completed");
  await engine.close();
});

Deno.test("a failing durable store cancels the run and rejects its result with the store's error", async () => {
  const store = gatedStore();
  const engine = createEngine({ logStore: store });
  const errors: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args);
  try {
    const { wf, started } = chain();
    const result = engine.run(wf);
    await settle();
    const disk = new Error("disk full");
    store.fail(disk);
    await assert.rejects(result, (e) => e === disk);
    assert.deepEqual(started, ["a"], "b never started: a's completion was never stored");
    assert.equal(errors.length, 1, "the store error is reported once");
    await assert.rejects(engine.log.sync(), (e) => e === disk);
  } finally {
    console.error = original;
    await engine.close();
  }
});

Deno.test("on a durable store, a task whose result is not JSON data fails without retries, and the error names the task", async (t) => {
  const cases: [string, unknown, string, string][] = [
    ["a Date", { when: new Date(0) }, "$.when", "a Date"],
    ["a function", [1, () => 2], "$[1]", "a function"],
    ["NaN", { n: NaN }, "$.n", "NaN"],
    ["a Map", new Map(), "$", "a Map"],
    ["a bigint", { big: 1n }, "$.big", "a bigint"],
  ];
  for (const [name, value, path, what] of cases) {
    await t.step(name, async () => {
      const store = gatedStore();
      const engine = createEngine({ logStore: store });
      let calls = 0;
      const wf = defineWorkflow({
        name: "bad",
        tasks: [
          { id: "parse", retry: { maxAttempts: 3, initialDelayMs: 0 }, run: () => (calls++, value) },
          { id: "after", dependsOn: ["parse"], run: () => 1 },
        ],
      });
      const pending = engine.run(wf);
      const pump = setInterval(() => store.release(), 1);
      try {
        const result = await pending;
        assert.equal(result.status, "failed");
        assert.equal(calls, 1);
        const error = result.tasks.parse.error;
        assert.ok(error instanceof NotSerializableError);
        assert.equal(error.owner, "parse");
        assert.equal(error.part, "result");
        assert.equal(error.path, path);
        assert.equal(error.what, what);
        assert.match(error.message, /task "parse"/);
        assert.ok(result.error instanceof TaskFailedError);
        assert.equal(result.tasks.after.status, "skipped");
      } finally {
        clearInterval(pump);
        await engine.close();
      }
    });
  }
});

Deno.test("on a durable store, an input that is not JSON data is refused before anything starts", async () => {
  const store = gatedStore();
  const engine = createEngine({ logStore: store });
  try {
    assert.throws(
      () => engine.start(chain().wf, { input: { at: new Date() }, runId: "r" }),
      (e) => e instanceof NotSerializableError && e.part === "input" && e.owner === "r" && e.path === "$.at",
    );
    await settle();
    assert.equal(store.received.length, 0);
  } finally {
    await engine.close();
  }
});

Deno.test("on the memory store, events are delivered at once and any value may be a result", async () => {
  const engine = createEngine({ logStore: createMemoryLogStore() });
  const heard: string[] = [];
  engine.bus.on("task.completed", (e) => heard.push(e.taskId!));
  const wf = defineWorkflow({ name: "m", tasks: [{ id: "a", run: () => new Map([[1, 2]]) }] });
  const handle = engine.start(wf);
  assert.equal(engine.log.durable, false);
  const result = await handle.result;
  assert.ok(result.tasks.a.result instanceof Map);
  assert.deepEqual(heard, ["a"]);
  await engine.close();
});

Deno.test("a failing durable store cancels every live run, even one that waits on no acknowledgement", async () => {
  const store = gatedStore();
  const engine = createEngine({ logStore: store });
  const original = console.error;
  console.error = () => {};
  try {
    let calls = 0;
    const wf = defineWorkflow({
      name: "wide",
      tasks: [{
        id: "a",
        run: (
          { signal },
        ) => (calls++, new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))),
      }],
    });
    const result = engine.run(wf);
    await settle();
    assert.equal(calls, 1);
    const disk = new Error("disk gone");
    store.fail(disk);
    await assert.rejects(result, (e) => e === disk);
  } finally {
    console.error = original;
    await engine.close();
  }
});
