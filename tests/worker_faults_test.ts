/**
 * Worker pool faults and batching: workers that crash or close themselves,
 * cancellation in the middle of batched dispatch, batch sizing, transfers,
 * and invariants 1–5 of DESIGN.md over random DAGs of worker tasks.
 *
 * Nothing here asserts on time: real sleeps are only where a body must be
 * slow, and what the pool does is observed through its counters.
 *
 * @module
 */
import fc from "npm:fast-check@^4";
import assert from "node:assert/strict";
import {
  type AnyFlowEvent,
  createEngine,
  createVirtualClock,
  createWorkerPool,
  defineWorkflow,
  type Engine,
  type Executor,
  NotCloneableError,
  type Profile,
  type RetryPolicy,
  type RunHandle,
  type TaskDef,
  type TaskSpec,
  TOKENS,
  transfer,
  WorkerCrashedError,
  type WorkerPool,
} from "../mod.ts";
import { type ProbeInput, type ProbePlan, tasks } from "./fixtures/contract_tasks.ts";
import { statuses, withClosing } from "./_contract.ts";
import { sweepWorkers } from "./_workers.ts";

const PROBE_ENTRY = new URL("./fixtures/batch_probe_entry.ts", import.meta.url);

/** The engine's cpu pool. */
function cpuPoolOf(engine: Engine): WorkerPool {
  return engine.container.resolve(TOKENS.executors).cpu as WorkerPool;
}

/** A pool wrapped to count the promises it returned that have not settled yet. */
function counted(pool: WorkerPool): Executor & { readonly outstanding: number } {
  let outstanding = 0;
  return {
    name: pool.name,
    concurrency: pool.concurrency,
    get outstanding() {
      return outstanding;
    },
    run(task, payload, signal) {
      outstanding++;
      const p = pool.run(task, payload, signal);
      p.then(() => outstanding--, () => outstanding--);
      return p;
    },
    close: () => pool.close(),
  };
}

// ---- crashes ----------------------------------------------------------------

const CRASHES = [
  { kind: "an uncaught async error", run: tasks.crashAsync, cause: /boom/ },
  { kind: "self.close()", run: tasks.selfClose, cause: /self\.close\(\)/ },
] as const;

for (const crash of CRASHES) {
  Deno.test(`a worker killed by ${crash.kind} fails only the task it held; the pool keeps its size`, async () => {
    const engine = createEngine({ workers: { cpu: 2 }, limits: { cpu: 2 } });
    await withClosing(engine, async () => {
      const pool = cpuPoolOf(engine);
      const result = await engine.run(
        defineWorkflow({
          name: "crash",
          tasks: [
            // Dispatched first (higher rank): its own worker, busy while the other one dies.
            { id: "slow", profile: "cpu", run: tasks.sleep },
            { id: "after", profile: "cpu", dependsOn: ["slow"], run: tasks.add },
            { id: "crash", profile: "cpu", run: crash.run },
            { id: "skipped", profile: "cpu", dependsOn: ["crash"], run: tasks.add },
          ],
        }),
        { input: { ms: 30, add: 1 } },
      );
      assert.deepEqual(statuses(result), {
        slow: "completed",
        after: "completed",
        crash: "failed",
        skipped: "skipped",
      });
      assert.equal(result.tasks.after.result, 1);
      const error = result.tasks.crash.error;
      assert.ok(error instanceof WorkerCrashedError, `got ${error?.name}: ${error?.message}`);
      assert.equal(error.taskId, "crash");
      assert.match(error.worker, /^cpu#\d+$/);
      assert.match(String((error.cause as Error)?.message ?? error.cause), crash.cause);
      assert.equal(pool.replaced, 1);
      assert.equal(pool.alive, 2);
      // The replacement serves the next run.
      const again = await engine.run(
        defineWorkflow({
          name: "again",
          tasks: [1, 2, 3].map((k) => ({ id: `a${k}`, profile: "cpu", run: tasks.add })),
        }),
        { input: { add: 2 } },
      );
      assert.equal(again.status, "completed");
    });
  });

  Deno.test(`a task whose worker died of ${crash.kind} is retried by its policy`, async () => {
    const engine = createEngine({ workers: { cpu: 2 }, limits: { cpu: 2 } });
    await withClosing(engine, async () => {
      const retrying: AnyFlowEvent[] = [];
      engine.bus.on("task.retrying", (e) => retrying.push(e));
      const result = await engine.run(
        defineWorkflow({
          name: "crash-retry",
          tasks: [
            { id: "crash", profile: "cpu", retry: { maxAttempts: 2, initialDelayMs: 0 }, run: crash.run },
            { id: "other", profile: "cpu", run: tasks.add },
          ],
        }),
        { input: { okFrom: 2, add: 1 } },
      );
      assert.equal(result.status, "completed");
      assert.equal(result.tasks.crash.result, "survived attempt 2");
      assert.equal(result.tasks.crash.attempts, 2);
      assert.equal(result.tasks.other.attempts, 1, "the task on the other worker ran once");
      assert.equal((retrying[0] as AnyFlowEvent & { type: "task.retrying" }).data.error.name, "WorkerCrashedError");
      assert.equal(cpuPoolOf(engine).alive, 2);
    });
  });
}

// ---- batching and cancellation ------------------------------------------------

function manyAdds(name: string, n: number): TaskDef[] {
  return Array.from({ length: n }, (_, k) => ({ id: `${name}${k}`, profile: "cpu" as const, run: tasks.add }));
}

Deno.test("cancelling a run mid-batch ends every task cancelled or completed, with no worker or promise left", async () => {
  const pool = createWorkerPool({ size: 2, name: "cpu" });
  const cpu = counted(pool);
  const engine = createEngine({ executors: { cpu }, limits: { cpu: Infinity } });
  await withClosing(engine, async () => {
    const handle = engine.start(defineWorkflow({ name: "burst", tasks: manyAdds("t", 2000) }), { input: { add: 1 } });
    // Cancel once batches of more than one task are going out and many tasks are still queued.
    let batchAtCancel = 0;
    let completed = 0;
    const off = engine.bus.on("task.completed", (e) => {
      if (e.runId !== handle.id || ++completed < 50 || batchAtCancel > 0 || pool.batchSize < 2) return;
      batchAtCancel = pool.batchSize;
      handle.cancel("enough");
    });
    const result = await handle.result;
    off();
    assert.ok(batchAtCancel > 1, "batching never started: the run was not cancelled");
    assert.equal(result.status, "cancelled");
    const counts: Record<string, number> = {};
    for (const t of Object.values(result.tasks)) counts[t.status] = (counts[t.status] ?? 0) + 1;
    assert.deepEqual(Object.keys(counts).sort(), ["cancelled", "completed"], JSON.stringify(counts));
    assert.ok(counts.completed >= 50 && counts.cancelled > 0, JSON.stringify(counts));
    assert.equal(pool.queued, 0, "nothing left in the pool's queue");
    assert.equal(cpu.outstanding, 0, "every promise the pool returned has settled");
    assert.equal(pool.alive, 2);
    // The pool serves the next run.
    const next = await engine.run(defineWorkflow({ name: "next", tasks: manyAdds("n", 20) }), { input: { add: 1 } });
    assert.equal(next.status, "completed");
    assert.equal(cpu.outstanding, 0);
  });
});

/** Runs a burst of small tasks and returns the largest batch size the pool reached during it. */
async function burst(engine: Engine, pool: WorkerPool, n: number): Promise<number> {
  let peak = pool.batchSize;
  const off = engine.bus.on("task.completed", () => {
    peak = Math.max(peak, pool.batchSize);
  });
  try {
    const result = await engine.run(defineWorkflow({ name: "burst", tasks: manyAdds("t", n) }), { input: { add: 1 } });
    assert.equal(result.status, "completed");
    return peak;
  } finally {
    off();
  }
}

Deno.test("the abort grace runs on the pool's clock: a spinning task's worker ends only when that clock says so", async () => {
  const clock = createVirtualClock();
  const pool = createWorkerPool({ size: 1, name: "cpu", abortGraceMs: 50, clock });
  try {
    await pool.warm();
    const controller = new AbortController();
    const spec = { id: "s", run: tasks.spin, profile: "cpu", metadata: {} } as unknown as TaskSpec;
    const running = pool.run(spec, { input: null, deps: {}, attempt: 1, taskId: "s", runId: "r" }, controller.signal);
    running.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 200)); // the task reaches the worker and spins
    controller.abort(new Error("stop"));
    await assert.rejects(running, /stop/);
    await new Promise((resolve) => setTimeout(resolve, 300)); // far beyond 50 ms of host time
    assert.equal(pool.replaced, 0, "the worker is not terminated before the pool's clock moves");
    clock.advance(50);
    assert.equal(pool.replaced, 1, "the grace ended on the pool's clock: the spinning worker was replaced");
  } finally {
    await pool.close();
  }
});

Deno.test("a lone task goes out alone, on a fresh pool and after batching grew", async () => {
  const pool = createWorkerPool({ size: 1, name: "cpu", entry: PROBE_ENTRY });
  const engine = createEngine({ executors: { cpu: pool }, limits: { cpu: Infinity } });
  await withClosing(engine, async () => {
    assert.equal(pool.batchSize, 1, "batch size starts at 1");
    const lone = defineWorkflow({ name: "lone", tasks: [{ id: "sizes", profile: "cpu", run: tasks.batchSizes }] });
    const first = await engine.run(lone);
    assert.deepEqual(first.tasks.sizes.result, [1]);

    const peak = await burst(engine, pool, 600);
    assert.ok(peak > 1, `batch size reached ${peak} in a burst`);
    const after = await engine.run(lone);
    const sizes = after.tasks.sizes.result as number[];
    assert.ok(Math.max(...sizes) > 1, `the burst went out in batches: ${sizes.join(",")}`);
    assert.equal(sizes.at(-1), 1, "the lone task after the burst went out alone");
  });
});

Deno.test("many small tasks make the pool send them in batches (its batch size grows above 1)", async () => {
  const engine = createEngine({ workers: { cpu: 2 }, limits: { cpu: Infinity } });
  await withClosing(engine, async () => {
    const pool = cpuPoolOf(engine);
    assert.equal(pool.batchSize, 1);
    const peak = await burst(engine, pool, 1000);
    assert.ok(peak > 1, `batch size reached ${peak} in a burst`);
    assert.equal(pool.alive, 2);
  });
});

// ---- values that cannot cross, inside a batch ------------------------------------------

const ADD = defineWorkflow({ name: "spec", tasks: [{ id: "a", profile: "cpu", run: tasks.add }] }).tasks[0];
const BAD_TRANSFER = defineWorkflow({ name: "spec", tasks: [{ id: "b", profile: "cpu", run: tasks.badTransfer }] })
  .tasks[0];

function payloadOf(taskId: string, input: unknown) {
  return { input, deps: {}, attempt: 1, taskId, runId: "r" };
}

/**
 * Sends bursts until the pool batches, then occupies its only worker with one
 * task, so that the calls made next (synchronously) queue and go out together.
 */
async function queueBehindBusyWorker(pool: WorkerPool): Promise<Promise<unknown>> {
  const signal = new AbortController().signal;
  for (let round = 0; round < 10 && pool.batchSize < 4; round++) {
    await Promise.all(Array.from({ length: 200 }, (_, k) => pool.run(ADD, payloadOf(`w${k}`, { add: 1 }), signal)));
  }
  assert.ok(pool.batchSize >= 4, `the pool did not batch (batch size ${pool.batchSize})`);
  return pool.run(ADD, payloadOf("busy", { add: 1 }), signal);
}

Deno.test("a result marked for transfer that cannot be cloned fails only its own task in a batch", async () => {
  const pool = createWorkerPool({ size: 1, name: "cpu" });
  try {
    const busy = await queueBehindBusyWorker(pool);
    const signal = new AbortController().signal;
    const [bad, good] = await Promise.allSettled([
      pool.run(BAD_TRANSFER, payloadOf("bad", null), signal),
      pool.run(ADD, payloadOf("good", { add: 5 }), signal),
    ]);
    await busy;
    assert.equal(good.status === "fulfilled" && good.value, 5);
    const error = bad.status === "rejected" ? bad.reason : undefined;
    assert.ok(error instanceof NotCloneableError, `got ${error}`);
    assert.equal(error.taskId, "bad");
    assert.equal(error.part, "result");
    assert.equal(pool.replaced, 0, "the worker stays");
  } finally {
    await pool.close();
    assert.equal(sweepWorkers(), 0);
  }
});

Deno.test("inputs whose transfer list the worker cannot take fail one by one; the batch is not retried forever", async () => {
  const pool = createWorkerPool({ size: 1, name: "cpu" });
  try {
    const busy = await queueBehindBusyWorker(pool);
    const signal = new AbortController().signal;
    // Cloneable, but what it lists for transfer is not transferable: only the real send finds out.
    const input = transfer({ add: 1 }, [{} as ArrayBuffer]);
    const outcomes = await Promise.allSettled([
      pool.run(ADD, payloadOf("bad1", input), signal),
      pool.run(ADD, payloadOf("good", { add: 2 }), signal),
      pool.run(ADD, payloadOf("bad2", input), signal),
    ]);
    await busy;
    assert.deepEqual(
      outcomes.map((o) => o.status === "fulfilled" ? o.value : `${o.reason.name} ${o.reason.taskId}/${o.reason.part}`),
      ["NotCloneableError bad1/input", 2, "NotCloneableError bad2/input"],
    );
    assert.equal(pool.queued, 0);
  } finally {
    await pool.close();
    assert.equal(sweepWorkers(), 0);
  }
});

// ---- transfer ---------------------------------------------------------------------

Deno.test("transfer() moves a result buffer out of the worker: it arrives intact, the worker's copy is detached", async () => {
  const engine = createEngine({ workers: { cpu: 1 }, limits: { cpu: 1 } });
  await withClosing(engine, async () => {
    const result = await engine.run(
      defineWorkflow({
        name: "transfer",
        tasks: [
          { id: "big", profile: "cpu", run: tasks.bigBuffer },
          // Same (only) worker, after `big`: was its array moved or copied?
          { id: "check", profile: "cpu", dependsOn: ["big"], run: tasks.bigBufferDetached },
        ],
      }),
    );
    assert.equal(result.status, "completed");
    const u8 = result.tasks.big.result as Uint8Array;
    assert.ok(u8 instanceof Uint8Array);
    assert.equal(u8.length, 1 << 20);
    for (let i = 0; i < u8.length; i++) if (u8[i] !== (i & 0xff)) assert.fail(`byte ${i} is ${u8[i]}`);
    assert.equal(result.tasks.check.result, "detached");
  });
});

Deno.test("transfer() moves an input buffer into the worker: the sender's buffer is detached", async () => {
  const pool = createWorkerPool({ size: 1, name: "cpu" });
  try {
    const spec = defineWorkflow({ name: "t", tasks: [{ id: "e", profile: "cpu", run: tasks.echo }] }).tasks[0];
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const input = transfer({ bytes }, [bytes.buffer]);
    const out = await pool.run(
      spec,
      { input, deps: {}, attempt: 1, taskId: "e", runId: "r" },
      new AbortController().signal,
    ) as { input: { bytes: Uint8Array } };
    assert.deepEqual([...out.input.bytes], [1, 2, 3, 4]);
    assert.equal(bytes.buffer.byteLength, 0, "the sender's buffer was moved");
  } finally {
    await pool.close();
    assert.equal(sweepWorkers(), 0);
  }
});

// ---- invariants 1–5 with worker tasks --------------------------------------------

const POOL_SIZE = 2;
const SLOT: Record<Profile, number> = { cpu: 0, io: 1, mixed: 2, memory: 3 };
const TERMINAL = new Set(["task.completed", "task.failed", "task.skipped", "task.cancelled"]);

interface GenTask {
  deps: number[];
  profile: Profile;
  priority: "low" | "medium" | "high" | "critical";
  failures: number;
  retry: RetryPolicy | undefined;
}

interface GenScenario {
  tasks: GenTask[];
  limits: Record<Profile, number>;
  /** Cancel the run after this many of its events; `undefined`: never. */
  cancelAfter: number | undefined;
}

const scenarioArb: fc.Arbitrary<GenScenario> = fc.record({
  tasks: fc.array(
    fc.record({
      deps: fc.array(fc.nat(), { maxLength: 2 }),
      profile: fc.constantFrom<Profile>("cpu", "cpu", "mixed", "memory", "io"),
      priority: fc.constantFrom("low" as const, "medium" as const, "high" as const, "critical" as const),
      failures: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, {
        arbitrary: fc.integer({ min: 1, max: 2 }),
        weight: 1,
      }),
      retry: fc.option(
        fc.record({
          maxAttempts: fc.integer({ min: 1, max: 3 }),
          initialDelayMs: fc.integer({ min: 0, max: 50 }),
          factor: fc.constantFrom(1, 2, 3),
          maxDelayMs: fc.integer({ min: 0, max: 100 }),
        }),
        { nil: undefined, freq: 3 },
      ),
    }),
    { minLength: 1, maxLength: 14 },
  ),
  limits: fc.record({
    cpu: fc.integer({ min: 1, max: 3 }),
    io: fc.integer({ min: 1, max: 3 }),
    mixed: fc.integer({ min: 1, max: 3 }),
    memory: fc.integer({ min: 1, max: 2 }),
  }),
  cancelAfter: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined, freq: 4 }),
});

/** An executor that forwards to a pool shared across engines; closing the engine leaves the pool open. */
function shared(pool: WorkerPool): Executor {
  return {
    name: pool.name,
    concurrency: pool.concurrency,
    run: (task, payload, signal) => pool.run(task, payload, signal),
  };
}

Deno.test("invariants 1–5 hold when tasks run in worker pools (random DAGs)", async () => {
  const seed = Deno.env.get("FC_SEED");
  // Warm pools shared by every run (each run has its own engine and limits): with cold workers,
  // start-up would keep bodies from ever overlapping, and the limit check inside them would prove nothing.
  const pools = {
    cpu: createWorkerPool({ size: POOL_SIZE, name: "cpu" }),
    mixed: createWorkerPool({ size: POOL_SIZE, name: "mixed" }),
    memory: createWorkerPool({ size: POOL_SIZE, name: "memory" }),
  };
  const where = defineWorkflow({ name: "warm", tasks: [{ id: "w", profile: "cpu", run: tasks.where }] }).tasks[0];
  const payload = { input: undefined, deps: {}, attempt: 1, taskId: "w", runId: "warm" };
  const signal = new AbortController().signal;
  let peakSeen = 0;
  try {
    // Two calls at once: one per worker, each loading the task module.
    await Promise.all(
      Object.values(pools).flatMap((p) => [p.run(where, payload, signal), p.run(where, payload, signal)]),
    );
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const ids = s.tasks.map((_, i) => `t${i}`);
        const deps = s.tasks.map((
          t,
          i,
        ) => (i === 0 ? [] : [...new Set(t.deps.map((d) => d % i))].sort((a, b) => a - b)));
        const plans: Record<string, ProbePlan> = {};
        s.tasks.forEach((t, i) => {
          plans[ids[i]] = { slot: SLOT[t.profile], deps: deps[i].map((d) => ids[d]), failures: t.failures };
        });
        const counters = new SharedArrayBuffer(10 * 4);
        const input: ProbeInput = { plans, counters, holdMs: 3 };
        const workflow = defineWorkflow({
          name: "prop",
          tasks: s.tasks.map((t, i): TaskDef => ({
            id: ids[i],
            dependsOn: deps[i].map((d) => ids[d]),
            profile: t.profile,
            priority: t.priority,
            run: tasks.probe,
            ...(t.retry === undefined ? {} : { retry: t.retry }),
          })),
        });
        const clock = createVirtualClock();
        const engine = createEngine({
          clock,
          random: () => 0,
          limits: s.limits,
          executors: { cpu: shared(pools.cpu), mixed: shared(pools.mixed), memory: shared(pools.memory) },
        });
        try {
          const events: AnyFlowEvent[] = [];
          let cancelSeq: number | undefined;
          const started: { handle?: RunHandle } = {};
          engine.bus.onAny((e) => {
            events.push(e);
            // The first event at or past `cancelAfter` once the handle exists (start() emits some itself).
            if (s.cancelAfter === undefined || events.length < s.cancelAfter || cancelSeq !== undefined) return;
            if (started.handle === undefined) return;
            cancelSeq = e.seq;
            started.handle.cancel("property");
          });
          const handle = started.handle = engine.start(workflow, { input });
          const result = await clock.runUntil(handle.result);
          const c = new Int32Array(counters);
          const own = (id: string) => events.filter((e) => e.taskId === id);

          // 1. A task starts only after every dependency completed (by events, and inside the body).
          const completed = new Set<string>();
          for (const e of events) {
            if (e.type === "task.completed") completed.add(e.taskId!);
            if (e.type !== "task.started") continue;
            for (const d of plans[e.taskId!].deps) assert.ok(completed.has(d), `${e.taskId} started before ${d}`);
          }
          assert.equal(Atomics.load(c, 8), 0, "a body ran without a dependency's result");

          // 2. Exactly one terminal status per task; the run's end is its last event.
          for (const id of ids) {
            const ends = own(id).filter((e) => TERMINAL.has(e.type));
            assert.equal(ends.length, 1, `${id} has ${ends.length} terminal events`);
            assert.equal(own(id).at(-1), ends[0]);
            assert.equal(`task.${result.tasks[id].status}`, ends[0].type);
          }
          assert.match(events.at(-1)!.type, /^workflow\.(completed|failed|cancelled)$/);

          // 3. A task whose dependency did not complete is skipped (or cancelled), never run.
          for (const id of ids) {
            const blocked = plans[id].deps.filter((d) => result.tasks[d].status !== "completed");
            if (blocked.length === 0) continue;
            assert.ok(["skipped", "cancelled"].includes(result.tasks[id].status), `${id} ran after ${blocked[0]}`);
            assert.ok(!own(id).some((e) => e.type === "task.started"));
          }

          // 4. Attempts within the policy; backoff delays as specified and waited for.
          s.tasks.forEach((t, i) => {
            const id = ids[i];
            const max = t.retry?.maxAttempts ?? 1;
            const starts = own(id).filter((e) => e.type === "task.started");
            assert.deepEqual(starts.map((e) => e.attempt), starts.map((_, k) => k + 1));
            assert.ok(starts.length <= max, `${id}: ${starts.length} attempts, max ${max}`);
            const mine = own(id);
            mine.forEach((e, k) => {
              if (e.type !== "task.retrying") return;
              const p = { initialDelayMs: 100, factor: 2, maxDelayMs: 30_000, ...t.retry };
              assert.equal(e.data.delayMs, Math.min(p.maxDelayMs, p.initialDelayMs * p.factor ** (e.attempt! - 1)));
              const next = mine.slice(k + 1).find((x) => x.type === "task.started");
              if (next !== undefined) assert.ok(next.timestamp - e.timestamp >= e.data.delayMs);
            });
            if (cancelSeq === undefined && result.tasks[id].status !== "skipped") {
              assert.equal(starts.length, t.failures < max ? t.failures + 1 : max, `${id}: attempts`);
            }
          });

          // 5. At most `limit` tasks of a profile at once: by events, and by bodies running in the workers.
          const running: Record<Profile, number> = { cpu: 0, io: 0, mixed: 0, memory: 0 };
          const live = new Set<string>();
          for (const e of events) {
            if (e.taskId === undefined) continue;
            const profile = s.tasks[Number(e.taskId.slice(1))].profile;
            if (e.type === "task.started") {
              live.add(e.taskId);
              assert.ok(
                ++running[profile] <= s.limits[profile],
                `seq ${e.seq}: ${running[profile]} ${profile} running`,
              );
            } else if (live.delete(e.taskId)) running[profile]--;
          }
          for (const p of Object.keys(SLOT) as Profile[]) {
            // A worker runs one synchronous body at a time: a pool of 2 never runs more than 2.
            const most = p === "io" ? s.limits[p] : Math.min(s.limits[p], POOL_SIZE);
            const peak = Atomics.load(c, 4 + SLOT[p]);
            assert.ok(peak <= most, `${peak} ${p} bodies ran at once, limit ${s.limits[p]}, pool size ${POOL_SIZE}`);
            if (p !== "io") peakSeen = Math.max(peakSeen, peak);
          }
          if (cancelSeq === undefined) assert.notEqual(result.status, "cancelled");
        } finally {
          await engine.close();
        }
      }),
      { numRuns: 30, ...(seed === undefined ? {} : { seed: Number(seed) }) },
    );
    for (const p of Object.values(pools)) assert.equal(p.alive, POOL_SIZE);
  } finally {
    for (const p of Object.values(pools)) await p.close();
    assert.equal(sweepWorkers(), 0, "workers left after closing the pools");
  }
  // Not a claim about the pool (timing decides it), but the check inside the bodies must have had something to see.
  if (peakSeen < 2) console.warn(`worker bodies never overlapped in this run (peak ${peakSeen})`);
});
