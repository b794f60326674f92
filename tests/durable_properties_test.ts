/**
 * Property tests of crash and resume on a durable store, over random DAGs
 * with random delays, flaky and failing tasks and retry policies, on a
 * virtual clock:
 *
 * - Invariant 7 of DESIGN.md: a resumed run never re-executes a task that
 *   completed before the crash; it keeps that task's stored result.
 * - A run crashed at any point (once or twice) and resumed ends with the
 *   statuses and results of the uninterrupted run.
 * - Attempts charged to a task (started attempts minus those cut off by a
 *   crash) never exceed its retry policy; a task starts only after its
 *   dependencies completed, across crashes.
 * - Invariant 6 through a store: a log loaded from the store gives the live
 *   engine's projections, at the end and at any seq (`at(seq)`).
 *
 * A crash keeps a prefix of what the store holds: what survives a crash is
 * always a prefix of the append order.
 *
 * Reproduce a failure with `FC_SEED=<seed> deno test ...`.
 *
 * @module
 */
import fc from "npm:fast-check@^4";
import assert from "node:assert/strict";
import {
  createEngine,
  createVirtualClock,
  defineWorkflow,
  loadLog,
  NotFoundError,
  type RunResult,
  type TaskDef,
  type Workflow,
} from "../mod.ts";
import type { AnyFlowEvent, VirtualClock } from "../extend.ts";
import { durableMemoryStore } from "./_stores.ts";

const ALWAYS = 1_000;

interface TaskGen {
  deps: number[];
  /** Attempts that fail before one succeeds; ALWAYS never succeeds. */
  failures: number;
  /** Attempts allowed beyond the failures (at least 1, so the task completes unless it always fails). */
  slack: number;
  delay: number;
  backoff: number;
  payload: fc.JsonValue;
}

const taskArb: fc.Arbitrary<TaskGen> = fc.record({
  deps: fc.array(fc.nat(), { maxLength: 3 }),
  failures: fc.oneof(
    { arbitrary: fc.constant(0), weight: 4 },
    { arbitrary: fc.integer({ min: 1, max: 2 }), weight: 2 },
    { arbitrary: fc.constant(ALWAYS), weight: 1 },
  ),
  slack: fc.integer({ min: 1, max: 2 }),
  delay: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 2 }),
  backoff: fc.integer({ min: 0, max: 3 }),
  payload: fc.oneof(
    { arbitrary: fc.constant(null), weight: 3 },
    { arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v)) as fc.JsonValue), weight: 1 },
  ),
});

interface Scenario {
  tasks: TaskGen[];
  /** Crash points, as shares (‰) of the events stored after the previous crash: one or two crashes. */
  crashes: number[];
  /** A seq to travel to, as a share (‰) of the log. */
  travel: number;
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  tasks: fc.array(taskArb, { minLength: 1, maxLength: 18 }),
  crashes: fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 1, maxLength: 2 }),
  travel: fc.integer({ min: 0, max: 999 }),
});

/** Executions of task bodies in one engine: task id → attempt numbers. */
type Runs = Map<string, number[]>;

function workflowOf(s: Scenario, clock: VirtualClock, runs: Runs): Workflow {
  const tasks: TaskDef[] = s.tasks.map((t, i) => {
    const id = `t${i}`;
    const deps = i === 0 ? [] : [...new Set(t.deps.map((d) => `t${d % i}`))];
    const maxAttempts = t.failures === ALWAYS ? 1 + t.slack : t.failures + t.slack;
    return {
      id,
      dependsOn: deps,
      retry: { maxAttempts, initialDelayMs: t.backoff },
      run: async ({ attempt, deps: got }) => {
        const seen = runs.get(id) ?? [];
        seen.push(attempt);
        runs.set(id, seen);
        if (t.delay > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, t.delay));
        // Attempts 1..failures fail. Attempt numbers carry on across a crash and an attempt cut
        // off by it is not charged, so with maxAttempts > failures the outcome never changes.
        if (t.failures === ALWAYS || attempt <= t.failures) throw new Error(`${id} fails (${attempt})`);
        return { id, payload: t.payload, deps: Object.keys(got).sort().map((k) => (got[k] as { id: string }).id) };
      },
    };
  });
  return defineWorkflow({ name: "prop", tasks });
}

function completedIn(events: readonly AnyFlowEvent[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const e of events) if (e.type === "task.completed") out.set(e.taskId!, e.data.result);
  return out;
}

const PROJECTIONS = ["tasks", "taskStatus", "workflowStatus", "completedTasks", "failedTasks"] as const;

async function check(s: Scenario): Promise<void> {
  // The uninterrupted run.
  const clockA = createVirtualClock();
  const storeA = durableMemoryStore();
  const engineA = createEngine({ clock: clockA, logStore: storeA });
  const reference: RunResult = await clockA.runUntil(engineA.run(workflowOf(s, clockA, new Map()), { runId: "r" }));
  await engineA.log.sync();

  // Invariant 6 through the store: loaded projections equal the live ones, at the end and at(seq).
  const loadedA = await loadLog(storeA);
  for (const name of PROJECTIONS) assert.deepEqual(loadedA.project(name, "r"), engineA.project(name, "r"), name);
  const eventsA = engineA.log.events("r");
  const seq = eventsA[Math.floor((s.travel / 1000) * eventsA.length)].seq;
  for (const name of PROJECTIONS) {
    assert.deepEqual(loadedA.at(seq).project(name, "r"), engineA.log.at(seq).project(name, "r"), `${name} at ${seq}`);
  }
  await engineA.close();

  // Crash (once or twice) and resume.
  let disk = storeA.all;
  let cut = Math.max(1, Math.floor((s.crashes[0] / 1000) * disk.length));
  disk = disk.slice(0, cut);
  let final: RunResult | undefined;
  for (let round = 0; round < s.crashes.length; round++) {
    const clock = createVirtualClock(1_000_000 * (round + 1));
    const store = durableMemoryStore(disk);
    const runs: Runs = new Map();
    const engine = createEngine({ clock, logStore: store });
    const before = completedIn(disk);
    const wf = workflowOf(s, clock, runs);
    let result: RunResult;
    if (disk.some((e) => e.type === "workflow.started" || e.type === "workflow.resumed")) {
      result = await clock.runUntil(engine.resume(wf, "r"));
    } else {
      // It stopped before its start was stored: nothing ran, and it is run again.
      await assert.rejects(engine.resume(wf, "r"), NotFoundError);
      result = await clock.runUntil(engine.run(wf, { runId: "r" }));
    }
    await engine.log.sync();

    // Invariant 7: what had completed is kept and never runs again.
    for (const [id, value] of before) {
      assert.equal(runs.get(id), undefined, `task ${id} completed before the crash and ran again`);
      assert.deepEqual(result.tasks[id].result, value);
    }
    // Invariant 6 in the resuming engine: replaying its log gives its state.
    assert.ok(engine.log.replay(engine.log.events()).equals(engine.log.state()));
    // Loaded projections of the resumed run equal the live ones.
    const loaded = await loadLog(store);
    for (const name of PROJECTIONS) assert.deepEqual(loaded.project(name, "r"), engine.project(name, "r"), name);
    await engine.close();

    if (round + 1 < s.crashes.length) {
      const fresh = store.all.length - disk.length;
      cut = disk.length + Math.max(1, Math.floor((s.crashes[round + 1] / 1000) * fresh));
      disk = store.all.slice(0, cut);
    } else {
      final = result;
      disk = store.all;
    }
  }

  // The same outcome as the uninterrupted run.
  assert.equal(final!.status, reference.status);
  for (const [id, r] of Object.entries(reference.tasks)) {
    assert.equal(final!.tasks[id].status, r.status, `status of ${id}`);
    if (r.status === "completed") assert.deepEqual(final!.tasks[id].result, r.result, `result of ${id}`);
  }

  // Across the whole stored history: charged attempts within the policy; starts after dependencies.
  const wf = workflowOf(s, createVirtualClock(), new Map());
  const started = new Map<string, number>();
  const interrupted = new Map<string, number>();
  const done = new Set<string>();
  for (const e of disk) {
    if (e.type === "workflow.resumed") {
      for (const id of e.data.interrupted) interrupted.set(id, (interrupted.get(id) ?? 0) + 1);
    } else if (e.type === "task.started") {
      started.set(e.taskId!, (started.get(e.taskId!) ?? 0) + 1);
      const spec = wf.tasks.find((t) => t.id === e.taskId)!;
      for (const dep of spec.dependsOn) assert.ok(done.has(dep), `${e.taskId} started before ${dep} completed`);
    } else if (e.type === "task.completed") done.add(e.taskId!);
  }
  for (const spec of wf.tasks) {
    const charged = (started.get(spec.id) ?? 0) - (interrupted.get(spec.id) ?? 0);
    assert.ok(
      charged <= spec.retry.maxAttempts,
      `${spec.id}: ${charged} attempts charged of ${spec.retry.maxAttempts}`,
    );
  }
}

Deno.test("a run crashed at any point, once or twice, resumes without re-running completed tasks, to the uninterrupted outcome", async () => {
  await fc.assert(fc.asyncProperty(scenarioArb, check), {
    numRuns: Number(Deno.env.get("FC_RUNS") ?? 150),
    seed: Deno.env.get("FC_SEED") === undefined ? undefined : Number(Deno.env.get("FC_SEED")),
  });
});
