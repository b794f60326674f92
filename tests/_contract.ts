/**
 * The executor contract: one suite of rules that every executor obeys (as
 * Hono's `common.case.test.ts` holds every runtime adapter to the same cases).
 * `executorContract(label, makeOptions, traits)` registers `Deno.test` cases
 * that run workflows of `tests/fixtures/contract_tasks.ts` bodies on an
 * engine built from `makeOptions()`.
 *
 * Where an executor cannot obey a rule the same way, the difference is a
 * field of {@linkcode ExecutorTraits} with its reason, and the case either
 * checks the other behaviour explicitly or is registered as ignored with the
 * reason in its name; nothing is skipped silently.
 *
 * An executor that needs processes outside the test (a broker, worker
 * processes) names them in `traits.resources`: its cases then run as steps of
 * one test that starts them before the first case and stops them after the
 * last, so that Deno's sanitizers find nothing left running.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createEngine,
  createVirtualClock,
  defineTasks,
  defineWorkflow,
  type Engine,
  type EngineOptions,
  NotCloneableError,
  type Profile,
  type RunResult,
  type TaskDef,
  TaskFailedError,
  TaskModuleError,
  TaskSkippedError,
  TaskTimeoutError,
} from "../mod.ts";
import { type AnyFlowEvent, TOKENS, type WorkerPool } from "../extend.ts";
import { spinMarker, tasks } from "./fixtures/contract_tasks.ts";
import { sweepWorkers } from "./_workers.ts";

/** How an executor differs from the worker pools' rules; each `string` field is the reason. */
export interface ExecutorTraits {
  /** The profile every task of the suite uses (its executor is the one under test). */
  profile: Exclude<Profile, "io">;
  /** The worker pool's size, when the profile runs in a pool; `undefined` when bodies run on the main thread. */
  poolSize?: number;
  /** Why a body that never yields cannot be stopped here; `undefined` when its thread is terminated. */
  spinUnstoppable?: string;
  /** Why values pass by reference here instead of by structured clone; `undefined` when they are cloned. */
  passesByReference?: string;
  /** Why task modules are never loaded here (the reference's own function is called); `undefined` when they are. */
  callsReferenceDirectly?: string;
  /**
   * Why bodies run in workers of other processes, whose pools this process
   * cannot inspect (`alive`, `replaced`, `queued`); `undefined` when they run
   * in this process. The cases then check instead that tasks after a
   * spinning body still run: the caller's worker processes must run one body
   * at a time, so that a body left spinning blocks every later task.
   */
  runsElsewhere?: string;
  /** Processes the cases share (a broker, worker processes); `undefined` when an engine needs nothing outside this process. */
  resources?: SuiteResources;
}

/** Processes an executor's cases share, started once before the first case that runs and stopped after the last. */
export interface SuiteResources {
  /**
   * Starts them.
   *
   * @returns When they serve.
   */
  start(): Promise<void>;
  /**
   * Stops whatever `start()` started, also after a `start()` that failed half-way.
   *
   * @returns When nothing is left running.
   */
  stop(): Promise<void>;
}

/** The traits of the inline executor running worker-profile tasks (`workers: false`, or no `Worker`). */
export const INLINE_TRAITS: Omit<ExecutorTraits, "profile"> = Object.freeze({
  spinUnstoppable: "a synchronous loop on the main thread blocks the timers that would stop it",
  passesByReference: "inline bodies receive and return values by reference, without structured clone",
  callsReferenceDirectly: "the inline executor calls the function held by the reference and never loads its module",
});

type FullEngine = Engine;

const FIXTURE_URL = new URL("./fixtures/contract_tasks.ts", import.meta.url).href;
const MISSING_MODULE_URL = new URL("./fixtures/no_such_module.ts", import.meta.url).href;

/** Guards the runs that follow a spinning body: a worker left spinning fails them instead of hanging the test. */
const GUARD_MS = 20_000;

/** References whose worker side fails to resolve: an unknown name, an unknown module. */
const broken = {
  ...defineTasks(FIXTURE_URL, { missingExport: () => "called directly" }),
  ...defineTasks(MISSING_MODULE_URL, { ghost: () => "called directly" }),
};

/**
 * Registers the contract's test cases for one executor.
 *
 * @param label Prefixes every test name (e.g. `"cpu pool"`).
 * @param makeOptions Options of a fresh engine for each case (called once the suite's resources run).
 * @param traits The profile under test and how the executor differs.
 */
export function executorContract(
  label: string,
  makeOptions: () => EngineOptions | Promise<EngineOptions>,
  traits: ExecutorTraits,
): void {
  const profile = traits.profile;
  const inPool = traits.poolSize !== undefined;
  const remote = traits.runsElsewhere !== undefined;
  const cloned = traits.passesByReference === undefined;
  const loadsModules = traits.callsReferenceDirectly === undefined;

  /** A fresh engine from `makeOptions()` (with `extra` merged in), closed in any case; no worker may outlive it. */
  const withEngine = async (extra: EngineOptions, fn: (engine: FullEngine) => Promise<void>): Promise<void> => {
    const base = await makeOptions();
    return withClosing(createEngine({ ...base, ...extra, limits: { ...base.limits, ...extra.limits } }), fn);
  };

  /** The pool that runs the profile, checked to be one when the traits say so. */
  const poolOf = (engine: FullEngine): WorkerPool | undefined => {
    const executor = engine.container.resolve(TOKENS.executors)[profile];
    if (!inPool) return undefined;
    assert.equal(typeof (executor as Partial<WorkerPool>).replaced, "number", `${profile} runs in a worker pool`);
    return executor as WorkerPool;
  };

  /** Every task gets the profile under test unless it names one. */
  const wf = (name: string, defs: TaskDef[]) => defineWorkflow({ name, tasks: defs.map((d) => ({ profile, ...d })) });

  /** The cases in order, registered at the end (one test each, or steps of one test when resources are shared). */
  const cases: { name: string; fn: () => Promise<void>; ignore: boolean }[] = [];
  const test = (name: string, fn: () => Promise<void>) => cases.push({ name, fn, ignore: false });
  /** A case that does not apply: registered as ignored, the reason in its name. */
  const notApplicable = (name: string, reason: string) =>
    cases.push({ name: `${name} (does not apply: ${reason})`, fn: () => Promise.resolve(), ignore: true });

  /** After a spinning body: tasks still run, on every worker (a worker left spinning fails them at the guard). */
  const stillRuns = async (engine: FullEngine, name: string) => {
    const again = await engine.run(
      wf(name, [1, 2, 3, 4].map((k) => ({ id: `t${k}`, timeoutMs: GUARD_MS, run: tasks.add }))),
      { input: { add: 5 } },
    );
    assert.equal(again.status, "completed", `a task after the spinning body: ${again.tasks.t1.error?.message}`);
  };

  const where = inPool ? "in a worker" : remote ? "in a worker of a worker process" : "on the main thread";
  test(`task bodies run ${where}`, async () => {
    await withEngine({}, async (engine) => {
      const result = await engine.run(wf("where", [{ id: "w", run: tasks.where }]));
      assert.equal(result.status, "completed");
      assert.equal(result.tasks.w.result, inPool || remote ? "worker" : "main");
      if (inPool) assert.equal(poolOf(engine)!.alive, 1, "one task started one worker (pools start lazily)");
    });
  });

  test(`results and dependency results reach dependents intact${cloned ? " (by structured clone)" : ""}`, async () => {
    const input = {
      add: 10,
      nested: { date: new Date(0), map: new Map([["k", [1, 2]]]), bytes: new Uint8Array([1, 2, 3]), big: 2n ** 70n },
    };
    await withEngine({}, async (engine) => {
      const result = await engine.run(
        wf("cross", [
          { id: "x", run: tasks.add },
          { id: "y", run: tasks.add },
          { id: "sum", dependsOn: ["x", "y"], run: tasks.add },
          { id: "e", dependsOn: ["sum"], run: tasks.echo },
        ]),
        { input },
      );
      assert.equal(result.status, "completed");
      assert.equal(result.tasks.x.result, 10);
      assert.equal(result.tasks.sum.result, 30);
      const echoed = result.tasks.e.result as { input: typeof input };
      assert.deepEqual(echoed, { input, deps: { sum: 30 }, attempt: 1, taskId: "e" });
      if (cloned) assert.notEqual(echoed.input, input, "the body saw a clone of the input");
      else assert.equal(echoed.input, input, `the body saw the input itself: ${traits.passesByReference}`);
    });
  });

  test("with a limit of 1, ready tasks start by priority, then by critical-path rank", async () => {
    await withEngine({ limits: { [profile]: 1 } }, async (engine) => {
      const started: string[] = [];
      engine.bus.on("task.started", (e) => started.push(e.taskId!));
      const result = await engine.run(
        wf("order", [
          { id: "lo", priority: "low", run: tasks.add },
          { id: "m2", run: tasks.add },
          { id: "m1", run: tasks.add },
          { id: "m1b", dependsOn: ["m1"], priority: "low", run: tasks.add },
          { id: "m1c", dependsOn: ["m1b"], priority: "low", run: tasks.add },
          { id: "hi", priority: "high", run: tasks.add },
          { id: "crit", priority: "critical", run: tasks.add },
        ]),
      );
      assert.equal(result.status, "completed");
      // m1 outranks m2 (a longer path follows it); m1b (rank 2) outranks lo (rank 1); lo was queued before m1c.
      assert.deepEqual(started, ["crit", "hi", "m1", "m2", "m1b", "lo", "m1c"]);
    });
  });

  test("a failing task is retried with exponential backoff until it succeeds or runs out of attempts", async () => {
    const clock = createVirtualClock(1_000);
    await withEngine({ clock }, async (engine) => {
      const events: AnyFlowEvent[] = [];
      engine.bus.onAny((e) => events.push(e));
      const retry = { maxAttempts: 4, initialDelayMs: 1_000, factor: 3 };
      const ok = await clock.runUntil(engine.run(wf("retry", [{ id: "f", retry, run: tasks.failUntil }]), {
        input: { n: 3 },
      }));
      assert.equal(ok.status, "completed");
      assert.equal(ok.tasks.f.result, 3);
      assert.equal(ok.tasks.f.attempts, 3);
      const own = events.filter((e) => e.runId === ok.runId && e.taskId === "f");
      const retrying = own.filter((e) => e.type === "task.retrying");
      assert.deepEqual(retrying.map((e) => e.data.delayMs), [1_000, 3_000]);
      assert.deepEqual(retrying.map((e) => e.data.error.message), [
        "Attempt 1 of failUntil is below 3",
        "Attempt 2 of failUntil is below 3",
      ]);
      const starts = own.filter((e) => e.type === "task.started");
      assert.deepEqual(starts.map((e) => e.attempt), [1, 2, 3]);
      for (let k = 0; k < retrying.length; k++) {
        const waited = starts[k + 1].timestamp - retrying[k].timestamp;
        assert.ok(waited >= retrying[k].data.delayMs, `attempt ${k + 2} waited ${waited} virtual ms`);
      }

      const spent = await clock.runUntil(
        engine.run(wf("retry-out", [{ id: "f", retry: { maxAttempts: 2, initialDelayMs: 10 }, run: tasks.failUntil }])),
      );
      assert.equal(spent.status, "failed");
      assert.equal(spent.tasks.f.status, "failed");
      assert.equal(spent.tasks.f.attempts, 2);
      assert.equal(spent.tasks.f.error?.message, "Attempt 2 of failUntil is below Infinity");
    });
  });

  test("a body that awaits past its timeout fails with TaskTimeoutError and the run goes on", async () => {
    await withEngine({}, async (engine) => {
      const result = await engine.run(
        wf("timeout-await", [
          { id: "slow", timeoutMs: 40, run: tasks.sleep },
          { id: "after", dependsOn: ["slow"], run: tasks.echo },
          { id: "other", run: tasks.add },
        ]),
        { input: { ms: 10_000, add: 1 } },
      );
      assert.equal(result.status, "failed");
      const slow = result.tasks.slow;
      assert.equal(slow.status, "failed");
      assert.ok(slow.error instanceof TaskTimeoutError, `got ${slow.error?.name}: ${slow.error?.message}`);
      assert.equal(slow.error.taskId, "slow");
      assert.equal(slow.error.timeoutMs, 40);
      assert.equal(result.tasks.after.status, "skipped");
      assert.ok(result.tasks.after.error instanceof TaskSkippedError);
      assert.equal(result.tasks.other.result, 1);
      const pool = poolOf(engine);
      if (pool !== undefined) assert.equal(pool.alive, traits.poolSize);
    });
  });

  const spinTimeout =
    "a spinning body is stopped at its timeout: TaskTimeoutError, its worker replaced, the run goes on";
  if (traits.spinUnstoppable !== undefined) notApplicable(spinTimeout, traits.spinUnstoppable);
  else {
    test(spinTimeout, async () => {
      await withEngine({}, (engine) =>
        withMarkers(async (dir) => {
          const pool = poolOf(engine);
          const result = await engine.run(
            wf("timeout-spin", [
              // Elsewhere, long enough for the task's message to reach its worker process: the body must spin.
              { id: "spin", timeoutMs: remote ? 1_000 : 40, run: tasks.spinMarked },
              { id: "after", dependsOn: ["spin"], run: tasks.echo },
              { id: "other", run: tasks.add },
            ]),
            { input: { add: 2, dir } },
          );
          assert.equal(result.status, "failed");
          assert.ok(result.tasks.spin.error instanceof TaskTimeoutError, `got ${result.tasks.spin.error?.name}`);
          assert.equal(result.tasks.after.status, "skipped");
          assert.equal(result.tasks.other.result, 2);
          if (pool !== undefined) {
            // The pool terminates the worker after its abort grace (real time): wait for it, no timing claim.
            await until(() => pool.replaced >= 1, "the spinning worker to be replaced");
            assert.equal(pool.alive, traits.poolSize);
          }
          // What follows proves that the body was stopped only if it ran.
          if (remote) assert.ok(exists(spinMarker(dir, "spin")), "the body of spin ran before its timeout");
          // The executor still runs tasks, on every worker.
          await stillRuns(engine, "after-spin");
          if (pool !== undefined) assert.equal(pool.alive, traits.poolSize);
        }));
    });
  }

  test("cancel() aborts running tasks and cancels queued ones", async () => {
    await withEngine({ limits: { [profile]: 1 } }, async (engine) => {
      const handle = engine.start(
        wf("cancel", [
          { id: "running", priority: "high", run: tasks.sleep },
          { id: "q1", run: tasks.add },
          { id: "q2", dependsOn: ["q1"], run: tasks.echo },
        ]),
        { input: { ms: 10_000 } },
      );
      await startOf(engine, handle.id, "running");
      handle.cancel("stop");
      const result = await handle.result;
      assert.equal(result.status, "cancelled");
      assert.deepEqual(
        Object.fromEntries(Object.entries(result.tasks).map(([id, t]) => [id, [t.status, t.attempts]])),
        { running: ["cancelled", 1], q1: ["cancelled", 0], q2: ["cancelled", 0] },
      );
      const error = result.tasks.running.error;
      assert.ok(error instanceof CancelledError, `got ${error?.name}`);
      assert.equal(error.cause, "stop");
      const pool = poolOf(engine);
      if (pool !== undefined) assert.equal(pool.queued, 0);
    });
  });

  const spinCancel = "cancel() stops a spinning body by replacing its worker";
  if (traits.spinUnstoppable !== undefined) notApplicable(spinCancel, traits.spinUnstoppable);
  else {
    test(spinCancel, async () => {
      await withEngine({}, (engine) =>
        withMarkers(async (dir) => {
          const pool = poolOf(engine);
          const handle = engine.start(
            wf("cancel-spin", [
              { id: "spin", priority: "high", run: tasks.spinMarked },
              { id: "other", run: tasks.sleep },
            ]),
            { input: { ms: 10_000, dir } },
          );
          await startOf(engine, handle.id, "other");
          // Cancelled once the body spins (a task cancelled before its body starts never runs).
          await until(() => exists(spinMarker(dir, "spin")), "the body of spin to run");
          handle.cancel();
          const result = await handle.result;
          assert.equal(result.status, "cancelled");
          assert.equal(result.tasks.spin.status, "cancelled");
          assert.equal(result.tasks.other.status, "cancelled");
          if (pool !== undefined) {
            await until(() => pool.replaced >= 1, "the spinning worker to be replaced");
            assert.equal(pool.alive, traits.poolSize);
          }
          // The executor still runs tasks, on every worker.
          await stillRuns(engine, "after-cancel-spin");
        }));
    });
  }

  test("a thrown error keeps its name, message, stack, cause and own fields", async () => {
    await withEngine({}, async (engine) => {
      const failed: AnyFlowEvent[] = [];
      engine.bus.on("task.failed", (e) => failed.push(e));
      const result = await engine.run(wf("errors", [{ id: "f", run: tasks.fail }, { id: "ok", run: tasks.add }]));
      assert.equal(result.status, "failed");
      assert.equal(result.tasks.ok.status, "completed");
      const error = result.tasks.f.error as Error & { code?: unknown; detail?: unknown };
      assert.ok(error instanceof Error);
      assert.equal(error.name, "ContractError");
      assert.equal(error.message, 'Task "f" failed on purpose');
      assert.match(error.stack ?? "", /contract_tasks\.ts/, "the stack is the body's own");
      assert.ok(error.cause instanceof RangeError, `cause: ${error.cause}`);
      assert.equal(error.cause.message, "the root cause");
      assert.equal(error.code, 42);
      assert.deepEqual(error.detail, { retryable: false, tags: ["a", "b"] });
      assert.ok(result.error instanceof TaskFailedError);
      assert.equal(result.error.cause, error);
      const data = (failed[0] as AnyFlowEvent & { type: "task.failed" }).data.error;
      assert.equal(data.name, "ContractError");
      assert.equal(data.code, 42);
      assert.equal((data.cause as { message: string }).message, "the root cause");
    });
  });

  test(
    cloned
      ? "a task whose input cannot be cloned fails with NotCloneableError naming it; the others complete"
      : "a task whose input holds a function receives it as is",
    async () => {
      await withEngine({}, async (engine) => {
        const fn = () => 7;
        const result = await engine.run(
          wf("bad-input", [
            // A plain io task on the main thread: its result holds a function.
            { id: "source", profile: "io", run: () => ({ fn }) },
            { id: "bad", dependsOn: ["source"], run: tasks.echo },
            { id: "good", run: tasks.add },
            { id: "good2", run: tasks.echo },
          ]),
          { input: { add: 3 } },
        );
        assert.equal(result.tasks.good.result, 3);
        assert.equal(result.tasks.good2.status, "completed");
        if (cloned) {
          assert.equal(result.status, "failed");
          const error = result.tasks.bad.error;
          assert.ok(error instanceof NotCloneableError, `got ${error?.name}: ${error?.message}`);
          assert.equal(error.taskId, "bad");
          assert.equal(error.part, "input");
          assert.match(error.message, /"bad"/);
          const pool = poolOf(engine);
          if (pool !== undefined) assert.equal(pool.replaced, 0, "a refused input does not cost a worker");
        } else {
          assert.equal(result.status, "completed", String(traits.passesByReference));
          assert.equal((result.tasks.bad.result as { deps: { source: { fn: unknown } } }).deps.source.fn, fn);
        }
      });
    },
  );

  test(
    cloned
      ? "a result that cannot be cloned fails its task with NotCloneableError"
      : "a result that holds a function is returned as is",
    async () => {
      await withEngine({}, async (engine) => {
        const result = await engine.run(
          wf("bad-result", [{ id: "nc", run: tasks.notCloneable }, { id: "ok", run: tasks.add }]),
          { input: { add: 4 } },
        );
        assert.equal(result.tasks.ok.result, 4);
        if (cloned) {
          assert.equal(result.status, "failed");
          const error = result.tasks.nc.error;
          assert.ok(error instanceof NotCloneableError, `got ${error?.name}: ${error?.message}`);
          assert.equal(error.taskId, "nc");
          assert.equal(error.part, "result");
        } else {
          assert.equal(result.status, "completed", String(traits.passesByReference));
          assert.equal(typeof (result.tasks.nc.result as { fn: unknown }).fn, "function");
        }
      });
    },
  );

  test(
    loadsModules
      ? "a reference to a missing export fails with TaskModuleError naming the module and the task"
      : "a reference to a missing export runs the function it holds",
    async () => {
      await withEngine({}, async (engine) => {
        const result = await engine.run(
          wf("missing-export", [{ id: "m", run: broken.missingExport }, { id: "ok", run: tasks.add }]),
        );
        assert.equal(result.tasks.ok.status, "completed");
        if (loadsModules) {
          const error = result.tasks.m.error;
          assert.ok(error instanceof TaskModuleError, `got ${error?.name}: ${error?.message}`);
          assert.equal(error.moduleUrl, FIXTURE_URL);
          assert.equal(error.exportName, "missingExport");
          assert.ok(error.message.includes(FIXTURE_URL) && error.message.includes('"missingExport"'), error.message);
        } else {
          assert.equal(result.tasks.m.result, "called directly", String(traits.callsReferenceDirectly));
        }
      });
    },
  );

  test(
    loadsModules
      ? "a reference to a missing module fails with TaskModuleError naming the module and the task"
      : "a reference to a missing module runs the function it holds",
    async () => {
      await withEngine({}, async (engine) => {
        const result = await engine.run(
          wf("missing-module", [{ id: "g", run: broken.ghost }, { id: "ok", run: tasks.add }]),
        );
        assert.equal(result.tasks.ok.status, "completed");
        if (loadsModules) {
          const error = result.tasks.g.error;
          assert.ok(error instanceof TaskModuleError, `got ${error?.name}: ${error?.message}`);
          assert.equal(error.moduleUrl, MISSING_MODULE_URL);
          assert.equal(error.exportName, "ghost");
          assert.ok(error.message.includes(MISSING_MODULE_URL) && error.message.includes('"ghost"'), error.message);
          // The worker that failed to load the module still serves other tasks.
          const again = await engine.run(wf("after-missing", [{ id: "a", run: tasks.add }]), { input: { add: 1 } });
          assert.equal(again.tasks.a.result, 1);
        } else {
          assert.equal(result.tasks.g.result, "called directly", String(traits.callsReferenceDirectly));
        }
      });
    },
  );

  const resources = traits.resources;
  if (resources === undefined) {
    for (const c of cases) Deno.test({ name: `${label}: ${c.name}`, ignore: c.ignore, fn: c.fn });
    return;
  }
  Deno.test(`${label}: the executor contract, each rule a step, on shared processes`, async (t) => {
    let started = false;
    try {
      for (const c of cases) {
        if (!c.ignore && !started) {
          started = true;
          await resources.start();
        }
        const passed = await t.step({ name: c.name, ignore: c.ignore, fn: c.fn });
        if (!c.ignore && !passed && started) {
          // A failed case may leave the processes wedged (a body still spinning): the next one gets fresh ones.
          started = false;
          await resources.stop();
        }
      }
    } finally {
      if (started) await resources.stop();
    }
  });
}

/**
 * Hands the engine to `fn`, then closes it in any case and fails when a
 * worker is still alive after `engine.close()`.
 *
 * @param engine A fresh engine.
 * @param fn The test body.
 */
export async function withClosing<E extends Engine>(engine: E, fn: (engine: E) => Promise<void>): Promise<void> {
  let passed = false;
  try {
    await fn(engine);
    passed = true;
  } finally {
    await engine.close();
    // Swept in any case, so that a failing test does not leave its workers to the next one.
    const leaked = sweepWorkers();
    if (passed) assert.equal(leaked, 0, `${leaked} worker(s) still alive after engine.close()`);
  }
}

/** Hands a fresh temporary directory for marker files to `fn`, removed after. */
async function withMarkers(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "nerv-contract-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Whether `path` exists. */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `taskId` of run `runId` has started (from the log or the bus). */
export function startOf(engine: Engine, runId: string, taskId: string): Promise<void> {
  const seen = (e: AnyFlowEvent) => e.runId === runId && e.taskId === taskId && e.type === "task.started";
  if (engine.log.events(runId).some(seen)) return Promise.resolve();
  return new Promise((resolve) => {
    const off = engine.bus.onAny((e) => {
      if (!seen(e)) return;
      off();
      resolve();
    });
  });
}

/**
 * Waits until `condition()` holds, polling every few ms; fails after 10 s
 * (a guard against hanging, not a timing claim).
 */
export async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The statuses of a run's tasks, by id. */
export function statuses(result: RunResult): Record<string, string> {
  return Object.fromEntries(Object.entries(result.tasks).map(([id, t]) => [id, t.status]));
}
