/**
 * Replay tooling: load what a log store holds into a snapshot log, to step
 * through it (`at(seq)`, `events()`) and read the same projections the live
 * engine had.
 *
 * @module
 */
import { createSnapshotLog, type SnapshotLog } from "./log/mod.ts";
import type { AnyFlowEvent, LogStore } from "./types.ts";

/** Options of {@linkcode loadLog}. */
export interface LoadLogOptions {
  /** Only these runs. Default: every run the store lists (`store.runs()`). */
  runIds?: readonly string[];
}

/**
 * Loads runs from a log store into a new snapshot log (with no store of its
 * own), events in seq order. A run's whole history is loaded when the store
 * still has it; a run whose early events a compaction replaced by a
 * checkpoint starts with a `workflow.resumed` event that installs that
 * checkpoint (its seq is the checkpoint's).
 *
 * @param store The store.
 * @param options Which runs.
 * @returns The log: `at(seq)`, `events()`, `project()`, `replay()`.
 * @throws {TypeError} No `runIds` were given and the store cannot list its runs (as a rejection).
 * @throws {RangeError} Two stored events share a seq (as a rejection).
 *
 * @example Stepping through a stored run
 * ```ts
 * import { createEngine, defineWorkflow, loadLog } from "@nerv/flow";
 * import { createMemoryLogStore } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 * const store = createMemoryLogStore();
 * const engine = createEngine({ logStore: store });
 * const wf = defineWorkflow({ name: "two", tasks: [
 *   { id: "a", run: () => 1 },
 *   { id: "b", dependsOn: ["a"], run: ({ deps }) => Number(deps.a) + 1 },
 * ] });
 * const { runId } = await engine.run(wf);
 * const live = engine.project("tasks", runId);
 * await engine.close();
 *
 * const log = await loadLog(store);
 * assert.deepEqual(log.project("tasks", runId), live);
 * const aDone = log.events(runId).find((e) => e.type === "task.completed")!;
 * assert.equal(log.at(aDone.seq).project("taskStatus", runId).b, "pending");
 * ```
 */
export async function loadLog(store: LogStore, options: LoadLogOptions = {}): Promise<SnapshotLog> {
  let runIds = options.runIds;
  if (runIds === undefined) {
    if (store.runs === undefined) {
      throw new TypeError("Cannot load log: the store cannot list its runs; pass runIds");
    }
    runIds = await store.runs();
  }
  const all: AnyFlowEvent[] = [];
  for (const runId of runIds) {
    const events = await store.read(runId);
    if (events.length > 0 && events[0].type === "workflow.created") {
      for (const e of events) all.push(e);
      continue;
    }
    // History compacted away: start from the latest checkpoint.
    const stored = store.readRun === undefined ? undefined : await store.readRun(runId);
    const cp = stored?.checkpoint;
    if (cp === undefined) {
      for (const e of events) all.push(e);
      continue;
    }
    all.push({
      type: "workflow.resumed",
      seq: cp.seq,
      runId,
      workflowId: cp.state.workflowId,
      timestamp: cp.state.endedAt ?? cp.state.startedAt ?? cp.state.createdAt,
      data: { state: cp.state, rerun: [], interrupted: [] },
    });
    for (const e of stored!.events) if (e.seq > cp.seq) all.push(e);
  }
  all.sort((a, b) => a.seq - b.seq);
  const log = createSnapshotLog();
  for (const e of all) log.append(e);
  log.flush();
  return log;
}
