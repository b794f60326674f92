// Child process of the crash test: runs (or resumes) the crash workflow on a
// file log store and prints "started" once the run is stored (its first
// events acknowledged), then "done".
// Usage: deno run --allow-read --allow-write=/tmp tests/_crash_child.ts <log> <markers> <runId> <start|resume> <flush>
import { createEngine } from "../mod.ts";
import { type FlushPolicy, openFileLogStore } from "../adapters/mod.ts";
import { crashWorkflow } from "./_crash_workflow.ts";

const [path, markers, runId, mode, flush] = Deno.args;
const store = await openFileLogStore(path, { flush: flush as FlushPolicy, onRecover: () => {} });
const engine = createEngine({ logStore: store });
const workflow = crashWorkflow(markers);
const result = mode === "start" ? engine.run(workflow, { runId }) : engine.resume(workflow, runId);
await engine.log.sync();
console.log("started");
await result;
await engine.close();
await store.close();
console.log("done");
