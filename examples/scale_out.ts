// Scale out: the same workflow, its cpu tasks run by worker processes through NATS JetStream.
//
//   nats-server -js -sd /tmp/nerv-nats &                               # a JetStream server
//   deno task worker --servers nats://127.0.0.1:4222 --profiles cpu &   # one or more worker processes, any host
//   deno run --allow-read --allow-env --allow-net examples/scale_out.ts --servers nats://127.0.0.1:4222
//
// Workers import examples/tasks/text.ts by the file URL the task references carry: a worker on another host
// needs the checkout at the same path (or serve the task module over https).
import { parseArgs } from "node:util";
import { createEngine, defineWorkflow } from "../mod.ts";
import { natsExecutor } from "../adapters/nats/mod.ts";
import { tasks } from "./tasks/text.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { servers: { type: "string", default: "nats://127.0.0.1:4222" }, n: { type: "string", default: "32" } },
});
const n = Number(values.n);
const cpu = await natsExecutor({ servers: values.servers.split(",") });
const engine = createEngine({ executors: { cpu }, limits: { cpu: 256 } });
const workflow = defineWorkflow({
  name: "scale-out",
  tasks: [
    ...Array.from({ length: n }, (_, i) => ({
      id: `hash${i}`,
      run: tasks.hash,
      profile: "cpu" as const,
      retry: { maxAttempts: 2 },
    })),
    // In process (io): a plain function that sums what the workers computed.
    {
      id: "total",
      dependsOn: Array.from({ length: n }, (_, i) => `hash${i}`),
      run: ({ deps }: { deps: Readonly<Record<string, unknown>> }) =>
        Object.values(deps).reduce((a: number, v) => (a + Number(v)) % 2 ** 32, 0),
    },
  ],
});
const t0 = performance.now();
try {
  const result = await engine.run(workflow, { input: { text: "nerv-flow scales out", rounds: 200_000 } });
  console.log(
    `${result.status}: ${n} cpu tasks on worker processes in ${(performance.now() - t0).toFixed(0)} ms, ` +
      `total ${result.tasks.total.result}`,
  );
  if (result.status !== "completed") Deno.exitCode = 1;
} finally {
  await engine.close();
}
