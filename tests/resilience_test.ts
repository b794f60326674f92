import assert from "node:assert/strict";
import { CircuitOpenError, createEngine, createVirtualClock, defineWorkflow, type TaskDef } from "../mod.ts";
import { type AnyFlowEvent, importLog } from "../extend.ts";

const boom = () => {
  throw new Error("service down");
};

function chainOf(n: number, def: Omit<TaskDef, "id" | "dependsOn">): TaskDef[] {
  return Array.from({ length: n }, (_, i) => ({ ...def, id: `t${i}`, dependsOn: i === 0 ? [] : [`t${i - 1}`] }));
}

Deno.test("a breaker opens after `threshold` failures in its window and fails later tasks fast without running them", async () => {
  const clock = createVirtualClock();
  // One at a time, so each failure is known before the next task asks the breaker.
  const engine = createEngine({ clock, limits: { io: 1 } });
  const events: AnyFlowEvent[] = [];
  engine.bus.onAny((e) => events.push(e));
  let calls = 0;
  const call = () => {
    calls++;
    throw new Error("service down");
  };
  const tasks: TaskDef[] = Array.from({ length: 5 }, (_, i) => ({
    id: `c${i}`,
    run: call,
    breaker: { key: "svc", threshold: 3, windowMs: 1000, cooldownMs: 500 },
  }));
  const wf = defineWorkflow({ name: "brk", tasks });
  const result = await clock.runUntil(engine.run(wf));
  assert.equal(calls, 3);
  const refused = Object.values(result.tasks).filter((t) => t.error instanceof CircuitOpenError);
  assert.equal(refused.length, 2);
  for (const t of refused) assert.equal(t.attempts, 0);
  const opened = events.filter((e) => e.type === "breaker.opened");
  assert.equal(opened.length, 1);
  assert.deepEqual(opened[0].data, { key: "svc", failures: 3, cooldownMs: 500 });
  assert.equal(engine.breakerState("svc"), "open");
  await engine.close();
});

Deno.test("after its cool-down a breaker lets one trial through: success closes it, failure opens it again", async () => {
  const clock = createVirtualClock();
  const engine = createEngine({ clock, breakers: { svc: { threshold: 2, windowMs: 1000, cooldownMs: 100 } } });
  const types: string[] = [];
  engine.bus.onAny((e) => {
    if (e.type.startsWith("breaker.")) types.push(`${e.type}:${e.taskId}`);
  });
  const failing = defineWorkflow({ name: "f", tasks: chainOf(1, { run: boom, breaker: "svc" }) });
  await clock.runUntil(engine.run(failing));
  await clock.runUntil(engine.run(failing));
  assert.equal(engine.breakerState("svc"), "open");
  // Still cooling down: refused.
  const early = await clock.runUntil(engine.run(failing));
  assert.ok(early.tasks.t0.error instanceof CircuitOpenError);
  assert.equal(early.tasks.t0.error.retryAfterMs, 100);
  clock.advance(100);
  // The trial fails: open again.
  await clock.runUntil(engine.run(failing));
  assert.equal(engine.breakerState("svc"), "open");
  clock.advance(100);
  let runs = 0;
  const healthy = defineWorkflow({
    name: "h",
    tasks: [{ id: "ok", run: () => ++runs, breaker: "svc" }, { id: "ok2", run: () => ++runs, breaker: "svc" }],
  });
  const result = await clock.runUntil(engine.run(healthy));
  // One trial at a time: the other task was refused while the trial ran.
  const statuses = Object.values(result.tasks).map((t) => t.status).sort();
  assert.deepEqual(statuses, ["completed", "failed"]);
  assert.equal(engine.breakerState("svc"), "closed");
  assert.deepEqual(types, [
    "breaker.opened:t0",
    "breaker.half-opened:t0",
    "breaker.opened:t0",
    "breaker.half-opened:ok",
    "breaker.closed:ok",
  ]);
  await engine.close();
});

Deno.test("a task naming an engine breaker the engine lacks is refused before the run starts", async () => {
  const engine = createEngine();
  const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1, breaker: "nope" }] });
  assert.throws(() => engine.start(wf), RangeError);
  assert.equal(engine.log.seq, 0);
  await engine.close();
});

Deno.test("a fallback runs when the task failed for good and the result records its path", async () => {
  const clock = createVirtualClock();
  const engine = createEngine({ clock });
  let primary = 0;
  const wf = defineWorkflow({
    name: "fb",
    tasks: [
      {
        id: "a",
        run: () => {
          primary++;
          throw new Error("no");
        },
        retry: { maxAttempts: 2, initialDelayMs: 10 },
        fallback: ({ attempt }) => `fallback after ${attempt}`,
      },
      { id: "b", run: () => "fine", fallback: () => "unused" },
      { id: "c", dependsOn: ["a", "b"], run: ({ deps }) => `${deps.a}/${deps.b}` },
    ],
  });
  const handle = engine.start(wf);
  const result = await clock.runUntil(handle.result);
  assert.equal(primary, 2);
  assert.equal(result.status, "completed");
  assert.equal(result.tasks.a.result, "fallback after 2");
  assert.equal(result.tasks.a.path, "fallback");
  assert.equal(result.tasks.b.path, "primary");
  assert.equal(result.tasks.c.path, undefined);
  assert.equal(result.tasks.c.result, "fallback after 2/fine");
  const tasks = handle.snapshot().tasks;
  assert.equal(tasks.a.path, "fallback");
  assert.equal(tasks.b.path, "primary");
  const fallbackEvents = engine.log.events(result.runId).filter((e) => e.type === "task.fallback");
  assert.equal(fallbackEvents.length, 1);
  // Replay: the imported log folds to the same projections.
  const replayed = importLog(engine.log.toJSON());
  assert.deepEqual(replayed.project("tasks", result.runId), engine.project("tasks", result.runId));
  await engine.close();
});

Deno.test("a failing fallback fails the task with the fallback's error", async () => {
  const engine = createEngine();
  const wf = defineWorkflow({
    name: "fb2",
    tasks: [{
      id: "a",
      run: boom,
      fallback: () => {
        throw new Error("fallback down too");
      },
    }],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "failed");
  assert.equal(result.tasks.a.error?.message, "fallback down too");
  assert.equal(result.tasks.a.attempts, 1);
  await engine.close();
});

Deno.test("an open breaker sends tasks with a fallback to it without running the primary", async () => {
  const clock = createVirtualClock();
  const engine = createEngine({ clock, breakers: { llm: { threshold: 1, cooldownMs: 1000 } } });
  let primary = 0;
  const wf = defineWorkflow({
    name: "agents",
    tasks: [
      { id: "first", run: boom, breaker: "llm", fallback: () => "cached answer" },
      {
        id: "second",
        dependsOn: ["first"],
        run: () => ++primary,
        breaker: "llm",
        fallback: ({ deps }) => `still ${deps.first}`,
      },
    ],
  });
  const result = await clock.runUntil(engine.run(wf));
  assert.equal(result.status, "completed");
  assert.equal(primary, 0);
  assert.equal(result.tasks.first.path, "fallback");
  assert.equal(result.tasks.second.result, "still cached answer");
  assert.equal(result.tasks.second.path, "fallback");
  assert.equal(result.tasks.second.attempts, 0);
  await engine.close();
});

Deno.test("a bad breaker policy is a typed error naming the workflow, the task and the field", () => {
  const wf = (breaker: unknown) =>
    defineWorkflow({ name: "guarded", tasks: [{ id: "call", breaker: breaker as never, run: () => 1 }] });
  const cases: [unknown, ErrorConstructor, RegExp][] = [
    [() => ({ key: "k" }), TypeError, /"breaker" a function, expected an object/],
    [{ key: "" }, TypeError, /breaker\.key "", expected a non-empty string/],
    [{ key: ["k"] }, TypeError, /breaker\.key an array, expected a non-empty string/],
    [{ key: "k", threshold: 0 }, RangeError, /breaker\.threshold 0, expected an integer >= 1/],
    [{ key: "k", threshold: 1.5 }, RangeError, /breaker\.threshold 1\.5/],
    [{ key: "k", windowMs: -1 }, RangeError, /breaker\.windowMs -1, expected a finite number > 0/],
    [{ key: "k", cooldownMs: Infinity }, RangeError, /breaker\.cooldownMs Infinity/],
  ];
  for (const [breaker, type, message] of cases) {
    assert.throws(() => wf(breaker), (e: unknown) => {
      assert.ok(e instanceof type, `${String(e)} is a ${type.name}`);
      assert.match((e as Error).message, /guarded/);
      assert.match((e as Error).message, /call/);
      assert.match((e as Error).message, message);
      assert.doesNotMatch((e as Error).message, /=>/, "no function source in the message");
      return true;
    });
  }
});
