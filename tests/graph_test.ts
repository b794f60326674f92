import assert from "node:assert/strict";
import {
  CycleError,
  defineWorkflow,
  DuplicateTaskError,
  plan,
  type TaskDef,
  UnknownDependencyError,
  type Workflow,
} from "../mod.ts";

const run = () => null;

/** Asserts `cycle` is a real cycle of `tasks`: first == last, ids distinct, each step a dependency edge. */
function assertRealCycle(tasks: readonly TaskDef[], cycle: readonly string[]): void {
  assert.ok(cycle.length >= 3, `a cycle has at least two tasks, got ${JSON.stringify(cycle)}`);
  assert.equal(cycle[0], cycle.at(-1), "the cycle closes on its first id");
  const body = cycle.slice(0, -1);
  assert.equal(new Set(body).size, body.length, "no id repeats inside the cycle");
  const deps = new Map(tasks.map((t) => [t.id, new Set(t.dependsOn ?? [])]));
  for (let k = 0; k + 1 < cycle.length; k++) {
    // Reported in execution order: `x → y` means y depends on x.
    if (!deps.get(cycle[k + 1])?.has(cycle[k])) {
      assert.fail(`"${cycle[k + 1]}" does not depend on "${cycle[k]}" in ${JSON.stringify(cycle)}`);
    }
  }
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("expected the call to throw");
}

Deno.test("defineWorkflow() resolves every optional field of a task", () => {
  const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run }] });
  const [a] = wf.tasks;
  assert.equal(wf.name, "w");
  assert.equal(a.name, "a");
  assert.equal(a.priority, "medium");
  assert.equal(a.profile, "io");
  assert.deepEqual(a.dependsOn, []);
  assert.deepEqual(a.tags, []);
  assert.equal(a.timeoutMs, undefined);
  assert.deepEqual({ ...a.retry }, { maxAttempts: 1, initialDelayMs: 100, factor: 2, maxDelayMs: 30_000, jitter: 0 });
  assert.ok(Object.isFrozen(wf));
  assert.ok(Object.isFrozen(wf.tasks));
  assert.ok(Object.isFrozen(a));
});

Deno.test("defineWorkflow() copies dependency lists instead of keeping the caller's arrays", () => {
  const dependsOn = ["a"];
  const wf = defineWorkflow({ name: "w", tasks: [{ id: "a", run }, { id: "b", dependsOn, run }] });
  dependsOn.push("zzz");
  assert.deepEqual(wf.tasks[1].dependsOn, ["a"]);
});

Deno.test("defineWorkflow() accepts a workflow without tasks", () => {
  const wf = defineWorkflow({ name: "empty", tasks: [] });
  assert.equal(wf.tasks.length, 0);
  assert.deepEqual(plan(wf), { levels: [], order: [], criticalPath: [] });
});

Deno.test("defineWorkflow() rejects a duplicate task id with DuplicateTaskError naming it", () => {
  const error = catchError(() =>
    defineWorkflow({ name: "dup", tasks: [{ id: "a", run }, { id: "b", run }, { id: "b", run }] })
  );
  assert.ok(error instanceof DuplicateTaskError);
  assert.equal(error.name, "DuplicateTaskError");
  assert.equal(error.taskId, "b");
  assert.equal(error.workflow, "dup");
  assert.match(error.message, /"b"/);
});

Deno.test("defineWorkflow() rejects a dependency on an unknown task with UnknownDependencyError", () => {
  const error = catchError(() =>
    defineWorkflow({ name: "w", tasks: [{ id: "a", run }, { id: "b", dependsOn: ["a", "ghost"], run }] })
  );
  assert.ok(error instanceof UnknownDependencyError);
  assert.equal(error.name, "UnknownDependencyError");
  assert.equal(error.taskId, "b");
  assert.equal(error.dependency, "ghost");
  assert.match(error.message, /"ghost"/);
});

Deno.test("defineWorkflow() rejects a task that depends on itself with UnknownDependencyError", () => {
  const error = catchError(() => defineWorkflow({ name: "w", tasks: [{ id: "a", dependsOn: ["a"], run }] }));
  assert.ok(error instanceof UnknownDependencyError);
  assert.equal(error.taskId, "a");
  assert.equal(error.dependency, "a");
  assert.match(error.message, /depends on itself/);
});

Deno.test("defineWorkflow() rejects a dependency listed twice with a TypeError", () => {
  assert.throws(
    () => defineWorkflow({ name: "w", tasks: [{ id: "a", run }, { id: "b", dependsOn: ["a", "a"], run }] }),
    (e: unknown) => e instanceof TypeError && /"b"/.test(e.message) && /"a"/.test(e.message),
  );
});

Deno.test("defineWorkflow() reports a cycle as a real path of the graph", async (t) => {
  const cases: { name: string; tasks: TaskDef[]; members: string[] }[] = [
    {
      name: "two tasks",
      tasks: [{ id: "a", dependsOn: ["b"], run }, { id: "b", dependsOn: ["a"], run }],
      members: ["a", "b"],
    },
    {
      name: "three tasks",
      tasks: [
        { id: "a", dependsOn: ["c"], run },
        { id: "b", dependsOn: ["a"], run },
        { id: "c", dependsOn: ["b"], run },
      ],
      members: ["a", "b", "c"],
    },
    {
      name: "a cycle behind an acyclic prefix and tail",
      tasks: [
        { id: "root", run },
        { id: "tail", dependsOn: ["x"], run },
        { id: "x", dependsOn: ["root", "z"], run },
        { id: "y", dependsOn: ["x"], run },
        { id: "z", dependsOn: ["y"], run },
      ],
      members: ["x", "y", "z"],
    },
    {
      name: "a cycle among tasks with extra edges",
      tasks: [
        { id: "p", run },
        { id: "q", dependsOn: ["p", "s"], run },
        { id: "r", dependsOn: ["q", "p"], run },
        { id: "s", dependsOn: ["r"], run },
        { id: "t", dependsOn: ["s", "q"], run },
      ],
      members: ["q", "r", "s"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const error = catchError(() => defineWorkflow({ name: "cyc", tasks: c.tasks }));
      assert.ok(error instanceof CycleError);
      assert.equal(error.name, "CycleError");
      assert.equal(error.workflow, "cyc");
      assertRealCycle(c.tasks, error.cycle);
      assert.deepEqual([...new Set(error.cycle)].sort(), c.members);
      assert.ok(error.message.includes(error.cycle.join(" → ")), error.message);
    });
  }
});

Deno.test("defineWorkflow() finds a cycle through 100,000 tasks", () => {
  const n = 100_000;
  const tasks: TaskDef[] = [];
  for (let i = 0; i < n; i++) tasks.push({ id: `t${i}`, dependsOn: [`t${(i + n - 1) % n}`], run });
  const error = catchError(() => defineWorkflow({ name: "ring", tasks }));
  assert.ok(error instanceof CycleError);
  assert.equal(error.cycle.length, n + 1);
  assertRealCycle(tasks, error.cycle);
});

Deno.test("defineWorkflow() rejects out-of-range numbers with a RangeError naming the task and field", async (t) => {
  const cases: { name: string; task: Partial<TaskDef>; field: string }[] = [
    { name: "negative timeoutMs", task: { timeoutMs: -1 }, field: "timeoutMs" },
    { name: "zero timeoutMs", task: { timeoutMs: 0 }, field: "timeoutMs" },
    { name: "NaN timeoutMs", task: { timeoutMs: NaN }, field: "timeoutMs" },
    { name: "infinite timeoutMs", task: { timeoutMs: Infinity }, field: "timeoutMs" },
    { name: "maxAttempts 0", task: { retry: { maxAttempts: 0 } }, field: "retry.maxAttempts" },
    { name: "negative maxAttempts", task: { retry: { maxAttempts: -2 } }, field: "retry.maxAttempts" },
    { name: "fractional maxAttempts", task: { retry: { maxAttempts: 1.5 } }, field: "retry.maxAttempts" },
    { name: "NaN maxAttempts", task: { retry: { maxAttempts: NaN } }, field: "retry.maxAttempts" },
    { name: "negative jitter", task: { retry: { maxAttempts: 2, jitter: -0.1 } }, field: "retry.jitter" },
    { name: "jitter above 1", task: { retry: { maxAttempts: 2, jitter: 1.01 } }, field: "retry.jitter" },
    { name: "NaN jitter", task: { retry: { maxAttempts: 2, jitter: NaN } }, field: "retry.jitter" },
    { name: "factor below 1", task: { retry: { maxAttempts: 2, factor: 0.5 } }, field: "retry.factor" },
    { name: "infinite factor", task: { retry: { maxAttempts: 2, factor: Infinity } }, field: "retry.factor" },
    {
      name: "negative initialDelayMs",
      task: { retry: { maxAttempts: 2, initialDelayMs: -5 } },
      field: "retry.initialDelayMs",
    },
    { name: "negative maxDelayMs", task: { retry: { maxAttempts: 2, maxDelayMs: -1 } }, field: "retry.maxDelayMs" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const error = catchError(() =>
        defineWorkflow({ name: "w", tasks: [{ id: "ok", run }, { id: "bad", run, ...c.task }] })
      );
      assert.ok(error instanceof RangeError, `expected RangeError, got ${error}`);
      assert.ok(error.message.includes('task "bad"'), error.message);
      assert.ok(error.message.includes(c.field), error.message);
    });
  }
});

Deno.test("defineWorkflow() accepts the edges of every range", () => {
  const wf = defineWorkflow({
    name: "w",
    tasks: [
      { id: "a", run, timeoutMs: 0.5, retry: { maxAttempts: 1, jitter: 0, factor: 1, initialDelayMs: 0 } },
      { id: "b", run, retry: { maxAttempts: 10, jitter: 1, maxDelayMs: 0 } },
    ],
  });
  assert.equal(wf.tasks[0].retry.factor, 1);
  assert.equal(wf.tasks[1].retry.jitter, 1);
});

Deno.test("defineWorkflow() gives retry fields left undefined their defaults", () => {
  const wf = defineWorkflow({
    name: "w",
    tasks: [{
      id: "a",
      run,
      retry: { maxAttempts: 3, initialDelayMs: undefined, factor: undefined, maxDelayMs: undefined, jitter: undefined },
    }],
  });
  assert.deepEqual({ ...wf.tasks[0].retry }, {
    maxAttempts: 3,
    initialDelayMs: 100,
    factor: 2,
    maxDelayMs: 30_000,
    jitter: 0,
  });
});

Deno.test("defineWorkflow() rejects wrong shapes with a TypeError naming the culprit", async (t) => {
  const cases: { name: string; def: unknown; mentions: string[] }[] = [
    { name: "a definition that is not an object", def: null, mentions: ["expected an object"] },
    { name: "a missing workflow name", def: { tasks: [] }, mentions: ['"name"'] },
    { name: "an empty workflow name", def: { name: "", tasks: [] }, mentions: ['"name"'] },
    {
      name: "a workflow description that is not a string",
      def: { name: "w", description: 1, tasks: [] },
      mentions: [
        '"w"',
        '"description"',
      ],
    },
    { name: "tasks that are not an array", def: { name: "w", tasks: {} }, mentions: ['"w"', '"tasks"'] },
    { name: "a task that is not an object", def: { name: "w", tasks: [{ id: "a", run }, 5] }, mentions: ["task #1"] },
    { name: "a task without an id", def: { name: "w", tasks: [{ run }] }, mentions: ["task #0", '"id"'] },
    { name: "a task with an empty id", def: { name: "w", tasks: [{ id: "", run }] }, mentions: ["task #0", '"id"'] },
    { name: "a task with a numeric id", def: { name: "w", tasks: [{ id: 7, run }] }, mentions: ["task #0", '"id"'] },
    { name: "a task without a body", def: { name: "w", tasks: [{ id: "a" }] }, mentions: ['task "a"', '"run"'] },
    {
      name: "a body that is not a function",
      def: { name: "w", tasks: [{ id: "a", run: "x" }] },
      mentions: [
        'task "a"',
        '"run"',
      ],
    },
    {
      name: "dependsOn that is a string",
      def: { name: "w", tasks: [{ id: "a", run, dependsOn: "b" }] },
      mentions: [
        'task "a"',
        '"dependsOn"',
      ],
    },
    {
      name: "dependsOn holding a number",
      def: { name: "w", tasks: [{ id: "a", run, dependsOn: [1] }] },
      mentions: [
        'task "a"',
        '"dependsOn"',
      ],
    },
    {
      name: "tags that are not an array",
      def: { name: "w", tasks: [{ id: "a", run, tags: "x" }] },
      mentions: [
        'task "a"',
        '"tags"',
      ],
    },
    {
      name: "a task name that is not a string",
      def: { name: "w", tasks: [{ id: "a", run, name: 3 }] },
      mentions: [
        'task "a"',
        '"name"',
      ],
    },
    {
      name: "a task description that is not a string",
      def: { name: "w", tasks: [{ id: "a", run, description: {} }] },
      mentions: ['task "a"', '"description"'],
    },
    {
      name: "null metadata",
      def: { name: "w", tasks: [{ id: "a", run, metadata: null }] },
      mentions: [
        'task "a"',
        '"metadata"',
      ],
    },
    {
      name: "a retry policy that is a number",
      def: { name: "w", tasks: [{ id: "a", run, retry: 3 }] },
      mentions: [
        'task "a"',
        '"retry"',
      ],
    },
    {
      name: "a null retry policy",
      def: { name: "w", tasks: [{ id: "a", run, retry: null }] },
      mentions: [
        'task "a"',
        '"retry"',
      ],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const error = catchError(() => defineWorkflow(c.def as never));
      assert.ok(error instanceof TypeError, `expected TypeError, got ${error}`);
      for (const m of c.mentions) assert.ok(error.message.includes(m), `${JSON.stringify(m)} in ${error.message}`);
    });
  }
});

Deno.test("defineWorkflow() rejects a priority or profile out of range with a RangeError", async (t) => {
  const cases: { name: string; task: Record<string, unknown>; field: string }[] = [
    { name: "an unknown priority", task: { priority: "urgent" }, field: "priority" },
    { name: "a numeric priority", task: { priority: 3 }, field: "priority" },
    { name: "an upper-case priority", task: { priority: "HIGH" }, field: "priority" },
    { name: "a priority named like an Object.prototype member", task: { priority: "toString" }, field: "priority" },
    { name: "the priority __proto__", task: { priority: "__proto__" }, field: "priority" },
    { name: "an unknown profile", task: { profile: "gpu" }, field: "profile" },
    { name: "a profile named like an Object.prototype member", task: { profile: "constructor" }, field: "profile" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const error = catchError(() => defineWorkflow({ name: "w", tasks: [{ id: "a", run, ...c.task } as TaskDef] }));
      assert.ok(error instanceof RangeError, `expected RangeError, got ${error}`);
      assert.ok(error.message.includes('task "a"'), error.message);
      assert.ok(error.message.includes(c.field), error.message);
    });
  }
});

Deno.test("plan() groups tasks into dependency levels", () => {
  const wf = defineWorkflow({
    name: "levels",
    tasks: [
      { id: "d", dependsOn: ["b", "c"], run },
      { id: "c", dependsOn: ["a"], run },
      { id: "a", run },
      { id: "b", dependsOn: ["a"], run },
      { id: "e", dependsOn: ["a", "d"], run },
      { id: "lone", run },
    ],
  });
  const p = plan(wf);
  assert.deepEqual(p.levels.map((l) => [...l].sort()), [["a", "lone"], ["b", "c"], ["d"], ["e"]]);
  const byId = new Map(p.order.map((t) => [t.id, t]));
  assert.equal(byId.get("e")!.level, 3);
  assert.deepEqual(byId.get("d")!.dependsOn, ["b", "c"]);
  assert.equal(p.order.length, 6);
  // Every task comes after its dependencies in `order`.
  const position = new Map(p.order.map((t, i) => [t.id, i]));
  for (const t of p.order) for (const d of t.dependsOn) assert.ok(position.get(d)! < position.get(t.id)!);
});

Deno.test("plan() orders each level by priority, then critical-path rank", () => {
  const wf = defineWorkflow({
    name: "prio",
    tasks: [
      { id: "low", run, priority: "low" },
      { id: "med-short", run },
      { id: "med-long", run },
      { id: "crit", run, priority: "critical" },
      { id: "high", run, priority: "high" },
      { id: "after-long", dependsOn: ["med-long"], run },
      { id: "after-after", dependsOn: ["after-long"], run },
    ],
  });
  const p = plan(wf);
  assert.deepEqual(p.levels[0], ["crit", "high", "med-long", "med-short", "low"]);
  assert.deepEqual(p.order.map((t) => t.id), [
    "crit",
    "high",
    "med-long",
    "med-short",
    "low",
    "after-long",
    "after-after",
  ]);
  assert.deepEqual(p.order.map((t) => t.priority), ["critical", "high", "medium", "medium", "low", "medium", "medium"]);
});

Deno.test("plan() computes each task's critical-path rank and the critical path", () => {
  const wf = defineWorkflow({
    name: "cp",
    tasks: [
      { id: "a", run },
      { id: "b", dependsOn: ["a"], run },
      { id: "c", dependsOn: ["a"], run },
      { id: "d", dependsOn: ["c"], run },
      { id: "e", dependsOn: ["b", "d"], run },
      { id: "x", run },
      { id: "y", dependsOn: ["x"], run },
    ],
  });
  const p = plan(wf);
  const rank = Object.fromEntries(p.order.map((t) => [t.id, t.rank]));
  assert.deepEqual(rank, { a: 4, b: 2, c: 3, d: 2, e: 1, x: 2, y: 1 });
  assert.deepEqual(p.criticalPath, ["a", "c", "d", "e"]);
});

Deno.test("plan() rejects a value not made by defineWorkflow() with a TypeError", () => {
  const fake = { name: "w", description: undefined, tasks: [] } as Workflow;
  assert.throws(() => plan(fake), TypeError);
});

Deno.test("defineWorkflow() validates and plans a 100,000-task workflow", () => {
  const n = 100_000;
  const tasks: TaskDef[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const deps: string[] = [];
    for (const back of [1, 7, 1000]) if (i - back >= 0 && i % 50 !== 0) deps.push(`t${i - back}`);
    tasks[i] = { id: `t${i}`, dependsOn: deps, run, priority: i % 3 === 0 ? "high" : "medium" };
  }
  const wf = defineWorkflow({ name: "big", tasks });
  assert.equal(wf.tasks.length, n);
  const p = plan(wf);
  assert.equal(p.order.length, n);
  assert.equal(p.levels.reduce((sum, level) => sum + level.length, 0), n);
  assert.ok(p.criticalPath.length > 1);
  assert.equal(p.criticalPath.length, p.order.find((t) => t.id === p.criticalPath[0])!.rank);
});
