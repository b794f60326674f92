import assert from "node:assert/strict";
import { createEngine, defineWorkflow, STATUS_COLORS, toDot, toMermaid } from "../mod.ts";

const run = () => null;
const diamond = defineWorkflow({
  name: "diamond",
  tasks: [
    { id: "a", run },
    { id: "b", dependsOn: ["a"], run, name: "B task" },
    { id: "c", dependsOn: ["a"], run },
    { id: "d", dependsOn: ["b", "c"], run },
  ],
});

Deno.test("toMermaid() draws one node per task and one arrow per dependency", () => {
  const text = toMermaid(diamond);
  assert.equal(
    text,
    [
      "flowchart LR",
      '  t0["a"]',
      '  t1["b"]',
      '  t2["c"]',
      '  t3["d"]',
      "  t0 --> t1",
      "  t0 --> t2",
      "  t1 --> t3",
      "  t2 --> t3",
      "",
    ].join("\n"),
  );
});

Deno.test("toMermaid() colours tasks by status with one class per status", () => {
  const text = toMermaid(diamond, { status: { a: "completed", b: "failed", c: "completed", d: "skipped" } });
  assert.match(text, new RegExp(`classDef completed fill:${STATUS_COLORS.completed.fill}`));
  assert.match(text, /class t0,t2 completed/);
  assert.match(text, /class t1 failed/);
  assert.match(text, /class t3 skipped/);
  assert.doesNotMatch(text, /running/);
});

Deno.test("toMermaid() escapes labels and honours direction and names", () => {
  const wf = defineWorkflow({ name: "odd", tasks: [{ id: 'say "hi" <now> #1', run }] });
  const text = toMermaid(wf, { direction: "TB" });
  assert.match(text, /^flowchart TB\n/);
  assert.match(text, /t0\["say #34;hi#34; #60;now#62; #35;1"\]/);
  assert.match(toMermaid(diamond, { names: true }), /t1\["B task"\]/);
  assert.throws(() => toMermaid(diamond, { direction: "RL" as "LR" }), RangeError);
});

Deno.test("toDot() draws a digraph with escaped ids and status colours", () => {
  const wf = defineWorkflow({
    name: 'a "quoted" flow',
    tasks: [{ id: "x", run }, { id: 'y"z', dependsOn: ["x"], run }],
  });
  const dot = toDot(wf, { status: { x: "completed", 'y"z': "running" } });
  assert.ok(dot.startsWith(`digraph "a \\"quoted\\" flow" {\n  rankdir=LR;`));
  assert.match(dot, /"x" -> "y\\"z";/);
  assert.match(dot, new RegExp(`"x" \\[label="x", fillcolor="${STATUS_COLORS.completed.fill}"`));
  assert.match(dot, new RegExp(`"y\\\\"z" \\[label="y\\\\"z", fillcolor="${STATUS_COLORS.running.fill}"`));
  assert.ok(dot.trimEnd().endsWith("}"));
});

Deno.test("toDot() and toMermaid() take a run's taskStatus projection", async () => {
  const engine = createEngine();
  try {
    const wf = defineWorkflow({
      name: "partly",
      tasks: [
        { id: "ok", run: () => 1 },
        {
          id: "boom",
          run: () => {
            throw new Error("no");
          },
        },
        { id: "after", dependsOn: ["boom"], run },
      ],
    });
    const { runId, status } = await engine.run(wf);
    assert.equal(status, "failed");
    const statuses = engine.project("taskStatus", runId);
    const dot = toDot(wf, { status: statuses });
    assert.match(dot, new RegExp(`"ok" \\[[^\\]]*fillcolor="${STATUS_COLORS.completed.fill}"`));
    assert.match(dot, new RegExp(`"boom" \\[[^\\]]*fillcolor="${STATUS_COLORS.failed.fill}"`));
    assert.match(dot, new RegExp(`"after" \\[[^\\]]*fillcolor="${STATUS_COLORS.skipped.fill}"`));
    assert.match(toMermaid(wf, { status: statuses }), /class t2 skipped/);
  } finally {
    await engine.close();
  }
});

Deno.test("graph exports reject a value not made by defineWorkflow", () => {
  assert.throws(() => toMermaid({ name: "x", description: undefined, tasks: [] }), TypeError);
  assert.throws(() => toDot({ name: "x", description: undefined, tasks: [] }), TypeError);
});
