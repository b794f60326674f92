// A coordinator process of the failover tests and benchmark. Prints one JSON
// line per thing that happens (with `at`: Date.now()), so the parent can
// kill it at a chosen moment and time takeovers.
//
//   owner <servers> <id> <leaseMs> <runs> <markers> [slowMs]
//       starts <runs> runs of the failover workflow (takes over nothing),
//       prints {"type":"run","runId"} once each is in the log, then
//       {"type":"done",...} per run and {"type":"exit"}.
//   standby <servers> <id> <leaseMs>
//       takes over runs whose owner stopped renewing; prints the coordinator's
//       events; runs until its stdin closes.
//   append <servers> <stream> <runId>
//       reads a run (taking it over in its store), prints {"type":"read"},
//       waits for a line on stdin, appends one event, prints the outcome.
import { createCoordinator } from "../adapters/nats/coordinator.ts";
import { jetstreamLogStore } from "../adapters/nats/log_store.ts";
import type { LogConflictError } from "../adapters/nats/errors.ts";
import { failoverWorkflow } from "./_nats_failover_workflow.ts";

const say = (line: Record<string, unknown>) => console.log(JSON.stringify({ ...line, at: Date.now() }));
const [mode, servers, ...rest] = Deno.args;
const workflow = failoverWorkflow();

if (mode === "owner") {
  const [id, leaseMs, runs, markers, slowMs] = rest;
  const coordinator = await createCoordinator({
    servers,
    id,
    leaseMs: Number(leaseMs),
    workflows: [workflow],
    takeover: false,
    engine: { workers: false },
    onEvent: (e) => say({ ...e, error: e.error?.name }),
  });
  const handles = [];
  for (let i = 0; i < Number(runs); i++) {
    const h = await coordinator.start(workflow, { input: { markers, slowMs: Number(slowMs ?? 0) } });
    say({ type: "run", runId: h.id });
    handles.push(h);
  }
  await Promise.all(handles.map((h) =>
    h.result.then(
      (r) => say({ type: "done", runId: h.id, status: r.status }),
      (e) => say({ type: "done", runId: h.id, error: (e as Error).name, message: (e as Error).message }),
    )
  ));
  await coordinator.close();
  say({ type: "exit" });
} else if (mode === "standby") {
  const [id, leaseMs] = rest;
  const coordinator = await createCoordinator({
    servers,
    id,
    leaseMs: Number(leaseMs),
    workflows: [workflow],
    engine: { workers: false },
    onEvent: (e) => say({ ...e, error: e.error?.name }),
  });
  say({ type: "ready" });
  // Until the parent closes stdin.
  for await (const _ of Deno.stdin.readable) { /* nothing to read */ }
  await coordinator.close({ handOver: false });
  say({ type: "exit" });
} else if (mode === "append") {
  const [stream, runId] = rest;
  const store = await jetstreamLogStore({ servers, stream, owner: `append-${Deno.pid}` });
  const stored = await store.readRun(runId);
  const last = stored.events.at(-1)!;
  say({ type: "read", seq: last.seq });
  const reader = Deno.stdin.readable.getReader();
  await reader.read();
  try {
    await store.append([{ ...last, seq: last.seq + 1 + (Deno.pid % 1000) }]);
    say({ type: "appended" });
  } catch (error) {
    const e = error as LogConflictError;
    say({ type: "refused", error: e.name, expected: e.expected, actual: e.actual, runId: e.runId });
  }
  await store.close();
} else {
  throw new TypeError(`Unknown mode "${mode}"`);
}
