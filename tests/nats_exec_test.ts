/**
 * The NATS executor against a real `nats-server` and real worker processes
 * (`deno run adapters/nats/worker.ts`): results, errors, cancellation and
 * timeouts across the broker; plain functions in process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, defineWorkflow, NotCloneableError, TaskModuleError, TaskTimeoutError } from "../mod.ts";
import { natsExecutor, NatsUnreachableError } from "../adapters/nats/mod.ts";
import { hasNatsServer, startNatsServer } from "./_nats.ts";
import { startWorker } from "./_nats_workers.ts";
import { tasks } from "./fixtures/nats_tasks.ts";

const ignore = !hasNatsServer();

Deno.test({
  name: "a workflow's cpu tasks run on worker processes and give the in-process results",
  ignore,
  fn: async () => {
    const server = await startNatsServer();
    const w1 = await startWorker({ servers: server.url, name: "w1" });
    try {
      const cpu = await natsExecutor({ servers: server.url });
      const engine = createEngine({ executors: { cpu }, limits: { cpu: 16 } });
      try {
        const wf = defineWorkflow({
          name: "w",
          tasks: [
            { id: "where", run: tasks.where, profile: "cpu" },
            { id: "a", run: tasks.inc, profile: "cpu" },
            { id: "b", run: tasks.inc, profile: "cpu" },
            { id: "s", dependsOn: ["a", "b"], run: tasks.sum, profile: "cpu" },
          ],
        });
        const r = await engine.run(wf, { input: 1 });
        assert.equal(r.status, "completed");
        assert.equal(r.tasks.s.result, 5);
        const where = r.tasks.where.result as { pid: number; worker: boolean };
        assert.equal(where.pid, w1.pid);
        assert.equal(where.worker, true);
      } finally {
        await engine.close();
      }
    } finally {
      await w1.stop();
      await server.stop();
    }
  },
});
