/**
 * The worker pool's wire: sends a batch of tasks to a worker in the columnar
 * message of `workers/protocol.ts`, unpacks the worker's answer into settled
 * tasks (timing the batch for the batch size), and names the culprits of a
 * batch that could not be sent.
 *
 * Private to `workers/pool.ts`. Knows a worker only as its `Slot` record and
 * the rest of the pool through {@linkcode WireHooks}; no timer.
 *
 * @module
 */
import { transfer as comlinkTransfer } from "../src/deps_comlink.ts";
import { NotCloneableError, TaskModuleError } from "../src/errors.ts";
import { deserializeError } from "../src/serialize.ts";
import { transferablesOf } from "../src/tasks.ts";
import type { BatchSizer, Pending } from "./_pool_queue.ts";
import type { Slot } from "./_pool_slots.ts";
import type { WireBatch, WireReply, WireResult } from "./protocol.ts";

/** Settles tasks (the pool's abort handling, which also stops watching their signals). */
export interface Settler {
  /** Settles a task once. */
  settle(p: Pending, ok: boolean, value: unknown): void;
}

/** What the wire needs from the rest of the pool. */
export interface WireHooks {
  /** Terminates and replaces a worker; what it held fails. */
  die(slot: Slot, cause: unknown): void;
  /** Puts tasks back at the front of the queue. */
  requeue(tasks: Pending[]): void;
  /** Hands waiting tasks to workers. */
  pump(): void;
}

/** Sends batches to workers and lands their answers. */
export class Wire {
  readonly #sizer: BatchSizer;
  readonly #settler: Settler;
  readonly #hooks: WireHooks;

  /**
   * @param sizer The batch size, fed with each answered batch's time.
   * @param settler Settles tasks.
   * @param hooks The rest of the pool.
   */
  constructor(sizer: BatchSizer, settler: Settler, hooks: WireHooks) {
    this.#sizer = sizer;
    this.#settler = settler;
    this.#hooks = hooks;
  }

  /**
   * Sends a batch to a worker, which holds it until it answers.
   *
   * @param slot The worker.
   * @param batch The tasks.
   */
  send(slot: Slot, batch: Pending[]): void {
    slot.inflight.push(batch);
    slot.sentAt.push(performance.now());
    for (let i = 0; i < batch.length; i++) batch[i].slot = slot;
    const wire = packBatch(batch);
    let call: Promise<WireReply>;
    slot.postError = undefined;
    try {
      call = slot.api.runBatch(wire);
    } catch (error) {
      slot.postError ??= error;
      call = Promise.reject(error);
    }
    const postError = slot.postError;
    slot.postError = undefined;
    call.then(
      (reply) => this.#finish(slot, batch, reply),
      // The batch never left (a value could not be cloned), or the worker could not answer
      // (e.g. Comlink's "Unserializable return value"): the latter is not the inputs' fault.
      (error) => {
        if (postError !== undefined) this.#refused(slot, batch, postError);
        else if (slot.inflight.includes(batch)) this.#hooks.die(slot, error);
      },
    );
  }

  #finish(slot: Slot, batch: Pending[], reply: WireReply): void {
    const sentAt = land(slot, batch);
    if (sentAt < 0) return;
    // Batch times are measured with the host's monotonic clock (sub-millisecond, this thread's real
    // work), not the Clock port: they only size batches, and never reach an event or a timer.
    const now = performance.now();
    const elapsed = now - Math.max(sentAt, slot.lastAnswer);
    slot.lastAnswer = now;
    // A worker's first batch timed its start-up and module loading, not its tasks:
    // counted, it collapsed the batch size of a warm pool to 1 when a late worker joined.
    if (slot.cold) slot.cold = false;
    else this.#sizer.record(elapsed, batch.length);
    unpackReply(batch, reply, this.#settler);
    this.#hooks.pump();
  }

  /** The batch never reached the worker (a value could not be cloned): find the culprits. */
  #refused(slot: Slot, batch: Pending[], error: unknown): void {
    if (land(slot, batch) < 0) return;
    const retry = sortRefused(batch, error, this.#settler);
    if (retry.length > 0) this.#hooks.requeue(retry);
    this.#hooks.pump();
  }
}

/** Takes a batch off its worker: when it was sent, or -1 when the worker is gone or no longer holds it. */
function land(slot: Slot, batch: Pending[]): number {
  const at = slot.inflight.indexOf(batch);
  if (slot.dead || at < 0) return -1;
  const sentAt = slot.sentAt[at];
  slot.inflight.splice(at, 1);
  slot.sentAt.splice(at, 1);
  for (const p of batch) p.slot = undefined;
  return sentAt;
}

/**
 * Packs a batch: task references and run ids once per batch, the rest column by column.
 *
 * @param batch The tasks.
 * @returns The message, marked for Comlink to move the inputs' transferable buffers.
 */
function packBatch(batch: Pending[]): WireBatch {
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
function unpackReply(batch: Pending[], reply: WireReply, settler: Settler): void {
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
function sortRefused(batch: Pending[], error: unknown, settler: Settler): Pending[] {
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
