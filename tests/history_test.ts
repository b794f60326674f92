// Issue 11 (sections 2 and 4) and issue 13's two drifts: a run never hangs silently, failures keep
// their story, one derivation of a run's result, `actors()` after a spawn.
import assert from "node:assert/strict";
import { openFileLogStore } from "../adapters/mod.ts";
import {
  createEngine,
  defineWorkflow,
  NotSerializableError,
  RunStalledError,
  SpawnError,
  subworkflow,
  SubworkflowError,
  TaskFailedError,
  TaskSkippedError,
  TaskTimeoutError,
} from "../mod.ts";
import { createMemoryLogStore, type Executor } from "../extend.ts";

const child = defineWorkflow<number>({
  name: "child",
  tasks: [
    { id: "x1", run: async ({ input }) => (await new Promise((r) => setTimeout(r, 1)), input) },
    { id: "x2", dependsOn: ["x1"], run: ({ deps }) => (deps.x1 as number) * 2 },
  ],
});

function parents(n: number) {
  return defineWorkflow({
    name: "parents",
    tasks: Array.from({ length: n }, (_, k) => ({
      id: `p${k}`,
      run: subworkflow(child, { input: k, output: "x2" }),
    })),
  });
}

// ---- section 2: a run never hangs silently ----------------------------------

for (
  const [label, options, n] of [
    ["16 parallel subworkflow tasks on a default engine", {}, 16],
    ["concurrency: 1", { concurrency: 1 }, 3],
    ["limits: { io: 1 }", { limits: { io: 1 } }, 3],
    ["64 parents with limits: { io: 2 }", { limits: { io: 2 } }, 64],
  ] as const
) {
  Deno.test(`subworkflow parents give their slot up while their child runs: ${label}`, async () => {
    const engine = createEngine(options);
    try {
      const result = await engine.run(parents(n));
      assert.equal(result.status, "completed");
      for (let k = 0; k < n; k++) assert.equal(result.tasks[`p${k}`].result, k * 2);
    } finally {
      await engine.close();
    }
  });
}

Deno.test("a parent that gave its slot up gets it back before its body goes on (the limit holds)", async () => {
  let running = 0;
  let most = 0;
  const busy = async () => {
    most = Math.max(most, ++running);
    await new Promise((r) => setTimeout(r, 2));
    running--;
  };
  const leaf = defineWorkflow({ name: "leaf", tasks: [{ id: "l", run: busy }] });
  const wf = defineWorkflow({
    name: "counted",
    tasks: Array.from({ length: 6 }, (_, k) => ({
      id: `t${k}`,
      run: async (ctx: Parameters<Parameters<typeof defineWorkflow>[0]["tasks"][0]["run"]>[0]) => {
        await busy();
        const r = await ctx.runWorkflow(leaf);
        await busy(); // After the child: the task holds a slot again.
        return r.status;
      },
    })),
  });
  const engine = createEngine({ limits: { io: 2 } });
  try {
    const result = await engine.run(wf);
    assert.equal(result.status, "completed");
    assert.ok(most <= 2, `at most 2 bodies at once, saw ${most}`);
  } finally {
    await engine.close();
  }
});

Deno.test("a parent cancelled while waiting for its slot back ends; the run resolves and slots are not leaked", async () => {
  const engine = createEngine({ concurrency: 1 });
  try {
    const handle = engine.start(parents(4));
    await new Promise((r) => setTimeout(r, 3));
    handle.cancel("enough");
    assert.equal((await handle.result).status, "cancelled");
    // The engine's one slot is free again: a new run completes.
    const again = await engine.run(parents(2));
    assert.equal(again.status, "completed");
  } finally {
    await engine.close();
  }
});

Deno.test("a spawned task naming an unknown breaker: SpawnError before the graph grows, the run resolves", async () => {
  const engine = createEngine();
  try {
    let caught: unknown;
    const wf = defineWorkflow({
      name: "spawner",
      tasks: [{
        id: "split",
        run: (ctx) => {
          try {
            ctx.spawn([{ id: "item", run: () => 1, breaker: "nope" }]);
          } catch (error) {
            caught = error;
          }
          return "caught";
        },
      }],
    });
    const handle = engine.start(wf);
    const result = await handle.result;
    assert.ok(caught instanceof SpawnError, String(caught));
    assert.ok((caught as SpawnError).cause instanceof RangeError);
    assert.match((caught as Error).message, /breaker "nope"/);
    assert.equal(result.status, "failed");
    assert.ok(result.tasks.split.error instanceof SpawnError);
    assert.deepEqual(Object.keys(result.tasks), ["split"], "nothing half-added");
    assert.deepEqual(handle.plan().order.map((t) => t.id), ["split"]);
  } finally {
    await engine.close();
  }
});

Deno.test("a spawned task naming an unknown breaker, uncaught: the task fails once with SpawnError (no retry)", async () => {
  const engine = createEngine();
  try {
    const wf = defineWorkflow({
      name: "spawner2",
      tasks: [{
        id: "split",
        retry: { maxAttempts: 3, initialDelayMs: 1 },
        run: (ctx) => ctx.spawn([{ id: "item", run: () => 1, breaker: "nope" }]),
      }],
    });
    const result = await engine.run(wf);
    assert.equal(result.status, "failed");
    assert.ok(result.tasks.split.error instanceof SpawnError);
    assert.equal(result.tasks.split.attempts, 1);
  } finally {
    await engine.close();
  }
});

Deno.test("a run that can make no progress fails with RunStalledError naming the stuck tasks", async () => {
  // An executor that never has a free slot: its tasks would wait forever, with nothing running.
  const never: Executor = { name: "never", concurrency: 0, run: () => Promise.resolve(1) };
  const engine = createEngine({ executors: { mixed: never } });
  try {
    const wf = defineWorkflow({
      name: "stuck",
      tasks: [
        { id: "a", run: () => 1 },
        { id: "b", dependsOn: ["a"], profile: "mixed", run: () => 2 },
        { id: "c", dependsOn: ["b"], run: () => 3 },
      ],
    });
    const result = await engine.run(wf);
    assert.equal(result.status, "failed");
    assert.ok(result.error instanceof RunStalledError, String(result.error));
    assert.deepEqual((result.error as RunStalledError).taskIds, ["b", "c"]);
    assert.equal(result.tasks.a.status, "completed");
    assert.equal(result.tasks.b.status, "failed");
    assert.ok(result.tasks.c.error instanceof RunStalledError);
    assert.equal(engine.project("workflowStatus", result.runId).status, "failed");
  } finally {
    await engine.close();
  }
});

// ---- section 4: failures keep their story -----------------------------------

Deno.test("a fallback after a timeout completes the task when the body honours its abort signal", async () => {
  const engine = createEngine();
  try {
    const wf = defineWorkflow({
      name: "cooperative",
      tasks: [{
        id: "slow",
        timeoutMs: 30,
        run: (ctx) => new Promise((_, rej) => ctx.signal.addEventListener("abort", () => rej(ctx.signal.reason))),
        fallback: () => "late answer",
      }],
    });
    const result = await engine.run(wf);
    assert.equal(result.status, "completed");
    assert.equal(result.tasks.slow.result, "late answer");
    assert.equal(result.tasks.slow.path, "fallback");
  } finally {
    await engine.close();
  }
});

Deno.test("a failing fallback keeps the primary's error as cause", async () => {
  const engine = createEngine();
  try {
    const primary = new Error("primary down");
    const wf = defineWorkflow({
      name: "both-fail",
      tasks: [{
        id: "a",
        run: () => {
          throw primary;
        },
        fallback: () => {
          throw new Error("fallback down too");
        },
      }],
    });
    const result = await engine.run(wf);
    assert.equal(result.status, "failed");
    assert.equal(result.tasks.a.error?.message, "fallback down too");
    assert.equal(result.tasks.a.error?.cause, primary);
    const failed = engine.log.events(result.runId).find((e) => e.type === "task.failed")!;
    assert.equal((failed.data as { error: { cause?: { message: string } } }).error.cause?.message, "primary down");
  } finally {
    await engine.close();
  }
});

Deno.test("a failed subworkflow's error names the child workflow and its run id", async () => {
  const engine = createEngine();
  try {
    const broken = defineWorkflow({
      name: "broken-child",
      tasks: [{
        id: "boom",
        run: () => {
          throw new Error("child exploded");
        },
      }],
    });
    const childRuns: string[] = [];
    engine.bus.on("workflow.created", (e) => {
      if (e.data.parentRunId !== undefined) childRuns.push(e.runId);
    });
    const wf = defineWorkflow({ name: "parent", tasks: [{ id: "sub", run: subworkflow(broken) }] });
    const result = await engine.run(wf);
    const error = result.tasks.sub.error;
    assert.ok(error instanceof SubworkflowError, String(error));
    assert.equal(error.workflow, "broken-child");
    assert.equal(childRuns.length, 1);
    assert.equal(error.runId, childRuns[0]);
    assert.match(error.message, /"broken-child"/);
    assert.ok(error.message.includes(childRuns[0]));
    assert.ok(error.cause instanceof TaskFailedError);
  } finally {
    await engine.close();
  }
});

Deno.test("a skipped task's error keeps dependencyStatus in the log and names the failed ancestor", async () => {
  const store = createMemoryLogStore();
  const tasks = [
    {
      id: "d",
      run: () => {
        throw new Error("d broke");
      },
    },
    { id: "c", dependsOn: ["d"], run: () => 1 },
    { id: "g", dependsOn: ["c"], run: () => 2 },
  ];
  const engine = createEngine({ logStore: store });
  try {
    const result = await engine.run(defineWorkflow({ name: "chain", tasks }));
    const g = result.tasks.g.error;
    assert.ok(g instanceof TaskSkippedError);
    assert.equal(g.dependency, "c");
    assert.equal(g.dependencyStatus, "skipped");
    assert.equal(g.ancestor, "d");
    assert.match(g.message, /ancestor task "d" failed/);
    // The log keeps the same data (no regex on the message needed).
    const view = engine.project("tasks", result.runId);
    assert.equal(view.g.error?.dependencyStatus, "skipped");
    assert.equal(view.g.error?.ancestor, "d");
    assert.equal(view.c.error?.dependencyStatus, "failed");
    // And a resume of the ended run gives them back.
    const again = await createEngine({ logStore: store }).resume(
      defineWorkflow({ name: "chain", tasks }),
      result.runId,
    );
    const back = again.tasks.g.error as TaskSkippedError;
    assert.equal(back.dependencyStatus, "skipped");
    assert.equal(back.ancestor, "d");
    assert.equal(back.message, g.message);
  } finally {
    await engine.close();
  }
});

Deno.test("engine.run() with an input a durable store cannot keep returns a rejected promise", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp" });
  const engine = createEngine({ logStore: await openFileLogStore(`${dir}/runs.log`) });
  try {
    const wf = defineWorkflow({ name: "dated", tasks: [{ id: "a", run: () => 1 }] });
    let promise: Promise<unknown> | undefined;
    assert.doesNotThrow(() => promise = engine.run(wf, { input: { when: new Date(0) } }));
    await assert.rejects(promise!, NotSerializableError);
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- issue 13: one derivation of a result; actors() after a spawn -------------

Deno.test("a task completed by its fallback reports path 'fallback' live, on resume of the ended run, and in the snapshot", async () => {
  const store = createMemoryLogStore();
  const tasks = [
    {
      id: "a",
      run: () => {
        throw new Error("down");
      },
      fallback: () => "plan b",
    },
    { id: "b", run: () => 1, fallback: () => 2 },
  ];
  const engine = createEngine({ logStore: store });
  try {
    const handle = engine.start(defineWorkflow({ name: "fb", tasks }));
    const live = await handle.result;
    const resumed = await createEngine({ logStore: store }).resume(defineWorkflow({ name: "fb", tasks }), live.runId);
    for (const r of [live, resumed]) {
      assert.equal(r.tasks.a.path, "fallback");
      assert.equal(r.tasks.a.result, "plan b");
      assert.equal(r.tasks.b.path, "primary");
    }
    const snap = handle.snapshot();
    assert.equal(snap.tasks.a.path, "fallback");
    assert.equal(snap.tasks.b.path, "primary");
    const strip = (r: typeof live) => JSON.parse(JSON.stringify({ ...r, error: undefined }));
    assert.deepEqual(strip(resumed), strip(live));
  } finally {
    await engine.close();
  }
});

Deno.test("handle.actors() works once a task spawned tasks, and shows the spawned ones", async () => {
  const engine = createEngine();
  try {
    let open!: () => void;
    const gate = new Promise<void>((r) => open = r);
    const wf = defineWorkflow({
      name: "grows",
      tasks: [{
        id: "split",
        run: (ctx) => {
          ctx.spawn([{ id: "late", profile: "io", priority: "high", run: () => gate }]);
          return "split";
        },
      }],
    });
    const handle = engine.start(wf);
    await new Promise((r) => setTimeout(r, 5));
    const view = handle.actors();
    const late = view.tasks.find((t) => t.id === "late");
    assert.ok(late !== undefined, JSON.stringify(view.tasks));
    assert.equal(late.priority, "high");
    assert.equal(late.state, "running");
    open();
    assert.equal((await handle.result).status, "completed");
  } finally {
    await engine.close();
  }
});

Deno.test("a timeout without a fallback still fails with TaskTimeoutError", async () => {
  const engine = createEngine();
  try {
    const wf = defineWorkflow({
      name: "plain-timeout",
      tasks: [{
        id: "slow",
        timeoutMs: 10,
        run: (ctx) => new Promise((_, rej) => ctx.signal.addEventListener("abort", () => rej(ctx.signal.reason))),
      }],
    });
    const result = await engine.run(wf);
    assert.ok(result.tasks.slow.error instanceof TaskTimeoutError);
  } finally {
    await engine.close();
  }
});
