/**
 * Resuming runs that added tasks (`ctx.spawn`): completed added tasks keep
 * their results and never run again; the spawner of added tasks that had not
 * ended runs again and its spawns are matched by id; added tasks that no task
 * adds again fail, saying why.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, defineWorkflow, mapTasks, type TaskContext } from "../mod.ts";
import type { AnyFlowEvent } from "../extend.ts";
import { durableMemoryStore, settle } from "./_stores.ts";

function forever(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
}

/** A map over 1..6 spawned by "plan": items 1..3 finish at once, 4..6 hang in the first process. */
function mapWorkflow(hits: string[], hang: boolean) {
  return defineWorkflow({
    name: "w",
    tasks: [
      { id: "start", run: () => "go" },
      {
        id: "plan",
        dependsOn: ["start"],
        run: (ctx) => {
          hits.push("plan");
          ctx.spawn(
            mapTasks("sq", [1, 2, 3, 4, 5, 6], (x: number, c: TaskContext) => {
              hits.push(c.taskId);
              return hang && x > 3 ? forever(c.signal) : x * x;
            }, { dependsOn: ["plan"], join: (r) => (r as number[]).reduce((a, b) => a + b, 0) }),
          );
          return "planned";
        },
      },
      { id: "after", dependsOn: ["plan"], run: () => "after" },
    ],
  });
}

async function crash(hits: string[], until: (events: AnyFlowEvent[]) => boolean): Promise<AnyFlowEvent[]> {
  const store = durableMemoryStore();
  const engine = createEngine({ logStore: store });
  engine.start(mapWorkflow(hits, true), { runId: "r" });
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

const completed = (events: AnyFlowEvent[], id: string) =>
  events.some((e) => e.type === "task.completed" && e.taskId === id);

Deno.test("resume of a run that added tasks: completed ones keep their results, the spawner runs again, the rest run", async () => {
  const first: string[] = [];
  const disk = await crash(first, (e) => ["sq/0", "sq/1", "sq/2", "after"].every((id) => completed(e, id)));
  assert.ok(first.includes("sq/3"));
  const second: string[] = [];
  const engine = createEngine({ logStore: durableMemoryStore(disk) });
  try {
    const result = await engine.resume(mapWorkflow(second, false), "r");
    assert.equal(result.status, "completed");
    assert.equal(result.tasks.sq.result, 1 + 4 + 9 + 16 + 25 + 36);
    assert.deepEqual(second.sort(), ["plan", "sq/3", "sq/4", "sq/5"], "completed items never run again");
    assert.deepEqual(result.tasks["sq/0"].result, 1);
    assert.equal(result.tasks.start.attempts, 1);
    assert.equal(result.tasks.after.result, "after");
    assert.deepEqual(
      Object.keys(result.tasks).sort(),
      ["after", "plan", "sq", "sq/0", "sq/1", "sq/2", "sq/3", "sq/4", "sq/5", "start"],
    );
    const resumed = engine.log.events("r").find((e) => e.type === "workflow.resumed") as
      & AnyFlowEvent
      & { type: "workflow.resumed" };
    assert.ok(resumed.data.rerun.includes("plan") && resumed.data.rerun.includes("sq/3"));
    // The log's projection agrees with the result.
    const view = engine.project("tasks", "r");
    assert.equal(view.sq.status, "completed");
    assert.equal(view["sq/4"].status, "completed");
  } finally {
    await engine.close();
  }
});

Deno.test("resume: an added task that no task adds again fails with an error naming it and its spawner", async () => {
  const disk = await crash([], (e) => completed(e, "sq/0"));
  const engine = createEngine({ logStore: durableMemoryStore(disk) });
  try {
    // The fixed workflow's "plan" no longer adds the map.
    const wf = defineWorkflow({
      name: "w",
      tasks: [
        { id: "start", run: () => "go" },
        { id: "plan", dependsOn: ["start"], run: () => "nothing" },
        { id: "after", dependsOn: ["plan"], run: () => "after" },
      ],
    });
    const result = await engine.resume(wf, "r");
    assert.equal(result.status, "failed");
    assert.equal(result.tasks["sq/0"].status, "completed");
    assert.equal(result.tasks["sq/3"].status, "failed");
    assert.match(String(result.tasks["sq/3"].error), /"sq\/3" was added by task "plan" before the run stopped/);
    assert.equal(result.tasks.sq.status, "failed");
  } finally {
    await engine.close();
  }
});

Deno.test("resume still refuses a task in the run that is neither in the workflow nor added by a task", async () => {
  const disk = await crash([], (e) => completed(e, "sq/0"));
  const engine = createEngine({ logStore: durableMemoryStore(disk) });
  try {
    const wf = defineWorkflow({ name: "w", tasks: [{ id: "start", run: () => 1 }, { id: "plan", run: () => 1 }] });
    await assert.rejects(engine.resume(wf, "r"), /task "after" is in the run but not in the workflow/);
  } finally {
    await engine.close();
  }
});

Deno.test("resume from every prefix of a dynamic run's log gives the uninterrupted results; completed added tasks that spawn nothing never run again", async () => {
  // Nested spawns: "root" adds a map over 5 items with a fan-in; each item adds a follow-up that depends on it.
  const workflow = (hits: Record<string, number>) =>
    defineWorkflow({
      name: "w",
      tasks: [{
        id: "root",
        run: (ctx) => {
          hits.root = (hits.root ?? 0) + 1;
          ctx.spawn(mapTasks("sq", [1, 2, 3, 4, 5], async (x: number, c: TaskContext) => {
            hits[c.taskId] = (hits[c.taskId] ?? 0) + 1;
            c.spawn([{
              id: `next/${x}`,
              dependsOn: [c.taskId],
              run: (d) => {
                hits[d.taskId] = (hits[d.taskId] ?? 0) + 1;
                return (d.deps[c.taskId] as number) + 1;
              },
            }]);
            await new Promise((resolve) => setTimeout(resolve, x));
            return x * x;
          }, { join: (r) => (r as number[]).reduce((a, b) => a + b, 0) }));
          return "root";
        },
      }],
    });
  const store = durableMemoryStore();
  const reference = createEngine({ logStore: store });
  const expected = await reference.run(workflow({}), { runId: "r" });
  await reference.close();
  assert.equal(expected.status, "completed");
  const all = store.all.slice();
  const spawners = new Set(["root", "sq/0", "sq/1", "sq/2", "sq/3", "sq/4"]);
  let resumed = 0;
  for (let k = 1; k < all.length; k++) {
    const disk = all.slice(0, k);
    if (!disk.some((e) => e.type === "workflow.started")) continue;
    const completedBefore = new Set(disk.filter((e) => e.type === "task.completed").map((e) => e.taskId!));
    const hits: Record<string, number> = {};
    const engine = createEngine({ logStore: durableMemoryStore(disk) });
    try {
      const result = await engine.resume(workflow(hits), "r");
      resumed++;
      assert.equal(result.status, "completed", `prefix ${k}`);
      for (const [id, r] of Object.entries(expected.tasks)) {
        assert.deepEqual(result.tasks[id]?.result, r.result, `prefix ${k}: result of ${id}`);
      }
      assert.equal(Object.keys(result.tasks).length, Object.keys(expected.tasks).length, `prefix ${k}`);
      for (const id of Object.keys(hits)) {
        if (!spawners.has(id)) assert.ok(!completedBefore.has(id), `prefix ${k}: ${id} had completed, yet ran again`);
      }
    } finally {
      await engine.close();
    }
  }
  assert.ok(resumed > 20, `resumed from ${resumed} prefixes`);
});
