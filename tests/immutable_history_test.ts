// Issue 11, section 1: history and projections cannot change after the fact, and dependents cannot
// corrupt each other. Every value the engine records is frozen; trying to change one throws a
// TypeError (these modules are strict code) and every later reader sees what was recorded.
import assert from "node:assert/strict";
import { openFileLogStore } from "../adapters/mod.ts";
import { type AnyFlowEvent, createEngine, createMemoryLogStore, defineWorkflow, importLog } from "../mod.ts";

const completedOf = (events: readonly AnyFlowEvent[], taskId: string) =>
  events.find((e) => e.type === "task.completed" && e.taskId === taskId)!;

Deno.test("engine.project() results cannot be changed for the next reader", async () => {
  const engine = createEngine();
  try {
    const wf = defineWorkflow({ name: "p", tasks: [{ id: "a", run: () => 1 }, { id: "b", run: () => 2 }] });
    const { runId } = await engine.run(wf);
    const ts = engine.project("taskStatus", runId);
    assert.throws(() => (ts as Record<string, string>).a = "failed", TypeError);
    assert.equal(engine.project("taskStatus", runId).a, "completed");
    const status = engine.project("workflowStatus", runId);
    assert.throws(() => (status.counts as Record<string, number>).completed = 0, TypeError);
    assert.equal(engine.project("workflowStatus", runId).counts.completed, 2);
    const done = engine.project("completedTasks", runId);
    assert.throws(() => done.push("x"), TypeError);
    assert.deepEqual(engine.project("completedTasks", runId), ["a", "b"]);
    const tasks = engine.project("tasks", runId);
    assert.throws(() => tasks.a.status = "failed", TypeError);
    assert.equal(engine.project("tasks", runId).a.status, "completed");
  } finally {
    await engine.close();
  }
});

Deno.test("getWorkflowStatus().tasks cannot be changed for the next reader", async () => {
  const engine = createEngine();
  try {
    const id = engine.createWorkflow({ name: "steps" });
    engine.addTask(id, { id: "a", run: () => ({ n: 1 }) });
    await engine.wait(engine.execute(id));
    const report = engine.getWorkflowStatus(id);
    assert.throws(() => report.tasks.a.status = "failed", TypeError);
    assert.throws(() => (report.tasks.a.result as { n: number }).n = 99, TypeError);
    const again = engine.getWorkflowStatus(id);
    assert.equal(again.tasks.a.status, "completed");
    assert.deepEqual(again.tasks.a.result, { n: 1 });
  } finally {
    await engine.close();
  }
});

Deno.test("RunResult.tasks[x].result cannot rewrite log.at(seq) nor the stored event", async () => {
  const store = createMemoryLogStore();
  const engine = createEngine({ logStore: store });
  try {
    const wf = defineWorkflow({ name: "r", tasks: [{ id: "a", run: () => ({ n: 1, deep: { list: [1] } }) }] });
    const r = await engine.run(wf);
    const result = r.tasks.a.result as { n: number; deep: { list: number[] } };
    assert.throws(() => result.n = 99, TypeError);
    assert.throws(() => result.deep.list.push(2), TypeError);
    const seq = completedOf(engine.log.events(r.runId), "a").seq;
    assert.deepEqual(engine.log.at(seq).project("tasks", r.runId).a.result, { n: 1, deep: { list: [1] } });
    assert.deepEqual(completedOf(store.read(r.runId), "a").data, completedOf(engine.log.events(r.runId), "a").data);
    assert.equal(
      JSON.stringify((completedOf(store.read(r.runId), "a").data as { result: unknown }).result),
      '{"n":1,"deep":{"list":[1]}}',
    );
  } finally {
    await engine.close();
  }
});

Deno.test("the stored event on a real file store keeps what the task returned", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp" });
  try {
    const store = await openFileLogStore(`${dir}/runs.log`);
    const engine = createEngine({ logStore: store });
    const wf = defineWorkflow({ name: "f", tasks: [{ id: "a", run: () => ({ n: 1 }) }] });
    const r = await engine.run(wf);
    assert.throws(() => (r.tasks.a.result as { n: number }).n = 99, TypeError);
    await engine.close();
    await store.close(); // one writer per log: the store is released before it is opened again
    const reopened = await openFileLogStore(`${dir}/runs.log`);
    const events = await reopened.read(r.runId);
    assert.deepEqual((completedOf(events, "a").data as { result: unknown }).result, { n: 1 });
    await reopened.close?.();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an inline dependent cannot change what its sibling reads, nor what the log holds", async () => {
  const engine = createEngine();
  try {
    let pushError: unknown;
    const wf = defineWorkflow({
      name: "siblings",
      tasks: [
        { id: "src", run: () => ({ items: [1, 2, 3] }) },
        {
          id: "greedy",
          dependsOn: ["src"],
          run: ({ deps }) => {
            try {
              (deps.src as { items: number[] }).items.push(4);
            } catch (error) {
              pushError = error;
            }
            return (deps.src as { items: number[] }).items.length;
          },
        },
        { id: "sibling", dependsOn: ["greedy"], run: () => 0 },
        {
          id: "reader",
          dependsOn: ["src", "greedy"],
          run: ({ deps }) => (deps.src as { items: number[] }).items.length,
        },
      ],
    });
    const r = await engine.run(wf);
    assert.ok(pushError instanceof TypeError, String(pushError));
    assert.equal(r.tasks.greedy.result, 3);
    assert.equal(r.tasks.reader.result, 3);
    assert.deepEqual(engine.project("tasks", r.runId).src.result, { items: [1, 2, 3] });
  } finally {
    await engine.close();
  }
});

Deno.test("the run's input is shared read-only by every task", async () => {
  const engine = createEngine();
  try {
    const input = { seen: [] as string[] };
    const wf = defineWorkflow<typeof input>({
      name: "input",
      tasks: [
        { id: "a", run: ({ input }) => input.seen.push("a") },
        { id: "b", dependsOn: ["a"], run: ({ input }) => input.seen.length },
      ],
    });
    const r = await engine.run(wf, { input });
    assert.equal(r.tasks.a.status, "failed");
    assert.ok(r.tasks.a.error instanceof TypeError);
    const started = engine.log.events(r.runId).find((e) => e.type === "workflow.started")!;
    assert.deepEqual(started.data, { input: { seen: [] } });
  } finally {
    await engine.close();
  }
});

Deno.test("a bus listener that edits e.data.result changes neither the log nor later listeners", async () => {
  const errors: unknown[] = [];
  const store = createMemoryLogStore();
  const engine = createEngine({ logStore: store });
  // The listener's TypeError goes to the bus's error handler; the run goes on.
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args[1]);
  try {
    const seen: unknown[] = [];
    engine.bus.on("task.completed", (e) => {
      (e.data.result as { n: number }).n = 99;
    });
    engine.bus.on("task.completed", (e) => {
      (e.data as { result: unknown }).result = "replaced";
    });
    engine.bus.on("task.completed", (e) => seen.push(e.data.result));
    const wf = defineWorkflow({ name: "bus", tasks: [{ id: "a", run: () => ({ n: 1 }) }] });
    const r = await engine.run(wf);
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e instanceof TypeError));
    assert.deepEqual(seen, [{ n: 1 }]);
    assert.deepEqual(r.tasks.a.result, { n: 1 });
    assert.deepEqual((completedOf(engine.log.events(r.runId), "a").data as { result: unknown }).result, { n: 1 });
    assert.deepEqual((completedOf(store.read(r.runId), "a").data as { result: unknown }).result, { n: 1 });
  } finally {
    console.error = original;
    await engine.close();
  }
});

Deno.test("events appended from outside (importLog) are frozen too", () => {
  const events: AnyFlowEvent[] = [
    {
      type: "workflow.created",
      seq: 1,
      runId: "r",
      workflowId: "w",
      timestamp: 0,
      data: { name: "w", taskIds: ["a"] },
    },
    {
      type: "task.completed",
      seq: 2,
      runId: "r",
      workflowId: "w",
      taskId: "a",
      timestamp: 1,
      data: { result: { n: 1 }, durationMs: 1 },
    },
  ];
  const log = importLog({ format: "nerv-flow/log", version: 1, events });
  assert.throws(() => ((events[1].data as { result: { n: number } }).result.n = 99), TypeError);
  assert.deepEqual(log.at(2).project("tasks", "r").a.result, { n: 1 });
});

Deno.test("values the engine does not own stay as they are: class instances are not frozen", async () => {
  const engine = createEngine();
  try {
    const map = new Map([["k", 1]]);
    const wf = defineWorkflow({ name: "own", tasks: [{ id: "a", run: () => ({ map, when: new Date(0) }) }] });
    const r = await engine.run(wf);
    const result = r.tasks.a.result as { map: Map<string, number>; when: Date };
    assert.ok(Object.isFrozen(result));
    assert.equal(result.map, map);
    map.set("k", 2); // The caller's own Map stays usable.
    assert.equal(result.map.get("k"), 2);
  } finally {
    await engine.close();
  }
});

Deno.test("a store of one's own, a middleware, bus history and log readers all get frozen events", async () => {
  const kept: AnyFlowEvent[] = [];
  const store = {
    append(batch: readonly AnyFlowEvent[]) {
      kept.push(...batch);
    },
    read: (runId: string) => kept.filter((e) => e.runId === runId),
  };
  const engine = createEngine({ logStore: store });
  try {
    const inMiddleware: unknown[] = [];
    engine.bus.use((e) => {
      try {
        (e as { timestamp: number }).timestamp = -1;
      } catch (error) {
        inMiddleware.push(error);
      }
      return e;
    });
    const wf = defineWorkflow({ name: "own-store", tasks: [{ id: "a", run: () => ({ n: 1 }) }] });
    const r = await engine.run(wf);
    await engine.log.sync();
    assert.ok(inMiddleware.length > 0 && inMiddleware.every((e) => e instanceof TypeError));
    const stored = completedOf(kept, "a");
    assert.throws(() => (stored.data as { durationMs: number }).durationMs = -1, TypeError);
    assert.throws(() => (engine.bus.history()[0] as { seq: number }).seq = -1, TypeError);
    assert.throws(() => (engine.log.events(r.runId)[0] as { seq: number }).seq = -1, TypeError);
    assert.throws(() => (engine.log.toJSON().events[0] as { seq: number }).seq = -1, TypeError);
    assert.ok(engine.log.events().every((e) => e.timestamp >= 0));
  } finally {
    await engine.close();
  }
});
