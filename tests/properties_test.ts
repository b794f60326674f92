/**
 * Property tests: the engine against invariants 1–6 of DESIGN.md, over random
 * DAGs of up to a few hundred tasks with random behaviour (success, throws,
 * flaky tasks with retry policies, async bodies on a virtual clock, timeouts,
 * priorities, profile limits, concurrency and cancellation), plus a
 * differential property between the interpreted and the compiled task logic.
 *
 * Nothing really sleeps: every delay is a timer of a virtual clock that
 * `clock.runUntil()` fires. Delays are small integers (and dyadic fractions
 * for jitter), so timers coalesce and arithmetic on times is exact.
 *
 * Reproduce a failure with `FC_SEED=<seed> deno test ...` (fast-check prints the seed).
 *
 * @module
 */
import fc from "npm:fast-check@^4";
import assert from "node:assert/strict";
import {
  createEngine,
  createVirtualClock,
  defineWorkflow,
  type Engine,
  type Priority,
  type Profile,
  type RetryPolicy,
  type RunResult,
  type TaskContext,
  type TaskDef,
} from "../mod.ts";
import {
  type ActorInspectionEvent,
  type AnyFlowEvent,
  importLog,
  type TaskLogicMode,
  type VirtualClock,
} from "../extend.ts";

// ---- scenarios --------------------------------------------------------------

/** Attempts that fail before the first success; `ALWAYS` never succeeds. */
const ALWAYS = 1_000;
const PROFILE_NAMES: readonly Profile[] = ["cpu", "io", "mixed", "memory"];
const PRIORITY_NAMES: readonly Priority[] = ["low", "medium", "high", "critical"];
const TERMINAL = new Set(["task.completed", "task.failed", "task.skipped", "task.cancelled"]);
const WORKFLOW_END = new Set(["workflow.completed", "workflow.failed", "workflow.cancelled"]);

/**
 * How a failing attempt fails: throws an `Error`, throws a string, rejects
 * later, or outlasts `timeoutMs` (without a timeout it rejects instead).
 */
type FailMode = "throw" | "throw-value" | "reject" | "timeout";

/** One generated task; its dependencies are raw numbers mapped onto earlier tasks. */
interface TaskGen {
  deps: number[];
  key: number;
  failRoll: number;
  priority: Priority;
  profile: Profile;
  failures: number;
  failMode: FailMode;
  delay: number;
  timeoutMs: number | undefined;
  retry: RetryPolicy | undefined;
  /** Carried in the task's result, which is JSON. */
  payload: fc.JsonValue;
}

/** The reason a cancellation gives. */
type CancelReason = "error" | "string" | "none";

/** How the run is cancelled, if at all. */
type CancelPlan =
  | { kind: "none" }
  | { kind: "handle-after-event"; permille: number }
  | { kind: "signal-after-event"; permille: number }
  | { kind: "signal-at-time"; at: number }
  | { kind: "signal-pre-aborted" };

/**
 * Where dependencies come from: any earlier task, the few just before, only
 * the first four (a wide fan-out that fills the ready window), or none.
 */
type Shape = "uniform" | "local" | "wide" | "flat";

interface ScenarioGen {
  tasks: TaskGen[];
  shape: Shape;
  /** Share of tasks, in ‰, that keep their generated failures; the others never fail. */
  failPermille: number;
  limits: Record<Profile, number>;
  concurrency: number | undefined;
  randoms: number[];
  cancel: CancelPlan;
  reason: CancelReason;
  copies: number;
}

/** A task of a scenario, resolved: id, dependency indices (all smaller), effective behaviour. */
interface TaskPlan {
  index: number;
  id: string;
  deps: number[];
  depIds: string[];
  priority: Priority;
  profile: Profile;
  failures: number;
  failMode: FailMode;
  delay: number;
  timeoutMs: number | undefined;
  retry: RetryPolicy | undefined;
  maxAttempts: number;
  payload: fc.JsonValue;
}

interface Scenario {
  tasks: TaskPlan[];
  /** Runs of the workflow started at once on the engine; only the first is cancelled. */
  copies: number;
  /** What `cancel()` or `abort()` is given. */
  reason: CancelReason;
  /** Definition order: a permutation of task indices. */
  order: number[];
  limits: Record<Profile, number>;
  concurrency: number | undefined;
  /** The engine's `random()` returns these, in turn. */
  randoms: number[];
  cancel: CancelPlan;
}

const retryArb: fc.Arbitrary<RetryPolicy> = fc.record(
  {
    maxAttempts: fc.integer({ min: 1, max: 4 }),
    initialDelayMs: fc.integer({ min: 0, max: 4 }),
    factor: fc.constantFrom(1, 1.5, 2, 3),
    maxDelayMs: fc.integer({ min: 0, max: 12 }),
    jitter: fc.constantFrom(0, 0.25, 0.5, 1),
  },
  { requiredKeys: ["maxAttempts"] },
);

const taskArb: fc.Arbitrary<TaskGen> = fc.record({
  deps: fc.array(fc.nat(), { maxLength: 3 }),
  key: fc.nat(),
  failRoll: fc.integer({ min: 0, max: 999 }),
  priority: fc.constantFrom(...PRIORITY_NAMES),
  profile: fc.oneof(
    { arbitrary: fc.constant<Profile>("io"), weight: 3 },
    { arbitrary: fc.constantFrom<Profile>("cpu", "mixed", "memory"), weight: 1 },
  ),
  failures: fc.oneof(
    { arbitrary: fc.constant(0), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 3 },
    { arbitrary: fc.constant(ALWAYS), weight: 1 },
  ),
  failMode: fc.constantFrom<FailMode>("throw", "throw-value", "reject", "timeout"),
  delay: fc.oneof(
    { arbitrary: fc.constant(0), weight: 3 },
    { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 },
  ),
  timeoutMs: fc.option(fc.integer({ min: 2, max: 5 }), { nil: undefined, freq: 2 }),
  retry: fc.option(retryArb, { nil: undefined, freq: 2 }),
  payload: fc.oneof(
    { arbitrary: fc.constant(null), weight: 4 },
    // Through JSON once: `-0` is not a JSON value (it comes back as `0`).
    { arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v)) as fc.JsonValue), weight: 1 },
  ),
});

const cancelArb: fc.Arbitrary<CancelPlan> = fc.oneof(
  { arbitrary: fc.constant<CancelPlan>({ kind: "none" }), weight: 6 },
  {
    arbitrary: fc.record({
      kind: fc.constant("handle-after-event" as const),
      permille: fc.integer({ min: 0, max: 999 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("signal-after-event" as const),
      permille: fc.integer({ min: 0, max: 999 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ kind: fc.constant("signal-at-time" as const), at: fc.integer({ min: 0, max: 12 }) }),
    weight: 1,
  },
  { arbitrary: fc.constant<CancelPlan>({ kind: "signal-pre-aborted" }), weight: 1 },
);

/**
 * Random scenarios: small DAGs (fast to run and to shrink) and, two in five,
 * DAGs of up to `maxTasks` tasks.
 *
 * @param options `maxTasks`; `copies`, the most runs of the workflow at once on one engine.
 */
function scenarioArb(options: { maxTasks?: number; copies?: number } = {}): fc.Arbitrary<Scenario> {
  const maxTasks = options.maxTasks ?? 320;
  const tasks = fc.oneof(
    { arbitrary: fc.array(taskArb, { minLength: 1, maxLength: 24 }), weight: 3 },
    { arbitrary: fc.array(taskArb, { minLength: 1, maxLength: maxTasks, size: "max" }), weight: 2 },
  );
  return fc.record({
    tasks,
    shape: fc.constantFrom<Shape>("uniform", "local", "wide", "flat"),
    failPermille: fc.constantFrom(0, 30, 150, 500, 1000),
    limits: fc.record({
      io: fc.integer({ min: 1, max: 6 }),
      cpu: fc.integer({ min: 1, max: 3 }),
      mixed: fc.integer({ min: 1, max: 3 }),
      memory: fc.integer({ min: 1, max: 2 }),
    }),
    concurrency: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
    randoms: fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 6 }),
    cancel: cancelArb,
    reason: fc.constantFrom<CancelReason>("error", "string", "none"),
    copies: fc.integer({ min: 1, max: options.copies ?? 1 }),
  }).map(resolveScenario);
}

function resolveScenario(gen: ScenarioGen): Scenario {
  const tasks = gen.tasks.map((t, index): TaskPlan => {
    const pick = (d: number) =>
      gen.shape === "uniform"
        ? d % index
        : gen.shape === "local"
        ? index - 1 - (d % Math.min(index, 4))
        : d % Math.min(index, 4);
    const raw = index === 0 || gen.shape === "flat" ? [] : t.deps.map(pick);
    const deps = [...new Set(raw)].sort((a, b) => a - b);
    const failures = t.failRoll < gen.failPermille ? t.failures : 0;
    const failMode = t.failMode === "timeout" && t.timeoutMs === undefined ? "reject" : t.failMode;
    // A successful attempt must beat its timeout; a timing-out one waits longer than it.
    const delay = t.timeoutMs === undefined ? t.delay : Math.min(t.delay, t.timeoutMs - 1);
    return {
      index,
      id: `t${index}`,
      deps,
      depIds: deps.map((d) => `t${d}`),
      priority: t.priority,
      profile: t.profile,
      failures,
      failMode,
      delay,
      timeoutMs: t.timeoutMs,
      retry: t.retry,
      maxAttempts: t.retry?.maxAttempts ?? 1,
      payload: t.payload,
    };
  });
  const order = tasks.map((t) => t.index).sort((a, b) => gen.tasks[a].key - gen.tasks[b].key || a - b);
  return {
    tasks,
    order,
    limits: gen.limits,
    concurrency: gen.concurrency,
    randoms: gen.randoms.map((k) => k / 16),
    cancel: gen.cancel,
    reason: gen.reason,
    copies: gen.copies,
  };
}

// ---- running a scenario ---------------------------------------------------------

/** Everything observed during a scenario: its (first) run, and every run of the engine. */
interface Trace {
  scenario: Scenario;
  runId: string;
  /** Every event of the run, in bus order. */
  events: AnyFlowEvent[];
  result: RunResult;
  /** Every event of every run, in bus order. */
  allEvents: AnyFlowEvent[];
  /** Every run's id and result. */
  results: RunResult[];
  /** The log seq when cancellation was requested (0: before the run started), if it was. */
  cancelSeq: number | undefined;
  /** The value `random()` returned last, at each `task.retrying` (by seq). */
  randomAt: Map<number, number>;
  /** Violations seen inside task bodies. */
  bodyViolations: string[];
  /** Bodies entered and not yet returned or aborted, when the run ended. */
  bodiesLeft: number;
  /** Most bodies running at once, per profile and in all. */
  bodyPeak: Record<Profile | "all", number>;
}

/**
 * Drives the virtual clock until `promise` settles; rejects instead of
 * hanging when nothing is left to fire.
 */
async function drive<T>(clock: VirtualClock, promise: Promise<T>, what: string): Promise<T> {
  let fail!: (error: Error) => void;
  const stuck = new Promise<never>((_, reject) => (fail = reject));
  // Far beyond any delay of a scenario: fires only when no other timer is left.
  const watchdog = clock.setTimeout(() => fail(new Error(`${what} never ended: no timer left to fire`)), 1e12);
  try {
    return await clock.runUntil(Promise.race([promise, stuck]));
  } finally {
    clock.clearTimeout(watchdog);
  }
}

/**
 * Runs a scenario on a fresh engine with a virtual clock, then calls `check`
 * with the trace and the engine (still open); closes the engine in any case.
 */
async function runScenario(
  s: Scenario,
  check: (trace: Trace, engine: Engine) => void,
  taskLogic: TaskLogicMode = "compiled",
  inspect?: (event: ActorInspectionEvent) => void,
): Promise<Trace> {
  const clock = createVirtualClock();
  let nextRandom = 0;
  let lastRandom = NaN;
  const random = () => {
    lastRandom = s.randoms[nextRandom++ % s.randoms.length];
    return lastRandom;
  };
  const engine = createEngine({ clock, random, taskLogic, limits: s.limits, concurrency: s.concurrency, inspect });
  const allEvents: AnyFlowEvent[] = [];
  const randomAt = new Map<number, number>();
  const bodyViolations: string[] = [];
  const running: Record<Profile | "all", number> = { cpu: 0, io: 0, mixed: 0, memory: 0, all: 0 };
  const bodyPeak: Record<Profile | "all", number> = { cpu: 0, io: 0, mixed: 0, memory: 0, all: 0 };
  const concurrency = s.concurrency ?? Infinity;
  let cancelSeq: number | undefined;
  let cancelNow: (() => void) | undefined;
  let cancelAfter = Infinity;
  let watch: ReturnType<VirtualClock["setTimeout"]> | undefined;
  const controller = new AbortController();
  const reason = s.reason === "error" ? new Error("cancelled by the test") : s.reason === "string" ? "stop" : undefined;
  const requestCancel = (cancel: () => void) => {
    if (cancelSeq !== undefined) return;
    cancelSeq = engine.log.seq;
    cancel();
  };

  const enter = (plan: TaskPlan, ctx: TaskContext) => {
    running[plan.profile]++;
    running.all++;
    bodyPeak[plan.profile] = Math.max(bodyPeak[plan.profile], running[plan.profile]);
    bodyPeak.all = Math.max(bodyPeak.all, running.all);
    if (running[plan.profile] > s.limits[plan.profile]) {
      bodyViolations.push(
        `${running[plan.profile]} ${plan.profile} bodies running at once (limit ${s.limits[plan.profile]})`,
      );
    }
    if (running.all > concurrency) {
      bodyViolations.push(`${running.all} bodies running at once (concurrency ${concurrency})`);
    }
    for (const dep of plan.depIds) {
      const value = ctx.deps[dep] as { id?: string } | undefined;
      if (value?.id !== dep) bodyViolations.push(`${plan.id} ran without the result of ${dep}`);
    }
  };
  const exit = (plan: TaskPlan) => {
    running[plan.profile]--;
    running.all--;
  };
  const body = (plan: TaskPlan) => (ctx: TaskContext): unknown => {
    enter(plan, ctx);
    const fails = ctx.attempt <= plan.failures;
    const value = { id: plan.id, attempt: ctx.attempt, payload: plan.payload };
    if (fails && plan.failMode === "throw") {
      exit(plan);
      throw new Error(`${plan.id} threw on attempt ${ctx.attempt}`);
    }
    if (fails && plan.failMode === "throw-value") {
      exit(plan);
      throw `${plan.id} threw a string on attempt ${ctx.attempt}`;
    }
    if (!fails && plan.delay === 0) {
      exit(plan);
      return value;
    }
    const wait = !fails ? plan.delay : plan.failMode === "timeout" ? plan.timeoutMs! + 1 + plan.delay : plan.delay;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        ctx.signal.removeEventListener("abort", onAbort);
        exit(plan);
      };
      const timer = clock.setTimeout(() => {
        if (done) return;
        finish();
        if (fails) reject(new Error(`${plan.id} rejected on attempt ${ctx.attempt}`));
        else resolve(value);
      }, wait);
      const onAbort = () => {
        if (done) return;
        clock.clearTimeout(timer);
        finish();
        reject(ctx.signal.reason);
      };
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener("abort", onAbort);
    });
  };

  const defs: TaskDef[] = s.order.map((i) => {
    const plan = s.tasks[i];
    const def: TaskDef = {
      id: plan.id,
      dependsOn: plan.depIds,
      priority: plan.priority,
      profile: plan.profile,
      run: body(plan),
    };
    if (plan.timeoutMs !== undefined) def.timeoutMs = plan.timeoutMs;
    if (plan.retry !== undefined) def.retry = plan.retry;
    return def;
  });
  const workflow = defineWorkflow({ name: "prop", tasks: defs });

  const c = s.cancel;
  if (c.kind === "handle-after-event" || c.kind === "signal-after-event") {
    // About 4 events per task plus 3 per run: the permille picks a point in the run.
    cancelAfter = 1 + Math.floor((c.permille * (4 * s.tasks.length + 3)) / 1000);
  }
  const off = engine.bus.onAny((event) => {
    allEvents.push(event);
    if (event.type === "task.retrying") randomAt.set(event.seq, lastRandom);
    if (allEvents.length === cancelAfter) {
      if (c.kind === "signal-after-event") requestCancel(() => controller.abort(reason));
      else if (cancelNow !== undefined) requestCancel(cancelNow);
      else cancelAfter++; // The handle does not exist yet (inside start()): cancel at the next event.
    }
  });
  if (c.kind === "signal-pre-aborted") requestCancel(() => controller.abort(reason));
  if (c.kind === "signal-at-time") watch = clock.setTimeout(() => requestCancel(() => controller.abort(reason)), c.at);

  try {
    const handle = engine.start(workflow, {
      runId: "run",
      input: { seed: 1 },
      signal: c.kind.startsWith("signal") ? controller.signal : undefined,
    });
    cancelNow = () => handle.cancel(reason);
    const handles = [handle];
    for (let k = 1; k < s.copies; k++) handles.push(engine.start(workflow, { runId: `run${k}` }));
    const results = await drive(clock, Promise.all(handles.map((h) => h.result)), "the run");
    if (watch !== undefined) clock.clearTimeout(watch);
    off();
    const trace: Trace = {
      scenario: s,
      runId: handle.id,
      events: allEvents.filter((e) => e.runId === handle.id),
      result: results[0],
      allEvents,
      results,
      cancelSeq,
      randomAt,
      bodyViolations,
      bodiesLeft: running.all,
      bodyPeak,
    };
    check(trace, engine);
    return trace;
  } finally {
    off();
    await drive(clock, engine.close(), "engine.close()");
  }
}

// ---- helpers over a trace ---------------------------------------------------------

function eventsOf(trace: Trace, taskId: string): AnyFlowEvent[] {
  return trace.events.filter((e) => e.taskId === taskId);
}

function terminalOf(trace: Trace, taskId: string): AnyFlowEvent {
  const ends = eventsOf(trace, taskId).filter((e) => TERMINAL.has(e.type));
  assert.equal(ends.length, 1, `task ${taskId} has ${ends.length} terminal events`);
  return ends[0];
}

function statusOf(trace: Trace, taskId: string): string {
  return terminalOf(trace, taskId).type.slice("task.".length);
}

/** What each task must end as in a run that is not cancelled. */
function expectedStatuses(s: Scenario): string[] {
  const out: string[] = [];
  for (const t of s.tasks) {
    if (t.deps.some((d) => out[d] !== "completed")) out.push("skipped");
    else out.push(t.failures < t.maxAttempts ? "completed" : "failed");
  }
  return out;
}

/** Whether cancellation was requested before the run's final event. */
function cancelled(trace: Trace): boolean {
  const end = trace.events.findLast((e) => WORKFLOW_END.has(e.type));
  return trace.cancelSeq !== undefined && (end === undefined || trace.cancelSeq < end.seq);
}

function describeScenario(s: Scenario): string {
  return `${s.tasks.length} tasks, limits ${JSON.stringify(s.limits)}, concurrency ${s.concurrency}, cancel ${
    JSON.stringify(s.cancel)
  }`;
}

/** Runs `check` on `numRuns` scenarios from `arb` (seed from `FC_SEED` when set). */
function property(
  numRuns: number,
  arb: fc.Arbitrary<Scenario>,
  check: (trace: Trace, engine: Engine) => void,
): Promise<void> {
  const seed = Deno.env.get("FC_SEED");
  return fc.assert(
    fc.asyncProperty(arb, async (s) => {
      await runScenario(s, check);
    }),
    { numRuns, ...(seed === undefined ? {} : { seed: Number(seed) }) },
  );
}

// ---- invariant checks ---------------------------------------------------------

/** Invariant 1, from the events and from inside the bodies (`ctx.deps` holds every dependency's result). */
function checkDependenciesFirst(trace: Trace): void {
  const completed = new Set<string>();
  for (const e of trace.events) {
    if (e.type === "task.completed") completed.add(e.taskId!);
    if (e.type !== "task.started") continue;
    const plan = trace.scenario.tasks[Number(e.taskId!.slice(1))];
    for (const dep of plan.depIds) {
      assert.ok(completed.has(dep), `${e.taskId} started (seq ${e.seq}) before its dependency ${dep} completed`);
    }
  }
  assert.deepEqual(trace.bodyViolations.filter((v) => v.includes("without the result")), []);
}

/**
 * Invariant 2: one terminal event per task, nothing after it, the run's final
 * event last; the `RunResult` agrees with the events and, without
 * cancellation, with the statuses the scenario implies.
 */
function checkOneTerminal(trace: Trace): void {
  const { scenario: s, result } = trace;
  const ends = trace.events.filter((e) => WORKFLOW_END.has(e.type));
  assert.equal(ends.length, 1, `the run has ${ends.length} final workflow events`);
  const end = ends[0];
  assert.equal(trace.events.at(-1), end, "the final workflow event is the run's last event");
  assert.equal(trace.events[0].type, "workflow.created");
  assert.deepEqual(Object.keys(result.tasks).sort(), s.tasks.map((t) => t.id).sort());
  for (const t of s.tasks) {
    const own = eventsOf(trace, t.id);
    const terminal = terminalOf(trace, t.id);
    assert.equal(own.at(-1), terminal, `${t.id} has events after its terminal ${terminal.type}`);
    assert.ok(terminal.seq < end.seq);
    const r = result.tasks[t.id];
    assert.equal(`task.${r.status}`, terminal.type, `${t.id}: RunResult says ${r.status}, events ${terminal.type}`);
    assert.equal(r.attempts, own.filter((e) => e.type === "task.started").length, `${t.id}: attempts`);
    if (terminal.type === "task.completed") assert.deepEqual(r.result, terminal.data.result);
    else assert.ok(r.error instanceof Error, `${t.id} ${r.status} without an error`);
  }
  assert.equal(`workflow.${result.status}`, end.type);
  const statuses = s.tasks.map((t) => result.tasks[t.id].status);
  if (result.status === "completed") assert.ok(statuses.every((x) => x === "completed"), "completed run");
  if (result.status === "failed") {
    assert.ok(statuses.includes("failed"), "a failed run has a failed task");
    assert.ok(!statuses.includes("cancelled"), "a failed run has no cancelled task");
  }
  assert.equal(result.status === "cancelled", cancelled(trace), "a run ends cancelled iff cancelled before its end");
  if (!cancelled(trace)) {
    const want = expectedStatuses(s).includes("failed") ? "failed" : "completed";
    assert.equal(result.status, want);
  }
}

/**
 * Invariant 3: a task with a dependency that did not complete is skipped (or
 * cancelled) and never started; after a cancellation no task starts and
 * none ends other than cancelled.
 */
function checkBlockedNeverRun(trace: Trace): void {
  const { scenario: s } = trace;
  const status = new Map(s.tasks.map((t) => [t.id, statusOf(trace, t.id)]));
  for (const t of s.tasks) {
    const own = eventsOf(trace, t.id);
    const blocked = t.depIds.filter((d) => status.get(d) !== "completed");
    const mine = status.get(t.id)!;
    if (mine === "skipped") {
      const e = own.find((x) => x.type === "task.skipped") as AnyFlowEvent & { type: "task.skipped" };
      assert.ok(blocked.includes(e.data.dependency), `${t.id} skipped for ${e.data.dependency}, not blocked by it`);
      assert.equal(e.data.dependencyStatus, status.get(e.data.dependency));
    }
    if (blocked.length === 0) continue;
    assert.ok(mine === "skipped" || mine === "cancelled", `${t.id} ${mine} although ${blocked[0]} did not complete`);
    assert.ok(!own.some((e) => e.type === "task.started"), `${t.id} started although ${blocked[0]} did not complete`);
    if (!cancelled(trace)) assert.equal(mine, "skipped");
  }
  if (!cancelled(trace)) {
    const want = expectedStatuses(s);
    assert.deepEqual(s.tasks.map((t) => status.get(t.id)), want);
  }
  if (trace.cancelSeq !== undefined) {
    const after = trace.events.filter((e) => e.seq > trace.cancelSeq!);
    const started = after.filter((e) => e.type === "task.started");
    assert.deepEqual(
      started.map((e) => `${e.taskId}#${e.attempt}@${e.seq}`),
      [],
      `tasks started after the cancellation at seq ${trace.cancelSeq}`,
    );
    const settled = after.filter((e) => TERMINAL.has(e.type) && e.type !== "task.cancelled");
    assert.deepEqual(settled.map((e) => `${e.type} ${e.taskId}@${e.seq}`), [], "tasks settled after cancellation");
  }
}

/**
 * Invariant 4: attempts numbered 1..n with n <= maxAttempts (exactly as the
 * scenario implies when not cancelled); each `task.retrying` delay is
 * `min(maxDelayMs, initialDelayMs * factor^(attempt - 1))` less its jitter
 * share for the `random()` value drawn, and the next attempt waits at least that long.
 */
function checkRetries(trace: Trace): void {
  const { scenario: s } = trace;
  const want = expectedStatuses(s);
  for (const t of s.tasks) {
    const own = eventsOf(trace, t.id);
    const starts = own.filter((e) => e.type === "task.started");
    assert.ok(starts.length <= t.maxAttempts, `${t.id}: ${starts.length} attempts, maxAttempts ${t.maxAttempts}`);
    assert.deepEqual(starts.map((e) => e.attempt), starts.map((_, k) => k + 1), `${t.id}: attempt numbers`);
    for (let k = 0; k < own.length; k++) {
      const e = own[k];
      if (e.type !== "task.retrying") continue;
      const a = e.attempt!;
      assert.ok(a < t.maxAttempts, `${t.id} retries after attempt ${a} of ${t.maxAttempts}`);
      const p = { initialDelayMs: 100, factor: 2, maxDelayMs: 30_000, jitter: 0, ...t.retry };
      const d = Math.min(p.maxDelayMs, p.initialDelayMs * p.factor ** (a - 1));
      const r = trace.randomAt.get(e.seq)!;
      assert.equal(e.data.delayMs, d - d * p.jitter * r, `${t.id} attempt ${a}: delay for random ${r}`);
      assert.ok(e.data.delayMs >= d * (1 - p.jitter) && e.data.delayMs <= d, `${t.id}: delay out of range`);
      if (t.failMode === "timeout") assert.equal(e.data.error.name, "TaskTimeoutError");
      const next = own.slice(k + 1).find((x) => x.type === "task.started");
      if (next === undefined) {
        assert.ok(cancelled(trace), `${t.id} retried after attempt ${a} but never started again`);
        continue;
      }
      assert.equal(next.attempt, a + 1);
      assert.ok(
        next.timestamp - e.timestamp >= e.data.delayMs,
        `${t.id} attempt ${a + 1} started ${
          next.timestamp - e.timestamp
        } ms after the failure, delay ${e.data.delayMs}`,
      );
    }
    if (!cancelled(trace) && want[t.index] !== "skipped") {
      const attempts = want[t.index] === "completed" ? t.failures + 1 : t.maxAttempts;
      assert.equal(starts.length, attempts, `${t.id}: ${t.failures} failures, maxAttempts ${t.maxAttempts}`);
      const end = terminalOf(trace, t.id);
      if (end.type === "task.failed" && t.failMode === "timeout") assert.equal(end.data.error.name, "TaskTimeoutError");
    }
  }
}

/**
 * Invariant 5, by event order (started minus ended, over every run of the
 * engine) and inside the bodies; every body returned or was aborted.
 */
function checkLimits(trace: Trace): void {
  const { scenario: s } = trace;
  const plans = new Map(s.tasks.map((t) => [t.id, t]));
  // Limits hold across every run of the engine: count attempts of all runs.
  const running = new Set<string>();
  const count: Record<Profile, number> = { cpu: 0, io: 0, mixed: 0, memory: 0 };
  const concurrency = s.concurrency ?? Infinity;
  for (const e of trace.allEvents) {
    if (e.taskId === undefined) continue;
    const profile = plans.get(e.taskId)!.profile;
    const key = `${e.runId}/${e.taskId}`;
    if (e.type === "task.started") {
      assert.ok(!running.has(key), `${key} started twice without ending`);
      running.add(key);
      count[profile]++;
      assert.ok(
        count[profile] <= s.limits[profile],
        `seq ${e.seq}: ${count[profile]} ${profile} tasks running, limit ${s.limits[profile]}`,
      );
      assert.ok(running.size <= concurrency, `seq ${e.seq}: ${running.size} tasks running, concurrency ${concurrency}`);
    } else if (running.has(key)) {
      running.delete(key);
      count[profile]--;
    }
  }
  assert.deepEqual([...running], [], "tasks still running when their run ended");
  assert.deepEqual(trace.bodyViolations.filter((v) => v.includes("at once")), []);
  for (const p of PROFILE_NAMES) assert.ok(trace.bodyPeak[p] <= s.limits[p]);
  assert.ok(trace.bodyPeak.all <= concurrency);
  assert.equal(trace.bodiesLeft, 0, "bodies still running (never aborted) when the runs ended");
}

const PROJECTIONS = ["taskStatus", "workflowStatus", "completedTasks", "failedTasks", "tasks"] as const;

/**
 * Invariant 6: replaying the log equals the live state, with the same
 * projections; a JSON export re-imported gives the same projections too.
 */
function checkReplay(trace: Trace, engine: Engine): void {
  const log = engine.log;
  const all = log.events();
  assert.deepEqual(all, trace.allEvents, "the log holds the events the bus delivered, in order");
  const replayed = log.replay(all);
  assert.ok(replayed.equals(log.state()), "replay(events()) equals state()");
  assert.ok(log.state().equals(replayed), "state() equals replay(events())");
  const imported = importLog(JSON.parse(JSON.stringify(log.toJSON())));
  try {
    assert.deepEqual(imported.state().runs(), log.state().runs());
    for (const result of trace.results) {
      const runId = result.runId;
      assert.deepEqual(log.events(runId), all.filter((e) => e.runId === runId));
      for (const name of PROJECTIONS) {
        const live = log.project(name, runId);
        assert.deepEqual(replayed.project(name, runId), live, `replayed ${name} of ${runId}`);
        assert.deepEqual(imported.project(name, runId), live, `imported ${name} of ${runId}`);
      }
      // The live projections agree with the run's result.
      const status = log.project("taskStatus", runId);
      for (const [id, r] of Object.entries(result.tasks)) assert.equal(status[id], r.status, `${runId}/${id}`);
      assert.equal(log.project("workflowStatus", runId).status, result.status);
      const completed = Object.keys(result.tasks).filter((id) => result.tasks[id].status === "completed");
      assert.deepEqual([...log.project("completedTasks", runId)].sort(), completed.sort());
    }
  } finally {
    imported.close();
  }
}

// ---- the properties ---------------------------------------------------------------

Deno.test("a task starts only after every dependency completed (invariant 1)", async () => {
  await property(100, scenarioArb(), checkDependenciesFirst);
});

Deno.test("every task ends in exactly one terminal status and the run ends after all of them (invariant 2)", async () => {
  await property(100, scenarioArb(), checkOneTerminal);
});

Deno.test("a task whose dependency did not complete is skipped or cancelled, never started (invariant 3)", async () => {
  await property(120, scenarioArb(), checkBlockedNeverRun);
});

Deno.test("attempts never exceed the retry policy and backoff delays grow as specified (invariant 4)", async () => {
  await property(120, scenarioArb(), checkRetries);
});

Deno.test("at most `limit` tasks of a profile and `concurrency` tasks in all run at once (invariant 5)", async () => {
  await property(90, scenarioArb({ copies: 3 }), checkLimits);
});

Deno.test("replaying or importing the log yields the live state and projections (invariant 6)", async () => {
  await property(90, scenarioArb({ copies: 3 }), checkReplay);
});

Deno.test("interpreted and compiled task logic emit the same events for the same workflow", async () => {
  const seed = Deno.env.get("FC_SEED");
  const key = (e: AnyFlowEvent) => `${e.type} ${e.taskId ?? ""} ${e.attempt ?? ""} @${e.timestamp}`;
  await fc.assert(
    fc.asyncProperty(scenarioArb({ maxTasks: 200 }), async (s) => {
      const interpreted = await runScenario(s, () => {}, "interpreted");
      // Compiled, without an inspector (actions called by the logic) and with one (actions through XState's executor).
      const compiled = await runScenario(s, () => {}, "compiled");
      let actions = 0;
      const inspected = await runScenario(s, () => {}, "compiled", (e) => {
        if (e.type === "@xstate.action") actions++;
      });
      assert.deepEqual(compiled.events.map(key), interpreted.events.map(key), describeScenario(s));
      assert.deepEqual(inspected.events.map(key), interpreted.events.map(key), describeScenario(s));
      assert.ok(actions > 0, "the inspector saw the actors' actions");
    }),
    { numRuns: 80, ...(seed === undefined ? {} : { seed: Number(seed) }) },
  );
});
