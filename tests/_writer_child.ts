// Child process of the one-writer tests. Every line it prints is JSON.
// Usage: deno run --allow-read --allow-write=/tmp tests/_writer_child.ts <mode> ...
//   hold <file|kv> <path> [leaseMs]     open the store, print {"ready",pid}, then run tiny workflows one
//                                       after another, printing {"acked":runId} once each is stored
//                                       (until killed or stdin closes)
//   open <file|kv> <path>               try to open; print {"opened":true} or {"refused":name,holder}; close
//   resume <path> <markers> <runId>     open the file store and resume the crash workflow: print
//                                       {"resumed":status} or {"refused":name,holder}; then hold the store
//                                       open until stdin closes
import { createEngine, defineWorkflow } from "../mod.ts";
import type { LogStore } from "../extend.ts";
import { openFileLogStore, openKvLogStore } from "../adapters/mod.ts";
import { crashWorkflow } from "./_crash_workflow.ts";

const say = (value: unknown) => console.log(JSON.stringify(value));
const stdinClosed = (async () => {
  for await (const _ of Deno.stdin.readable);
})();

async function open(kind: string, path: string, leaseMs?: number): Promise<LogStore & { close(): Promise<void> }> {
  return kind === "file"
    ? await openFileLogStore(path, { onRecover: () => {} })
    : await openKvLogStore({ path, ...(leaseMs === undefined ? {} : { leaseMs }) });
}

const refusal = (error: unknown) => {
  const e = error as { name: string; message: string; holder?: unknown };
  say({ refused: e.name, message: e.message, holder: e.holder ?? null });
};

const [mode, ...args] = Deno.args;
if (mode === "hold") {
  const [kind, path, lease] = args;
  let store;
  try {
    store = await open(kind, path, lease === undefined ? undefined : Number(lease));
  } catch (error) {
    refusal(error);
    Deno.exit(0);
  }
  say({ ready: true, pid: Deno.pid });
  const engine = createEngine({ logStore: store });
  const wf = defineWorkflow({
    name: "tick",
    tasks: [{ id: "a", run: () => 1 }, { id: "b", dependsOn: ["a"], run: () => 2 }],
  });
  let stop = false;
  stdinClosed.then(() => stop = true);
  while (!stop) {
    const r = await engine.run(wf);
    await engine.log.sync();
    say({ acked: r.runId, status: r.status });
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await engine.close();
  await store.close();
} else if (mode === "open") {
  const [kind, path] = args;
  try {
    const store = await open(kind, path);
    say({ opened: true });
    await store.close();
  } catch (error) {
    refusal(error);
  }
} else if (mode === "resume") {
  const [path, markers, runId] = args;
  let store;
  try {
    store = await openFileLogStore(path, { onRecover: () => {} });
  } catch (error) {
    refusal(error);
    Deno.exit(0);
  }
  const engine = createEngine({ logStore: store });
  const result = await engine.resume(crashWorkflow(markers), runId);
  say({ resumed: result.status, pid: Deno.pid });
  await engine.close();
  await stdinClosed;
  await store.close();
} else {
  throw new TypeError(`Unknown mode "${mode}"`);
}
