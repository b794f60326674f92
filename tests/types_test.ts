// Typed workflows (`flow()`): the type-level cases are checked by `deno test` (and `deno task check`), which
// type-checks this file: an inference regression makes an `Equal` false or a `@ts-expect-error` unused, and the suite
// fails to compile. The runtime cases check that the typed form builds the same task definitions as the object form.
import assert from "node:assert/strict";
import {
  createEngine,
  defineTasks,
  defineWorkflow,
  DuplicateTaskError,
  type EventOf,
  flow,
  type FlowContext,
  isTaskCompleted,
  mapTasks,
  type RunResult,
  subworkflow,
  type TaskDef,
  type TaskResult,
  taskResult,
  UnknownDependencyError,
  type Workflow,
} from "../mod.ts";

/** `true` when A and B are the same type. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
/** Compiles only for `true`. */
function expectType<T extends true>(_proof?: T): void {}

interface Doc {
  slug: string;
  words: number;
}

/** Task references as a worker module defines them: their context parameter says what they read. */
const refs = defineTasks("file:///typed-refs.ts", {
  count: ({ deps, taskId }: { deps: { readonly [id: `fetch:${string}`]: string }; taskId: string }): Doc => {
    const slug = taskId.slice("count:".length);
    return { slug, words: deps[`fetch:${slug}`].split(" ").length };
  },
  total: ({ deps }: { deps: { readonly [id: `count:${string}`]: Doc } }) =>
    Promise.resolve(Object.values(deps).reduce((a, d) => a + d.words, 0)),
  scale: ({ deps, input }: { deps: { readonly total: number }; input: { factor: number } }) =>
    deps.total * input.factor,
});

const slugs = ["a", "b", "c"];
const texts: Record<string, string> = { a: "one two", b: "three", c: "four five six" };

function typedPipeline() {
  return flow<{ factor: number }>("typed-pipeline", { description: "families, refs, fan-in" })
    .task("plan", ({ input }) => ({ factor: input.factor, slugs }))
    .each("fetch", slugs, { dependsOn: ["plan"], run: (_ctx, slug) => texts[slug] })
    .each("count", slugs, { dependsOn: ["fetch:{key}"], profile: "cpu", run: refs.count })
    .task("total", { dependsOn: ["count:*"], run: refs.total })
    .task("scale", { dependsOn: ["total"], run: refs.scale })
    .task("report", {
      dependsOn: ["scale", "plan"],
      priority: "high",
      run: ({ deps }) => Promise.resolve(`${deps.scale} words × ${deps.plan.factor}`),
    })
    .build();
}

Deno.test("types: deps, input and results are inferred, without casts", async () => {
  const workflow = typedPipeline();
  expectType<Equal<typeof workflow, Workflow<{ factor: number }, WorkflowResults<typeof workflow>>>>();
  const engine = createEngine({ workers: false });
  try {
    const result = await engine.run(workflow, { input: { factor: 2 } });
    expectType<Equal<typeof result.tasks.report.result, string | undefined>>();
    expectType<Equal<typeof result.tasks.total.result, number | undefined>>();
    expectType<Equal<(typeof result.tasks)["count:a"]["result"], Doc | undefined>>();
    expectType<Equal<typeof result.tasks.plan.result, { factor: number; slugs: string[] } | undefined>>();
    assert.equal(result.status, "completed");
    assert.equal(result.tasks.report.result, "12 words × 2");
    assert.deepEqual(result.tasks["count:c"].result, { slug: "c", words: 3 });
    // resume() of an ended run and rerun() are typed by the workflow too.
    const resumed = await engine.resume(workflow, result.runId);
    expectType<Equal<typeof resumed.tasks.report.result, string | undefined>>();
    assert.equal(resumed.tasks.report.result, "12 words × 2");
    const again = await engine.rerun(workflow, result.runId);
    expectType<Equal<typeof again.tasks.total.result, number | undefined>>();
    assert.equal(again.tasks.total.result, 6);
    // A typed result is still a RunResult for code that takes any run's result.
    const any: RunResult = result;
    assert.equal(any.tasks.total.result, 6);
  } finally {
    await engine.close();
  }
});

type WorkflowResults<W> = W extends Workflow<unknown, infer T> ? T : W extends Workflow<infer _I, infer T> ? T : never;

Deno.test("types: a wrong dependency, an undeclared read or a wrong input is a type error", () => {
  const base = flow<{ n: number }>("errors").task("a", () => 1).task("b", () => "two");
  // @ts-expect-error "c" is not a task of the workflow
  base.task("x", { dependsOn: ["c"], run: () => 0 });
  // @ts-expect-error "b" is not declared in dependsOn, so it is not in deps
  base.task("x", { dependsOn: ["a"], run: ({ deps }) => deps.b });
  // @ts-expect-error no dependencies, so no deps at all
  base.task("x", ({ deps }) => deps.a);
  // @ts-expect-error deps.a is a number
  base.task("x", { dependsOn: ["a"], run: ({ deps }) => deps.a.toUpperCase() });
  // @ts-expect-error the input has no "m"
  base.task("x", ({ input }) => input.m);
  // @ts-expect-error "<prefix>:{key}" is for the members of a family
  base.each("f", ["x"], { run: () => 0 }).task("x", { dependsOn: ["f:{key}"], run: () => 0 });
  // @ts-expect-error a family is named "<prefix>:*" only once defined
  base.task("x", { dependsOn: ["fetch:*"], run: () => 0 });
  // @ts-expect-error the family's keys are literal: "fetch:z" is not a member
  base.each("fetch", ["x", "y"], { run: (_c, k) => k }).task("z", { dependsOn: ["fetch:z"], run: () => 0 });
  // @ts-expect-error a task may only depend on tasks defined before it (no cycles)
  flow("order").task("first", { dependsOn: ["second"], run: () => 1 }).task("second", () => 2);
  // @ts-expect-error the reference reads deps.total, which "a" does not give
  base.task("x", { dependsOn: ["a"], run: refs.scale });
  // @ts-expect-error the reference reads input.factor, which this workflow's input lacks
  flow<{ n: number }>("in").task("total", () => 1).task("x", { dependsOn: ["total"], run: refs.scale });
  // @ts-expect-error a fallback returns what the body returns
  base.task("x", { dependsOn: ["a"], run: ({ deps }) => deps.a, fallback: () => "no" });
  const workflow = base.build();
  const engine = createEngine();
  // @ts-expect-error the run's input is { n: number }
  void engine.run(workflow, { input: { n: "1" } }).catch(() => {});
  const check = async () => {
    const result = await engine.run(workflow, { input: { n: 1 } });
    // @ts-expect-error the workflow has no task "c"
    void result.tasks.c;
    // @ts-expect-error "b" gives a string
    const b: number | undefined = result.tasks.b.result;
    return b;
  };
  void check;
  return engine.close();
});

Deno.test("types: literal family keys, spawn lists, mapTasks and subworkflow results are typed", async () => {
  const child = flow<number>("child")
    .task("x2", ({ input }) => input * 2)
    .task("label", { dependsOn: ["x2"], run: ({ deps }) => `#${deps.x2}` })
    .build();
  const spawned = flow<{ n: number }>("spawned")
    .external("spawn")
    .each("sq", [1, 2, 3].map(String), { dependsOn: ["spawn"], run: ({ input }, k) => Number(k) * input.n })
    .each("half", [1, 2, 3].map(String), { dependsOn: (k) => [`sq:${k}`], run: ({ deps }, k) => deps[`sq:${k}`] / 2 })
    .task("sum", { dependsOn: ["sq:*"], run: ({ deps }) => Object.values(deps).reduce((a, b) => a + b, 0) })
    .list();
  const parent = flow<{ n: number }>("parent")
    .each("pick", ["left", "right"], { run: (_ctx, side) => side })
    .task("n", { dependsOn: ["pick:left"], run: ({ deps }) => deps["pick:left"].length })
    .task("child", { dependsOn: ["n"], run: subworkflow(child, { input: ({ deps }) => deps.n, output: "label" }) })
    .task("all", { dependsOn: ["n"], run: subworkflow(child, { input: ({ deps }) => deps.n + 1 }) })
    .task("direct", {
      dependsOn: ["n"],
      run: async (ctx) => (await ctx.runWorkflow(child, { input: ctx.deps.n })).tasks.x2.result,
    })
    .task("spawn", (ctx) => {
      ctx.spawn(spawned);
      ctx.spawn(mapTasks("squares", [1, 2, 3], (k) => k * k, { join: (squares) => squares.join("+") }));
      return ctx.spawn(mapTasks("plain", ["a"], (s) => s.length)).length;
    })
    .build();
  expectType<Equal<WorkflowResults<typeof parent>["pick:left"], "left" | "right">>();
  const engine = createEngine();
  const completions: number[] = [];
  engine.bus.on("task.completed", (e) => {
    expectType<Equal<typeof e.taskId, string>>();
    // @ts-expect-error the workflow has no task "nope"
    isTaskCompleted(parent, e, "nope");
    if (isTaskCompleted(parent, e, "child")) expectType<Equal<typeof e.data.result, string>>();
    if (isTaskCompleted(spawned, e, "sq:*")) {
      expectType<Equal<typeof e.data.result, number>>();
      completions.push(e.data.result);
    }
  });
  try {
    const result = await engine.run(parent, { input: { n: 10 } });
    assert.equal(result.status, "completed");
    expectType<Equal<typeof result.tasks.child.result, string | undefined>>();
    expectType<Equal<typeof result.tasks.all.result, { x2: number; label: string } | undefined>>();
    expectType<Equal<typeof result.tasks.direct.result, number | undefined>>();
    expectType<Equal<(typeof result.tasks)["pick:right"]["result"], "left" | "right" | undefined>>();
    assert.equal(result.tasks.child.result, "#8");
    assert.deepEqual(result.tasks.all.result, { x2: 10, label: "#10" });
    assert.equal(result.tasks.direct.result, 8);
    const any: RunResult = result;
    const sum = taskResult(result, spawned, "sum");
    expectType<Equal<typeof sum, number | undefined>>();
    assert.equal(sum, 60);
    assert.equal(taskResult(result, spawned, "sq:2"), 20);
    // @ts-expect-error the spawned list has no task "nope"
    taskResult(result, spawned, "nope");
    // A task of the parent workflow is not one of the list's, whatever its id.
    assert.equal(taskResult(result, spawned, "spawn"), undefined);
    assert.equal(any.tasks.sum.result, 60);
    assert.equal(any.tasks["half:3"].result, 15);
    assert.equal(any.tasks.squares.result, "1+4+9");
    assert.deepEqual(completions.sort((a, b) => a - b), [10, 20, 30]);
    const squares = mapTasks("squares", [1, 2], (k) => k * k);
    expectType<Equal<NonNullable<(typeof squares)["~results"]>["squares"], number[]>>();
  } finally {
    await engine.close();
  }
});

Deno.test("types: bus listeners narrow data and taskId by event type", () => {
  const engine = createEngine();
  engine.bus.on("task.retrying", (e) => {
    expectType<Equal<typeof e.data.delayMs, number>>();
    expectType<Equal<typeof e.taskId, string>>();
  });
  engine.bus.on("workflow.completed", (e) => {
    expectType<Equal<typeof e.data, { durationMs: number }>>();
    expectType<Equal<typeof e.taskId, string | undefined>>();
    // @ts-expect-error a workflow event has no task data
    void e.data.result;
  });
  engine.bus.onAny((e) => {
    if (e.type === "breaker.opened") expectType<Equal<typeof e.taskId, string>>();
    if (e.type === "task.skipped") expectType<Equal<typeof e.data.dependency, string>>();
  });
  // A listener written against the untyped event still fits.
  engine.bus.on("task.completed", (e: EventOf<"task.completed">) => void e.data.result);
  return engine.close();
});

Deno.test("flow() builds the task definitions the object form does, bodies not wrapped", () => {
  const typed = flow<{ factor: number }>("same")
    .each("fetch", ["a", "b"], { retry: { maxAttempts: 2 }, run: ({ input }) => String(input.factor) })
    .each("count", ["a", "b"], { dependsOn: ["fetch:{key}"], profile: "cpu", run: refs.count })
    .task("total", { dependsOn: ["count:*"], priority: "high", run: refs.total })
    .build();
  // The object form of the same workflow, with the same bodies.
  const [fetch, count, total] = [typed.tasks[0].run, typed.tasks[2].run, typed.tasks[4].run];
  const untyped = defineWorkflow<{ factor: number }>({
    name: "same",
    tasks: [
      { id: "fetch:a", retry: { maxAttempts: 2 }, run: fetch },
      { id: "fetch:b", retry: { maxAttempts: 2 }, run: fetch },
      { id: "count:a", dependsOn: ["fetch:a"], profile: "cpu", run: count },
      { id: "count:b", dependsOn: ["fetch:b"], profile: "cpu", run: count },
      { id: "total", dependsOn: ["count:a", "count:b"], priority: "high", run: total },
    ],
  });
  assert.deepEqual(typed, untyped);
  // The task references stay themselves, so a worker can still load them.
  assert.equal(typed.tasks[1].run, fetch);
  assert.equal(typed.tasks[2].run, refs.count);
  assert.equal(typed.tasks[4].run, refs.total);
});

Deno.test("flow(): bad input is rejected with a typed error naming the culprit", () => {
  assert.throws(() => flow(""), TypeError, '"name" must be a non-empty string');
  const ids: string[] = ["a", "a"];
  assert.throws(
    () => flow("dup").each("t", ids, { run: () => 1 }).build(),
    (e: unknown) => e instanceof DuplicateTaskError && e.taskId === "t:a",
  );
  const deps: string[] = ["missing"];
  const loose = flow("loose").task("a", () => 1);
  assert.throws(
    // Ids typed `string` escape the type check; the validation still names the culprit.
    () => loose.task("b", { dependsOn: deps.filter((d): d is "a" => d.length > 0), run: () => 2 }).build(),
    (e: unknown) => e instanceof UnknownDependencyError && e.dependency === "missing",
  );
  assert.throws(() => flow("f").each("", ["x"], { run: () => 1 }), TypeError, "prefix must be a non-empty string");
  const notKeys: unknown = "abc";
  assert.throws(
    () => flow("f").each("p", notKeys as string[], { run: () => 1 }),
    TypeError,
    'keys must be an array, got "abc"',
  );
});

Deno.test("flow(): builders are persistent, and list() gives the definitions for ctx.spawn", () => {
  const one = flow("p").task("a", () => 1);
  const two = one.task("b", { dependsOn: ["a"], run: ({ deps }) => deps.a + 1 });
  assert.deepEqual(one.list().map((t) => t.id), ["a"]);
  assert.deepEqual(two.list().map((t) => t.id), ["a", "b"]);
  const list = two.list();
  expectType<Equal<NonNullable<(typeof list)["~results"]>["b"], number>>();
});

// The untyped shapes keep their defaults: any id, unknown results.
const untypedTask: TaskDef<{ n: number }> = { id: "n", run: ({ input, deps }) => input.n + Number(deps.anything) };
const untypedResult: TaskResult = { status: "completed", attempts: 1, result: "anything" };
expectType<Equal<RunResult["tasks"], { [id: string]: TaskResult }>>();
expectType<Equal<FlowContext["deps"], Readonly<Record<string, unknown>>>>();
void untypedTask, untypedResult;
