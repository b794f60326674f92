import assert from "node:assert/strict";
import {
  createEngine,
  CycleError,
  defineWorkflow,
  DuplicateTaskError,
  mapTasks,
  SpawnError,
  UnknownDependencyError,
} from "../mod.ts";
import { importLog } from "../extend.ts";

Deno.test("ctx.spawn() adds a map over data with a fan-in; graph, plan, events and projections grow", async () => {
  const engine = createEngine();
  const wf = defineWorkflow({
    name: "docs",
    tasks: [
      { id: "find", run: () => ["a b", "c", "d e f"] },
      {
        id: "fanout",
        dependsOn: ["find"],
        run: (ctx) => {
          const docs = ctx.deps.find as string[];
          return ctx.spawn(
            mapTasks("count", docs, (doc) => doc.split(" ").length, {
              dependsOn: ["fanout"],
              join: (counts) => (counts as number[]).reduce((a, b) => a + b, 0),
            }),
          ).length;
        },
      },
    ],
  });
  const handle = engine.start(wf);
  const result = await handle.result;
  assert.equal(result.status, "completed");
  assert.equal(result.tasks.fanout.result, 4);
  assert.deepEqual(Object.keys(result.tasks), ["find", "fanout", "count/0", "count/1", "count/2", "count"]);
  assert.equal(result.tasks["count/2"].result, 3);
  assert.equal(result.tasks.count.result, 6);
  const plan = handle.plan();
  assert.deepEqual(plan.levels, [["find"], ["fanout"], ["count/0", "count/1", "count/2"], ["count"]]);
  const spawned = engine.log.events(result.runId).filter((e) => e.type === "task.spawned");
  assert.deepEqual(spawned.map((e) => [e.taskId, e.data]), [["fanout", {
    taskIds: ["count/0", "count/1", "count/2", "count"],
  }]]);
  const tasks = handle.snapshot().tasks;
  assert.equal(tasks.count.status, "completed");
  assert.equal(handle.snapshot().workflow.taskCount, 6);
  const replayed = importLog(engine.log.toJSON());
  assert.deepEqual(replayed.project("tasks", result.runId), engine.project("tasks", result.runId));
  assert.deepEqual(replayed.project("workflowStatus", result.runId), engine.project("workflowStatus", result.runId));
  await engine.close();
});

Deno.test("spawned tasks whose dependency failed are skipped; independent ones start at once", async () => {
  const engine = createEngine();
  const wf = defineWorkflow({
    name: "mixed",
    tasks: [
      {
        id: "bad",
        run: () => {
          throw new Error("no");
        },
      },
      { id: "late", dependsOn: ["bad"], run: () => 0 },
      {
        id: "s",
        run: (ctx) => {
          ctx.spawn([{ id: "x", run: () => "x" }, { id: "y", dependsOn: ["x", "s"], run: ({ deps }) => deps.x }]);
          return "s";
        },
      },
    ],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "failed");
  assert.equal(result.tasks.y.result, "x");
  assert.equal(result.tasks.late.status, "skipped");
  await engine.close();
});

Deno.test("ctx.spawn() rejects duplicates, unknown dependencies and cycles with typed errors; the spawner fails", async (t) => {
  const cases = [
    { name: "duplicate id", tasks: [{ id: "root", run: () => 1 }], cause: DuplicateTaskError },
    {
      name: "unknown dependency",
      tasks: [{ id: "n", dependsOn: ["ghost"], run: () => 1 }],
      cause: UnknownDependencyError,
    },
    {
      name: "cycle",
      tasks: [{ id: "p", dependsOn: ["q"], run: () => 1 }, { id: "q", dependsOn: ["p"], run: () => 1 }],
      cause: CycleError,
    },
    { name: "malformed", tasks: [{ id: "m", run: 5 }], cause: TypeError },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const engine = createEngine();
      let caught: unknown;
      const wf = defineWorkflow({
        name: "bad-spawn",
        tasks: [{
          id: "root",
          retry: { maxAttempts: 3, initialDelayMs: 0 },
          run: (ctx) => {
            try {
              ctx.spawn(c.tasks as never);
            } catch (error) {
              caught = error;
            }
            return "swallowed";
          },
        }],
      });
      const result = await engine.run(wf);
      assert.ok(caught instanceof SpawnError);
      assert.ok(caught.cause instanceof c.cause);
      assert.equal(result.status, "failed");
      assert.ok(result.tasks.root.error instanceof SpawnError);
      assert.equal(result.tasks.root.attempts, 1);
      assert.deepEqual(Object.keys(result.tasks), ["root"]);
      await engine.close();
    });
  }
});

Deno.test("ctx.spawn() after the attempt ended is a TypeError", async () => {
  const engine = createEngine();
  let later: (() => void) | undefined;
  const wf = defineWorkflow({ name: "late", tasks: [{ id: "a", run: (ctx) => void (later = () => ctx.spawn([])) }] });
  await engine.run(wf);
  assert.throws(() => later!(), TypeError);
  await engine.close();
});

Deno.test("a map over 10,000 items completes with every item and the fan-in", async () => {
  const engine = createEngine();
  const n = 10_000;
  const wf = defineWorkflow({
    name: "big",
    tasks: [{
      id: "split",
      run: (ctx) =>
        ctx.spawn(
          mapTasks("sum", Array.from({ length: n }, (_, k) => k), (x) => x, {
            join: (r) => (r as number[]).reduce((a, b) => a + b, 0),
          }),
        ).length,
    }],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "completed");
  assert.equal(result.tasks.sum.result, (n * (n - 1)) / 2);
  assert.equal(Object.keys(result.tasks).length, n + 2);
  await engine.close();
});

Deno.test("a retried spawner adds the same ids again: each is the task it added before, not run twice", async () => {
  const engine = createEngine();
  const runs: Record<string, number> = {};
  const count = (id: string) => runs[id] = (runs[id] ?? 0) + 1;
  let returned: readonly string[] = [];
  const wf = defineWorkflow({
    name: "retry-spawn",
    tasks: [{
      id: "s",
      retry: { maxAttempts: 3, initialDelayMs: 5 },
      run: async (ctx) => {
        returned = ctx.spawn([
          { id: "x", run: () => count("x") },
          { id: "y", dependsOn: ["x"], run: () => count("y") },
          ...(ctx.attempt === 2 ? [{ id: "z", run: () => count("z") }] : []),
        ]);
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (ctx.attempt === 1) throw new Error("first attempt fails after its spawns ran");
        return ctx.attempt;
      },
    }],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "completed");
  assert.equal(result.tasks.s.result, 2);
  assert.deepEqual(returned, ["x", "y", "z"]);
  assert.deepEqual(runs, { x: 1, y: 1, z: 1 });
  assert.deepEqual(Object.keys(result.tasks), ["s", "x", "y", "z"]);
  const spawned = engine.log.events(result.runId).filter((e) => e.type === "task.spawned");
  assert.deepEqual(spawned.map((e) => [e.attempt, e.data]), [[1, { taskIds: ["x", "y"] }], [2, { taskIds: ["z"] }]]);
  await engine.close();
});

Deno.test("a retried spawner that adds an id again with other dependencies fails with a SpawnError", async () => {
  const engine = createEngine();
  const wf = defineWorkflow({
    name: "retry-spawn-changed",
    tasks: [{ id: "a", run: () => 1 }, {
      id: "s",
      retry: { maxAttempts: 2, initialDelayMs: 0 },
      run: (ctx) => {
        ctx.spawn([{ id: "x", dependsOn: ctx.attempt === 1 ? [] : ["a"], run: () => 0 }]);
        if (ctx.attempt === 1) throw new Error("again");
      },
    }],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "failed");
  assert.ok(result.tasks.s.error instanceof SpawnError);
  assert.match(String((result.tasks.s.error as Error).cause), /added before with dependencies \[\], now with \["a"\]/);
  await engine.close();
});
