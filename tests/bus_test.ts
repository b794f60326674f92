import assert from "node:assert/strict";
import { createEngine, defineWorkflow, type EventBus, type FlowEventType } from "../mod.ts";
import { type AnyFlowEvent, createEventBus, TOKENS } from "../extend.ts";

let seq = 0;
function event(type: FlowEventType, taskId?: string): AnyFlowEvent {
  const base = { seq: ++seq, runId: "r", workflowId: "w", timestamp: 0, taskId };
  switch (type) {
    case "task.completed":
      return { ...base, type, data: { result: taskId, durationMs: 0 } };
    case "task.started":
      return { ...base, type, data: { profile: "io" } };
    case "workflow.started":
      return { ...base, type, data: { input: undefined } };
    default:
      return { ...base, type: "task.pending", data: { dependsOn: [] } };
  }
}

/** A bus whose errors are collected instead of printed. */
function quietBus(historySize?: number): { bus: EventBus; errors: [unknown, AnyFlowEvent][] } {
  const errors: [unknown, AnyFlowEvent][] = [];
  const bus = createEventBus({ historySize, onError: (error, e) => errors.push([error, e]) });
  return { bus, errors };
}

const wf = defineWorkflow({
  name: "bus",
  tasks: [
    { id: "a", run: () => 1 },
    { id: "b", dependsOn: ["a"], run: ({ deps }) => Promise.resolve(Number(deps.a) + 1) },
    { id: "c", dependsOn: ["a"], run: () => 3 },
    { id: "d", dependsOn: ["b", "c"], run: ({ deps }) => Number(deps.b) + Number(deps.c) },
  ],
});

Deno.test("on() delivers only events of its type", () => {
  const { bus } = quietBus();
  const seen: string[] = [];
  bus.on("task.completed", (e) => seen.push(`${e.type}:${e.taskId}`));
  bus.emit(event("task.started", "a"));
  bus.emit(event("task.completed", "a"));
  bus.emit(event("workflow.started"));
  bus.emit(event("task.completed", "b"));
  assert.deepEqual(seen, ["task.completed:a", "task.completed:b"]);
});

Deno.test("onAny() delivers every event in emission order", () => {
  const { bus } = quietBus();
  const seen: number[] = [];
  bus.onAny((e) => seen.push(e.seq));
  const sent = [event("task.started", "a"), event("task.completed", "a"), event("workflow.started")];
  for (const e of sent) bus.emit(e);
  assert.deepEqual(seen, sent.map((e) => e.seq));
});

Deno.test("the function returned by on() and onAny() stops delivery, and calling it twice is harmless", () => {
  const { bus } = quietBus();
  const typed: string[] = [];
  const any: string[] = [];
  const keep: string[] = [];
  const offTyped = bus.on("task.completed", (e) => typed.push(e.taskId!));
  const offAny = bus.onAny((e) => any.push(e.taskId!));
  bus.on("task.completed", (e) => keep.push(e.taskId!));
  bus.emit(event("task.completed", "a"));
  offTyped();
  offAny();
  offTyped();
  offAny();
  bus.emit(event("task.completed", "b"));
  assert.deepEqual(typed, ["a"]);
  assert.deepEqual(any, ["a"]);
  assert.deepEqual(keep, ["a", "b"]);
});

Deno.test("a listener may unsubscribe itself while an event is delivered", () => {
  const { bus, errors } = quietBus();
  const seen: string[] = [];
  const off = bus.on("task.completed", (e) => {
    seen.push(`once:${e.taskId}`);
    off();
  });
  bus.on("task.completed", (e) => seen.push(`always:${e.taskId}`));
  bus.emit(event("task.completed", "a"));
  bus.emit(event("task.completed", "b"));
  assert.deepEqual(seen, ["once:a", "always:a", "always:b"]);
  assert.equal(errors.length, 0);
});

Deno.test("on(), onAny() and use() reject a listener that is not a function with a TypeError", () => {
  const { bus } = quietBus();
  assert.throws(() => bus.on("task.completed", "nope" as never), TypeError);
  assert.throws(() => bus.onAny(null as never), TypeError);
  assert.throws(() => bus.use(42 as never), TypeError);
});

Deno.test("createEventBus() rejects a negative or fractional historySize with a RangeError", async (t) => {
  for (const historySize of [-1, 1.5, NaN]) {
    await t.step(`historySize ${historySize}`, () => {
      assert.throws(() => createEventBus({ historySize }), RangeError);
    });
  }
});

Deno.test("middleware replaces events before listeners and history see them", () => {
  const { bus } = quietBus();
  const seen: unknown[] = [];
  bus.on("task.completed", (e) => seen.push(e.data.result));
  bus.use((e) => e.type === "task.completed" ? { ...e, data: { ...e.data, result: `<${e.data.result}>` } } : e);
  bus.use((e) => e.type === "task.completed" ? { ...e, data: { ...e.data, result: `[${e.data.result}]` } } : e);
  bus.emit(event("task.completed", "a"));
  assert.deepEqual(seen, ["[<a>]"], "middlewares run in the order added");
  const [last] = bus.history();
  assert.equal(last.type === "task.completed" && last.data.result, "[<a>]");
});

Deno.test("middleware that returns null drops the event for listeners and history", () => {
  const { bus } = quietBus();
  const seen: string[] = [];
  bus.onAny((e) => seen.push(e.taskId ?? e.type));
  bus.use((e) => (e.taskId === "secret" ? null : e));
  bus.emit(event("task.completed", "a"));
  bus.emit(event("task.completed", "secret"));
  bus.emit(event("task.started", "secret"));
  bus.emit(event("task.completed", "b"));
  assert.deepEqual(seen, ["a", "b"]);
  assert.deepEqual(bus.history().map((e) => e.taskId), ["a", "b"]);
});

Deno.test("a later middleware never sees an event an earlier one dropped", () => {
  const { bus } = quietBus();
  const reached: string[] = [];
  bus.use((e) => (e.taskId === "x" ? null : e));
  bus.use((e) => {
    reached.push(e.taskId!);
    return e;
  });
  bus.emit(event("task.completed", "x"));
  bus.emit(event("task.completed", "y"));
  assert.deepEqual(reached, ["y"]);
});

Deno.test("removing a middleware stops it from transforming events", () => {
  const { bus } = quietBus();
  const seen: string[] = [];
  bus.on("task.completed", (e) => seen.push(e.taskId!));
  const remove = bus.use(() => null);
  bus.emit(event("task.completed", "a"));
  remove();
  bus.emit(event("task.completed", "b"));
  assert.deepEqual(seen, ["b"]);
});

Deno.test("a throwing middleware leaves the event unchanged and reports to onError", () => {
  const { bus, errors } = quietBus();
  const seen: string[] = [];
  bus.on("task.completed", (e) => seen.push(e.taskId!));
  const boom = new Error("middleware broke");
  bus.use(() => {
    throw boom;
  });
  const e = event("task.completed", "a");
  bus.emit(e);
  assert.deepEqual(seen, ["a"]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0][0], boom);
  assert.equal(errors[0][1], e);
});

Deno.test("history() keeps the last historySize delivered events, oldest first", async (t) => {
  const table: { size: number; emitted: number; kept: number[] }[] = [
    { size: 3, emitted: 2, kept: [0, 1] },
    { size: 3, emitted: 3, kept: [0, 1, 2] },
    { size: 3, emitted: 7, kept: [4, 5, 6] },
    { size: 1, emitted: 5, kept: [4] },
    { size: 0, emitted: 5, kept: [] },
  ];
  for (const row of table) {
    await t.step(`size ${row.size}, ${row.emitted} emitted`, () => {
      const { bus } = quietBus(row.size);
      const sent = Array.from({ length: row.emitted }, (_, k) => event("task.completed", `t${k}`));
      for (const e of sent) bus.emit(e);
      assert.deepEqual(bus.history().map((e) => e.seq), row.kept.map((k) => sent[k].seq));
    });
  }
});

Deno.test("history() works without any listener", () => {
  const { bus } = quietBus(10);
  bus.emit(event("task.completed", "a"));
  assert.equal(bus.history().length, 1);
});

Deno.test("history() returns a copy the caller may change", () => {
  const { bus } = quietBus();
  bus.emit(event("task.completed", "a"));
  const h = bus.history();
  h.length = 0;
  assert.equal(bus.history().length, 1);
});

Deno.test("a throwing listener does not stop the other listeners, and onError gets the error and event", () => {
  const { bus, errors } = quietBus();
  const seen: string[] = [];
  const boom = new Error("listener broke");
  bus.on("task.completed", () => {
    throw boom;
  });
  bus.on("task.completed", (e) => seen.push(`typed:${e.taskId}`));
  bus.onAny(() => {
    throw "a string";
  });
  bus.onAny((e) => seen.push(`any:${e.taskId}`));
  const e = event("task.completed", "a");
  bus.emit(e);
  assert.deepEqual(seen, ["typed:a", "any:a"]);
  assert.deepEqual(errors, [[boom, e], ["a string", e]]);
});

Deno.test("a throwing onError is swallowed and delivery goes on", () => {
  const bus = createEventBus({
    onError: () => {
      throw new Error("handler broke too");
    },
  });
  const seen: string[] = [];
  bus.onAny(() => {
    throw new Error("listener broke");
  });
  bus.onAny((e) => seen.push(e.taskId!));
  bus.emit(event("task.completed", "a"));
  assert.deepEqual(seen, ["a"]);
});

Deno.test("a middleware that drops engine events hides them from listeners, but the log still records them", async () => {
  const engine = createEngine();
  try {
    engine.bus.use((e) => (e.type === "task.started" || e.taskId === "c" ? null : e));
    const seen: AnyFlowEvent[] = [];
    engine.bus.onAny((e) => seen.push(e));
    const result = await engine.run(wf);
    assert.equal(result.status, "completed");
    const logged = engine.log.events(result.runId);
    assert.equal(logged.filter((e) => e.type === "task.started").length, 4);
    assert.ok(logged.some((e) => e.taskId === "c"));
    assert.equal(seen.filter((e) => e.type === "task.started" || e.taskId === "c").length, 0);
    const expected = logged.filter((e) => !(e.type === "task.started" || e.taskId === "c"));
    assert.deepEqual(seen.map((e) => e.seq), expected.map((e) => e.seq));
    assert.deepEqual(engine.bus.history().map((e) => e.seq), expected.map((e) => e.seq));
    assert.deepEqual(engine.project("taskStatus", result.runId), {
      a: "completed",
      b: "completed",
      c: "completed",
      d: "completed",
    });
  } finally {
    await engine.close();
  }
});

Deno.test("a middleware that transforms engine events changes what listeners see, not what the log records", async () => {
  const engine = createEngine();
  try {
    engine.bus.use((e) => (e.type === "task.completed" ? { ...e, data: { ...e.data, result: "redacted" } } : e));
    const results: unknown[] = [];
    engine.bus.on("task.completed", (e) => results.push(e.data.result));
    const result = await engine.run(wf);
    assert.deepEqual(results, ["redacted", "redacted", "redacted", "redacted"]);
    assert.equal(result.tasks.d.result, 5);
    assert.equal(engine.project("tasks", result.runId).d.result, 5);
  } finally {
    await engine.close();
  }
});

Deno.test("a throwing listener neither stops the run nor the other listeners", async () => {
  const errors: [unknown, AnyFlowEvent][] = [];
  const engine = createEngine({
    configure: (c) =>
      c.register(TOKENS.bus, { useValue: createEventBus({ onError: (error, e) => errors.push([error, e]) }) }),
  });
  try {
    engine.bus.on("task.started", (e) => {
      throw new Error(`listener broke on ${e.taskId}`);
    });
    engine.bus.onAny(() => {
      throw new Error("any listener broke");
    });
    const seen: AnyFlowEvent[] = [];
    engine.bus.onAny((e) => seen.push(e));
    const result = await engine.run(wf);
    assert.equal(result.status, "completed");
    assert.equal(result.tasks.d.result, 5);
    const logged = engine.log.events(result.runId);
    assert.ok(logged.length > 0);
    assert.deepEqual(seen, logged, "the healthy listener saw every event, in order");
    const started = logged.filter((e) => e.type === "task.started");
    assert.equal(errors.length, started.length + logged.length, "onError was called once per throw");
    assert.deepEqual(
      errors.filter(([error]) => (error as Error).message.startsWith("listener broke")).map(([, e]) => e.taskId),
      started.map((e) => e.taskId),
    );
  } finally {
    await engine.close();
  }
});

Deno.test("createEngine({ historySize }) bounds the engine bus's history", async () => {
  const engine = createEngine({ historySize: 4 });
  try {
    const result = await engine.run(wf);
    const last = engine.log.events(result.runId).slice(-4);
    assert.deepEqual(engine.bus.history().map((e) => e.seq), last.map((e) => e.seq));
  } finally {
    await engine.close();
  }
});
