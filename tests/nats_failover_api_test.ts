/**
 * The coordinator's API against a real `nats-server`, two coordinators on
 * their own connections in one process: hand-over on close, listing
 * unfinished runs with their owner, taking a run over by hand, and the
 * errors of bad input.
 *
 * @module
 */
import assert from "node:assert/strict";
import { defineWorkflow, NotFoundError } from "../mod.ts";
import { createInlineExecutor, type Executor } from "../extend.ts";
import { type CoordinatorEvent, createCoordinator, LeaseLostError } from "../adapters/nats/coordinator.ts";
import { hasNatsServer, startNatsServer } from "./_nats.ts";

const ignore = !hasNatsServer();

/** A workflow whose second task waits for `release()` of its run's gate. */
function gated() {
  const gates = new Map<string, () => void>();
  const ran: string[] = [];
  const workflow = defineWorkflow({
    name: "gated",
    tasks: [
      { id: "a", run: ({ runId }) => (ran.push(`a:${runId}`), 1) },
      {
        id: "b",
        dependsOn: ["a"],
        run: ({ runId, signal }) =>
          new Promise<number>((resolve, reject) => {
            ran.push(`b:${runId}`);
            gates.set(runId, () => resolve(2));
            signal.addEventListener("abort", () => reject(signal.reason));
          }),
      },
    ],
  });
  return { workflow, ran, release: (runId: string) => gates.get(runId)?.() };
}

Deno.test({
  name: "close() hands runs over: another coordinator takes them at once and finishes them, running nothing twice",
  ignore,
  fn: async () => {
    const server = await startNatsServer();
    try {
      const leaseMs = 60_000; // Only the hand-over can make the takeover come before the test times out.
      const { workflow, ran, release } = gated();
      const events: CoordinatorEvent[] = [];
      const a = await createCoordinator({ servers: server.url, id: "a", leaseMs, workflows: [workflow] });
      const b = await createCoordinator({
        servers: server.url,
        id: "b",
        leaseMs,
        workflows: [workflow],
        onEvent: (e) => events.push(e),
      });
      const handle = await a.start(workflow, { runId: "r1" });
      while (!ran.includes("b:r1")) await new Promise((r) => setTimeout(r, 10));
      const listed = await b.runs({ status: "running" });
      assert.deepEqual(listed, [{ runId: "r1", workflowId: "gated", status: "running", owner: "a" }]);
      assert.deepEqual(a.owned(), ["r1"]);
      await a.close();
      await assert.rejects(handle.result, LeaseLostError);
      while (!events.some((e) => e.type === "takeover")) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(b.owned(), ["r1"]);
      while (ran.filter((r) => r === "b:r1").length < 2) await new Promise((r) => setTimeout(r, 10));
      release("r1");
      while (!events.some((e) => e.type === "finished")) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(ran, ["a:r1", "b:r1", "b:r1"], "a ran once; b, cut off, ran again");
      const final = await b.runs();
      assert.deepEqual(final, [{ runId: "r1", workflowId: "gated", status: "completed" }]);
      assert.deepEqual(await b.runs({ status: "running" }), []);
      await b.close();
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "resume(runId) takes a run over from a live owner; the owner's next renewal finds the lease gone",
  ignore,
  fn: async () => {
    const server = await startNatsServer();
    try {
      const { workflow, ran, release } = gated();
      const lost: CoordinatorEvent[] = [];
      const a = await createCoordinator({
        servers: server.url,
        id: "a",
        leaseMs: 300,
        workflows: [workflow],
        takeover: false,
        onEvent: (e) => e.type === "lost" && lost.push(e),
      });
      const b = await createCoordinator({ servers: server.url, id: "b", workflows: [workflow], takeover: false });
      const handle = await a.start(workflow, { runId: "r2" });
      while (!ran.includes("b:r2")) await new Promise((r) => setTimeout(r, 10));
      const result = b.resume("r2");
      const error = await handle.result.then(() => undefined, (e) => e);
      assert.ok(error instanceof LeaseLostError, String(error));
      assert.equal(error.owner, "b");
      assert.equal(lost[0]?.from, "b");
      while (ran.filter((r) => r === "b:r2").length < 2) await new Promise((r) => setTimeout(r, 10));
      release("r2");
      const done = await result;
      assert.equal(done.status, "completed");
      assert.equal(done.tasks.b.result, 2);
      assert.equal(ran.filter((r) => r === "a:r2").length, 1);
      // Resuming a run that ended returns its stored result and runs nothing.
      assert.equal((await b.resume("r2")).status, "completed");
      assert.equal(ran.filter((r) => r === "a:r2").length, 1);
      await a.close();
      await b.close();
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "the coordinator refuses bad input with errors naming it",
  ignore,
  fn: async () => {
    const server = await startNatsServer();
    try {
      const { workflow } = gated();
      await assert.rejects(createCoordinator({ servers: server.url, workflows: [], leaseMs: 5 }), RangeError);
      await assert.rejects(
        createCoordinator({ servers: server.url, workflows: [workflow, workflow] }),
        /two workflows/,
      );
      await assert.rejects(createCoordinator({ workflows: [] }), /give servers or connection/);
      const c = await createCoordinator({ servers: server.url, workflows: [workflow], takeover: false });
      await assert.rejects(c.resume("nope"), NotFoundError);
      const other = await createCoordinator({ servers: server.url, workflows: [], takeover: false });
      const started = await c.start(defineWorkflow({ name: "quick", tasks: [{ id: "x", run: () => 1 }] }));
      await started.result;
      await assert.rejects(other.resume(started.id), /"quick" is not one of this coordinator's/);
      const first = await c.start(workflow, { runId: "same" });
      await assert.rejects(c.start(workflow, { runId: "same" }), /has a lease already/);
      await c.close({ handOver: false });
      await assert.rejects(first.result, LeaseLostError);
      await assert.rejects(c.start(workflow), /closed/);
      await other.close();
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "executors given in the engine options serve every run and are closed once, by the coordinator's close()",
  ignore,
  fn: async () => {
    const server = await startNatsServer();
    try {
      const inline = createInlineExecutor();
      let runs = 0;
      let closes = 0;
      const counting: Executor = {
        name: "counting",
        concurrency: 4,
        run: (task, payload, signal) => (runs++, inline.run(task, payload, signal)),
        close: () => void closes++,
      };
      const workflow = defineWorkflow({ name: "one", tasks: [{ id: "a", profile: "cpu", run: () => 1 }] });
      const c = await createCoordinator({
        servers: server.url,
        workflows: [workflow],
        engine: { executors: { cpu: counting } },
      });
      for (let i = 0; i < 3; i++) assert.equal((await (await c.start(workflow)).result).status, "completed");
      assert.equal(runs, 3);
      assert.equal(closes, 0, "a run's engine does not close a shared executor");
      await c.close();
      assert.equal(closes, 1);
    } finally {
      await server.stop();
    }
  },
});
