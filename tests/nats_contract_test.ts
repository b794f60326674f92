/**
 * The executor contract (`_contract.ts`) against the NATS executor: a real
 * `nats-server` on a free loopback port and a real worker process
 * (`adapters/nats/worker.ts`), started before the first case, shared by all
 * of them and stopped after the last. Each case gets a fresh engine with a
 * fresh `natsExecutor()` (closed with the engine).
 *
 * The worker process runs one body at a time, so that a body left spinning
 * there would block every later task: the cases after a spinning body prove
 * it was stopped, since this process cannot see the remote pool.
 *
 * @module
 */
import { executorContract, type SuiteResources } from "./_contract.ts";
import { natsExecutor } from "../adapters/nats/mod.ts";
import { hasNatsServer, type NatsServer, startNatsServer } from "./_nats.ts";
import { startWorker, type WorkerProcess } from "./_nats_workers.ts";

const LABEL = "nats executor";

let server: NatsServer | undefined;
let worker: WorkerProcess | undefined;

/** One server and one worker process of one local worker, for the whole suite. */
const resources: SuiteResources = {
  async start() {
    server = await startNatsServer();
    worker = await startWorker({ servers: server.url, concurrency: 1, name: "contract" });
  },
  async stop() {
    await worker?.stop();
    await server?.stop();
    worker = server = undefined;
  },
};

if (hasNatsServer()) {
  executorContract(
    LABEL,
    async () => {
      if (server === undefined) throw new Error("The suite's nats-server is not running");
      return { executors: { cpu: await natsExecutor({ servers: server.url }) }, limits: { cpu: 2 } };
    },
    {
      profile: "cpu",
      runsElsewhere: "bodies run in the local pool of a worker process, which this process cannot inspect",
      resources,
    },
  );
} else {
  Deno.test({
    name: `${LABEL}: the executor contract (does not apply: nats-server is not installed)`,
    ignore: true,
    fn: () => {},
  });
}
