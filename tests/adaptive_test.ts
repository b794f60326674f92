import assert from "node:assert/strict";
import { createEngine, createVirtualClock, defineWorkflow, type TaskDef } from "../mod.ts";
import { type AnyFlowEvent, importLog } from "../extend.ts";

Deno.test("setPriority() moves a waiting task ahead in the ready queue and is an event that replays", async () => {
  const engine = createEngine({ limits: { io: 1 } });
  const started: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const body = ({ taskId }: { taskId: string }) => {
    started.push(taskId);
  };
  const wf = defineWorkflow({
    name: "prio",
    tasks: [
      {
        id: "gate",
        priority: "critical",
        run: async () => {
          started.push("gate");
          await gate;
        },
      },
      { id: "a", priority: "high", run: body },
      { id: "b", priority: "medium", run: body },
      { id: "c", priority: "low", run: body },
      { id: "d", dependsOn: ["a"], priority: "low", run: body },
    ],
  });
  const handle = engine.start(wf);
  await Promise.resolve();
  handle.setPriority("c", "critical");
  handle.setPriority("d", "critical");
  assert.throws(() => handle.setPriority("c", "urgent" as never), RangeError);
  assert.throws(() => handle.setPriority("zzz", "low"));
  open();
  const result = await handle.result;
  assert.equal(result.status, "completed");
  assert.deepEqual(started, ["gate", "c", "a", "d", "b"]);
  assert.throws(() => handle.setPriority("a", "low"), TypeError);
  const events = engine.log.events(result.runId).filter((e) => e.type === "task.reprioritized");
  assert.deepEqual(events.map((e) => [e.taskId, e.data]), [
    ["c", { priority: "critical", previous: "low" }],
    ["d", { priority: "critical", previous: "low" }],
  ]);
  const ready = engine.log.events(result.runId).find((e) => e.type === "task.ready" && e.taskId === "d")!;
  assert.equal((ready as AnyFlowEvent & { type: "task.ready" }).data.priority, "critical");
  const replayed = importLog(engine.log.toJSON());
  assert.deepEqual(replayed.project("tasks", result.runId), engine.project("tasks", result.runId));
  await engine.close();
});

Deno.test("keyLimits: at most k tasks of a concurrency key run at once; other tasks are not held back", async () => {
  const clock = createVirtualClock();
  const engine = createEngine({ clock, keyLimits: { api: 2 }, limits: { io: 4 } });
  let running = 0;
  let max = 0;
  const slow = async () => {
    running++;
    max = Math.max(max, running);
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 10));
    running--;
  };
  const tasks: TaskDef[] = Array.from({ length: 7 }, (_, i) => ({ id: `api${i}`, concurrencyKey: "api", run: slow }));
  let freeStartedAt = -1;
  tasks.push({ id: "free", priority: "low", run: () => void (freeStartedAt = clock.now()) });
  const result = await clock.runUntil(engine.run(defineWorkflow({ name: "keys", tasks })));
  assert.equal(result.status, "completed");
  assert.equal(max, 2);
  assert.equal(freeStartedAt, 0);
  // 7 tasks, 2 at a time, 10 ms each.
  assert.equal(result.durationMs, 40);
  await engine.close();
});

Deno.test("setPriority() beyond the ready window: a task waiting in the backlog goes ahead of the window's tasks", async (t) => {
  for (const waiting of [100, 300, 1000]) {
    await t.step(`${waiting} waiting tasks`, async () => {
      const engine = createEngine({ concurrency: 1 });
      const started: string[] = [];
      let open!: () => void;
      const gate = new Promise<void>((resolve) => open = resolve);
      const tasks: TaskDef[] = [{ id: "gate", priority: "critical", run: () => gate }];
      for (let k = 0; k < waiting; k++) tasks.push({ id: `t${k}`, run: ({ taskId }) => void started.push(taskId) });
      const handle = engine.start(defineWorkflow({ name: "window", tasks }));
      await Promise.resolve();
      const last = waiting - 1;
      handle.setPriority(`t${last}`, "critical");
      handle.setPriority(`t${last - 1}`, "high");
      handle.setPriority(`t${last - 2}`, "low");
      open();
      const result = await handle.result;
      assert.equal(result.status, "completed");
      assert.deepEqual(started.slice(0, 3), [`t${last}`, `t${last - 1}`, "t0"]);
      assert.equal(started.at(-1), `t${last - 2}`);
      assert.equal(started.length, waiting);
      await engine.close();
    });
  }
});

Deno.test('ordering "io-first": ready io tasks are served before other profiles within a priority', async () => {
  const clock = createVirtualClock();
  const started: string[] = [];
  const body = (ms: number) => ({ taskId, input }: { taskId: string; input: unknown }) => {
    started.push(taskId);
    return new Promise<void>((resolve) => (input as typeof clock).setTimeout(resolve, ms));
  };
  const tasks: TaskDef[] = [
    // A long cpu chain (high critical-path rank) and independent io tasks.
    { id: "c1", profile: "cpu", run: body(10) },
    { id: "c2", profile: "cpu", dependsOn: ["c1"], run: body(10) },
    { id: "c3", profile: "cpu", dependsOn: ["c2"], run: body(10) },
    { id: "i1", profile: "io", run: body(10) },
    { id: "i2", profile: "io", run: body(10) },
  ];
  for (const [ordering, first] of [["critical-path", "c1"], ["io-first", "i1"]] as const) {
    started.length = 0;
    const engine = createEngine({ clock, ordering, concurrency: 1, workers: false });
    const result = await clock.runUntil(engine.run(defineWorkflow({ name: "ord", tasks }), { input: clock }));
    assert.equal(result.status, "completed");
    assert.equal(started[0], first, ordering);
    if (ordering === "io-first") assert.deepEqual(started, ["i1", "i2", "c1", "c2", "c3"]);
    await engine.close();
  }
  assert.throws(() => createEngine({ ordering: "random" as never }), RangeError);
});
