/**
 * Run controls: fail fast, re-execute from failure, ordering by workload,
 * the step-by-step API's pending tasks and events, the task context's
 * workflow id and metadata, and the descendants query.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CancelledError, createEngine, defineWorkflow, TaskFailedError } from "../mod.ts";

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
