/**
 * `engine.resume()`: a crash is simulated by keeping a prefix of what a
 * durable store held (what survives a crash is always a prefix of the
 * append order) and resuming from it in a second engine.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createEngine,
  defineWorkflow,
  type Engine,
  loadLog,
  NotFoundError,
  type TaskDef,
  TaskFailedError,
  TaskSkippedError,
} from "../mod.ts";
import type { AnyFlowEvent } from "../extend.ts";
import { openFileLogStore } from "../adapters/mod.ts";
import { durableMemoryStore, settle } from "./_stores.ts";

/** Resolves when the signal aborts (a body that runs until the crash). */
function forever(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
}

/** Counts task executions per engine. */
class Counter {
  readonly runs: Record<string, number[]> = {};
  hit(id: string, attempt: number) {
    (this.runs[id] ??= []).push(attempt);
  }
  count(id: string) {
    return this.runs[id]?.length ?? 0;
  }
}

/**
 * Runs `tasks` in a first engine until `until(events)` holds, keeps the
 * events stored so far (the "disk" after a crash), and drops that engine.
 */
async function crash(
  tasks: TaskDef[],
  until: (events: AnyFlowEvent[]) => boolean,
  runId = "r",
): Promise<AnyFlowEvent[]> {
  const store = durableMemoryStore();
  const engine = createEngine({ logStore: store });
  engine.start(defineWorkflow({ name: "w", tasks }), { runId, input: { n: 7 } });
  for (let i = 0; i < 200 && !until(store.all); i++) await settle();
  assert.ok(until(store.all), "the crash point was never reached");
  const disk = store.all.slice();
  const errors = console.error;
  console.error = () => {};
  try {
    await engine.close();
  } finally {
    console.error = errors;
  }
  return disk;
}

const has = (type: string, taskId?: string) => (events: AnyFlowEvent[]) =>
  events.some((e) => e.type === type && (taskId === undefined || e.taskId === taskId));

async function withEngine(
  disk: AnyFlowEvent[],
  fn: (engine: Engine, store: ReturnType<typeof durableMemoryStore>) => Promise<void>,
) {
  const store = durableMemoryStore(disk);
  const engine = createEngine({ logStore: store });
  try {
    await fn(engine, store);
  } finally {
    await engine.close();
  }
}

Deno.test("resume() keeps completed results, never re-runs them, and re-runs the interrupted task with its attempt carried on", async () => {
  const first = new Counter();
  const disk = await crash([
    { id: "a", run: ({ attempt }) => (first.hit("a", attempt), "A") },
    { id: "b", dependsOn: ["a"], run: ({ attempt, signal }) => (first.hit("b", attempt), forever(signal)) },
    { id: "c", dependsOn: ["b"], run: () => "C" },
  ], has("task.started", "b"));
  const second = new Counter();
  await withEngine(disk, async (engine) => {
    const result = await engine.resume(
      defineWorkflow({
        name: "w",
        tasks: [
          { id: "a", run: ({ attempt }) => (second.hit("a", attempt), "A!") },
          {
            id: "b",
            dependsOn: ["a"],
            run: ({ attempt, deps, input }) => (second.hit("b", attempt), `${deps.a}B${(input as { n: number }).n}`),
          },
          { id: "c", dependsOn: ["b"], run: ({ deps, attempt }) => (second.hit("c", attempt), `${deps.b}C`) },
        ],
      }),
      "r",
    );
    assert.equal(result.status, "completed");
    assert.equal(result.runId, "r");
    assert.equal(second.count("a"), 0, "a completed before the crash and must not run again");
    assert.equal(result.tasks.a.result, "A", "a keeps its stored result");
    assert.deepEqual(second.runs.b, [2], "b runs again as attempt 2");
    assert.equal(result.tasks.b.result, "AB7", "the input and a's stored result reach b");
    assert.equal(result.tasks.b.attempts, 2);
    assert.equal(result.tasks.c.result, "AB7C");
  });
});

Deno.test("an attempt cut off by the crash is not charged to the retry policy", async () => {
  const disk = await crash([{ id: "once", run: ({ signal }) => forever(signal) }], has("task.started", "once"));
  await withEngine(disk, async (engine) => {
    const result = await engine.resume(defineWorkflow({ name: "w", tasks: [{ id: "once", run: () => 1 }] }), "r");
    assert.equal(result.status, "completed");
    assert.equal(result.tasks.once.attempts, 2);
    const resumed = engine.log.events("r").find((e) => e.type === "workflow.resumed")!;
    assert.ok(resumed.type === "workflow.resumed");
    assert.deepEqual(resumed.data.rerun, ["once"]);
    assert.deepEqual(resumed.data.interrupted, ["once"]);
  });
});

Deno.test("a task that was waiting to retry resumes with its next attempt and what is left of its budget", async (t) => {
  const tasks = (
    run: TaskDef["run"],
  ): TaskDef[] => [{ id: "flaky", retry: { maxAttempts: 2, initialDelayMs: 60_000 }, run }];
  const disk = await crash(
    tasks(() => {
      throw new Error("first try fails");
    }),
    has("task.retrying", "flaky"),
  );
  await t.step("a second attempt that succeeds completes it", async () => {
    await withEngine(disk, async (engine) => {
      const result = await engine.resume(defineWorkflow({ name: "w", tasks: tasks(({ attempt }) => attempt) }), "r");
      assert.equal(result.tasks.flaky.result, 2);
      assert.equal(result.tasks.flaky.attempts, 2);
    });
  });
  await t.step("a second attempt that fails is the last one", async () => {
    await withEngine(disk, async (engine) => {
      let calls = 0;
      const result = await engine.resume(
        defineWorkflow({
          name: "w",
          tasks: tasks(() => {
            calls++;
            throw new Error("second try fails");
          }),
        }),
        "r",
      );
      assert.equal(result.status, "failed");
      assert.equal(calls, 1);
      assert.equal(result.tasks.flaky.attempts, 2);
    });
  });
});

Deno.test("a task that had failed stays failed: it does not run again and its dependents are skipped", async () => {
  const disk = await crash([
    {
      id: "bad",
      run: () => {
        throw new Error("broken");
      },
    },
    { id: "after", dependsOn: ["bad"], run: () => 1 },
    { id: "slow", run: ({ signal }) => forever(signal) },
  ], has("task.failed", "bad"));
  await withEngine(disk, async (engine) => {
    let calls = 0;
    const result = await engine.resume(
      defineWorkflow({
        name: "w",
        tasks: [
          { id: "bad", run: () => (calls++, "fixed") },
          { id: "after", dependsOn: ["bad"], run: () => (calls++, 1) },
          { id: "slow", run: () => "S" },
        ],
      }),
      "r",
    );
    assert.equal(calls, 0);
    assert.equal(result.status, "failed");
    assert.ok(result.error instanceof TaskFailedError);
    assert.equal(result.error.taskId, "bad");
    assert.equal(result.tasks.bad.error?.message, "broken");
    assert.ok(result.tasks.after.error instanceof TaskSkippedError);
    assert.equal(result.tasks.slow.result, "S");
  });
});

Deno.test("a run that was being cancelled when it stopped ends cancelled, running nothing", async () => {
  const store = durableMemoryStore();
  const engine = createEngine({ logStore: store });
  const wf = (run: () => unknown) =>
    defineWorkflow({
      name: "w",
      tasks: [
        { id: "done", run: () => "D" },
        { id: "x", dependsOn: ["done"], run },
        { id: "y", dependsOn: ["done"], run },
      ],
    });
  const handle = engine.start(wf(() => new Promise(() => {})), { runId: "r" });
  while (!has("task.started", "y")(store.all)) await settle();
  handle.cancel("stop");
  await handle.result;
  await engine.close();
  const firstCancel = store.all.findIndex((e) => e.type === "task.cancelled");
  const disk = store.all.slice(0, firstCancel + 1);
  await withEngine(disk, async (engine2) => {
    let calls = 0;
    const result = await engine2.resume(wf(() => calls++), "r");
    assert.equal(result.status, "cancelled");
    assert.equal(calls, 0);
    assert.equal(result.tasks.done.result, "D");
    assert.equal(result.tasks.x.status, "cancelled");
    assert.equal(result.tasks.y.status, "cancelled");
    assert.ok(result.error instanceof CancelledError);
  });
});

Deno.test("resume() of a run that had ended returns its stored result and runs nothing", async () => {
  const disk = await crash([{ id: "a", run: () => ({ n: 1 }) }], has("workflow.completed"));
  await withEngine(disk, async (engine, store) => {
    let calls = 0;
    const before = store.all.length;
    const result = await engine.resume(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => calls++ }] }), "r");
    assert.equal(result.status, "completed");
    assert.deepEqual(result.tasks.a.result, { n: 1 });
    assert.equal(calls, 0);
    await engine.log.sync();
    assert.equal(store.all.length, before, "nothing was appended");
  });
});

Deno.test("resume() refuses an unknown run, another workflow, other task ids, and a live run", async () => {
  const disk = await crash([{ id: "a", run: ({ signal }) => forever(signal) }], has("task.started", "a"));
  await withEngine(disk, async (engine) => {
    await assert.rejects(
      engine.resume(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }), "nope"),
      NotFoundError,
    );
    await assert.rejects(
      engine.resume(defineWorkflow({ name: "other", tasks: [{ id: "a", run: () => 1 }] }), "r"),
      (e) => e instanceof TypeError && /started by workflow "w"/.test(e.message),
    );
    await assert.rejects(
      engine.resume(defineWorkflow({ name: "w", tasks: [{ id: "b", run: () => 1 }] }), "r"),
      (e) => e instanceof TypeError && /task "b" is in the workflow but not in the run/.test(e.message),
    );
    const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: ({ signal }) => forever(signal) }] });
    const live = engine.resume(wf, "r");
    await settle();
    await assert.rejects(
      engine.resume(wf, "r"),
      (e) => e instanceof TypeError && /running in this engine/.test(e.message),
    );
    await engine.close();
    assert.equal((await live).status, "cancelled");
  });
});

Deno.test("a resumed run's events follow the stored ones, and loading the store gives the live projections", async () => {
  const disk = await crash([
    { id: "a", run: () => 1 },
    { id: "b", dependsOn: ["a"], run: ({ signal }) => forever(signal) },
    { id: "c", run: ({ signal }) => forever(signal) },
  ], (events) => has("task.started", "b")(events) && has("task.started", "c")(events));
  await withEngine(disk, async (engine, store) => {
    const wf = defineWorkflow({
      name: "w",
      tasks: [
        { id: "a", run: () => 1 },
        { id: "b", dependsOn: ["a"], run: () => 2 },
        { id: "c", run: () => 3 },
      ],
    });
    await engine.resume(wf, "r");
    await engine.log.sync();
    const stored = store.read("r");
    const lastBefore = disk.at(-1)!.seq;
    const after = stored.slice(disk.length);
    assert.equal(after[0].type, "workflow.resumed");
    assert.ok(after.every((e) => e.seq > lastBefore));
    for (let i = 1; i < stored.length; i++) assert.ok(stored[i].seq > stored[i - 1].seq);
    const loaded = await loadLog(store);
    for (const name of ["tasks", "taskStatus", "workflowStatus", "completedTasks", "failedTasks"] as const) {
      assert.deepEqual(loaded.project(name, "r"), engine.project(name, "r"), name);
    }
    assert.equal(engine.project("completedTasks", "r")[0], "a", "a keeps its place among the ended tasks");
  });
});

Deno.test("resume() on the file store reads from the latest checkpoint", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-resume-" });
  try {
    const path = `${dir}/flow.log`;
    const n = 30;
    const tasks = (blockAt: number): TaskDef[] =>
      Array.from({ length: n }, (_, i) => ({
        id: `t${i}`,
        dependsOn: i === 0 ? [] : [`t${i - 1}`],
        run: ({ signal }) => (i === blockAt ? forever(signal) : i),
      }));
    const store = await openFileLogStore(path, { runCheckpointEvery: 10 });
    const engine = createEngine({ logStore: store });
    engine.start(defineWorkflow({ name: "w", tasks: tasks(25) }), { runId: "r" });
    while (!engine.log.events("r").some((e) => e.type === "task.started" && e.taskId === "t25")) await settle();
    await engine.log.sync();
    await Deno.copyFile(path, `${dir}/crashed.log`);
    await engine.close();
    await store.close();

    const crashed = await openFileLogStore(`${dir}/crashed.log`);
    const stored = await crashed.readRun("r");
    assert.ok(stored.checkpoint !== undefined, "a checkpoint was written");
    assert.ok(stored.events.length < (await crashed.read("r")).length);
    const engine2 = createEngine({ logStore: crashed });
    const result = await engine2.resume(defineWorkflow({ name: "w", tasks: tasks(-1) }), "r");
    assert.equal(result.status, "completed");
    assert.equal(result.tasks.t29.result, 29);
    assert.equal(result.tasks.t25.attempts, 2);
    assert.equal(result.tasks.t3.attempts, 1);
    await engine2.close();
    await crashed.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
