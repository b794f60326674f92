import assert from "node:assert/strict";
import type { createSkyInspector } from "npm:@statelyai/inspect@^0.7.2";
import { createEngine, defineWorkflow } from "../mod.ts";
import type { ActorInspectionEvent } from "../extend.ts";

// Type-level check: a @statelyai/inspect inspector plugs into the `inspect` option as is.
const _acceptsStatelyInspector = (inspector: ReturnType<typeof createSkyInspector>) =>
  createEngine({ inspect: inspector.inspect });

Deno.test("inspect accepts an observer object (the shape @statelyai/inspect hands out)", async () => {
  const types = new Set<string>();
  const actors = new Set<string>();
  const actionsOfA: string[] = [];
  let completed = 0;
  const engine = createEngine({
    inspect: {
      next: (e: ActorInspectionEvent) => {
        types.add(e.type);
        const id = (e.actorRef as { id: string }).id;
        actors.add(id);
        if (e.type === "@xstate.action" && id === "a") actionsOfA.push((e as { action: { type: string } }).action.type);
      },
      complete: () => completed++,
    },
  });
  try {
    const wf = defineWorkflow({ name: "observed", tasks: [{ id: "a", run: () => 1 }] });
    assert.equal((await engine.run(wf, { runId: "obs" })).status, "completed");
    for (const t of ["@xstate.actor", "@xstate.event", "@xstate.snapshot", "@xstate.action"]) {
      assert.ok(types.has(t), t);
    }
    assert.ok(actors.has("workflow:obs") && actors.has("a"));
    // With an inspector, the task actor's actions go through XState's executor, which shows each one.
    assert.deepEqual(actionsOfA, ["enqueue", "execute", "release", "settleCompleted"]);
  } finally {
    await engine.close();
  }
});

Deno.test("actors() shows the workflow actor and each live task actor as plain objects", async () => {
  const engine = createEngine();
  try {
    const gates: Record<string, () => void> = {};
    const wait = (id: string) => new Promise<void>((resolve) => gates[id] = resolve);
    let flaky = 0;
    const wf = defineWorkflow({
      name: "debuggable",
      tasks: [
        { id: "slow", profile: "io", priority: "high", run: () => wait("slow") },
        {
          id: "flaky",
          retry: { maxAttempts: 2, initialDelayMs: 60_000 },
          run: () => {
            if (++flaky === 1) throw new Error("first try fails");
          },
        },
        { id: "later", dependsOn: ["slow"], run: () => 3 },
      ],
    });
    const handle = engine.start(wf, { runId: "dbg" });
    await new Promise((resolve) => setTimeout(resolve, 0));
    const view = handle.actors();
    assert.equal(view.runId, "dbg");
    assert.equal(view.workflowId, "debuggable");
    assert.deepEqual(view.workflow, { id: "workflow:dbg", state: "running", status: "active" });
    const byId = Object.fromEntries(view.tasks.map((t) => [t.id, t]));
    assert.deepEqual(Object.keys(byId).sort(), ["flaky", "slow"], "'later' has no actor until 'slow' settles");
    assert.equal(byId.slow.state, "running");
    assert.equal(byId.slow.status, "active");
    assert.equal(byId.slow.logStatus, "running");
    assert.equal(byId.slow.priority, "high");
    assert.equal(byId.slow.profile, "io");
    assert.equal(byId.slow.attempts, 1);
    assert.equal(byId.flaky.state, "retrying");
    assert.equal(byId.flaky.error?.message, "first try fails");
    assert.equal(view.counts.running, 1);
    assert.equal(view.counts.pending, 1);
    // Plain data: it survives a JSON round trip unchanged (no refs, hosts or cycles).
    assert.deepEqual(JSON.parse(JSON.stringify(view)), view);
    handle.cancel("done looking");
    assert.equal((await handle.result).status, "cancelled");
    const after = handle.actors();
    assert.deepEqual(after.workflow, { id: "workflow:dbg", state: "cancelled", status: "done" });
    assert.deepEqual(after.tasks, []);
  } finally {
    await engine.close();
  }
});
