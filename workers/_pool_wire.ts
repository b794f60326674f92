/**
 * The worker pool's wire: packs a batch of tasks into the columnar message of
 * `workers/protocol.ts`, unpacks a worker's answer into settled tasks, and
 * names the culprits of a batch that could not be sent.
 *
 * Private to `workers/pool.ts`. Knows no slot, queue or timer: functions of
 * their arguments.
 *
 * @module
 */
import { transfer as comlinkTransfer } from "../src/deps_comlink.ts";
import { NotCloneableError, TaskModuleError } from "../src/errors.ts";
import { deserializeError } from "../src/serialize.ts";
import { transferablesOf } from "../src/tasks.ts";
import type { Pending } from "./_pool_queue.ts";
import type { WireBatch, WireReply, WireResult } from "./protocol.ts";

/** Settles tasks (the pool's abort handling, which also stops watching their signals). */
export interface Settler {
  /** Settles a task once. */
  settle(p: Pending, ok: boolean, value: unknown): void;
}

/**
 * Packs a batch: task references and run ids once per batch, the rest column by column.
 *
 * @param batch The tasks.
 * @returns The message, marked for Comlink to move the inputs' transferable buffers.
 */
export function packBatch(batch: Pending[]): WireBatch {
  const n = batch.length;
  const wire: WireBatch = {
    refs: [],
    runs: [],
    workflows: [],
    ids: new Array(n),
    ref: new Array(n),
    run: new Array(n),
    attempts: new Array(n),
    taskIds: new Array(n),
    inputs: new Array(n),
    deps: new Array(n),
    metadata: new Array(n),
  };
  const refIndex = new Map<string, number>();
  const runIndex = new Map<string, number>();
  const moved: Transferable[] = [];
  for (let i = 0; i < n; i++) {
    const p = batch[i];
    const payload = p.payload;
    const key = `${p.loc.moduleUrl}\n${p.loc.name}`;
    let r = refIndex.get(key);
    if (r === undefined) refIndex.set(key, r = wire.refs.push(key) - 1);
    let u = runIndex.get(payload.runId);
    if (u === undefined) {
      runIndex.set(payload.runId, u = wire.runs.push(payload.runId) - 1);
      wire.workflows.push(payload.workflowId ?? "");
    }
    const deps = payload.deps;
    wire.ids[i] = p.id;
    wire.ref[i] = r;
    wire.run[i] = u;
    wire.attempts[i] = payload.attempt;
    wire.taskIds[i] = payload.taskId;
    wire.inputs[i] = payload.input;
    const metadata = p.task.metadata;
    let hasMetadata = false;
    for (const _ in metadata) {
      hasMetadata = true;
      break;
    }
    wire.metadata[i] = hasMetadata ? metadata : undefined;
    let hasDeps = false;
    for (const _ in deps) {
      hasDeps = true;
      break;
    }
    wire.deps[i] = hasDeps ? deps : undefined;
    collect(payload.input, moved);
    for (const key in deps) collect(deps[key], moved);
  }
  // Comlink moves what its transfer cache lists for an argument.
  return moved.length > 0 ? comlinkTransfer(wire, moved) : wire;
}

/**
 * Settles a batch from its worker's answer: the failed ones with their errors, the rest with their values.
 *
 * @param batch The tasks, in the order sent.
 * @param reply The answer.
 * @param settler Settles each task.
 */
export function unpackReply(batch: Pending[], reply: WireReply, settler: Settler): void {
  for (let k = 0; k < reply.failed.length; k++) {
    const p = batch[reply.failed[k]];
    settler.settle(p, false, toTaskError(p, { ok: false, error: reply.errors[k], kind: reply.kinds[k] }));
  }
  const values = reply.values;
  for (let i = 0; i < batch.length; i++) settler.settle(batch[i], true, values[i]);
}

/**
 * A batch that never reached its worker (a value could not be cloned): its tasks whose
 * values do not clone fail with `NotCloneableError`; the others must go again, each alone
 * (the culprit may hide where a clone does not look, such as a transfer list).
 *
 * @param batch The tasks.
 * @param error Why posting failed.
 * @param settler Settles the culprits.
 * @returns The tasks to send again (marked solo), in order.
 */
export function sortRefused(batch: Pending[], error: unknown, settler: Settler): Pending[] {
  if (batch.length === 1) {
    settler.settle(batch[0], false, new NotCloneableError(batch[0].payload.taskId, "input", { cause: error }));
    return [];
  }
  const retry: Pending[] = [];
  for (const p of batch) {
    if (p.done) continue;
    try {
      structuredClone({ input: p.payload.input, deps: p.payload.deps });
      // Alone from now on, so a refusal names its own task instead of looping forever.
      p.solo = true;
      retry.push(p);
    } catch (cause) {
      settler.settle(p, false, new NotCloneableError(p.payload.taskId, "input", { cause }));
    }
  }
  return retry;
}

function toTaskError(p: Pending, r: WireResult & { ok: false }): Error {
  const cause = deserializeError(r.error);
  if (r.kind === "load") {
    return new TaskModuleError(p.loc.moduleUrl, p.loc.name, r.error.message, { cause: cause.cause });
  }
  if (r.kind === "clone") return new NotCloneableError(p.payload.taskId, "result", { cause });
  return cause;
}

function collect(value: unknown, into: Transferable[]): void {
  const buffers = transferablesOf(value);
  if (buffers.length > 0) into.push(...buffers);
}
