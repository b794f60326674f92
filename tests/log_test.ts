import assert from "node:assert/strict";
import {
  createEngine,
  createVirtualClock,
  defineWorkflow,
  type FlowEventType,
  NotFoundError,
  type RunResult,
  type TaskStatus,
} from "../mod.ts";
import {
  type AnyFlowEvent,
  createMemoryLogStore,
  createSnapshotLog,
  type EventDataMap,
  importLog,
  type LogState,
  type SnapshotLog,
  type WorkflowStatus,
} from "../extend.ts";

/**
 * A small run that visits every terminal status but cancelled, plus a retry:
 * a fails once then completes, b fails, c is skipped, d completes.
 */
function mixedWorkflow() {
  let aCalls = 0;
  return defineWorkflow({
    name: "mixed",
    tasks: [
      {
        id: "a",
        retry: { maxAttempts: 2, initialDelayMs: 10 },
        run: () => {
          if (++aCalls === 1) throw new Error("a flaked");
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
      { id: "d", run: () => 4 },
    ],
  });
}

/** Runs the mixed workflow on a virtual clock; returns the engine's log and the result. */
async function withMixedRun(fn: (log: SnapshotLog, result: RunResult) => void | Promise<void>): Promise<void> {
  const clock = createVirtualClock();
  const engine = createEngine({ clock });
  try {
    const result = await clock.runUntil(engine.run(mixedWorkflow(), { runId: "run-1" }));
    await fn(engine.log, result);
  } finally {
    await engine.close();
  }
}

const TASK_STATUS: Partial<Record<FlowEventType, TaskStatus>> = {
  "task.pending": "pending",
  "task.ready": "ready",
  "task.started": "running",
  "task.retrying": "retrying",
  "task.completed": "completed",
  "task.failed": "failed",
  "task.skipped": "skipped",
  "task.cancelled": "cancelled",
};
const RUN_STATUS: Partial<Record<FlowEventType, WorkflowStatus>> = {
  "workflow.created": "created",
  "workflow.started": "running",
  "workflow.completed": "completed",
  "workflow.failed": "failed",
  "workflow.cancelled": "cancelled",
};

/** The taskStatus projection folded by hand over the first `k` events. */
function foldTaskStatus(events: readonly AnyFlowEvent[], k: number): Record<string, TaskStatus> {
  const out: Record<string, TaskStatus> = {};
  for (const e of events.slice(0, k)) {
    if (e.type === "workflow.created") { for (const id of e.data.taskIds) out[id] = "pending"; }
    const status = TASK_STATUS[e.type];
    if (status !== undefined) out[e.taskId!] = status;
  }
  return out;
}

function foldRunStatus(events: readonly AnyFlowEvent[], k: number): WorkflowStatus | undefined {
  let status: WorkflowStatus | undefined;
  for (const e of events.slice(0, k)) status = RUN_STATUS[e.type] ?? status;
  return status;
}

function foldCompleted(events: readonly AnyFlowEvent[], k: number): string[] {
  return events.slice(0, k).filter((e) => e.type === "task.completed").map((e) => e.taskId!);
}

let nextSeq = 0;
function ev<T extends FlowEventType>(
  type: T,
  data: EventDataMap[T],
  taskId?: string,
  runId = "r",
  seq = ++nextSeq,
): AnyFlowEvent {
  return { type, seq, runId, workflowId: "w", taskId, timestamp: seq, data } as AnyFlowEvent;
}

const countByType = {
  name: "countByType",
  initial: {} as Readonly<Record<string, number>>,
  reduce: (value: Readonly<Record<string, number>>, e: AnyFlowEvent) => ({
    ...value,
    [e.type]: (value[e.type] ?? 0) + 1,
  }),
};

Deno.test("taskStatus gives every task's final status", async () => {
  await withMixedRun((log, result) => {
    assert.equal(result.status, "failed");
    assert.deepEqual(log.project("taskStatus", "run-1"), { a: "completed", b: "failed", c: "skipped", d: "completed" });
  });
});

Deno.test("workflowStatus gives the run's status, times and counts", async () => {
  await withMixedRun((log) => {
    const w = log.project("workflowStatus", "run-1");
    assert.equal(w.runId, "run-1");
    assert.equal(w.workflowId, "mixed");
    assert.equal(w.status, "failed");
    assert.equal(w.taskCount, 4);
    assert.equal(w.createdAt, 0);
    assert.equal(w.startedAt, 0);
    assert.equal(w.endedAt, 10);
    assert.equal(w.durationMs, 10);
    assert.deepEqual(w.counts, {
      pending: 0,
      ready: 0,
      running: 0,
      retrying: 0,
      completed: 2,
      failed: 1,
      skipped: 1,
      cancelled: 0,
    });
    assert.equal(w.error?.name, "TaskFailedError");
    assert.match(w.error!.message, /"b"/);
  });
});

Deno.test("completedTasks and failedTasks list ids in the order they ended", async () => {
  await withMixedRun((log) => {
    assert.deepEqual(log.project("completedTasks", "run-1"), ["d", "a"]);
    assert.deepEqual(log.project("failedTasks", "run-1"), ["b"]);
  });
});

Deno.test("tasks gives each task's status, attempts, times, result and error", async () => {
  await withMixedRun((log) => {
    const tasks = log.project("tasks", "run-1");
    assert.deepEqual(tasks.a, {
      taskId: "a",
      status: "completed",
      attempts: 2,
      startedAt: 0,
      endedAt: 10,
      result: "A",
    });
    assert.deepEqual(tasks.d, { taskId: "d", status: "completed", attempts: 1, startedAt: 0, endedAt: 0, result: 4 });
    assert.equal(tasks.b.status, "failed");
    assert.equal(tasks.b.attempts, 1);
    assert.equal(tasks.b.error?.message, "b broke");
    assert.equal(tasks.b.result, undefined);
    assert.equal(tasks.c.status, "skipped");
    assert.equal(tasks.c.attempts, 0);
    assert.equal(tasks.c.startedAt, undefined);
  });
});

Deno.test("tasks gives a skipped task an error naming the dependency that blocked it", async () => {
  await withMixedRun((log, result) => {
    assert.match(result.tasks.c.error!.message, /"b"/);
    const c = log.project("tasks", "run-1").c;
    assert.ok(c.error !== undefined, "TaskView.error is documented for failed, skipped or cancelled tasks");
    assert.match(c.error.message, /"b"/);
  });
});

Deno.test("project() without a run id reads the latest run", () => {
  const log = createSnapshotLog();
  log.append(ev("workflow.created", { name: "w", taskIds: ["x"] }, undefined, "first"));
  log.append(ev("workflow.created", { name: "w", taskIds: ["y"] }, undefined, "second"));
  assert.deepEqual(log.project("taskStatus"), { y: "pending" });
  assert.deepEqual(log.state().runs(), ["first", "second"]);
});

Deno.test("a custom projection registered before the events folds each of them", async () => {
  const clock = createVirtualClock();
  const engine = createEngine({ clock });
  try {
    engine.log.register(countByType);
    assert.deepEqual(engine.project("countByType"), {});
    const result = await clock.runUntil(engine.run(mixedWorkflow()));
    const events = engine.log.events(result.runId);
    const expected: Record<string, number> = {};
    for (const e of events) expected[e.type] = (expected[e.type] ?? 0) + 1;
    assert.deepEqual(engine.project("countByType"), expected);
    assert.equal(expected["task.started"], 4);
  } finally {
    await engine.close();
  }
});

Deno.test("a custom projection registered after the events folds the earlier ones, then each new one", async () => {
  await withMixedRun((log) => {
    const before = log.events().length;
    log.register({ name: "count", initial: 0, reduce: (n: number) => n + 1 });
    assert.equal(log.project<number>("count"), before);
    log.append(ev("workflow.created", { name: "w", taskIds: [] }, undefined, "extra", log.nextSeq()));
    assert.equal(log.project<number>("count"), before + 1);
  });
});

Deno.test("register() rejects a taken name or a malformed definition with a TypeError", () => {
  const log = createSnapshotLog();
  log.register({ name: "mine", initial: 0, reduce: (n: number) => n });
  assert.throws(() => log.register({ name: "mine", initial: 0, reduce: (n: number) => n }), TypeError);
  assert.throws(() => log.register({ name: "taskStatus", initial: 0, reduce: (n: number) => n }), TypeError);
  assert.throws(() => log.register({ name: "x", initial: 0 } as never), TypeError);
  assert.throws(() => log.register(null as never), TypeError);
});

Deno.test("at(k) gives the taskStatus, workflow status and completed tasks after the k-th event", async () => {
  await withMixedRun((log) => {
    const events = log.events("run-1");
    assert.deepEqual(events.map((e) => e.seq), events.map((_, k) => k + 1), "one run numbers its events 1, 2, …");
    for (let k = 1; k <= events.length; k++) {
      const state = log.at(k);
      assert.equal(state.seq, k);
      assert.equal(state.size, k);
      assert.deepEqual(state.project("taskStatus", "run-1"), foldTaskStatus(events, k), `taskStatus at ${k}`);
      assert.equal(state.project("workflowStatus", "run-1").status, foldRunStatus(events, k), `status at ${k}`);
      assert.deepEqual(state.project("completedTasks", "run-1"), foldCompleted(events, k), `completed at ${k}`);
    }
    assert.ok(log.at(events.length).equals(log.state()));
  });
});

Deno.test("at(0) is the empty state", async () => {
  await withMixedRun((log) => {
    const empty = log.at(0);
    assert.equal(empty.seq, 0);
    assert.equal(empty.size, 0);
    assert.deepEqual(empty.runs(), []);
    assert.throws(() => empty.project("taskStatus"), NotFoundError);
  });
});

Deno.test("at(k) agrees with a replay of the first k events, across checkpoints", async (t) => {
  await withMixedRun(async (log) => {
    const data = log.toJSON();
    for (const options of [{}, { batchSize: 1, checkpointEvery: 2 }, { batchSize: 3, checkpointEvery: 5 }]) {
      await t.step(JSON.stringify(options), () => {
        const copy = importLog(data, options);
        copy.register({ name: "count", initial: 0, reduce: (n: number) => n + 1 });
        const events = copy.events();
        for (let k = 1; k <= events.length; k++) {
          const state = copy.at(k);
          assert.ok(state.equals(copy.replay(events.slice(0, k))), `at(${k}) equals replay of ${k} events`);
          assert.equal(state.project<number>("count"), k);
        }
      });
    }
  });
});

Deno.test("at(0) and replay([]) give a registered projection its initial value", () => {
  const log = createSnapshotLog();
  log.register({ name: "count", initial: 0, reduce: (n: number) => n + 1 });
  const created = ev("workflow.created", { name: "w", taskIds: [] });
  log.append(created);
  assert.equal(log.at(created.seq).project<number>("count"), 1);
  assert.equal(log.at(0).project<number>("count"), 0);
  assert.equal(log.replay([]).project<number>("count"), 0);
});

Deno.test("at() rejects a seq that is negative, fractional or beyond the last event with a RangeError", async (t) => {
  await withMixedRun(async (log) => {
    for (const seq of [-1, 1.5, NaN, log.seq + 1, Infinity]) {
      await t.step(`seq ${seq}`, () => {
        assert.throws(() => log.at(seq), RangeError);
      });
    }
  });
});

Deno.test("replay(events) rebuilds a state equal to the live one", async () => {
  await withMixedRun((log) => {
    log.register({ name: "count", initial: 0, reduce: (n: number) => n + 1 });
    const replayed = log.replay(log.events());
    assert.ok(replayed.equals(log.state()));
    for (const name of ["taskStatus", "workflowStatus", "completedTasks", "failedTasks", "tasks"] as const) {
      assert.deepEqual(replayed.project(name, "run-1"), log.project(name, "run-1"), name);
    }
    assert.equal(replayed.project<number>("count"), log.project<number>("count"));
    assert.ok(!log.replay(log.events().slice(0, -1)).equals(log.state()), "a shorter replay differs");
  });
});

Deno.test("replay(events).equals(state()) holds with a projection whose values are plain objects", async () => {
  await withMixedRun((log) => {
    log.register(countByType);
    const replayed = log.replay(log.events());
    assert.deepEqual(replayed.project("countByType"), log.project("countByType"));
    assert.ok(replayed.equals(log.state()), "the same projection values, rebuilt, compare equal");
  });
});

Deno.test("toJSON() survives JSON.stringify and importLog() rebuilds the same projections", async () => {
  await withMixedRun((log) => {
    const data = JSON.parse(JSON.stringify(log));
    assert.equal(data.format, "nerv-flow/log");
    assert.equal(data.version, 1);
    const copy = importLog(data);
    assert.equal(copy.seq, log.seq);
    for (const name of ["taskStatus", "workflowStatus", "completedTasks", "failedTasks", "tasks"] as const) {
      assert.deepEqual(copy.project(name, "run-1"), log.project(name, "run-1"), name);
    }
    const k = Math.floor(log.seq / 2);
    assert.deepEqual(copy.at(k).project("taskStatus", "run-1"), log.at(k).project("taskStatus", "run-1"));
  });
});

Deno.test("importLog() of a failed run's export gives a state equal to the original", async () => {
  await withMixedRun((log) => {
    const copy = importLog(JSON.parse(JSON.stringify(log)));
    assert.ok(copy.state().equals(log.state()), "events compared by value");
  });
});

Deno.test("append() refuses a seq that is not a number with a TypeError, and the log holds what it held", () => {
  const log = createSnapshotLog();
  const base = { type: "workflow.created", runId: "r", workflowId: "w", timestamp: 0, data: { input: 1, taskIds: [] } };
  log.append({ ...base, seq: 1 } as never);
  for (const seq of [2n, "2", undefined]) {
    assert.throws(() => log.append({ ...base, seq } as never), TypeError, String(seq));
  }
  assert.equal(log.seq, 1);
  assert.deepEqual(log.events().map((e) => e.seq), [1]);
});

Deno.test("states that differ in any field of a run compare unequal; the same events compare equal", async () => {
  await withMixedRun((log) => {
    const data = JSON.parse(JSON.stringify(log)) as { events: Record<string, unknown>[] };
    assert.ok(importLog(structuredClone(data) as never).state().equals(log.state()));
    const last = (type: string) => data.events.findLastIndex((e) => e.type === type);
    // One change to one event each: a run's end time, its input, a task's result, a task's attempts, its status (the
    // last event gone), a task's error, the workflow's id, the run's error.
    const changes: [string, (events: Record<string, unknown>[]) => void][] = [
      ["end time", (ev) => (ev[ev.length - 1].timestamp as number) += 1],
      ["input", (ev) => (ev[last("workflow.started")].data as { input: unknown }).input = { changed: true }],
      ["task result", (ev) => (ev[last("task.completed")].data as { result: unknown }).result = "other"],
      ["attempts", (ev) => ev[last("task.started")].attempt = 99],
      ["status", (ev) => ev.pop()],
      ["task error", (ev) => (ev[last("task.failed")].data as { error: { message: string } }).error.message = "x"],
      ["workflow id", (ev) => ev.forEach((e) => e.workflowId = "another")],
      ["run error", (ev) => (ev[last("workflow.failed")].data as { error: { message: string } }).error.message = "x"],
      // A task's own times (the log keeps task states as numbers, not objects: each number is compared).
      ["task start time", (ev) => (ev[ev.findIndex((e) => e.type === "task.started")].timestamp as number) += 1],
      ["task end time", (ev) => (ev[last("task.completed")].timestamp as number) += 1],
    ];
    for (const [what, change] of changes) {
      const copy = structuredClone(data);
      change(copy.events);
      assert.ok(!importLog(copy as never).state().equals(log.state()), `a different ${what} compares unequal`);
    }
  });
});

Deno.test("a task event folded after a workflow.resumed in the same batch starts from the restored state", () => {
  const log = createSnapshotLog();
  const at = (seq: number, type: string, taskId?: string, data: unknown = {}) =>
    log.append({ type, seq, runId: "r", workflowId: "w", taskId, timestamp: seq, data } as never);
  at(1, "workflow.created", undefined, { input: undefined, taskIds: ["a", "b"] });
  at(2, "workflow.started", undefined, { input: undefined });
  at(3, "task.ready", "a");
  at(4, "task.started", "a");
  at(5, "task.completed", "a", { result: 1, durationMs: 1 });
  assert.equal(log.project("taskStatus", "r").a, "completed");
  // One batch: the run's state replaced by one where no task has a state yet, then `a` ready again.
  const state = { runId: "r", workflowId: "w", status: "running", createdAt: 1, startedAt: 2, taskIds: ["a", "b"] };
  at(6, "workflow.resumed", undefined, {
    state: { ...state, tasks: [null, null], ends: 0 },
    rerun: [],
    interrupted: [],
  });
  at(7, "task.ready", "a");
  const run = log.project("workflowStatus", "r");
  assert.deepEqual(run.counts, {
    pending: 1,
    ready: 1,
    running: 0,
    retrying: 0,
    completed: 0,
    failed: 0,
    skipped: 0,
    cancelled: 0,
  });
  assert.deepEqual(log.project("tasks", "r").a, { taskId: "a", status: "ready", attempts: 0 });
});

Deno.test("importLog() rejects data that is not a log export with a TypeError", async (t) => {
  const cases: [string, unknown][] = [
    ["null", null],
    ["a wrong format", { format: "other", version: 1, events: [] }],
    ["a missing event list", { format: "nerv-flow/log", version: 1 }],
    ["an unknown version", { format: "nerv-flow/log", version: 2, events: [] }],
  ];
  for (const [name, data] of cases) {
    await t.step(name, () => assert.throws(() => importLog(data as never), TypeError));
  }
});

Deno.test("append() rejects an event whose seq is not greater than the last with a RangeError", () => {
  const log = createSnapshotLog();
  const first = ev("workflow.created", { name: "w", taskIds: [] });
  log.append(first);
  assert.throws(() => log.append(first), RangeError);
  assert.throws(() => log.append({ ...first, seq: first.seq - 1 }), RangeError);
  assert.equal(log.events().length, 1);
});

Deno.test("the memory log store reads back each run's events, in order", async () => {
  const store = createMemoryLogStore();
  const engine = createEngine({ logStore: store });
  try {
    const wf = defineWorkflow({
      name: "w",
      tasks: [{ id: "a", run: () => 1 }, { id: "b", dependsOn: ["a"], run: () => 2 }],
    });
    const first = await engine.run(wf, { runId: "one" });
    const second = await engine.run(wf, { runId: "two" });
    assert.deepEqual(store.read(first.runId), engine.log.events("one"));
    assert.deepEqual(store.read(second.runId), engine.log.events("two"));
    assert.ok((await store.read("one")).every((e) => e.runId === "one"));
    assert.deepEqual(store.read("unknown"), []);
  } finally {
    await engine.close();
  }
});

Deno.test("the memory log store groups a mixed batch by run", () => {
  const store = createMemoryLogStore();
  const a1 = ev("workflow.created", { name: "w", taskIds: [] }, undefined, "A");
  const b1 = ev("workflow.created", { name: "w", taskIds: [] }, undefined, "B");
  const a2 = ev("workflow.started", { input: 1 }, undefined, "A");
  store.append([a1, b1, a2]);
  assert.deepEqual(store.read("A"), [a1, a2]);
  assert.deepEqual(store.read("B"), [b1]);
  const copy = store.read("A") as AnyFlowEvent[];
  copy.length = 0;
  assert.equal((store.read("A") as readonly AnyFlowEvent[]).length, 2, "read() returns a copy");
});

Deno.test("a log hands its events to its store on flush", () => {
  const store = createMemoryLogStore();
  const log = createSnapshotLog({ store });
  try {
    const events = [ev("workflow.created", { name: "w", taskIds: ["t"] }), ev("workflow.started", { input: null })];
    for (const e of events) log.append(e);
    log.flush();
    assert.deepEqual(store.read("r"), events);
  } finally {
    log.close();
  }
});

Deno.test("a store that throws or rejects is reported to onStoreError and the log goes on", async () => {
  const errors: unknown[] = [];
  const boom = new Error("disk full");
  let calls = 0;
  const log = createSnapshotLog({
    store: {
      append: () => {
        if (++calls === 1) throw boom;
        return Promise.reject(boom);
      },
      read: () => [],
    },
    onStoreError: (error) => errors.push(error),
  });
  try {
    log.append(ev("workflow.created", { name: "w", taskIds: [] }));
    log.flush();
    log.append(ev("workflow.started", { input: null }));
    log.flush();
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(errors, [boom, boom]);
    assert.equal(log.events().length, 2);
  } finally {
    log.close();
  }
});

Deno.test("subscribe() listeners are called with the new state after a flush, until unsubscribed", () => {
  const log = createSnapshotLog();
  const states: LogState[] = [];
  const off = log.subscribe((s) => states.push(s));
  try {
    const created = ev("workflow.created", { name: "w", taskIds: ["t"] });
    log.append(created);
    log.append(ev("task.pending", { dependsOn: [] }, "t"));
    log.flush();
    assert.equal(states.length, 1);
    assert.equal(states[0].seq, log.seq);
    assert.deepEqual(states[0].project("taskStatus", "r"), { t: "pending" });
    log.flush();
    assert.equal(states.length, 1, "a flush with nothing pending calls no listener");
    off();
    log.append(ev("task.ready", { priority: "medium", rank: 1 }, "t"));
    log.flush();
    assert.equal(states.length, 1);
  } finally {
    log.close();
  }
});

Deno.test("subscribe() listeners are called once the macrotask ends without an explicit flush", async () => {
  const log = createSnapshotLog();
  const seqs: number[] = [];
  log.subscribe((s) => seqs.push(s.seq));
  try {
    log.append(ev("workflow.created", { name: "w", taskIds: [] }));
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(seqs, [log.seq]);
  } finally {
    log.close();
  }
});

Deno.test("the flush timer runs on the log's clock: a virtual clock holds the batch until it fires", async () => {
  const clock = createVirtualClock();
  const log = createSnapshotLog({ clock });
  const seqs: number[] = [];
  log.subscribe((s) => seqs.push(s.seq));
  try {
    log.append(ev("workflow.created", { name: "w", taskIds: [] }));
    assert.equal(clock.pending, 1, "one zero-delay flush timer, on the clock given");
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(seqs, [], "the host's timers do not flush it");
    clock.advance(0);
    const first = log.seq;
    assert.deepEqual(seqs, [first]);
    log.append(ev("workflow.started", { input: null }));
    log.flush();
    assert.deepEqual(seqs, [first, log.seq]);
    // A flush on read leaves the timer to fire (setting and clearing one per batch is what a small run paid for):
    // one timer at most, and the events appended meanwhile go with it.
    assert.equal(clock.pending, 1, "flush() leaves the one timer pending");
    log.append(ev("task.pending", { dependsOn: [] }, "a"));
    assert.equal(clock.pending, 1, "no second timer while one is pending");
    clock.advance(0);
    assert.equal(clock.pending, 0);
    assert.deepEqual(seqs, [first, log.seq - 1, log.seq], "the timer flushed what was appended after the read");
    clock.advance(0);
    assert.equal(seqs.length, 3, "nothing more to flush, no notification");
  } finally {
    log.close();
  }
});

Deno.test("project() of an unknown projection or run throws NotFoundError", async (t) => {
  await withMixedRun(async (log) => {
    await t.step("unknown projection", () => {
      assert.throws(
        () => log.project("nope"),
        (e: unknown) => e instanceof NotFoundError && e.kind === "projection" && e.id === "nope",
      );
    });
    await t.step("unknown run", () => {
      assert.throws(
        () => log.project("taskStatus", "no-such-run"),
        (e: unknown) => e instanceof NotFoundError && e.kind === "run" && e.id === "no-such-run",
      );
    });
    await t.step("unknown run at an earlier seq", () => {
      assert.throws(() => log.at(1).project("tasks", "no-such-run"), NotFoundError);
    });
  });
  await t.step("any run of an empty log", () => {
    assert.throws(() => createSnapshotLog().project("workflowStatus"), NotFoundError);
  });
});

Deno.test("createSnapshotLog() rejects sizes that are not positive integers with a RangeError", () => {
  assert.throws(() => createSnapshotLog({ batchSize: 0 }), RangeError);
  assert.throws(() => createSnapshotLog({ checkpointEvery: 1.5 }), RangeError);
});

Deno.test("projections of a cancelled run show cancelled tasks and the reason", async () => {
  const engine = createEngine();
  try {
    const started = Promise.withResolvers<void>();
    const wf = defineWorkflow({
      name: "stopped",
      tasks: [
        { id: "done", run: () => 1 },
        {
          id: "hang",
          run: (ctx) =>
            new Promise((_, reject) => {
              started.resolve();
              ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
            }),
        },
        { id: "after", dependsOn: ["hang"], run: () => 2 },
      ],
    });
    const handle = engine.start(wf, { runId: "c1" });
    await started.promise;
    handle.cancel("enough");
    await handle.result;
    const log = engine.log;
    assert.deepEqual(log.project("taskStatus", "c1"), { done: "completed", hang: "cancelled", after: "cancelled" });
    const w = log.project("workflowStatus", "c1");
    assert.equal(w.status, "cancelled");
    assert.equal(w.error?.name, "CancelledError");
    assert.equal(w.counts.cancelled, 2);
    const tasks = log.project("tasks", "c1");
    assert.equal(tasks.hang.error?.name, "CancelledError");
    assert.equal(tasks.after.error?.name, "CancelledError");
    const events = log.events("c1");
    for (let k = 1; k <= events.length; k++) {
      assert.deepEqual(log.at(k).project("taskStatus", "c1"), foldTaskStatus(events, k), `taskStatus at ${k}`);
    }
    assert.ok(log.replay(log.events()).equals(log.state()));
  } finally {
    await engine.close();
  }
});

Deno.test("at(seq) keeps interleaved runs apart", async () => {
  const clock = createVirtualClock();
  const engine = createEngine({ clock });
  try {
    const wf = (name: string, ms: number) =>
      defineWorkflow({
        name,
        tasks: [
          { id: "x", run: () => new Promise<void>((resolve) => clock.setTimeout(resolve, ms)) },
          { id: "y", dependsOn: ["x"], run: () => new Promise<void>((resolve) => clock.setTimeout(resolve, ms)) },
        ],
      });
    await clock.runUntil(
      Promise.all([engine.run(wf("one", 3), { runId: "one" }), engine.run(wf("two", 5), { runId: "two" })]),
    );
    const all = engine.log.events();
    assert.ok(all.findIndex((e) => e.runId === "two") < all.findLastIndex((e) => e.runId === "one"), "interleaved");
    for (const runId of ["one", "two"]) {
      const own = all.filter((e) => e.runId === runId);
      for (let seq = 1; seq <= engine.log.seq; seq++) {
        const k = own.filter((e) => e.seq <= seq).length;
        const state = engine.log.at(seq);
        if (k === 0) {
          assert.throws(() => state.project("taskStatus", runId), NotFoundError);
          continue;
        }
        assert.deepEqual(state.project("taskStatus", runId), foldTaskStatus(own, k), `${runId} at ${seq}`);
      }
    }
  } finally {
    await engine.close();
  }
});

Deno.test("runs of one workflow share its task id list; a run that adds a task leaves the others' unchanged", () => {
  const log = createSnapshotLog();
  const ids = ["a", "b"]; // one array, as every run of a workflow announces its graph's
  try {
    for (const runId of ["r1", "r2"]) log.append(ev("workflow.created", { name: "w", taskIds: ids }, undefined, runId));
    // In the same batch, r1 gets a task it did not announce (added during the run), then r2 runs "a" and adds "z".
    log.append(ev("task.started", { profile: "io" }, "x", "r1"));
    log.append(ev("task.started", { profile: "io" }, "a", "r2"));
    log.append(ev("task.started", { profile: "io" }, "z", "r2"));
    log.flush();
    assert.deepEqual(Object.keys(log.project("tasks", "r1")), ["a", "b", "x"]);
    assert.deepEqual(Object.keys(log.project("tasks", "r2")), ["a", "b", "z"]);
    assert.equal(log.project("tasks", "r2").a.status, "running");
    assert.equal(log.project("tasks", "r2").z.status, "running");
    assert.equal(log.project("tasks", "r1").x.status, "running");
    // A later run of the workflow still gets the announced ids only, and r1 keeps growing in later batches.
    log.append(ev("workflow.created", { name: "w", taskIds: ids }, undefined, "r3"));
    // r1 also adds the id r2 added: its own task, not r2's slot.
    log.append(ev("task.started", { profile: "io" }, "y", "r1"));
    log.append(ev("task.started", { profile: "io" }, "z", "r1"));
    log.flush();
    assert.deepEqual(Object.keys(log.project("tasks", "r3")), ["a", "b"]);
    assert.deepEqual(Object.keys(log.project("tasks", "r1")), ["a", "b", "x", "y", "z"]);
    assert.equal(log.project("workflowStatus", "r1").counts.running, 3);
    assert.ok(log.replay(log.events()).equals(log.state()), "a replay gives the same state");
  } finally {
    log.close();
  }
});

Deno.test("runs that announce no task and add theirs in one batch keep their own tasks (workflows built step by step)", () => {
  const log = createSnapshotLog();
  try {
    for (const runId of ["d1", "d2"]) log.append(ev("workflow.created", { name: "w", taskIds: [] }, undefined, runId));
    log.append(ev("task.pending", { dependsOn: [] }, "a", "d1"));
    log.append(ev("task.pending", { dependsOn: [] }, "b", "d2"));
    log.append(ev("task.pending", { dependsOn: [] }, "c", "d1"));
    log.append(ev("task.started", { profile: "io" }, "b", "d1")); // "b" is d2's: to d1 it is new
    log.flush();
    assert.deepEqual(Object.keys(log.project("tasks", "d1")), ["a", "c", "b"]);
    assert.deepEqual(Object.keys(log.project("tasks", "d2")), ["b"]);
    assert.equal(log.project("tasks", "d2").b.status, "pending");
    assert.equal(log.project("tasks", "d1").b.status, "running");
  } finally {
    log.close();
  }
});

Deno.test("events are plain frozen objects with every field of a FlowEvent, in one order", async () => {
  // src/event.ts makes events with a constructor (so V8 does not pretenure them); they must still be plain objects.
  const engine = createEngine({ workers: false });
  const wf = defineWorkflow({
    name: "plain",
    tasks: [{ id: "a", run: () => 1 }, { id: "b", dependsOn: ["a"], run: () => 2 }],
  });
  const r = await engine.run(wf);
  const seen: AnyFlowEvent[] = [];
  engine.bus.onAny((e) => seen.push(e));
  await engine.run(wf);
  const held = engine.log.events(r.runId);
  assert.ok(held.length > 0 && seen.length > 0);
  for (const e of [...held, ...seen]) {
    assert.equal(Object.getPrototypeOf(e), Object.prototype, e.type);
    assert.equal(e.constructor, Object);
    assert.ok(Object.isFrozen(e));
    assert.deepEqual(Object.keys(e), ["type", "seq", "runId", "workflowId", "taskId", "attempt", "timestamp", "data"]);
    assert.deepStrictEqual(e, { ...e });
    if (e.type === "task.completed" || e.type === "workflow.completed") {
      assert.equal(Object.getPrototypeOf(e.data), Object.prototype, `${e.type} data`);
      assert.deepStrictEqual(e.data, { ...e.data });
    }
  }
  await engine.close();
});

Deno.test("a cached completion's data is a plain frozen object too", async () => {
  const engine = createEngine({ workers: false });
  const wf = defineWorkflow({ name: "cached-plain", tasks: [{ id: "a", cache: { ttlMs: 60_000 }, run: () => 1 }] });
  await engine.run(wf);
  const second = await engine.run(wf);
  const done = engine.log.events(second.runId).find((e) => e.type === "task.completed");
  assert.ok(done !== undefined && done.type === "task.completed");
  assert.equal(done.data.cached, true);
  assert.equal(Object.getPrototypeOf(done.data), Object.prototype);
  assert.ok(Object.isFrozen(done.data));
  assert.deepEqual(Object.keys(done.data), ["result", "durationMs", "cached"]);
  await engine.close();
});

Deno.test("a registered projection and a subscriber get frozen events: neither can rewrite the log's history", async () => {
  const engine = createEngine({ workers: false });
  const seen: AnyFlowEvent[] = [];
  engine.log.register({
    name: "probe",
    initial: 0,
    reduce: (n: number, e: AnyFlowEvent) => {
      seen.push(e);
      return n + 1;
    },
  });
  const batches: AnyFlowEvent[] = [];
  engine.log.subscribe((_state, batch) => batches.push(...batch));
  await engine.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => ({ rows: [1] }) }] }), {
    input: { n: 1 },
  });
  assert.ok(seen.length > 0 && batches.length > 0);
  for (const e of [...seen, ...batches]) {
    assert.ok(Object.isFrozen(e), `${e.type} frozen`);
    if (typeof e.data === "object" && e.data !== null) assert.ok(Object.isFrozen(e.data), `${e.type} data frozen`);
  }
  const started = seen.find((e) => e.type === "workflow.started")! as AnyFlowEvent & { data: { input: { n: number } } };
  assert.throws(() => (started.data.input.n = 2), TypeError);
  // A projection registered later replays the journal: frozen events too, the events appended as they are included.
  const odd = {
    type: "workflow.started",
    seq: engine.log.seq + 1,
    runId: "x",
    workflowId: "w",
    timestamp: 0,
    data: {},
  };
  engine.log.append(odd as never);
  const later: AnyFlowEvent[] = [];
  engine.log.register({ name: "later", initial: 0, reduce: (n: number, e: AnyFlowEvent) => (later.push(e), n + 1) });
  assert.ok(later.length > 0 && later.every((e) => Object.isFrozen(e)));
  await engine.close();
  // A subscriber alone (no projection registered) gets them frozen too.
  const other = createEngine({ workers: false });
  const got: AnyFlowEvent[] = [];
  other.log.subscribe((_state, batch) => got.push(...batch));
  await other.run(defineWorkflow({ name: "w", tasks: [{ id: "a", run: () => 1 }] }), { input: { n: 1 } });
  assert.ok(got.length > 0 && got.every((e) => Object.isFrozen(e) && Object.isFrozen(e.data)));
  await other.close();
});
