/**
 * Task result caching: opt-in per task, keyed by workflow, task, version and
 * a stable hash of the input and dependency results (or of `key`), with a TTL.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createEngine,
  createVirtualClock,
  defineWorkflow,
  type Engine,
  type EngineOptions,
  NotSerializableError,
  type TaskDef,
} from "../mod.ts";
import { type CacheEntry, createMemoryTaskCache, type TaskCache } from "../extend.ts";
import { durableMemoryStore } from "./_stores.ts";

async function withEngine(options: EngineOptions, fn: (engine: Engine) => Promise<void>): Promise<void> {
  const engine = createEngine(options);
  try {
    await fn(engine);
  } finally {
    await engine.close();
  }
}

function counted(def: Omit<TaskDef, "run">, run: TaskDef["run"]) {
  const calls: number[] = [];
  const task: TaskDef = { ...def, run: (ctx) => (calls.push(ctx.attempt), run(ctx)) };
  return { task, calls };
}

Deno.test("a cache hit completes the task without running it, and says so in its event and result", async () => {
  await withEngine({}, async (engine) => {
    const { task, calls } = counted({ id: "slow", cache: { ttlMs: 60_000 } }, ({ input }) => `${input}!`);
    const wf = defineWorkflow({
      name: "memo",
      tasks: [task, { id: "next", dependsOn: ["slow"], run: ({ deps }) => deps.slow }],
    });
    const first = await engine.run(wf, { input: "hi" });
    const second = await engine.run(wf, { input: "hi" });
    assert.deepEqual(calls, [1]);
    assert.equal(first.tasks.slow.cached, undefined);
    assert.equal(second.tasks.slow.cached, true);
    assert.equal(second.tasks.slow.result, "hi!");
    assert.equal(second.tasks.slow.attempts, 0);
    assert.equal(second.tasks.next.result, "hi!");
    const events = engine.log.events(second.runId).filter((e) => e.taskId === "slow").map((e) => e.type);
    assert.deepEqual(events, ["task.pending", "task.ready", "task.completed"], "a hit has no task.started");
    const completed = engine.log.events(second.runId).find((e) => e.type === "task.completed" && e.taskId === "slow")!;
    assert.ok(completed.type === "task.completed" && completed.data.cached === true);
    assert.equal(engine.project("tasks", second.runId).slow.cached, true);
    assert.equal(engine.project("tasks", first.runId).slow.cached, undefined);
  });
});

Deno.test("the key covers the input and the dependency results: a change is a miss", async () => {
  await withEngine({}, async (engine) => {
    let source = 1;
    const { task, calls } = counted(
      { id: "double", dependsOn: ["src"], cache: { ttlMs: 60_000 } },
      ({ deps, input }) => Number(deps.src) * 2 + Number(input),
    );
    const wf = defineWorkflow({ name: "memo", tasks: [{ id: "src", run: () => source }, task] });
    assert.equal((await engine.run(wf, { input: 0 })).tasks.double.result, 2);
    assert.equal((await engine.run(wf, { input: 0 })).tasks.double.cached, true);
    assert.equal((await engine.run(wf, { input: 1 })).tasks.double.result, 3);
    source = 5;
    assert.equal((await engine.run(wf, { input: 0 })).tasks.double.result, 10);
    assert.equal(calls.length, 3);
    // Object key order does not matter.
    const wf2 = defineWorkflow({ name: "memo2", tasks: [counted({ id: "t", cache: { ttlMs: 1e6 } }, () => 1).task] });
    await engine.run(wf2, { input: { a: 1, b: 2 } });
    assert.equal((await engine.run(wf2, { input: { b: 2, a: 1 } })).tasks.t.cached, true);
  });
});

Deno.test("an entry expires after ttlMs and is not served after", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    const { task, calls } = counted({ id: "t", cache: { ttlMs: 100 } }, () => clock.now());
    const wf = defineWorkflow({ name: "ttl", tasks: [task] });
    await clock.runUntil(engine.run(wf));
    clock.advance(99);
    assert.equal((await clock.runUntil(engine.run(wf))).tasks.t.result, 0);
    clock.advance(1);
    const late = await clock.runUntil(engine.run(wf));
    assert.equal(late.tasks.t.cached, undefined);
    assert.equal(late.tasks.t.result, 100);
    assert.equal(calls.length, 2);
  });
});

Deno.test("the engine never serves an expired entry, whatever the cache returns", async () => {
  const clock = createVirtualClock(1_000);
  const stale: TaskCache = {
    get: (): CacheEntry => ({ value: "stale", createdAt: 0, expiresAt: 1_000 }),
    set: () => {},
  };
  await withEngine({ clock, cache: stale }, async (engine) => {
    const wf = defineWorkflow({ name: "x", tasks: [{ id: "t", cache: { ttlMs: 10 }, run: () => "fresh" }] });
    assert.equal((await clock.runUntil(engine.run(wf))).tasks.t.result, "fresh");
  });
});

Deno.test("version and key choose what is cached together", async () => {
  await withEngine({}, async (engine) => {
    const cache = { ttlMs: 60_000, key: ({ input }: { input: unknown }) => (input as { url: string }).url };
    const v1 = counted({ id: "fetch", cache: { ...cache, version: "1" } }, () => "v1");
    const v2 = counted({ id: "fetch", cache: { ...cache, version: "2" } }, () => "v2");
    const wf1 = defineWorkflow({ name: "k", tasks: [v1.task] });
    const wf2 = defineWorkflow({ name: "k", tasks: [v2.task] });
    await engine.run(wf1, { input: { url: "a", noise: 1 } });
    assert.equal((await engine.run(wf1, { input: { url: "a", noise: 2 } })).tasks.fetch.cached, true);
    assert.equal((await engine.run(wf2, { input: { url: "a" } })).tasks.fetch.result, "v2");
    assert.equal(v1.calls.length + v2.calls.length, 2);
  });
});

Deno.test("a cache key that is not JSON data fails the task without retries, naming it", async () => {
  await withEngine({}, async (engine) => {
    const { task, calls } = counted(
      { id: "t", retry: { maxAttempts: 3, initialDelayMs: 0 }, cache: { ttlMs: 10, key: () => ({ f: () => 1 }) } },
      () => 1,
    );
    const result = await engine.run(defineWorkflow({ name: "badkey", tasks: [task] }));
    assert.equal(result.status, "failed");
    assert.equal(calls.length, 0);
    const error = result.tasks.t.error;
    assert.ok(error instanceof NotSerializableError);
    assert.equal(error.part, "cache key");
    assert.equal(error.owner, "t");
    assert.equal(error.path, "$.f");
  });
});

Deno.test("a durable cache needs JSON results: the error names the task", async () => {
  const durable: TaskCache = { durable: true, get: () => undefined, set: () => {} };
  await withEngine({ cache: durable }, async (engine) => {
    const wf = defineWorkflow({ name: "d", tasks: [{ id: "when", cache: { ttlMs: 10 }, run: () => new Date(0) }] });
    const result = await engine.run(wf);
    assert.ok(result.tasks.when.error instanceof NotSerializableError);
    assert.match(result.tasks.when.error.message, /task "when"/);
  });
});

Deno.test("a cache that fails to look up is reported and the task runs", async () => {
  const errors: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args);
  try {
    const broken: TaskCache = {
      get: () => Promise.reject(new Error("cache down")),
      set: () => Promise.reject(new Error("still down")),
    };
    await withEngine({ cache: broken }, async (engine) => {
      const wf = defineWorkflow({ name: "b", tasks: [{ id: "t", cache: { ttlMs: 10 }, run: () => 7 }] });
      assert.equal((await engine.run(wf)).tasks.t.result, 7);
      await new Promise((resolve) => setTimeout(resolve, 0));
    });
    assert.equal(errors.length, 2);
  } finally {
    console.error = original;
  }
});

Deno.test("cached results survive a resume: the stored task keeps its cached flag", async () => {
  const cache = createMemoryTaskCache();
  const store = durableMemoryStore();
  const wf = defineWorkflow({ name: "c", tasks: [{ id: "t", cache: { ttlMs: 60_000 }, run: () => 1 }] });
  await withEngine({ cache, logStore: store }, async (engine) => {
    await engine.run(wf);
    const { runId } = await engine.run(wf);
    const resumed = await engine.resume(wf, runId);
    assert.equal(resumed.tasks.t.cached, true);
  });
});

Deno.test("defineWorkflow() validates cache policies", () => {
  const run = () => 1;
  assert.throws(() => defineWorkflow({ name: "v", tasks: [{ id: "t", run, cache: { ttlMs: 0 } }] }), RangeError);
  assert.throws(
    () => defineWorkflow({ name: "v", tasks: [{ id: "t", run, cache: { ttlMs: 5, key: 1 as never } }] }),
    TypeError,
  );
  assert.throws(() => defineWorkflow({ name: "v", tasks: [{ id: "t", run, cache: null as never }] }), TypeError);
  assert.throws(() => createMemoryTaskCache({ maxEntries: 0 }), RangeError);
});
