import assert from "node:assert/strict";
import {
  CancelledError,
  createEngine,
  createVirtualClock,
  CycleError,
  defineWorkflow,
  DuplicateTaskError,
  type Engine,
  type EngineOptions,
  type FlowEvent,
  NotFoundError,
  plan,
  type Profile,
  type RunResult,
  TaskFailedError,
  TaskTimeoutError,
  UnknownDependencyError,
  type Workflow,
} from "../mod.ts";
import {
  type AnyFlowEvent,
  type Clock,
  createEventBus,
  createInlineExecutor,
  type Executor,
  systemClock,
  TOKENS,
} from "../extend.ts";

type FullEngine = Engine;

/** Creates an engine, hands it to `fn`, and always closes it. */
async function withEngine(options: EngineOptions, fn: (engine: FullEngine) => Promise<void> | void): Promise<void> {
  const engine = createEngine(options);
  try {
    await fn(engine);
  } finally {
    await engine.close();
  }
}

/** Resolves after `ms` of the given clock's time. */
function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** Rejects with the signal's reason once it is aborted. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

function eventsOf<T extends AnyFlowEvent["type"]>(engine: Engine, runId: string, type: T): FlowEvent<T>[] {
  return engine.log.events(runId).filter((e) => e.type === type) as FlowEvent<T>[];
}

// ---- run() results ----------------------------------------------------------

Deno.test("run() resolves with each task's result, attempts and times", async () => {
  const clock = createVirtualClock(1_000);
  await withEngine({ clock }, async (engine) => {
    const seen: Record<string, unknown> = {};
    const wf = defineWorkflow<{ base: number }>({
      name: "times",
      tasks: [
        {
          id: "a",
          run: async (ctx) => {
            seen.a = { input: ctx.input, attempt: ctx.attempt, taskId: ctx.taskId, runId: ctx.runId, deps: ctx.deps };
            await sleep(clock, 30);
            return ctx.input.base + 1;
          },
        },
        {
          id: "b",
          dependsOn: ["a"],
          run: async ({ deps }) => {
            seen.b = deps;
            await sleep(clock, 20);
            return Number(deps.a) * 10;
          },
        },
        { id: "c", run: () => "sync" },
      ],
    });
    const result = await clock.runUntil(engine.run(wf, { input: { base: 1 }, runId: "run-1" }));
    assert.equal(result.runId, "run-1");
    assert.equal(result.workflowId, "times");
    assert.equal(result.status, "completed");
    assert.equal(result.error, undefined);
    assert.equal(result.startedAt, 1_000);
    assert.equal(result.completedAt, 1_050);
    assert.equal(result.durationMs, 50);
    assert.deepEqual(result.tasks.a, {
      status: "completed",
      result: 2,
      attempts: 1,
      startedAt: 1_000,
      completedAt: 1_030,
      durationMs: 30,
    });
    assert.deepEqual(result.tasks.b, {
      status: "completed",
      result: 20,
      attempts: 1,
      startedAt: 1_030,
      completedAt: 1_050,
      durationMs: 20,
    });
    assert.equal(result.tasks.c.result, "sync");
    assert.deepEqual(seen.a, { input: { base: 1 }, attempt: 1, taskId: "a", runId: "run-1", deps: {} });
    assert.deepEqual(seen.b, { a: 2 });
  });
});

Deno.test("run() completes a workflow without tasks", async () => {
  await withEngine({}, async (engine) => {
    const result = await engine.run(defineWorkflow({ name: "empty", tasks: [] }));
    assert.equal(result.status, "completed");
    assert.deepEqual(result.tasks, {});
    assert.equal(engine.project("workflowStatus", result.runId).status, "completed");
  });
});

Deno.test("run() starts a task only after every dependency completed", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    const wf = defineWorkflow({
      name: "diamond",
      tasks: [
        { id: "a", run: () => sleep(clock, 5) },
        { id: "b", dependsOn: ["a"], run: () => sleep(clock, 20) },
        { id: "c", dependsOn: ["a"], run: () => sleep(clock, 3) },
        { id: "d", dependsOn: ["b", "c"], run: () => sleep(clock, 1) },
        { id: "e", dependsOn: ["c"], run: () => null },
      ],
    });
    const result = await clock.runUntil(engine.run(wf));
    assert.equal(result.status, "completed");
    const completedAt = new Map<string, number>();
    for (const e of engine.log.events(result.runId)) {
      if (e.type === "task.completed") completedAt.set(e.taskId!, e.seq);
      if (e.type === "task.started") {
        for (const dep of wf.tasks.find((t) => t.id === e.taskId)!.dependsOn) {
          assert.ok((completedAt.get(dep) ?? Infinity) < e.seq, `"${e.taskId}" started after "${dep}" completed`);
        }
      }
    }
  });
});

Deno.test("run() rejects a value not made by defineWorkflow(), a taken run id, and a closed engine", async () => {
  const engine = createEngine();
  try {
    assert.throws(() => engine.run({ name: "x", description: undefined, tasks: [] } as Workflow), TypeError);
    const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] });
    await engine.run(wf, { runId: "same" });
    assert.throws(() => engine.start(wf, { runId: "same" }), TypeError);
    assert.throws(() => engine.start(wf, { runId: "" }), TypeError);
  } finally {
    await engine.close();
  }
  assert.throws(() => engine.start(defineWorkflow({ name: "w", tasks: [] })), TypeError);
});

Deno.test("createEngine() rejects bad limits and task logic with a RangeError", async (t) => {
  const cases: [string, EngineOptions][] = [
    ["a zero profile limit", { limits: { io: 0 } }],
    ["a fractional profile limit", { limits: { cpu: 1.5 } }],
    ["a negative concurrency", { concurrency: -1 }],
    ["a NaN concurrency", { concurrency: NaN }],
    ["an unknown task logic", { taskLogic: "fast" as never }],
  ];
  for (const [name, options] of cases) await t.step(name, () => assert.throws(() => createEngine(options), RangeError));
});

// ---- failures ---------------------------------------------------------------

Deno.test("start() skips the dependents of a failed task while independent branches complete", async () => {
  await withEngine({}, async (engine) => {
    const calls: string[] = [];
    const boom = new Error("a broke");
    const body = (id: string, value: unknown) => () => {
      calls.push(id);
      return value;
    };
    const wf = defineWorkflow({
      name: "branches",
      tasks: [
        {
          id: "a",
          run: () => {
            calls.push("a");
            throw boom;
          },
        },
        { id: "b", dependsOn: ["a"], run: body("b", 1) },
        { id: "c", dependsOn: ["b"], run: body("c", 2) },
        { id: "slow", run: async () => (await Promise.resolve(), calls.push("slow"), "s") },
        { id: "join", dependsOn: ["a", "slow"], run: body("join", 3) },
        { id: "d", run: body("d", 4) },
        { id: "e", dependsOn: ["d"], run: body("e", 5) },
      ],
    });
    const handle = engine.start(wf);
    const result = await handle.result;
    assert.equal(result.status, "failed");
    assert.ok(result.error instanceof TaskFailedError);
    assert.equal(result.error.taskId, "a");
    assert.equal(result.error.attempt, 1);
    assert.equal(result.error.cause, boom);
    assert.equal(result.tasks.a.status, "failed");
    assert.equal(result.tasks.a.error, boom);
    for (const id of ["b", "c", "join"]) {
      assert.equal(result.tasks[id].status, "skipped", id);
      assert.equal(result.tasks[id].attempts, 0, id);
      assert.equal(result.tasks[id].startedAt, undefined, id);
    }
    assert.match(result.tasks.b.error!.message, /"a"/);
    assert.equal(result.tasks.slow.result, "s");
    assert.equal(result.tasks.d.result, 4);
    assert.equal(result.tasks.e.result, 5);
    assert.deepEqual(calls.filter((c) => ["b", "c", "join"].includes(c)), [], "no skipped body ran");
    const skipped = Object.fromEntries(
      eventsOf(engine, result.runId, "task.skipped").map((e) => [e.taskId, e.data]),
    );
    assert.deepEqual(skipped, {
      b: { dependency: "a", dependencyStatus: "failed" },
      c: { dependency: "b", dependencyStatus: "skipped" },
      join: { dependency: "a", dependencyStatus: "failed" },
    });
    const failed = eventsOf(engine, result.runId, "workflow.failed");
    assert.equal(failed.length, 1);
    assert.deepEqual(failed[0].data.failed, ["a"]);
  });
});

Deno.test("run() turns a thrown non-error into an Error", async () => {
  await withEngine({}, async (engine) => {
    const wf = defineWorkflow({
      name: "w",
      tasks: [{
        id: "a",
        run: () => {
          throw "plain string";
        },
      }],
    });
    const result = await engine.run(wf);
    assert.ok(result.tasks.a.error instanceof Error);
    assert.equal(result.tasks.a.error.message, "plain string");
  });
});

// ---- retries ----------------------------------------------------------------

Deno.test("retries back off exponentially up to maxDelayMs", async (t) => {
  const cases = [
    { initialDelayMs: 100, factor: 3, maxDelayMs: 1_000, maxAttempts: 5 },
    { initialDelayMs: 10, factor: 2, maxDelayMs: 30_000, maxAttempts: 4 },
    { initialDelayMs: 50, factor: 1, maxDelayMs: 30_000, maxAttempts: 3 },
    { initialDelayMs: 0, factor: 2, maxDelayMs: 30_000, maxAttempts: 3 },
    { initialDelayMs: 500, factor: 10, maxDelayMs: 200, maxAttempts: 3 },
  ];
  for (const policy of cases) {
    await t.step(JSON.stringify(policy), async () => {
      const clock = createVirtualClock();
      await withEngine({ clock }, async (engine) => {
        const attempts: number[] = [];
        const wf = defineWorkflow({
          name: "flaky",
          tasks: [{
            id: "f",
            retry: policy,
            run: ({ attempt }) => {
              attempts.push(attempt);
              throw new Error(`attempt ${attempt} failed`);
            },
          }],
        });
        const result = await clock.runUntil(engine.run(wf));
        const expected = Array.from(
          { length: policy.maxAttempts - 1 },
          (_, k) => Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** k),
        );
        const retrying = eventsOf(engine, result.runId, "task.retrying");
        assert.deepEqual(retrying.map((e) => e.data.delayMs), expected);
        assert.deepEqual(retrying.map((e) => e.attempt), expected.map((_, k) => k + 1));
        assert.deepEqual(retrying.map((e) => e.data.error.message), expected.map((_, k) => `attempt ${k + 1} failed`));
        assert.deepEqual(attempts, Array.from({ length: policy.maxAttempts }, (_, k) => k + 1));
        assert.equal(result.status, "failed");
        assert.equal(result.tasks.f.attempts, policy.maxAttempts);
        assert.ok(result.error instanceof TaskFailedError);
        assert.equal(result.error.attempt, policy.maxAttempts);
        assert.equal(clock.now(), expected.reduce((a, b) => a + b, 0), "virtual time spent is the sum of the delays");
        // Each attempt starts when its delay has passed.
        const starts = eventsOf(engine, result.runId, "task.started").map((e) => e.timestamp);
        for (let k = 1; k < starts.length; k++) assert.equal(starts[k] - starts[k - 1], expected[k - 1]);
      });
    });
  }
});

Deno.test("a retried task completes once an attempt succeeds", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    const wf = defineWorkflow({
      name: "eventually",
      tasks: [
        {
          id: "f",
          retry: { maxAttempts: 5, initialDelayMs: 10 },
          run: ({ attempt }) => {
            if (attempt < 3) throw new Error("not yet");
            return attempt;
          },
        },
        { id: "after", dependsOn: ["f"], run: ({ deps }) => deps.f },
      ],
    });
    const result = await clock.runUntil(engine.run(wf));
    assert.equal(result.status, "completed");
    assert.equal(result.tasks.f.result, 3);
    assert.equal(result.tasks.f.attempts, 3);
    assert.equal(result.tasks.f.error, undefined);
    assert.equal(result.tasks.after.result, 3);
    assert.equal(clock.now(), 30);
  });
});

Deno.test("retry jitter draws each delay from [d * (1 - jitter), d] with the injected random", async (t) => {
  const cases = [
    { jitter: 0.5, randoms: [0, 0.5, 0.999999] },
    { jitter: 1, randoms: [0.25, 0.75, 0] },
    { jitter: 0, randoms: [0.9, 0.9, 0.9] },
  ];
  for (const c of cases) {
    await t.step(`jitter ${c.jitter}`, async () => {
      const clock = createVirtualClock();
      let k = 0;
      const random = () => c.randoms[k++ % c.randoms.length];
      await withEngine({ clock, random }, async (engine) => {
        const wf = defineWorkflow({
          name: "jitter",
          tasks: [{
            id: "f",
            retry: { maxAttempts: 4, initialDelayMs: 100, factor: 2, jitter: c.jitter },
            run: () => {
              throw new Error("no");
            },
          }],
        });
        const result = await clock.runUntil(engine.run(wf));
        const delays = eventsOf(engine, result.runId, "task.retrying").map((e) => e.data.delayMs);
        const bases = [100, 200, 400];
        assert.equal(delays.length, 3);
        for (let i = 0; i < 3; i++) {
          assert.ok(
            delays[i] >= bases[i] * (1 - c.jitter) && delays[i] <= bases[i],
            `delay ${delays[i]} of ${bases[i]}`,
          );
          assert.ok(Math.abs(delays[i] - bases[i] * (1 - c.jitter * c.randoms[i])) < 1e-9);
        }
      });
    });
  }
});

// ---- timeouts ---------------------------------------------------------------

Deno.test("a task that runs past timeoutMs fails with TaskTimeoutError and its signal is aborted", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    let signal: AbortSignal | undefined;
    const wf = defineWorkflow({
      name: "slow",
      tasks: [
        {
          id: "hang",
          timeoutMs: 50,
          run: (ctx) => {
            signal = ctx.signal;
            return untilAborted(ctx.signal);
          },
        },
        { id: "after", dependsOn: ["hang"], run: () => 1 },
      ],
    });
    const result = await clock.runUntil(engine.run(wf));
    assert.equal(result.status, "failed");
    const error = result.tasks.hang.error;
    assert.ok(error instanceof TaskTimeoutError);
    assert.equal(error.taskId, "hang");
    assert.equal(error.attempt, 1);
    assert.equal(error.timeoutMs, 50);
    assert.ok(signal?.aborted);
    assert.ok(signal.reason instanceof TaskTimeoutError);
    assert.ok(result.error instanceof TaskFailedError);
    assert.ok(result.error.cause instanceof TaskTimeoutError);
    assert.equal(result.tasks.after.status, "skipped");
    assert.equal(result.tasks.hang.durationMs, 50);
    assert.equal(clock.now(), 50);
  });
});

Deno.test("a timed-out attempt is retried and the retry can complete", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    const signals: AbortSignal[] = [];
    const wf = defineWorkflow({
      name: "retry-timeout",
      tasks: [{
        id: "t",
        timeoutMs: 50,
        retry: { maxAttempts: 3, initialDelayMs: 10 },
        run: async (ctx) => {
          signals.push(ctx.signal);
          if (ctx.attempt === 1) return await untilAborted(ctx.signal);
          await sleep(clock, 5);
          return `done on ${ctx.attempt}`;
        },
      }],
    });
    const result = await clock.runUntil(engine.run(wf));
    assert.equal(result.status, "completed");
    assert.equal(result.tasks.t.result, "done on 2");
    assert.equal(result.tasks.t.attempts, 2);
    const retrying = eventsOf(engine, result.runId, "task.retrying");
    assert.equal(retrying.length, 1);
    assert.equal(retrying[0].data.error.name, "TaskTimeoutError");
    assert.equal(retrying[0].data.delayMs, 10);
    assert.equal(signals.length, 2);
    assert.ok(signals[0].aborted, "the timed-out attempt's signal is aborted");
    assert.ok(!signals[1].aborted, "the successful attempt's signal is not");
    assert.equal(clock.now(), 65);
    assert.equal(clock.pending, 0, "no timeout timer is left behind");
  });
});

Deno.test("a task that ends before its timeout leaves no timer and an unaborted signal", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    let signal: AbortSignal | undefined;
    const wf = defineWorkflow({
      name: "fast",
      tasks: [{
        id: "t",
        timeoutMs: 1_000,
        run: async (ctx) => {
          signal = ctx.signal;
          await sleep(clock, 10);
          return "ok";
        },
      }],
    });
    const result = await clock.runUntil(engine.run(wf));
    assert.equal(result.tasks.t.result, "ok");
    assert.equal(signal?.aborted, false);
    assert.equal(clock.pending, 0);
    assert.equal(clock.now(), 10);
  });
});

Deno.test("a late result of a timed-out attempt is dropped", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    const wf = defineWorkflow({
      name: "late",
      tasks: [{
        id: "t",
        timeoutMs: 50,
        run: async () => {
          await sleep(clock, 100);
          return "too late";
        },
      }],
    });
    const result = await clock.runUntil(engine.run(wf));
    assert.equal(result.tasks.t.status, "failed");
    const before = engine.log.events(result.runId).length;
    clock.advance(100);
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    assert.equal(engine.log.events(result.runId).length, before);
    assert.equal(engine.project("taskStatus", result.runId).t, "failed");
  });
});

// ---- cancellation -----------------------------------------------------------

/** a runs until aborted; b waits for a; c is ready but queued behind a (io limit 1). */
function cancellable() {
  const started = Promise.withResolvers<AbortSignal>();
  const calls: string[] = [];
  const wf = defineWorkflow({
    name: "cancellable",
    tasks: [
      {
        id: "a",
        run: (ctx) => {
          calls.push("a");
          started.resolve(ctx.signal);
          return untilAborted(ctx.signal);
        },
      },
      { id: "b", dependsOn: ["a"], run: () => calls.push("b") },
      { id: "c", run: () => calls.push("c") },
    ],
  });
  return { wf, started: started.promise, calls };
}

function assertCancelled(result: RunResult, calls: string[], signal: AbortSignal, reason: unknown): void {
  assert.equal(result.status, "cancelled");
  assert.ok(result.error instanceof CancelledError);
  assert.equal(result.error.runId, result.runId);
  assert.equal(result.error.cause, reason);
  assert.ok(signal.aborted, "the running task's signal is aborted");
  assert.ok(signal.reason instanceof CancelledError);
  for (const id of ["a", "b", "c"]) {
    assert.equal(result.tasks[id].status, "cancelled", id);
    assert.ok(result.tasks[id].error instanceof CancelledError, id);
  }
  assert.equal(result.tasks.a.attempts, 1);
  assert.equal(result.tasks.b.attempts, 0);
  assert.equal(result.tasks.c.attempts, 0);
  assert.deepEqual(calls, ["a"], "no pending or queued task ran");
}

Deno.test("handle.cancel() aborts the running task and cancels the pending ones", async () => {
  await withEngine({ limits: { io: 1 } }, async (engine) => {
    const { wf, started, calls } = cancellable();
    const handle = engine.start(wf);
    const signal = await started;
    assert.equal(handle.snapshot().workflow.status, "running");
    handle.cancel("user stop");
    const result = await handle.result;
    assertCancelled(result, calls, signal, "user stop");
    const types = engine.log.events(handle.id).map((e) => e.type);
    assert.equal(types.filter((t) => t === "task.cancelled").length, 3);
    assert.equal(types.at(-1), "workflow.cancelled");
    assert.equal(handle.snapshot().workflow.status, "cancelled");
    handle.cancel("again");
    assert.equal((await handle.result).status, "cancelled", "cancelling an ended run changes nothing");
  });
});

Deno.test("aborting the signal given to start() cancels the run", async () => {
  await withEngine({ limits: { io: 1 } }, async (engine) => {
    const { wf, started, calls } = cancellable();
    const controller = new AbortController();
    const handle = engine.start(wf, { signal: controller.signal });
    const signal = await started;
    const reason = new Error("caller gave up");
    controller.abort(reason);
    assertCancelled(await handle.result, calls, signal, reason);
  });
});

Deno.test("aborting the signal given to run() cancels the run", async () => {
  await withEngine({ limits: { io: 1 } }, async (engine) => {
    const { wf, started, calls } = cancellable();
    const controller = new AbortController();
    const promise = engine.run(wf, { signal: controller.signal });
    const signal = await started;
    controller.abort("stop");
    assertCancelled(await promise, calls, signal, "stop");
  });
});

Deno.test("a signal that is already aborted cancels the run before any task body runs", async () => {
  await withEngine({}, async (engine) => {
    const { wf, calls } = cancellable();
    const result = await engine.run(wf, { signal: AbortSignal.abort("too early") });
    assert.equal(result.status, "cancelled");
    for (const id of ["a", "b", "c"]) assert.equal(result.tasks[id].status, "cancelled", id);
    assert.deepEqual(calls, [], "no body ran");
    assert.equal(eventsOf(engine, result.runId, "task.started").length, 0);
  });
});

Deno.test("cancelling during a retry backoff cancels the task and clears its timer", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    const wf = defineWorkflow({
      name: "backoff",
      tasks: [{
        id: "f",
        retry: { maxAttempts: 3, initialDelayMs: 1_000 },
        run: () => {
          throw new Error("no");
        },
      }],
    });
    const handle = engine.start(wf);
    const retrying = Promise.withResolvers<void>();
    engine.bus.on("task.retrying", () => retrying.resolve());
    await retrying.promise;
    assert.equal(clock.pending, 1);
    handle.cancel();
    const result = await handle.result;
    assert.equal(result.status, "cancelled");
    assert.equal(result.tasks.f.status, "cancelled");
    assert.equal(result.tasks.f.attempts, 1);
    assert.equal(clock.pending, 0);
  });
});

Deno.test("cancelling a task with a timeout aborts its signal with the cancellation", async () => {
  const clock = createVirtualClock();
  await withEngine({ clock }, async (engine) => {
    const started = Promise.withResolvers<AbortSignal>();
    const wf = defineWorkflow({
      name: "timeout-cancel",
      tasks: [{
        id: "t",
        timeoutMs: 10_000,
        run: (ctx) => {
          started.resolve(ctx.signal);
          return untilAborted(ctx.signal);
        },
      }],
    });
    const handle = engine.start(wf);
    const signal = await started.promise;
    handle.cancel("stop");
    const result = await handle.result;
    assert.equal(result.tasks.t.status, "cancelled");
    assert.ok(signal.aborted);
    assert.ok(signal.reason instanceof CancelledError);
    assert.equal(clock.pending, 0, "the timeout timer is cleared");
  });
});

Deno.test("close() cancels live runs and waits for them", async () => {
  const engine = createEngine();
  const { wf, started } = cancellable();
  let promise: Promise<RunResult> | undefined;
  try {
    promise = engine.run(wf);
    await started;
  } finally {
    await engine.close();
  }
  const result = await promise!;
  assert.equal(result.status, "cancelled");
});

// ---- scheduling -------------------------------------------------------------

Deno.test("ready tasks start in priority, then critical-path rank order", async () => {
  await withEngine({ limits: { io: 1 } }, async (engine) => {
    const order: string[] = [];
    const body = (id: string) => async () => {
      order.push(id);
      await Promise.resolve();
    };
    const wf = defineWorkflow({
      name: "prio",
      tasks: [
        { id: "low", priority: "low", run: body("low") },
        { id: "med-short", run: body("med-short") },
        { id: "crit", priority: "critical", run: body("crit") },
        { id: "med-long", run: body("med-long") },
        { id: "high", priority: "high", run: body("high") },
        { id: "med-after", dependsOn: ["med-long"], run: body("med-after") },
        { id: "crit-after", dependsOn: ["high"], priority: "critical", run: body("crit-after") },
      ],
    });
    const result = await engine.run(wf);
    assert.equal(result.status, "completed");
    assert.deepEqual(order, ["crit", "high", "crit-after", "med-long", "med-short", "med-after", "low"]);
    assert.deepEqual(plan(wf).levels[0], ["crit", "high", "med-long", "med-short", "low"]);
    const ready = eventsOf(engine, result.runId, "task.ready").find((e) => e.taskId === "med-long")!;
    assert.deepEqual(ready.data, { priority: "medium", rank: 2 });
  });
});

Deno.test("no profile runs more tasks than its limit, and no more than concurrency run at once", async (t) => {
  const cases: { name: string; options: EngineOptions; limits: Record<Profile, number>; total: number }[] = [
    {
      name: "profile limits",
      options: { limits: { io: 2, cpu: 1, mixed: 3, memory: 1 } },
      limits: { io: 2, cpu: 1, mixed: 3, memory: 1 },
      total: 7,
    },
    {
      name: "a global concurrency below the sum of the limits",
      options: { limits: { io: 2, cpu: 2, mixed: 2, memory: 2 }, concurrency: 3 },
      limits: { io: 2, cpu: 2, mixed: 2, memory: 2 },
      total: 3,
    },
    {
      name: "an executor whose own concurrency is lower",
      options: { limits: { io: 5 }, executors: { io: createInlineExecutor({ concurrency: 2 }) } },
      limits: { io: 2, cpu: 100, mixed: 100, memory: 100 },
      total: 100,
    },
  ];
  const profiles: Profile[] = ["io", "cpu", "mixed", "memory"];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const clock = createVirtualClock();
      await withEngine({ ...c.options, clock }, async (engine) => {
        const running: Record<Profile, number> = { io: 0, cpu: 0, mixed: 0, memory: 0 };
        const peak: Record<Profile, number> = { io: 0, cpu: 0, mixed: 0, memory: 0 };
        let total = 0;
        let peakTotal = 0;
        const tasks = Array.from({ length: 40 }, (_, i) => {
          const profile = profiles[i % 4];
          return {
            id: `t${i}`,
            profile,
            dependsOn: i >= 10 && i % 3 === 0 ? [`t${i - 10}`] : [],
            run: async () => {
              running[profile]++;
              total++;
              peak[profile] = Math.max(peak[profile], running[profile]);
              peakTotal = Math.max(peakTotal, total);
              await sleep(clock, 1 + (i % 5));
              running[profile]--;
              total--;
            },
          };
        });
        // Two runs at once share the engine's slots.
        const results = await clock.runUntil(
          Promise.all([
            engine.run(defineWorkflow({ name: "x", tasks })),
            engine.run(defineWorkflow({ name: "y", tasks })),
          ]),
        );
        for (const r of results) assert.equal(r.status, "completed");
        for (const p of profiles) assert.ok(peak[p] <= c.limits[p], `${p}: peak ${peak[p]} > ${c.limits[p]}`);
        assert.ok(peakTotal <= c.total, `peak ${peakTotal} > ${c.total}`);
        assert.ok(peakTotal > 1, "tasks did run in parallel");
      });
    });
  }
});

// ---- step-by-step API -------------------------------------------------------

Deno.test("execute() returns an execution id at once and the status API follows the run", async () => {
  await withEngine({}, async (engine) => {
    const wf = engine.createWorkflow({ name: "steps", description: "one, two" });
    assert.equal(typeof wf, "string");
    assert.equal(engine.addTask(wf, { id: "a", run: ({ input }) => (input as { n: number }).n }), "a");
    assert.equal(engine.addTask(wf, { id: "b", dependsOn: ["a"], run: ({ deps }) => Number(deps.a) + 1 }), "b");
    const before = engine.getWorkflowStatus(wf);
    assert.equal(before.status, "created");
    assert.equal(before.runId, undefined);
    assert.deepEqual(Object.keys(before.tasks), ["a", "b"]);
    assert.equal(before.tasks.a.status, "pending");

    const runId = engine.execute(wf, { n: 41 });
    assert.equal(typeof runId, "string");
    const during = engine.getWorkflowStatus(wf);
    assert.equal(during.status, "running");
    assert.equal(during.runId, runId);
    assert.equal(engine.getTaskStatus("a").status, "running");
    assert.equal(engine.getTaskStatus("b").status, "pending");

    const result = await engine.wait(runId);
    assert.equal(result.status, "completed");
    assert.equal(result.runId, runId);
    const after = engine.getWorkflowStatus(wf);
    assert.equal(after.status, "completed");
    assert.equal(after.workflowId, wf);
    assert.equal(typeof after.endedAt, "number");
    assert.equal(typeof after.durationMs, "number");
    assert.equal(after.tasks.b.result, 42);
    assert.deepEqual(engine.getWorkflowStatus(runId).tasks, after.tasks);
    const b = engine.getTaskStatus("b");
    assert.equal(b.status, "completed");
    assert.equal(b.result, 42);
    assert.equal(b.runId, runId);
    assert.equal(b.workflowId, wf);
    assert.equal(engine.getTaskStatus("a", runId).result, 41);

    const second = engine.execute(wf, { n: 1 });
    assert.notEqual(second, runId);
    await engine.wait(second);
    assert.equal(engine.getWorkflowStatus(wf).runId, second);
    assert.equal(engine.getTaskStatus("b").result, 2, "the latest execution answers");
    assert.equal(engine.getTaskStatus("b", runId).result, 42);
  });
});

Deno.test("the step-by-step API reports a failed execution", async () => {
  await withEngine({}, async (engine) => {
    const wf = engine.createWorkflow({ name: "bad" });
    engine.addTask(wf, {
      id: "a",
      run: () => {
        throw new Error("nope");
      },
    });
    engine.addTask(wf, { id: "b", dependsOn: ["a"], run: () => 1 });
    const result = await engine.wait(engine.execute(wf));
    assert.equal(result.status, "failed");
    const status = engine.getWorkflowStatus(wf);
    assert.equal(status.status, "failed");
    assert.equal(status.error?.name, "TaskFailedError");
    assert.equal(status.tasks.a.error?.message, "nope");
    assert.equal(engine.getTaskStatus("b").status, "skipped");
  });
});

Deno.test("the step-by-step API throws NotFoundError for unknown ids", async (t) => {
  await withEngine({}, async (engine) => {
    const wf = engine.createWorkflow({ name: "known" });
    engine.addTask(wf, { id: "a", run: () => 1 });
    const runId = engine.execute(wf);
    await engine.wait(runId);
    const isNotFound = (kind: string, id: string) => (e: unknown) =>
      e instanceof NotFoundError && e.kind === kind && e.id === id;
    await t.step("getWorkflowStatus()", () => {
      assert.throws(() => engine.getWorkflowStatus("nope"), isNotFound("workflow", "nope"));
    });
    await t.step("addTask()", () => {
      assert.throws(() => engine.addTask("nope", { id: "x", run: () => 1 }), isNotFound("workflow", "nope"));
    });
    await t.step("execute()", () => {
      assert.throws(() => engine.execute("nope"), isNotFound("workflow", "nope"));
    });
    await t.step("getTaskStatus() of an unknown task", () => {
      assert.throws(() => engine.getTaskStatus("zzz"), isNotFound("task", "zzz"));
      assert.throws(() => engine.getTaskStatus("zzz", runId), isNotFound("task", "zzz"));
    });
    await t.step("getTaskStatus() in an unknown execution", () => {
      assert.throws(() => engine.getTaskStatus("a", "no-exec"), isNotFound("run", "no-exec"));
    });
    await t.step("wait()", async () => {
      await assert.rejects(engine.wait("no-exec"), isNotFound("run", "no-exec"));
    });
    await t.step("wait() for a run that execute() did not start", async () => {
      const result = await engine.run(defineWorkflow({ name: "plain", tasks: [] }));
      await assert.rejects(engine.wait(result.runId), NotFoundError);
    });
  });
});

Deno.test("addTask() rejects a bad task, and nothing is added or started", async (t) => {
  await withEngine({}, async (engine) => {
    const wf = engine.createWorkflow({ name: "strict" });
    engine.addTask(wf, { id: "a", run: () => 1 });
    const cases: [string, unknown, new (...args: never[]) => Error][] = [
      ["a body that is not a function", { id: "x", run: 5 }, TypeError],
      ["a missing id", { run: () => 1 }, TypeError],
      ["a negative timeout", { id: "x", run: () => 1, timeoutMs: -1 }, RangeError],
      ["an unknown profile", { id: "x", run: () => 1, profile: "gpu" }, RangeError],
      ["a duplicate id", { id: "a", run: () => 1 }, DuplicateTaskError],
      ["null", null, TypeError],
    ];
    for (const [name, task, type] of cases) {
      await t.step(name, () => assert.throws(() => engine.addTask(wf, task as never), type));
    }
    assert.deepEqual(Object.keys(engine.getWorkflowStatus(wf).tasks), ["a"]);
    // Only the workflow's creation and its one task were recorded; nothing started.
    assert.deepEqual(engine.log.events().map((e) => [e.type, e.taskId]), [
      ["workflow.created", undefined],
      ["task.pending", "a"],
    ]);
  });
});

Deno.test("addTask() rejects a dependsOn that is not an array of strings", async () => {
  await withEngine({}, (engine) => {
    const wf = engine.createWorkflow({ name: "strict" });
    engine.addTask(wf, { id: "a", run: () => 1 });
    assert.throws(() => engine.addTask(wf, { id: "b", dependsOn: "a" as never, run: () => 1 }), TypeError);
    assert.throws(() => engine.addTask(wf, { id: "c", dependsOn: [1] as never, run: () => 1 }), TypeError);
    assert.deepEqual(Object.keys(engine.getWorkflowStatus(wf).tasks), ["a"]);
  });
});

Deno.test("createWorkflow() rejects a missing name with a TypeError", async () => {
  await withEngine({}, (engine) => {
    assert.throws(() => engine.createWorkflow({} as never), TypeError);
    assert.throws(() => engine.createWorkflow({ name: "" }), TypeError);
    assert.throws(() => engine.createWorkflow(null as never), TypeError);
  });
});

Deno.test("execute() rejects a cycle or unknown dependency, and nothing is started", async (t) => {
  await withEngine({}, async (engine) => {
    const calls: string[] = [];
    await t.step("a cycle", () => {
      const wf = engine.createWorkflow({ name: "loop" });
      engine.addTask(wf, { id: "free", run: () => calls.push("free") });
      engine.addTask(wf, { id: "a", dependsOn: ["b"], run: () => calls.push("a") });
      engine.addTask(wf, { id: "b", dependsOn: ["a"], run: () => calls.push("b") });
      assert.throws(
        () => engine.execute(wf),
        (e: unknown) => e instanceof CycleError && e.cycle[0] === e.cycle.at(-1) && e.cycle.length === 3,
      );
      const status = engine.getWorkflowStatus(wf);
      assert.equal(status.status, "created");
      assert.equal(status.runId, undefined);
    });
    await t.step("an unknown dependency", () => {
      const wf = engine.createWorkflow({ name: "dangling" });
      engine.addTask(wf, { id: "free", run: () => calls.push("free") });
      engine.addTask(wf, { id: "a", dependsOn: ["ghost"], run: () => calls.push("a") });
      assert.throws(
        () => engine.execute(wf),
        (e: unknown) => e instanceof UnknownDependencyError && e.taskId === "a" && e.dependency === "ghost",
      );
      assert.equal(engine.getWorkflowStatus(wf).status, "created");
    });
    await Promise.resolve();
    assert.deepEqual(calls, []);
    // Only the step-by-step events (creations, added tasks): no run started.
    const types = new Set(engine.log.events().map((e) => e.type));
    assert.deepEqual([...types].sort(), ["task.pending", "workflow.created"]);
    assert.equal(engine.bus.history().length, engine.log.events().length);
  });
});

// ---- container --------------------------------------------------------------

Deno.test("configure() can replace the clock and the random source", async () => {
  const clock = createVirtualClock(5_000);
  const randoms: number[] = [];
  await withEngine({
    configure: (c) => {
      c.register(TOKENS.clock, { useValue: clock });
      c.register(TOKENS.random, {
        useValue: () => {
          randoms.push(1);
          return 0.5;
        },
      });
    },
  }, async (engine) => {
    assert.equal(engine.container.resolve(TOKENS.clock), clock);
    const wf = defineWorkflow({
      name: "w",
      tasks: [{
        id: "f",
        retry: { maxAttempts: 2, initialDelayMs: 100, jitter: 1 },
        run: ({ attempt }) => {
          if (attempt === 1) throw new Error("once");
          return "ok";
        },
      }],
    });
    const result = await clock.runUntil(engine.run(wf));
    assert.equal(result.status, "completed");
    assert.equal(result.startedAt, 5_000);
    assert.equal(result.completedAt, 5_050);
    assert.ok(engine.log.events(result.runId).every((e) => e.timestamp >= 5_000));
    assert.deepEqual(eventsOf(engine, result.runId, "task.retrying").map((e) => e.data.delayMs), [50]);
    assert.equal(randoms.length, 1);
  });
});

Deno.test("configure() can replace the executors and the bus", async () => {
  const ran: string[] = [];
  const inline = createInlineExecutor();
  const recording: Executor = {
    name: "recording",
    concurrency: Infinity,
    run(task, payload, signal) {
      ran.push(task.id);
      return inline.run(task, payload, signal);
    },
  };
  const bus = createEventBus({ historySize: 5 });
  await withEngine({
    configure: (c) => {
      c.register(TOKENS.executors, {
        useValue: { cpu: recording, io: recording, mixed: recording, memory: recording },
      });
      c.register(TOKENS.bus, { useValue: bus });
    },
  }, async (engine) => {
    assert.equal(engine.bus, bus);
    const wf = defineWorkflow({
      name: "w",
      tasks: [{ id: "a", run: () => 1 }, { id: "b", profile: "cpu", dependsOn: ["a"], run: () => 2 }],
    });
    const result = await engine.run(wf);
    assert.equal(result.tasks.b.result, 2);
    assert.deepEqual(ran, ["a", "b"]);
    assert.equal(bus.history().length, 5);
  });
});

Deno.test("a factory registered in configure() is called once per engine", async () => {
  let calls = 0;
  await withEngine({
    configure: (c) =>
      c.register(TOKENS.random, {
        useFactory: () => {
          calls++;
          return () => 0;
        },
      }),
  }, (engine) => {
    const first = engine.container.resolve(TOKENS.random);
    assert.equal(engine.container.resolve(TOKENS.random), first);
    assert.equal(calls, 1);
  });
});

Deno.test("each engine has its own container, bus, log and store", async () => {
  const clock = createVirtualClock(7);
  const one = createEngine({ configure: (c) => c.register(TOKENS.clock, { useValue: clock }) });
  const two = createEngine();
  try {
    assert.equal(one.container.resolve(TOKENS.clock), clock);
    assert.equal(two.container.resolve(TOKENS.clock), systemClock);
    assert.notEqual(one.bus, two.bus);
    assert.notEqual(one.log, two.log);
    assert.notEqual(one.container.resolve(TOKENS.scheduler), two.container.resolve(TOKENS.scheduler));
    const seenByTwo: string[] = [];
    two.bus.onAny((e) => seenByTwo.push(e.type));
    const result = await one.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
    assert.equal(result.startedAt, 7);
    assert.deepEqual(seenByTwo, []);
    assert.equal(two.log.events().length, 0);
    assert.deepEqual(two.store.getSnapshot().runs, {});
    assert.throws(() => two.project("taskStatus", result.runId), NotFoundError);
  } finally {
    await one.close();
    await two.close();
  }
});

// ---- store ------------------------------------------------------------------

Deno.test("store.select() sees a run through to completion", async () => {
  await withEngine({}, async (engine) => {
    const statuses: (string | undefined)[] = [];
    const completed: number[] = [];
    engine.store.select((s) => s.runs["r1"]?.status, (status) => statuses.push(status));
    const off = engine.store.select((s) => s.runs["r1"]?.counts.completed ?? 0, (n) => completed.push(n));
    const wf = defineWorkflow({
      name: "w",
      tasks: [
        { id: "a", run: () => Promise.resolve(1) },
        { id: "b", dependsOn: ["a"], run: () => Promise.resolve(2) },
        { id: "c", dependsOn: ["b"], run: () => Promise.resolve(3) },
      ],
    });
    await engine.run(wf, { runId: "r1" });
    assert.equal(statuses.at(-1), "completed");
    assert.equal(completed.at(-1), 3);
    const snapshot = engine.store.getSnapshot();
    assert.equal(snapshot.runs.r1.status, "completed");
    assert.equal(snapshot.runs.r1.counts.completed, 3);
    assert.equal(snapshot.seq, engine.log.seq);
    off();
  });
});

// ---- task logic modes -------------------------------------------------------

Deno.test('taskLogic "interpreted" emits the same events as "compiled"', async () => {
  const trace = async (taskLogic: "compiled" | "interpreted") => {
    const clock = createVirtualClock();
    const engine = createEngine({ clock, taskLogic, limits: { io: 2 } });
    try {
      const wf = defineWorkflow({
        name: "modes",
        tasks: [
          {
            id: "a",
            retry: { maxAttempts: 3, initialDelayMs: 10 },
            run: ({ attempt }) => {
              if (attempt < 2) throw new Error("flaky");
              return "A";
            },
          },
          {
            id: "b",
            dependsOn: ["a"],
            run: () => {
              throw new Error("b broke");
            },
          },
          { id: "c", dependsOn: ["b"], run: () => "C" },
          { id: "d", priority: "high", run: () => sleep(clock, 5) },
          { id: "e", dependsOn: ["d"], timeoutMs: 20, run: (ctx) => untilAborted(ctx.signal) },
          { id: "f", dependsOn: ["a", "d"], run: ({ deps }) => `${deps.a}` },
        ],
      });
      const result = await clock.runUntil(engine.run(wf, { runId: "same" }));
      const events = engine.log.events(result.runId).map((e) => `${e.type} ${e.taskId ?? ""} ${e.attempt ?? ""}`);
      const statuses = Object.fromEntries(Object.entries(result.tasks).map(([id, r]) => [id, [r.status, r.attempts]]));
      return { events, statuses, status: result.status };
    } finally {
      await engine.close();
    }
  };
  const compiled = await trace("compiled");
  const interpreted = await trace("interpreted");
  assert.equal(compiled.status, "failed");
  assert.deepEqual(interpreted.statuses, compiled.statuses);
  assert.deepEqual(interpreted.events, compiled.events);
  assert.ok(compiled.events.some((e) => e.startsWith("task.retrying a")));
  assert.ok(compiled.events.some((e) => e.startsWith("task.skipped c")));
});

Deno.test("cancelling from a task.started listener ends the run cancelled", async (t) => {
  for (const taskLogic of ["compiled", "interpreted"] as const) {
    await t.step(taskLogic, async () => {
      await withEngine({ taskLogic }, async (engine) => {
        const calls: string[] = [];
        let cancel = () => {};
        engine.bus.on("task.started", (e) => {
          if (e.taskId === "b") cancel();
        });
        const wf = defineWorkflow({
          name: "reentrant",
          tasks: [
            { id: "a", run: () => calls.push("a") },
            { id: "b", dependsOn: ["a"], run: (ctx) => untilAborted(ctx.signal) },
            { id: "c", dependsOn: ["b"], run: () => calls.push("c") },
          ],
        });
        const handle = engine.start(wf);
        cancel = () => handle.cancel("from a listener");
        const result = await handle.result;
        assert.equal(result.status, "cancelled");
        assert.deepEqual(
          Object.fromEntries(Object.entries(result.tasks).map(([id, r]) => [id, r.status])),
          { a: "completed", b: "cancelled", c: "cancelled" },
        );
        assert.deepEqual(calls, ["a"]);
      });
    });
  }
});

Deno.test("close() releases each distinct executor once", async () => {
  let closed = 0;
  const inline = createInlineExecutor();
  const shared: Executor = { name: "shared", concurrency: Infinity, run: inline.run, close: () => void closed++ };
  const engine = createEngine({ executors: { io: shared, cpu: shared, mixed: shared, memory: shared } });
  try {
    await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }));
  } finally {
    await engine.close();
    await engine.close();
  }
  assert.equal(closed, 1);
});

Deno.test("a failure at the head of a 10,000-task chain skips every task and ends the run", async () => {
  const n = 10_000;
  const engine = createEngine();
  let ended = false;
  try {
    const tasks = [{
      id: "t0",
      run: () => {
        throw new Error("head");
      },
    }, ...Array.from({ length: n - 1 }, (_, i) => ({ id: `t${i + 1}`, dependsOn: [`t${i}`], run: () => i }))];
    const promise = engine.run(defineWorkflow({ name: "chain", tasks })).then((r) => {
      ended = true;
      return r;
    });
    // Skipping is synchronous once the head failed: wait while the log grows, stop when a turn adds nothing.
    let seen = -1;
    while (!ended && engine.log.seq !== seen) {
      seen = engine.log.seq;
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
    const skipped = engine.log.events().filter((e) => e.type === "task.skipped").length;
    assert.ok(ended, `the run never ended: ${skipped} of ${n - 1} tasks skipped`);
    const result = await promise;
    assert.equal(result.status, "failed");
    assert.equal(Object.values(result.tasks).filter((r) => r.status === "skipped").length, n - 1);
  } finally {
    // A run that never ends would make close() wait forever; then only the log's timer is released.
    if (ended) await engine.close();
    else engine.log.close();
  }
});

Deno.test("inspect sees the workflow actor and every task actor of a run", async () => {
  const seen = new Map<string, Set<string>>();
  const engine = createEngine({
    inspect: (e) => {
      const id = (e.actorRef as { id: string }).id;
      if (!seen.has(id)) seen.set(id, new Set());
      seen.get(id)!.add(e.type);
    },
  });
  try {
    const wf = defineWorkflow({
      name: "inspected",
      tasks: [{ id: "a", run: () => 1 }, { id: "b", dependsOn: ["a"], run: () => 2 }],
    });
    const result = await engine.run(wf, { runId: "r1" });
    assert.equal(result.status, "completed");
    assert.ok(seen.has("workflow:r1"), "the workflow actor is inspected");
    for (const task of ["a", "b"]) {
      assert.ok(seen.get(task)?.has("@xstate.actor"), `task actor ${task} is announced`);
      assert.ok(seen.get(task)?.has("@xstate.snapshot"), `task actor ${task} reports snapshots`);
    }
  } finally {
    await engine.close();
  }
});
