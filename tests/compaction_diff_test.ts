// The prefix drop at compaction (Journal.dropThrough when Retention.droppedPrefix() allows it) must leave a log exactly
// as the general rebuild does: the same events, the same state, the same past states, for any stream of events.
import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { createEngine, defineWorkflow, subworkflow } from "../mod.ts";
import { type AnyFlowEvent, createSnapshotLog, type SnapshotLog } from "../extend.ts";
import { Retention } from "../src/log/retention.ts";
import { Journal } from "../src/log/journal.ts";
import { durableMemoryStore } from "./_stores.ts";

let general = false; // while true, the log under way takes the general rebuild
const droppedPrefix = Retention.prototype.droppedPrefix;
Retention.prototype.droppedPrefix = function () {
  return general ? undefined : droppedPrefix.call(this);
};
let prefixDrops = 0;
const dropThrough = Journal.prototype.dropThrough;
Journal.prototype.dropThrough = function (seq: number) {
  prefixDrops++;
  return dropThrough.call(this, seq);
};

/** Events of a real engine: runs one after another, runs started together, children, failures. */
async function capture(): Promise<AnyFlowEvent[]> {
  const engine = createEngine({ workers: false });
  const events: AnyFlowEvent[] = [];
  engine.bus.onAny((e) => events.push(e as AnyFlowEvent));
  const tick = () => new Promise((r) => setTimeout(r, 0));
  const small = defineWorkflow({
    name: "small",
    tasks: [
      { id: "a", run: async () => (await tick(), 1) },
      { id: "b", dependsOn: ["a"], run: () => 2 },
    ],
  });
  const failing = defineWorkflow({ name: "failing", tasks: [{ id: "x", run: () => Promise.reject(new Error("no")) }] });
  const child = defineWorkflow({ name: "child", tasks: [{ id: "c", run: async () => (await tick(), 3) }] });
  const parent = defineWorkflow({
    name: "parent",
    tasks: [
      { id: "p", run: subworkflow(child) },
      { id: "q", dependsOn: ["p"], run: async () => (await tick(), 4) },
    ],
  });
  try {
    for (let i = 0; i < 6; i++) await engine.run(small);
    await Promise.all(Array.from({ length: 6 }, (_, i) => engine.run(i % 3 === 0 ? failing : small)));
    for (let i = 0; i < 3; i++) await engine.run(parent);
    await Promise.all([engine.run(parent), engine.run(small), engine.run(parent)]);
    for (let i = 0; i < 4; i++) await engine.run(small);
  } finally {
    await engine.close();
  }
  return [...await crashed(), ...events.map((e) => ({ ...e, seq: e.seq + 100_000 }))];
}

/**
 * Events of runs interrupted by a crash (kept as a durable store held them), then of an engine that runs others and
 * resumes them (`workflow.resumed` of runs whose first events are the oldest).
 */
async function crashed(): Promise<AnyFlowEvent[]> {
  const blocked = defineWorkflow({
    name: "blocked",
    tasks: [
      { id: "a", run: () => 1 },
      {
        id: "b",
        dependsOn: ["a"],
        run: ({ signal }) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
      },
    ],
  });
  const first = durableMemoryStore();
  const a = createEngine({ workers: false, logStore: first });
  const handles = [a.start(blocked, { runId: "c1" }), a.start(blocked, { runId: "c2" })];
  while (!first.all.some((e) => e.type === "task.started" && e.taskId === "b" && e.runId === "c2")) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const disk = [...first.all];
  await a.close();
  await Promise.allSettled(handles.map((h) => h.result));
  const resumed = defineWorkflow({
    name: "blocked",
    tasks: [{ id: "a", run: () => 1 }, { id: "b", dependsOn: ["a"], run: () => 2 }],
  });
  const b = createEngine({ workers: false, logStore: durableMemoryStore(disk) });
  const events: AnyFlowEvent[] = [];
  b.bus.onAny((e) => events.push(e as AnyFlowEvent));
  const small = defineWorkflow({ name: "small", tasks: [{ id: "a", run: () => 1 }] });
  try {
    for (let i = 0; i < 3; i++) await b.run(small);
    await b.resume(resumed, "c1");
    for (let i = 0; i < 3; i++) await b.run(small);
    await b.resume(resumed, "c2");
  } finally {
    await b.close();
  }
  assert.ok(events.some((e) => e.type === "workflow.resumed"));
  return [...disk, ...events];
}

// Repeated (new run ids, later seqs) to ~12,000 events: compaction waits for 4,096 evicted events.
const once = await capture();
const stream: AnyFlowEvent[] = [];
for (let k = 0; stream.length < 12_000; k++) {
  for (const e of once) stream.push({ ...e, runId: `${e.runId}.${k}`, seq: stream.length + 1 });
}
const runIds = [...new Set(stream.map((e) => e.runId))];

type Op = { kind: "flush" } | { kind: "release"; pick: number };

function compare(a: SnapshotLog, b: SnapshotLog, seqs: number[]) {
  assert.deepEqual(a.events(), b.events());
  assert.ok(a.state().equals(b.state()));
  assert.deepEqual(a.state().runs(), b.state().runs());
  assert.deepEqual(a.project("count" as never), b.project("count" as never));
  for (const seq of seqs) {
    if (seq > a.seq) continue;
    assert.ok(a.at(seq).equals(b.at(seq)), `at(${seq})`);
  }
}

Deno.test("a prefix drop leaves the log as the general rebuild does, under any retention, batching and releases", () => {
  prefixDrops = 0;
  const retention = fc.oneof(
    fc.record({ runs: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ events: fc.integer({ min: 1, max: 60 }) }),
    fc.record({ ms: fc.integer({ min: 0, max: 20 }) }),
  );
  // After some events: a flush, or a release of some run held.
  const ops = fc.array(
    fc.tuple(
      fc.nat(stream.length - 1),
      fc.oneof(
        { weight: 3, arbitrary: fc.constant({ kind: "flush" } as Op) },
        { weight: 1, arbitrary: fc.nat(1000).map((pick) => ({ kind: "release", pick }) as Op) },
      ),
    ),
    { maxLength: 200 },
  ).map((list) => new Map(list));
  // Run ids mapped onto a few: a later run takes an earlier one's id (reused after its eviction), or not.
  const reuse = fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 200 }));
  fc.assert(
    fc.property(
      retention,
      ops,
      reuse,
      fc.array(fc.nat(stream.length), { maxLength: 6 }),
      (policy, between, k, seqs) => {
        const rename = (id: string) => k === 0 ? id : `r${runIds.indexOf(id) % k}`;
        const make = () => {
          const log = createSnapshotLog({ retention: policy, batchSize: 97 });
          log.register({ name: "count", initial: 0, reduce: (n: number) => n + 1 });
          return log;
        };
        const a = make();
        const b = make();
        const both = (f: (log: SnapshotLog) => void) => {
          general = false;
          f(a);
          general = true;
          try {
            f(b);
          } finally {
            general = false;
          }
        };
        for (let i = 0; i < stream.length; i++) {
          const e = { ...stream[i], runId: rename(stream[i].runId) };
          both((log) => log.append(e));
          const o = between.get(i);
          if (o?.kind === "flush") both((log) => log.flush());
          else if (o?.kind === "release") {
            both((log) => log.flush());
            const held = a.state().runs();
            if (held.length > 0) {
              const id = held[o.pick % held.length];
              both((log) => log.release(id));
            }
          }
        }
        both((log) => log.flush());
        compare(a, b, seqs);
        // A projection registered after the compactions folds the events the journal holds.
        both((log) => log.register({ name: "late", initial: 0, reduce: (n: number) => n + 1 }));
        assert.equal(a.project("late" as never), b.project("late" as never));
      },
    ),
    { numRuns: Number(Deno.env.get("RUNS") ?? 30) },
  );
  if (Deno.env.get("RUNS")) console.log("prefix drops", prefixDrops);
  assert.ok(prefixDrops > 0, "no prefix drop was taken");
});

Deno.test("a resumed run's events from before it was released are not dropped as a prefix when the counts happen to agree", async () => {
  // X ran until a crash; this log releases it, and X is resumed later: its early events are the oldest held, counted
  // by no run. Y, released while it ran, wrote k more events that a compaction then dropped while Y stayed held: Y's
  // count keeps k events the journal no longer has. With X's early events k too, the dropped count equals the position
  // of the last dropped seq though X's early events lie in that prefix.
  const all = await crashed();
  const disk = all.filter((e) => e.runId === "c1" && e.type !== "workflow.resumed" && e.seq < 100);
  const resumedEvent = all.find((e) => e.runId === "c1" && e.type === "workflow.resumed")!;
  const k = disk.length;
  const log = createSnapshotLog({ retention: { runs: 4 } });
  let seq = 0;
  const put = (e: Partial<AnyFlowEvent> & { type: string; runId: string }) =>
    log.append({ workflowId: e.runId, timestamp: 0, data: {}, ...e, seq: ++seq } as AnyFlowEvent);
  const created = (runId: string) => put({ type: "workflow.created", runId, data: { name: runId, taskIds: [] } });
  const filler = (runId: string, n: number) => {
    for (let i = 0; i < n; i++) put({ type: "executor.inline", runId, data: { profiles: [], reason: "" } });
  };
  const completed = (runId: string) => put({ type: "workflow.completed", runId, data: { durationMs: 0 } });
  const whole = (runId: string, n: number) => (created(runId), filler(runId, n), completed(runId));

  for (const e of disk) put({ ...e });
  created("y");
  log.release("y"); // running
  filler("y", k - 1);
  completed("y"); // its k events after its release
  whole("r", 0);
  whole("b", 5000);
  log.release("c1");
  put({ ...resumedEvent });
  whole("p", 5100);
  log.release("p"); // a compaction: y's events go, y stays held
  log.flush();
  const before = log.events("c1");
  assert.equal(before.length, k + 1);
  for (let i = 1; i <= 4; i++) whole(`q${i}`, 0); // y, r and b are evicted: a compaction
  log.flush();
  assert.ok(log.state().size < 100, "the second compaction took place");
  assert.deepEqual(log.events("c1"), before);
});
