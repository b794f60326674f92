/**
 * Run controls: fail fast, re-execute from failure, ordering by workload,
 * the step-by-step API's pending tasks and events, the task context's
 * workflow id and metadata, and the descendants query.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createEngine,
  defineWorkflow,
  descendants,
  mapTasks,
  NotFoundError,
  type TaskDef,
  TaskFailedError,
} from "../mod.ts";
import type { AnyFlowEvent, LogStore } from "../extend.ts";
import { openFileLogStore, openKvLogStore } from "../adapters/mod.ts";

function forever(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
}

Deno.test("failFast: the first task that fails for good cancels the rest; the run ends failed with its error", async (t) => {
  const tasks = (ran: string[]) => [
    { id: "slow", run: ({ signal }: { signal: AbortSignal }) => (ran.push("slow"), forever(signal)) },
    {
      id: "bad",
      retry: { maxAttempts: 2, initialDelayMs: 1 },
      run: () => {
        ran.push("bad");
        throw new Error("boom");
      },
    },
    { id: "later", dependsOn: ["slow"], run: () => ran.push("later") },
    { id: "child", dependsOn: ["bad"], run: () => ran.push("child") },
  ];
  for (const where of ["run option", "engine option"]) {
    await t.step(where, async () => {
      const engine = createEngine(where === "engine option" ? { failFast: true } : {});
      const ran: string[] = [];
      const wf = defineWorkflow({ name: "ff", tasks: tasks(ran) });
      const result = await engine.run(wf, where === "run option" ? { failFast: true } : {});
      assert.equal(result.status, "failed");
      assert.ok(result.error instanceof TaskFailedError);
      assert.equal(result.error.taskId, "bad");
      assert.equal(result.tasks.bad.status, "failed");
      assert.equal(result.tasks.bad.attempts, 2, "retries still happen before it fails for good");
      assert.equal(result.tasks.slow.status, "cancelled");
      assert.ok(result.tasks.slow.error instanceof CancelledError);
      assert.ok((result.tasks.slow.error as Error).cause instanceof TaskFailedError);
      assert.equal(result.tasks.later.status, "cancelled");
      assert.equal(result.tasks.child.status, "skipped");
      assert.deepEqual(ran.sort(), ["bad", "bad", "slow"]);
      const last = engine.log.events(result.runId).at(-1)!;
      assert.equal(last.type, "workflow.failed");
      assert.equal(engine.project("workflowStatus", result.runId).status, "failed");
      await engine.close();
    });
  }
  await t.step("without it, independent tasks run to their end", async () => {
    const engine = createEngine();
    const wf = defineWorkflow({
      name: "no-ff",
      tasks: [
        {
          id: "bad",
          run: () => {
            throw new Error("boom");
          },
        },
        { id: "slow", run: () => new Promise((resolve) => setTimeout(() => resolve("done"), 20)) },
      ],
    });
    const result = await engine.run(wf);
    assert.equal(result.status, "failed");
    assert.equal(result.tasks.slow.result, "done");
    await engine.close();
  });
});

/** A workflow whose "flaky" task fails while `broken.now`; "after" depends on it; "map" adds items, one failing too. */
function rerunWorkflow(ran: string[], broken: { now: boolean }) {
  const tasks: TaskDef[] = [
    { id: "a", run: () => (ran.push("a"), 1) },
    {
      id: "flaky",
      dependsOn: ["a"],
      run: ({ deps }) => {
        ran.push("flaky");
        if (broken.now) throw new Error("flaky is broken");
        return Number(deps.a) + 1;
      },
    },
    { id: "after", dependsOn: ["flaky"], run: ({ deps }) => (ran.push("after"), Number(deps.flaky) * 10) },
    { id: "solo", run: () => (ran.push("solo"), "solo") },
    {
      id: "plan",
      run: (ctx) => {
        ran.push("plan");
        ctx.spawn(mapTasks("sq", [1, 2, 3], (x: number, c) => {
          ran.push(c.taskId);
          if (x === 3 && broken.now) throw new Error("sq/2 is broken");
          return x * x;
        }, { join: (r) => (r as number[]).reduce((p, q) => p + q, 0) }));
        return "planned";
      },
    },
  ];
  return defineWorkflow({ name: "rerun", tasks });
}

Deno.test("rerun(): a failed run re-executed from failure keeps completed tasks and runs only the rest, on every store", async (t) => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "nerv-rerun-" });
  const stores: [string, () => Promise<LogStore & { close?(): unknown }>][] = [
    ["memory", () => Promise.resolve(undefined as never)],
    ["file", () => openFileLogStore(`${dir}/flow.log`)],
    ["kv", () => openKvLogStore({ path: ":memory:" })],
  ];
  try {
    for (const [name, open] of stores) {
      await t.step(name, async () => {
        const store = await open();
        const engine = createEngine(store === undefined ? {} : { logStore: store });
        const ran: string[] = [];
        const broken = { now: true };
        const wf = rerunWorkflow(ran, broken);
        const first = await engine.run(wf, { runId: "first", input: { n: 1 } });
        assert.equal(first.status, "failed");
        assert.equal(first.tasks.after.status, "skipped");
        assert.equal(first.tasks["sq/2"].status, "failed");
        broken.now = false;
        ran.length = 0;
        const second = await engine.rerun(wf, "first", { runId: "second" });
        assert.equal(second.status, "completed");
        assert.equal(second.runId, "second");
        assert.deepEqual(
          ran.sort(),
          ["after", "flaky", "plan", "sq/2"],
          "only failed and skipped tasks (and the spawner of a failed added task) run",
        );
        assert.equal(second.tasks.after.result, 20);
        assert.equal(second.tasks.a.result, 1);
        assert.equal(second.tasks.sq.result, 14);
        const events = engine.log.events("second");
        const created = events[0] as AnyFlowEvent & { type: "workflow.created" };
        assert.equal(created.data.rerunOf, "first");
        const kept = events.filter((e) => e.type === "task.completed" && "rerunOf" in e.data).map((e) => e.taskId);
        assert.deepEqual(kept.sort(), ["a", "solo", "sq/0", "sq/1"]);
        const started = events.find((e) => e.type === "workflow.started") as AnyFlowEvent & {
          type: "workflow.started";
        };
        assert.deepEqual(started.data.input, { n: 1 }, "the re-run keeps the old run's input");
        assert.deepEqual(engine.project("tasks", "second").after.result, 20);
        // The old run is untouched.
        assert.equal(engine.project("workflowStatus", "first").status, "failed");
        await assert.rejects(engine.rerun(wf, "nope"), NotFoundError);
        await engine.close();
        await store?.close?.();
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("step API: createWorkflow/addTask emit their events when they happen; an added task not executed is pending", async () => {
  const engine = createEngine();
  const heard: [string, string | undefined][] = [];
  engine.bus.onAny((e) => heard.push([e.type, e.taskId]));
  const wf = engine.createWorkflow({ name: "steps" });
  assert.deepEqual(heard, [["workflow.created", undefined]]);
  engine.addTask(wf, { id: "one", run: () => 1 });
  engine.addTask(wf, { id: "two", dependsOn: ["one"], run: ({ deps }) => Number(deps.one) + 1 });
  assert.deepEqual(heard.slice(1), [["task.pending", "one"], ["task.pending", "two"]]);
  const pending = engine.getTaskStatus("two");
  assert.equal(pending.status, "pending");
  assert.equal(pending.workflowId, wf);
  assert.equal(pending.runId, undefined);
  assert.equal(engine.project("tasks", wf).two.status, "pending");
  const runId = engine.execute(wf);
  await engine.wait(runId);
  assert.equal(engine.getTaskStatus("two").status, "completed");
  assert.equal(engine.getTaskStatus("two").runId, runId);
  await engine.close();
});

Deno.test("step API: reexecute() runs an ended execution again from failure, keeping its completed tasks", async () => {
  const engine = createEngine();
  const ran: string[] = [];
  let broken = true;
  const wf = engine.createWorkflow({ name: "steps" });
  engine.addTask(wf, { id: "a", run: () => (ran.push("a"), 1) });
  engine.addTask(wf, {
    id: "b",
    dependsOn: ["a"],
    run: () => {
      ran.push("b");
      if (broken) throw new Error("b is broken");
      return 2;
    },
  });
  const first = engine.execute(wf, { k: 1 });
  assert.throws(() => engine.reexecute(first), TypeError, "it has not ended");
  assert.equal((await engine.wait(first)).status, "failed");
  broken = false;
  ran.length = 0;
  const second = engine.reexecute(first);
  const result = await engine.wait(second);
  assert.equal(result.status, "completed");
  assert.deepEqual(ran, ["b"]);
  assert.equal(engine.getWorkflowStatus(wf).runId, second);
  assert.equal(engine.getWorkflowStatus(wf).status, "completed");
  const created = engine.log.events(second)[0] as AnyFlowEvent & { type: "workflow.created" };
  assert.equal(created.data.rerunOf, first);
  assert.throws(() => engine.reexecute("nope"), NotFoundError);
  await engine.close();
});

Deno.test("the task context carries the workflow id and the task's metadata, inline and in a worker", async () => {
  const { tasks } = await import("./fixtures/context_tasks.ts");
  const engine = createEngine({ workers: { cpu: 1 } });
  try {
    const wf = defineWorkflow({
      name: "ctx",
      tasks: [
        { id: "inline", metadata: { team: "data", n: 1 }, run: tasks.context },
        { id: "worker", profile: "cpu", metadata: { team: "ml" }, run: tasks.context },
        { id: "bare", profile: "cpu", run: tasks.context },
      ],
    });
    const result = await engine.run(wf);
    assert.equal(result.status, "completed", String(result.error));
    assert.deepEqual(result.tasks.inline.result, { workflowId: "ctx", metadata: { team: "data", n: 1 }, frozen: true });
    assert.deepEqual(result.tasks.worker.result, { workflowId: "ctx", metadata: { team: "ml" }, frozen: true });
    assert.deepEqual(result.tasks.bare.result, { workflowId: "ctx", metadata: {}, frozen: true });
    const id = engine.createWorkflow({ name: "stepwise" });
    engine.addTask(id, { id: "t", metadata: { k: 2 }, run: tasks.context });
    const step = await engine.wait(engine.execute(id));
    assert.deepEqual(step.tasks.t.result, { workflowId: id, metadata: { k: 2 }, frozen: true });
  } finally {
    await engine.close();
  }
});

Deno.test("descendants(): what a task's failure would skip, on the workflow and on a run that added tasks", async () => {
  const run = () => null;
  const wf = defineWorkflow({
    name: "desc",
    tasks: [
      { id: "a", run },
      { id: "b", dependsOn: ["a"], run },
      { id: "c", dependsOn: ["b"], run },
      { id: "d", dependsOn: ["a", "c"], run },
      { id: "e", run },
      {
        id: "s",
        dependsOn: ["b"],
        run: (ctx) => void ctx.spawn([{ id: "x", dependsOn: ["s"], run }, { id: "y", dependsOn: ["x", "e"], run }]),
      },
    ],
  });
  assert.deepEqual(descendants(wf, "b"), ["c", "s", "d"]);
  assert.deepEqual(descendants(wf, "d"), []);
  assert.throws(() => descendants(wf, "zz"), NotFoundError);
  const engine = createEngine();
  const handle = engine.start(wf);
  await handle.result;
  assert.deepEqual(handle.descendants("b"), ["c", "s", "d", "x", "y"]);
  assert.deepEqual(handle.descendants("e"), ["y"]);
  // The same as a failure would skip.
  const failing = defineWorkflow({
    name: "desc-fail",
    tasks: wf.tasks.map((t) => t.id === "b" ? { ...t, run: () => Promise.reject(new Error("b fails")) } : t),
  });
  const failed = await engine.run(failing);
  const skipped = Object.entries(failed.tasks).filter(([, r]) => r.status === "skipped").map(([id]) => id);
  assert.deepEqual(skipped.sort(), descendants(failing, "b").sort());
  await engine.close();
});
