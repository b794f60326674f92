/**
 * A worker pool whose entry cannot load (Deno's own Web Workers): it backs
 * off and then fails the waiting tasks with `WorkerStartError` naming the
 * script, instead of starting workers without end; it recovers once the entry
 * loads. And `defineTasks` without a module URL: its references run inline,
 * and a pool refuses them, saying what to pass.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createEngine,
  createWorkerPool,
  defineTasks,
  defineWorkflow,
  TaskModuleError,
  WorkerStartError,
} from "../mod.ts";
import type { TaskPayload, TaskSpec } from "../extend.ts";
import { byUrl, noModule, unregistered } from "./fixtures/edge/deno_tasks.ts";

/** Counts the Workers constructed while `fn` runs. */
async function countingWorkers<T>(fn: (made: () => number) => Promise<T>): Promise<T> {
  const Original = globalThis.Worker;
  let made = 0;
  globalThis.Worker = class extends Original {
    constructor(url: string | URL, options?: WorkerOptions) {
      made++;
      super(url, options);
    }
  };
  try {
    return await fn(() => made);
  } finally {
    globalThis.Worker = Original;
  }
}

const payload = (taskId: string, input: unknown): TaskPayload => ({ taskId, runId: "r", attempt: 1, input, deps: {} });
const spec = (id: string, run: unknown) => ({ id, run }) as TaskSpec;
const signal = new AbortController().signal;

/** Settles within `ms` or fails (a pool that hangs must fail the test, not stall the suite). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

Deno.test({
  name: "a pool whose entry does not load backs off, then fails its tasks with WorkerStartError naming the URL",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const entry = new URL("./fixtures/edge/no_such_entry.ts", import.meta.url);
    await countingWorkers(async (made) => {
      const pool = createWorkerPool({ size: 1, name: "cpu", entry });
      try {
        const tasks = [1, 2, 3].map((n) => pool.run(spec(`t${n}`, byUrl.double), payload(`t${n}`, n), signal));
        const errors = await within(Promise.allSettled(tasks), 20_000, "the tasks");
        for (const e of errors) {
          assert.equal(e.status, "rejected");
          const error = (e as PromiseRejectedResult).reason;
          assert.ok(error instanceof WorkerStartError, `got ${error}`);
          assert.equal(error.entry, entry.href);
          assert.equal(error.pool, "cpu");
          assert.equal(error.attempts, 3);
          assert.ok(error.message.includes(`"${entry.href}"`), error.message);
        }
        assert.equal(made(), 3, "three workers were tried");
        // While it backs off, new tasks fail at once, and no worker starts.
        await assert.rejects(pool.run(spec("t4", byUrl.double), payload("t4", 4), signal), WorkerStartError);
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(made(), 3, "no worker started while idle");
        assert.equal(pool.alive, 0);
        // warm() rejects instead of waiting forever.
        await assert.rejects(within(pool.warm(), 20_000, "warm()"), WorkerStartError);
        assert.equal(made(), 3, "warm() started no worker while the pool backs off");
      } finally {
        await pool.close();
      }
    });
  },
});

Deno.test({
  name: "a pool whose entry appears later recovers after its backoff",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nerv-edge-pool-" });
    const entry = new URL(`file://${dir}/entry.ts`);
    const pool = createWorkerPool({ size: 1, name: "late", entry });
    try {
      await assert.rejects(
        within(pool.run(spec("a", byUrl.double), payload("a", 1), signal), 20_000, "the task"),
        WorkerStartError,
      );
      await Deno.writeTextFile(
        `${dir}/entry.ts`,
        `import ${JSON.stringify(new URL("../workers/worker_entry.ts", import.meta.url).href)};\n`,
      );
      await new Promise((r) => setTimeout(r, 1700)); // the backoff after three failed starts: 1.6 s
      assert.equal(await within(pool.run(spec("b", byUrl.double), payload("b", 21), signal), 20_000, "b"), 42);
      assert.equal(pool.alive, 1);
    } finally {
      await pool.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("defineTasks without a module: references run inline, and a pool refuses them saying what to pass", async () => {
  assert.equal(noModule.triple({ input: 5 } as never), 15);
  const pool = createWorkerPool({ size: 1, name: "cpu" });
  try {
    const error = await pool.run(spec("x", noModule.triple), payload("x", 2), signal).catch((e) => e);
    assert.ok(error instanceof TaskModuleError, `got ${error}`);
    assert.equal(error.exportName, "triple");
    assert.match(error.message, /no module URL/);
    assert.match(error.message, /defineTasks\("my-tasks"/);
    assert.equal(pool.alive, 0, "no worker was started for it");
    const named = await pool.run(spec("y", unregistered.quadruple), payload("y", 2), signal).catch((e) => e);
    assert.ok(named instanceof TaskModuleError, `got ${named}`);
    assert.match(named.message, /no module named "nobody-imports-this" is registered in this worker/);
    assert.equal(await pool.run(spec("z", byUrl.double), payload("z", 4), signal), 8, "a URL module still loads");
  } finally {
    await pool.close();
  }
  // Where references run inline (here: workers: false), a module-less one is a plain body.
  const engine = createEngine({ workers: false });
  const r = await engine.run(
    defineWorkflow<number>({
      name: "inline",
      tasks: [{ id: "t", profile: "cpu", run: noModule.triple }],
    }),
    { input: 7 },
  );
  assert.equal(r.tasks.t.result, 21);
  await engine.close();
});

Deno.test("defineTasks refuses a module that is not a URL, a name or undefined", () => {
  for (const bad of [42, "", "a\nb", null]) {
    assert.throws(() => defineTasks(bad as never, { f: () => 1 }), TypeError, `module ${JSON.stringify(bad)}`);
  }
  assert.throws(() => defineTasks("m", { f: 1 as never }), /Cannot define task "f" of m: expected a function/);
});
