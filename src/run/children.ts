/**
 * A run's child runs (`ctx.runWorkflow`) and the slots their parents give
 * up: while an attempt awaits child runs, its task gives its slot up (the
 * children may need it: a parent holding the last slot would wait forever)
 * and queues for a slot again, by its priority, before its body goes on.
 * Allocated at a run's first child run.
 *
 * It starts children through the engine (`RunEnv.startChild`), never itself.
 *
 * @module
 */
import type { Dispatchable, Scheduler } from "../scheduler.ts";
import type { ChildRunOptions, RunResult, Workflow } from "../types.ts";
import { fit, type TaskTable, UNSETTLED } from "./task_table.ts";

/** What `RunEnv.startChild` needs. */
export interface ChildStart {
  input: unknown;
  runId: string | undefined;
  signal: AbortSignal;
  parent: { runId: string; taskId: string };
}

/** Starts a child run. */
export type StartChild = (workflow: Workflow<unknown>, options: ChildStart) => { readonly result: Promise<RunResult> };

/** What the child runs of a run ask of it. */
export interface ChildrenHost extends Dispatchable {
  readonly id: string;
  /** Lets the scheduler fill free slots, unless an event is being delivered (it will then). */
  drainIfIdle(): void;
}

const SLOT_GIVEN_UP = 1;
const SLOT_WANTED = 2;

/** The child runs of one run's tasks. */
export class Children {
  /** Per task: child runs its attempt awaits now. */
  count: Int32Array;
  /** Per task: 0 = holds its slot (when running), SLOT_GIVEN_UP while awaiting children, SLOT_WANTED when queued to get it back. */
  slot: Uint8Array;
  /** Tasks queued to get their slot back, and what resumes their body. */
  readonly #regain = new Map<number, () => void>();
  readonly #run: ChildrenHost;
  readonly #table: TaskTable;
  readonly #scheduler: Scheduler;
  readonly #start: StartChild;

  constructor(run: ChildrenHost, table: TaskTable, scheduler: Scheduler, start: StartChild) {
    this.#run = run;
    this.#table = table;
    this.#scheduler = scheduler;
    this.#start = start;
    this.count = new Int32Array(table.cap);
    this.slot = new Uint8Array(table.cap);
  }

  /** Sizes the arrays to the table. */
  extend(cap: number): void {
    this.count = fit(this.count, cap);
    this.slot = fit(this.slot, cap);
  }

  /**
   * Runs a child workflow on behalf of a running task.
   *
   * @param i The task.
   * @param attempt Its attempt.
   * @param signal The attempt's signal: cancels the child.
   * @param workflow The child workflow.
   * @param options Its input and run id.
   * @returns The child's result.
   * @throws {TypeError} The workflow is not from `defineWorkflow`, the run id is taken, or the engine is closed.
   */
  run(
    i: number,
    attempt: number,
    signal: AbortSignal,
    workflow: Workflow<unknown>,
    options: ChildRunOptions,
  ): Promise<RunResult> {
    const t = this.#table;
    const child = this.#start(workflow, {
      input: options.input,
      runId: options.runId,
      signal,
      parent: { runId: this.#run.id, taskId: t.g.ids[i] },
    });
    if (t.attempts[i] !== attempt || t.status[i] !== UNSETTLED || t.actors[i] === undefined) {
      return child.result;
    }
    if (this.count[i]++ === 0 && this.slot[i] === 0) {
      this.slot[i] = SLOT_GIVEN_UP;
      this.#scheduler.release(t.profile[i], t.group?.[i] ?? -1);
      this.#run.drainIfIdle();
    }
    return child.result.then((result) => this.#ended(i, attempt).then(() => result));
  }

  /** One of a task's child runs ended: when it was the last, the task queues for a slot again. */
  #ended(i: number, attempt: number): Promise<void> {
    const t = this.#table;
    if (t.attempts[i] !== attempt || t.status[i] !== UNSETTLED || t.actors[i] === undefined) {
      return Promise.resolve();
    }
    if (--this.count[i] > 0 || this.slot[i] !== SLOT_GIVEN_UP) return Promise.resolve();
    this.slot[i] = SLOT_WANTED;
    t.queued[i] = 1;
    return new Promise<void>((resolve) => {
      this.#regain.set(i, resolve);
      this.#scheduler.push(this.#run, i, t.profile[i], t.prio[i], t.rank[i], t.group?.[i] ?? -1);
      this.#run.drainIfIdle();
    });
  }

  /**
   * The scheduler dispatched a task: when it was queued to get its slot
   * back, its body goes on.
   *
   * @returns Whether it was (the dispatch is then done).
   */
  regain(i: number): boolean {
    if (this.slot[i] !== SLOT_WANTED) return false;
    this.#table.queued[i] = 0;
    this.slot[i] = 0;
    const resume = this.#regain.get(i)!;
    this.#regain.delete(i);
    resume();
    return true;
  }

  /** An attempt ended: it frees its slot unless it gave it up (and stops waiting for it). */
  release(i: number): void {
    const t = this.#table;
    if (this.slot[i] === 0) this.#scheduler.release(t.profile[i], t.group?.[i] ?? -1);
    else if (this.slot[i] === SLOT_WANTED) {
      t.queued[i] = 0;
      const resume = this.#regain.get(i);
      this.#regain.delete(i);
      resume?.();
    }
    this.slot[i] = 0;
    this.count[i] = 0;
  }
}
