import assert from "node:assert/strict";
import { createEngine, defineWorkflow, type FlowEvent, subworkflow, TaskFailedError } from "../mod.ts";
import { type AnyFlowEvent, importLog, type TaskSpec } from "../extend.ts";

const double = defineWorkflow<number>({
  name: "double",
  tasks: [
    { id: "x2", run: ({ input }) => input * 2 },
    { id: "plus1", dependsOn: ["x2"], run: ({ deps }) => (deps.x2 as number) + 1 },
  ],
});

Deno.test("subworkflow(): the child's results, or its output task's, are the task's result", async () => {
  const engine = createEngine();
  const wf = defineWorkflow({
    name: "parent",
    tasks: [
      { id: "n", run: () => 20 },
      { id: "all", dependsOn: ["n"], run: subworkflow(double, { input: (ctx) => ctx.deps.n as number }) },
      { id: "one", dependsOn: ["n"], run: subworkflow(double, { input: 5, output: "plus1" }) },
      {
        id: "sum",
        dependsOn: ["all", "one"],
        run: ({ deps }) => (deps.all as { plus1: number }).plus1 + Number(deps.one),
      },
    ],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "completed");
  assert.deepEqual(result.tasks.all.result, { x2: 40, plus1: 41 });
  assert.equal(result.tasks.one.result, 11);
  assert.equal(result.tasks.sum.result, 52);
  await engine.close();
});

Deno.test("subworkflow(): the child's events carry the link; replay of the log equals the live state", async () => {
  const engine = createEngine();
  const events: AnyFlowEvent[] = [];
  engine.bus.onAny((e) => events.push(e));
  const wf = defineWorkflow<number>({
    name: "parent",
    tasks: [{ id: "child", run: subworkflow(double) }],
  });
  const result = await engine.run(wf, { input: 3 });
  assert.deepEqual(result.tasks.child.result, { x2: 6, plus1: 7 });
  const created = events.filter((e) => e.type === "workflow.created");
  assert.equal(created.length, 2);
  const [parentCreated, childCreated] = created as FlowEvent<"workflow.created">[];
  assert.equal(parentCreated.data.parentRunId, undefined);
  assert.equal(childCreated.workflowId, "double");
  assert.notEqual(childCreated.runId, result.runId);
  assert.equal(childCreated.data.parentRunId, result.runId);
  assert.equal(childCreated.data.parentTaskId, "child");
  // The child's events are in the same log, under its own run id, between the task's start and completion.
  const childRunId = childCreated.runId;
  const seqOf = (pred: (e: AnyFlowEvent) => boolean) => events.find(pred)!.seq;
  const started = seqOf((e) => e.type === "task.started" && e.taskId === "child");
  const childDone = seqOf((e) => e.type === "workflow.completed" && e.runId === childRunId);
  const done = seqOf((e) => e.type === "task.completed" && e.taskId === "child" && e.runId === result.runId);
  assert.ok(started < childCreated.seq && childDone < done);
  assert.equal(engine.project("workflowStatus", childRunId).status, "completed");
  assert.ok(engine.log.replay(engine.log.events()).equals(engine.log.state()));
  const replayed = importLog(engine.log.toJSON());
  for (const runId of [result.runId, childRunId]) {
    assert.deepEqual(replayed.project("tasks", runId), engine.project("tasks", runId));
    assert.deepEqual(replayed.project("workflowStatus", runId), engine.project("workflowStatus", runId));
  }
  await engine.close();
});

Deno.test("subworkflow(): a failed child run fails the task with its TaskFailedError; dependents are skipped", async () => {
  const engine = createEngine();
  const broken = defineWorkflow({
    name: "broken",
    tasks: [
      { id: "ok", run: () => 1 },
      {
        id: "boom",
        dependsOn: ["ok"],
        run: () => {
          throw new Error("child exploded");
        },
      },
    ],
  });
  const wf = defineWorkflow({
    name: "parent",
    tasks: [
      { id: "child", run: subworkflow(broken) },
      { id: "after", dependsOn: ["child"], run: () => "never" },
    ],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "failed");
  assert.equal(result.tasks.child.status, "failed");
  assert.equal(result.tasks.after.status, "skipped");
  const error = result.tasks.child.error!;
  // The parent task's error carries the child's: the child task "boom" failed.
  let found: unknown = error;
  while (found instanceof Error && !(found instanceof TaskFailedError && found.taskId === "boom")) found = found.cause;
  assert.ok(found instanceof TaskFailedError, `no TaskFailedError of "boom" in ${error}`);
  assert.match(String((found as Error).message), /child exploded/);
  await engine.close();
});

/** A child whose only task waits until it is aborted, and says when it started. */
function hanging(started: () => void) {
  return defineWorkflow({
    name: "hanging",
    tasks: [{
      id: "wait",
      run: ({ signal }) =>
        new Promise((_, reject) => {
          started();
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
    }],
  });
}

Deno.test("subworkflow(): cancelling the parent run cancels the child run", async () => {
  const engine = createEngine();
  const childIds: string[] = [];
  engine.bus.onAny((e) => {
    if (e.type === "workflow.created" && e.data.parentRunId !== undefined) childIds.push(e.runId);
  });
  const { promise: childStarted, resolve } = Promise.withResolvers<void>();
  const wf = defineWorkflow({ name: "parent", tasks: [{ id: "child", run: subworkflow(hanging(resolve)) }] });
  const handle = engine.start(wf);
  await childStarted;
  handle.cancel(new Error("stop"));
  const result = await handle.result;
  assert.equal(result.status, "cancelled");
  assert.equal(result.tasks.child.status, "cancelled");
  assert.equal(childIds.length, 1);
  const child = engine.project("workflowStatus", childIds[0]);
  assert.equal(child.status, "cancelled");
  assert.equal(engine.project("tasks", childIds[0]).wait.status, "cancelled");
  await engine.close();
});

Deno.test("subworkflow(): a timeout of the parent task cancels the child run and fails the task", async () => {
  const engine = createEngine();
  let childId = "";
  engine.bus.onAny((e) => {
    if (e.type === "workflow.created" && e.data.parentRunId !== undefined) childId = e.runId;
  });
  const wf = defineWorkflow({
    name: "parent",
    tasks: [{ id: "child", timeoutMs: 30, run: subworkflow(hanging(() => {})) }],
  });
  const result = await engine.run(wf);
  assert.equal(result.status, "failed");
  assert.equal(result.tasks.child.status, "failed");
  assert.equal(engine.project("workflowStatus", childId).status, "cancelled");
  await engine.close();
});

Deno.test("ctx.runWorkflow() is refused outside a run and in worker contexts; subworkflow() checks its arguments", async () => {
  assert.throws(() => subworkflow({ name: "x", tasks: [] } as never), TypeError);
  assert.throws(() => subworkflow(double, { output: "" }), TypeError);
  const { createInlineExecutor } = await import("../extend.ts");
  const inline = createInlineExecutor();
  const spec = double.tasks[0];
  await assert.rejects(
    inline.run(
      { ...spec, run: subworkflow(double) } as TaskSpec,
      { input: 1, deps: {}, attempt: 1, taskId: "t", runId: "r" },
      new AbortController().signal,
    ),
    (e: unknown) => e instanceof TypeError && /subworkflow/.test((e as Error).message),
  );
  // A missing output task fails the parent task.
  const engine = createEngine();
  const wf = defineWorkflow({ name: "parent", tasks: [{ id: "child", run: subworkflow(double, { output: "nope" }) }] });
  const result = await engine.run(wf, { input: 1 });
  assert.equal(result.tasks.child.status, "failed");
  assert.match(String(result.tasks.child.error?.message), /no task "nope"/);
  await engine.close();
});

Deno.test("ctx.runWorkflow() throws a TypeError in a worker", async () => {
  const { tasks } = await import("./fixtures/subworkflow_tasks.ts");
  const engine = createEngine({ workers: { cpu: 1 } });
  const wf = defineWorkflow({ name: "w", tasks: [{ id: "t", profile: "cpu", run: tasks.tryChild }] });
  const result = await engine.run(wf);
  assert.equal(result.status, "completed");
  assert.match(String(result.tasks.t.result), /^TypeError: Cannot run a subworkflow from a task that runs in a worker/);
  await engine.close();
});
