import assert from "node:assert/strict";
import { createEngine, createVirtualClock, defineWorkflow, EvictedError, NotFoundError } from "../mod.ts";
import { type AnyFlowEvent, createMemoryLogStore, foldRun, type LogStore, TOKENS } from "../extend.ts";
import { serveDashboard } from "../adapters/dashboard.ts";

const wf = defineWorkflow({
  name: "diamond",
  tasks: [
    { id: "root", run: () => 1 },
    { id: "a", dependsOn: ["root"], run: ({ deps }) => Number(deps.root) + 1 },
    { id: "b", dependsOn: ["root"], run: () => 2 },
    { id: "sink", dependsOn: ["a", "b"], run: ({ deps }) => Number(deps.a) + Number(deps.b) },
  ],
});

/** A durable store that answers only asynchronously, like the file and KV stores. */
function asyncStore(): LogStore & { byRun: Map<string, AnyFlowEvent[]> } {
  const byRun = new Map<string, AnyFlowEvent[]>();
  return {
    durable: true,
    byRun,
    append(events) {
      for (const e of events) {
        const list = byRun.get(e.runId) ?? [];
        list.push(structuredClone(e));
        byRun.set(e.runId, list);
      }
      return Promise.resolve();
    },
    read(runId) {
      return Promise.resolve(byRun.get(runId)?.slice() ?? []);
    },
  };
}

Deno.test("retention keeps the last finished runs: an evicted run gives EvictedError everywhere, never a wrong answer", async () => {
  const engine = createEngine({ workers: false, retention: { runs: 2 } });
  try {
    const ids: string[] = [];
    let endSeq = 0;
    for (let i = 0; i < 4; i++) {
      const r = await engine.run(wf, { runId: `r${i}` });
      assert.equal(r.status, "completed");
      ids.push(r.runId);
      if (i === 0) endSeq = engine.log.seq;
    }
    const state = engine.log.state();
    assert.deepEqual(state.runs().sort(), ["r2", "r3"]);
    for (const id of ["r0", "r1"]) {
      assert.equal(engine.log.evicted(id), true);
      assert.throws(() => engine.project("workflowStatus", id), EvictedError);
      assert.throws(() => engine.project("tasks", id), EvictedError);
      assert.throws(() => engine.log.events(id), EvictedError);
      assert.throws(() => state.runState(id), EvictedError);
      assert.throws(() => engine.getWorkflowStatus(id), EvictedError);
      assert.throws(() => engine.getTaskStatus("sink", id), EvictedError);
      // The run as it was at its end is evicted too: at(seq) does not serve a state without it as if it never ran.
      assert.throws(() => engine.log.at(endSeq).project("workflowStatus", id), EvictedError);
    }
    let error: unknown;
    try {
      engine.project("workflowStatus", "r0");
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof NotFoundError, "an EvictedError is a NotFoundError");
    assert.match((error as Error).message, /"r0".*evicted.*the last 2 finished runs/);
    assert.equal(engine.log.evicted("never-ran"), false);
    assert.throws(
      () => engine.project("workflowStatus", "never-ran"),
      (e) => e instanceof NotFoundError && !(e instanceof EvictedError),
    );
    // The kept runs are whole.
    assert.equal(engine.project("workflowStatus", "r3").status, "completed");
    assert.equal(engine.project("tasks", "r3").sink.result, 4);
    assert.equal(engine.getWorkflowStatus("r2").status, "completed");
    // The projection store holds the same runs as the log.
    assert.deepEqual(Object.keys(engine.store.getSnapshot().runs).sort(), ["r2", "r3"]);
    // With no store, the log is where re-runs read: an evicted run is refused by name, a kept one re-runs.
    assert.equal(engine.container.resolve(TOKENS.logStore), undefined);
    // The events of evicted runs are gone from the log, the kept ones are all there.
    assert.deepEqual([...new Set(engine.log.events().map((e) => e.runId))].sort(), ["r2", "r3"]);
    assert.equal(engine.log.events("r3").at(-1)?.type, "workflow.completed");
    await assert.rejects(engine.rerun(wf, "r0"), (e) => e instanceof EvictedError && /"r0"/.test(e.message));
    assert.equal((await engine.rerun(wf, "r3")).status, "completed");
  } finally {
    await engine.close();
  }
});

Deno.test("an evicted run is read back from a log store that answers synchronously", async () => {
  const store = createMemoryLogStore();
  const engine = createEngine({ workers: false, logStore: store, retention: { runs: 1 } });
  try {
    const first = await engine.run(wf, { runId: "first" });
    const view = engine.project("workflowStatus", "first");
    const tasks = engine.project("tasks", "first");
    const events = engine.log.events("first");
    await engine.run(wf);
    await engine.run(wf);
    assert.equal(engine.log.evicted("first"), true);
    assert.deepEqual(engine.project("workflowStatus", "first"), view);
    assert.deepEqual(engine.project("tasks", "first"), tasks);
    assert.deepEqual(engine.log.events("first"), events);
    const report = engine.getWorkflowStatus("first");
    assert.equal(report.status, "completed");
    assert.equal(report.tasks.sink.result, first.tasks.sink.result);
    assert.equal(engine.getTaskStatus("a", "first").result, 2);
    // A user's store keeps every run.
    assert.equal(store.runs().length, 3);
  } finally {
    await engine.close();
  }
});

Deno.test("an evicted run on an asynchronous durable store gives EvictedError; the store keeps it and resume() serves it", async () => {
  const store = asyncStore();
  const engine = createEngine({ workers: false, logStore: store, retention: { runs: 1 } });
  try {
    const first = await engine.run(wf, { runId: "first" });
    await engine.run(wf);
    await engine.run(wf);
    assert.throws(() => engine.project("workflowStatus", "first"), EvictedError);
    assert.throws(() => engine.getWorkflowStatus("first"), EvictedError);
    const stored = foldRun({ events: await store.read("first") })!;
    assert.equal(stored.status, "completed");
    assert.equal(stored.tasks[3]?.result, 4);
    // resume() reads the store: the run had ended, so its stored result comes back.
    const again = await engine.resume(wf, "first");
    assert.equal(again.status, "completed");
    assert.equal(again.tasks.sink.result, first.tasks.sink.result);
  } finally {
    await engine.close();
  }
});

Deno.test("retention.ms evicts finished runs by age; live runs are never evicted", async () => {
  const clock = createVirtualClock();
  const engine = createEngine({ workers: false, clock, retention: { ms: 1000 } });
  try {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const slow = engine.start(defineWorkflow({ name: "slow", tasks: [{ id: "wait", run: () => gate }] }), {
      runId: "slow",
    });
    await engine.run(wf, { runId: "old" });
    clock.advance(500);
    await engine.run(wf, { runId: "middle" });
    clock.advance(700); // "old" ended 1200 ms ago, "middle" 700 ms ago
    await engine.run(wf, { runId: "new" });
    assert.equal(engine.log.evicted("old"), true);
    assert.throws(() => engine.project("workflowStatus", "old"), EvictedError);
    assert.equal(engine.project("workflowStatus", "middle").status, "completed");
    clock.advance(5000);
    await engine.run(wf, { runId: "newest" });
    assert.equal(engine.log.evicted("middle"), true);
    assert.equal(engine.log.evicted("slow"), false);
    assert.equal(engine.project("workflowStatus", "slow").status, "running");
    release();
    assert.equal((await slow.result).status, "completed");
    assert.equal(engine.project("workflowStatus", "slow").status, "completed");
  } finally {
    await engine.close();
  }
});

Deno.test("retention is bounded by default and retention: false keeps every run", async (t) => {
  await t.step(
    "default: the last 1000 finished runs (small ones: their events are under the default budget)",
    async () => {
      const engine = createEngine({ workers: false });
      try {
        const tiny = defineWorkflow({ name: "tiny", tasks: [{ id: "a", run: () => 1 }] });
        for (let i = 0; i < 1003; i++) await engine.run(tiny, { runId: `r${i}` });
        assert.equal(engine.log.state().runs().length, 1000);
        assert.throws(() => engine.project("workflowStatus", "r2"), EvictedError);
        assert.equal(engine.project("workflowStatus", "r3").status, "completed");
        assert.equal(Object.keys(engine.store.getSnapshot().runs).length, 1000);
      } finally {
        await engine.close();
      }
    },
  );
  await t.step("false: every run", async () => {
    const engine = createEngine({ workers: false, retention: false });
    try {
      for (let i = 0; i < 5; i++) await engine.run(wf);
      assert.equal(engine.log.state().runs().length, 5);
    } finally {
      await engine.close();
    }
  });
});

/** A workflow of `n` independent tasks: 4 n + 3 events a run (created, started, completed; 4 per task). */
const wideOf = (n: number) =>
  defineWorkflow({ name: `wide-${n}`, tasks: Array.from({ length: n }, (_, i) => ({ id: `t${i}`, run: () => i })) });

Deno.test("retention.events bounds the events of finished runs: the oldest go first, the newest finished run stays", async () => {
  const engine = createEngine({ workers: false, retention: { events: 1000 } });
  try {
    const small = wideOf(49); // 199 events
    const big = wideOf(400); // 1603 events
    for (let i = 0; i < 5; i++) await engine.run(small, { runId: `s${i}` }); // 995 events: all kept
    assert.deepEqual(engine.log.state().runs().sort(), ["s0", "s1", "s2", "s3", "s4"]);
    assert.equal(engine.log.events().length, 995);
    await engine.run(small, { runId: "s5" }); // 1194: the oldest goes
    assert.deepEqual(engine.log.state().runs().sort(), ["s1", "s2", "s3", "s4", "s5"]);
    assert.throws(() => engine.project("workflowStatus", "s0"), EvictedError);
    // A run bigger than the whole budget: every older run goes, it stays (the newest finished run always does).
    await engine.run(big, { runId: "b" });
    assert.deepEqual(engine.log.state().runs(), ["b"]);
    assert.equal(engine.project("workflowStatus", "b").status, "completed");
    assert.equal(engine.log.events("b").length, 1603);
    // ...until the next run ends.
    await engine.run(small, { runId: "s6" });
    assert.deepEqual(engine.log.state().runs(), ["s6"]);
    assert.throws(
      () => engine.project("tasks", "b"),
      (e) => e instanceof EvictedError && /up to 1000 events/.test(e.message),
    );
    // A live run is never evicted, whatever its events.
    const handle = engine.start(
      defineWorkflow({
        name: "held",
        tasks: [
          ...Array.from({ length: 300 }, (_, i) => ({ id: `t${i}`, run: () => i })),
          { id: "last", run: () => new Promise((resolve) => setTimeout(resolve, 30)) },
        ],
      }),
      { runId: "live" },
    );
    for (let i = 7; i < 10; i++) await engine.run(big, { runId: `b${i}` });
    assert.ok(engine.log.state().runs().includes("live"));
    assert.equal((await handle.result).status, "completed");
    assert.equal(engine.project("workflowStatus", "live").counts.completed, 301, "kept while it ran");
  } finally {
    await engine.close();
  }
});

Deno.test("retention is bounded by the events of finished runs by default: big runs do not pile up", async () => {
  const engine = createEngine({ workers: false });
  try {
    const big = wideOf(10_000); // 40,003 events: the default budget (100,000) holds two
    for (let i = 0; i < 4; i++) await engine.run(big, { runId: `b${i}` });
    assert.deepEqual(engine.log.state().runs().sort(), ["b2", "b3"]);
    assert.throws(
      () => engine.project("workflowStatus", "b1"),
      (e) =>
        e instanceof EvictedError &&
        /the last 1000 finished runs and finished runs up to 100000 events/.test(e.message),
    );
  } finally {
    await engine.close();
  }
});

Deno.test("retention rejects a bad policy with a RangeError naming the field", () => {
  for (
    const retention of [{ runs: 0 }, { runs: 1.5 }, { runs: -1 }, { ms: -1 }, { ms: Number.NaN }, { events: 0 }, {
      events: 2.5,
    }]
  ) {
    assert.throws(
      () => createEngine({ workers: false, retention }),
      (e) => e instanceof RangeError && /retention\./.test(e.message),
    );
  }
});

Deno.test("at(seq) with a custom projection refuses to fold a history whose evicted runs are gone", async () => {
  const engine = createEngine({ workers: false, retention: { runs: 1 } });
  try {
    engine.log.register({ name: "count", initial: 0, reduce: (n: number) => n + 1 });
    const tiny = defineWorkflow({ name: "tiny", tasks: [{ id: "a", run: () => 1 }] });
    for (let i = 0; i < 600; i++) await engine.run(tiny); // enough evictions to drop their events
    const seq = engine.log.seq;
    // The live projection folded every event; a past state can no longer, and says so.
    assert.ok(engine.log.project<number>("count") > engine.log.events().length);
    assert.throws(() => engine.log.at(seq).project("count"), NotFoundError);
  } finally {
    await engine.close();
  }
});

Deno.test("store.getSnapshot().runs is a read-only record: keys, values, JSON, and earlier snapshots never change", async () => {
  const engine = createEngine({ workers: false, retention: { runs: 2 } });
  try {
    await engine.run(wf, { runId: "r1" });
    const before = engine.store.getSnapshot();
    const json = JSON.stringify(before.runs);
    assert.deepEqual(Object.keys(before.runs), ["r1"]);
    assert.equal(before.runs.r1.status, "completed");
    assert.ok("r1" in before.runs);
    assert.deepEqual({ ...before.runs }, { r1: before.runs.r1 });
    assert.throws(() => {
      (before.runs as Record<string, unknown>).x = 1;
    }, TypeError);
    await engine.run(wf, { runId: "r2" });
    await engine.run(wf, { runId: "r3" });
    const after = engine.store.getSnapshot();
    assert.deepEqual(Object.keys(after.runs), ["r2", "r3"]);
    assert.equal(JSON.stringify(before.runs), json, "an earlier snapshot is unchanged");
    assert.equal(Object.values(after.runs).every((v) => v.status === "completed"), true);
    assert.equal(after.seq, engine.log.seq);
  } finally {
    await engine.close();
  }
});

Deno.test("engine.store subscribers, the log and the dashboard's runs.json see the same runs through evictions", async () => {
  const engine = createEngine({ workers: false, retention: { runs: 3 } });
  const dashboard = serveDashboard(engine, { flushMs: 5 });
  try {
    const seen = new Map<string, string>();
    const off = engine.store.select((s) => s.runs, (runs) => {
      for (const id in runs) seen.set(id, runs[id].status);
    });
    const slow = defineWorkflow({
      name: "slow",
      tasks: [{ id: "a", run: () => Promise.resolve(1) }, { id: "b", dependsOn: ["a"], run: () => Promise.resolve(2) }],
    });
    for (let i = 0; i < 8; i++) await engine.run(i % 2 === 0 ? wf : slow, { runId: `r${i}` });
    off();
    // Every run was seen by the subscriber through to its end, evicted ones included.
    assert.deepEqual([...seen.keys()], ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"]);
    assert.ok([...seen.values()].every((s) => s === "completed"));
    // The store holds exactly what the log projects for the kept runs.
    const state = engine.log.state();
    const kept = state.runs().sort();
    assert.deepEqual(kept, ["r5", "r6", "r7"]);
    const snapshot = engine.store.getSnapshot();
    assert.deepEqual(Object.keys(snapshot.runs).sort(), kept);
    for (const id of kept) assert.deepEqual(snapshot.runs[id], state.project("workflowStatus", id));
    // The dashboard, over HTTP, lists the same runs with the same views.
    const listed = await (await fetch(new URL("runs.json", dashboard.url))).json() as { runId: string }[];
    assert.deepEqual(listed.map((r) => r.runId).sort(), kept);
    for (const view of listed) assert.deepEqual(view, JSON.parse(JSON.stringify(snapshot.runs[view.runId])));
  } finally {
    await dashboard.close();
    await engine.close();
  }
});

Deno.test("the events of evicted runs leave memory, whatever the size of the runs", async () => {
  const engine = createEngine({ workers: false, retention: { runs: 1 } });
  try {
    const wide = defineWorkflow({
      name: "wide",
      tasks: Array.from({ length: 3000 }, (_, i) => ({ id: `t${i}`, run: () => i })),
    });
    const perRun: number[] = [];
    for (let i = 0; i < 5; i++) {
      await engine.run(wide);
      perRun.push(engine.log.events().length);
    }
    // One run's events are kept; the log itself (its folded size) holds at most about twice that.
    assert.ok(perRun.every((n) => n === perRun[0]));
    assert.ok(engine.log.state().size <= 2 * perRun[0] + 4096, `the log holds ${engine.log.state().size} events`);
  } finally {
    await engine.close();
  }
});

Deno.test("a workflow built step by step goes with its latest run: an engine that builds one per request stays bounded", async () => {
  const engine = createEngine({ workers: false, retention: { runs: 3 } });
  try {
    const built: { workflowId: string; runId: string }[] = [];
    for (let i = 0; i < 10; i++) {
      const workflowId = engine.createWorkflow({ name: "req" });
      engine.addTask(workflowId, { id: "a", run: () => i });
      engine.addTask(workflowId, { id: "b", dependsOn: ["a"], run: ({ deps }) => Number(deps.a) * 2 });
      const runId = engine.execute(workflowId);
      assert.equal((await engine.wait(runId)).tasks.b.result, i * 2);
      built.push({ workflowId, runId });
    }
    // The last 3 runs are held, and the workflows they belong to; nothing else (before: every workflow ever built).
    const held = new Set(engine.log.state().runs());
    assert.equal(held.size, 6);
    for (const { workflowId, runId } of built.slice(-3)) {
      assert.ok(held.has(runId) && held.has(workflowId));
      assert.equal(engine.getWorkflowStatus(workflowId).runId, runId);
      assert.equal(engine.getTaskStatus("b", runId).status, "completed");
    }
    for (const { workflowId, runId } of built.slice(0, 7)) {
      assert.throws(() => engine.getWorkflowStatus(workflowId), EvictedError);
      assert.throws(() => engine.getWorkflowStatus(runId), EvictedError);
      assert.throws(() => engine.addTask(workflowId, { id: "c", run: () => 1 }), NotFoundError);
      assert.throws(() => engine.execute(workflowId), NotFoundError);
      await assert.rejects(engine.wait(runId), EvictedError);
    }
    // A workflow re-executed keeps its newest run: the older one going does not take the workflow along.
    const { workflowId, runId } = built[9];
    const again = engine.reexecute(runId);
    await engine.wait(again);
    for (let i = 0; i < 2; i++) await engine.run(wf); // evicts `runId`, not `again`
    assert.equal(engine.log.evicted(runId), true);
    assert.equal(engine.getWorkflowStatus(workflowId).runId, again);
    // A workflow never executed is never evicted.
    const draft = engine.createWorkflow({ name: "later" });
    for (let i = 0; i < 5; i++) await engine.run(wf);
    engine.addTask(draft, { id: "x", run: () => "x" });
    assert.equal((await engine.wait(engine.execute(draft))).tasks.x.result, "x");
  } finally {
    await engine.close();
  }
});

Deno.test("a released workflow's own record read back from a synchronous store is not mistaken for a run", async () => {
  const store = createMemoryLogStore();
  const engine = createEngine({ workers: false, logStore: store, retention: { runs: 1 } });
  try {
    const workflowId = engine.createWorkflow({ name: "req" });
    engine.addTask(workflowId, { id: "a", run: () => 1 });
    const runId = engine.execute(workflowId);
    await engine.wait(runId);
    await engine.run(wf);
    await engine.run(wf);
    assert.equal(engine.log.evicted(workflowId), true);
    // The store kept everything: the run reads back, the workflow's status reports it is gone (not "created").
    assert.equal(engine.getWorkflowStatus(runId).status, "completed");
    assert.throws(() => engine.getWorkflowStatus(workflowId), EvictedError);
  } finally {
    await engine.close();
  }
});

Deno.test("compaction keeps exactly the events of the runs held, whether the evicted runs' events are the oldest or interleaved with kept ones", async () => {
  const engine = createEngine({ workers: false, retention: { runs: 2 } });
  try {
    const seen: AnyFlowEvent[] = [];
    engine.bus.onAny((e) => seen.push(e as AnyFlowEvent));
    let sizes = 0; // how many times the log's size fell: compactions
    let last = 0;
    const check = () => {
      const held = new Set(engine.log.state().runs());
      assert.deepEqual(engine.log.events(), seen.filter((e) => held.has(e.runId)));
      const size = engine.log.state().size;
      if (size < last) sizes++;
      last = size;
    };
    // Runs one after another: the evicted runs' events are the oldest held (a prefix of the journal).
    for (let i = 0; i < 500; i++) {
      await engine.run(wf);
      check();
    }
    const sequential = sizes;
    assert.ok(sequential >= 2, `${sequential} compactions of runs one after another`);
    // A run that stays live while hundreds end and go: kept events among the evicted ones.
    let open!: () => void;
    const long = engine.run(defineWorkflow({
      name: "long",
      tasks: [
        { id: "wait", run: () => new Promise<number>((resolve) => open = () => resolve(1)) },
        { id: "after", dependsOn: ["wait"], run: () => 2 },
      ],
    }));
    for (let i = 0; i < 500; i++) {
      await engine.run(wf);
      check();
    }
    assert.ok(sizes >= sequential + 2, `${sizes - sequential} compactions beside a live run`);
    open();
    assert.equal((await long).status, "completed");
    for (let i = 0; i < 500; i++) {
      await engine.run(wf);
      check();
    }
    // A run released while it runs (its later events go with it), then runs one after another again.
    const released = engine.start(defineWorkflow({
      name: "released",
      tasks: [{ id: "a", run: () => new Promise((resolve) => setTimeout(resolve, 5, 1)) }],
    }));
    engine.log.release(released.id);
    await released.result;
    for (let i = 0; i < 500; i++) {
      await engine.run(wf);
      check();
    }
  } finally {
    await engine.close();
  }
});

Deno.test("a run released while it runs stays live: its id is taken, resume() refuses it, close() cancels and awaits it", async () => {
  const engine = createEngine({ workers: false, retention: { runs: 2 } });
  const waiting = defineWorkflow({
    name: "waiting",
    tasks: [{
      id: "wait",
      run: ({ signal }) =>
        new Promise<number>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    }],
  });
  const handle = engine.start(waiting, { runId: "x" });
  await new Promise((r) => setTimeout(r, 5));
  engine.log.release("x");
  assert.ok(engine.log.evicted("x"));
  // Still running in this engine: not a second run of the same id, not a resume beside it.
  assert.throws(() => engine.start(waiting, { runId: "x" }), TypeError);
  await assert.rejects(engine.resume(waiting, "x"), /running in this engine/);
  let closed = false;
  const closing = engine.close().then(() => closed = true);
  const result = await Promise.race([handle.result, new Promise((r) => setTimeout(r, 500, "not cancelled"))]);
  assert.equal((result as { status?: string }).status, "cancelled");
  await closing;
  assert.ok(closed);
});

Deno.test("a long-lived engine's log reads back each held run's events as its subscribers saw them, across compactions that reuse the journal's chunks", async () => {
  // 1,500 runs of 83 events with 20 kept: the log compacts every ~50 runs, dropping whole 4,096-event chunks that
  // later chunks reuse; a reused chunk that kept a stale id, slot or reference would read back another run's events.
  const engine = createEngine({ workers: false, retention: { runs: 20 } });
  try {
    const mids = Array.from({ length: 18 }, (_, i) => `m${i}`);
    const fan = defineWorkflow({
      name: "fan",
      tasks: [
        { id: "root", run: () => "r" },
        ...mids.map((id, i) => ({ id, dependsOn: ["root"], run: () => ({ i }) })),
        { id: "sink", dependsOn: mids, run: () => undefined },
      ],
    });
    const seen = new Map<string, AnyFlowEvent[]>();
    engine.log.subscribe((_state, batch) => {
      for (const e of batch) seen.set(e.runId, [...seen.get(e.runId) ?? [], e]);
    });
    let compared = 0;
    for (let i = 0; i < 1500; i++) {
      assert.equal((await engine.run(fan, { runId: `f${i}` })).status, "completed");
      if (i % 97 !== 0 && i < 1490) continue;
      for (const runId of engine.log.state().runs()) {
        assert.deepEqual(engine.log.events(runId), seen.get(runId), runId);
        compared++;
      }
      for (const runId of seen.keys()) if (engine.log.evicted(runId)) seen.delete(runId);
    }
    assert.ok(compared >= 25 * 20, `compared ${compared} runs`);
    assert.throws(() => engine.log.events("f0"), EvictedError);
  } finally {
    await engine.close();
  }
});
