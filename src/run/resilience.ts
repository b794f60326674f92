/**
 * A run's resilience: its tasks' circuit breakers (asked before an attempt,
 * told its outcome) and their fallbacks (run in the last attempt once the
 * task fails for good). Each is allocated only when a task of the run has one.
 *
 * The breakers themselves are the engine's ({@linkcode BreakerRegistry});
 * this module keeps only which task uses which, and which attempt is a trial.
 *
 * @module
 */
import type { TaskActorEvent } from "../../actors/task_machine.ts";
import type { BreakerRegistry, CircuitBreaker } from "../breaker.ts";
import { CircuitOpenError } from "../errors.ts";
import { serializeError, toError } from "../serialize.ts";
import type { Clock, TaskDef, TaskSpec } from "../types.ts";
import type { RunCore } from "./_host.ts";
import { anyHas, fit, type TaskTable, UNSETTLED } from "./task_table.ts";

/** The breakers of a run's tasks. */
export class Breakers {
  /** Per task: its circuit breaker. */
  of: (CircuitBreaker | undefined)[];
  /** Per task: 1 = its attempt now is its breaker's half-open trial. */
  trial: Uint8Array;
  readonly #run: RunCore;
  readonly #table: TaskTable;
  readonly #registry: BreakerRegistry;
  readonly #clock: Clock;
  readonly #name: string;

  private constructor(
    run: RunCore,
    table: TaskTable,
    registry: BreakerRegistry,
    clock: Clock,
    name: string,
    of: (CircuitBreaker | undefined)[],
  ) {
    this.#run = run;
    this.#table = table;
    this.#registry = registry;
    this.#clock = clock;
    this.#name = name;
    this.of = of;
    this.trial = new Uint8Array(table.cap);
  }

  /**
   * The breakers of a run whose tasks name any.
   *
   * @returns Them, or undefined when no task has a breaker.
   * @throws {RangeError} A task names a key that no task and no engine option defines.
   */
  static create(
    run: RunCore,
    table: TaskTable,
    registry: BreakerRegistry,
    clock: Clock,
    name: string,
  ): Breakers | undefined {
    const tasks = table.tasks;
    if (!anyHas(tasks, 0, tasks.length, "breaker")) return undefined;
    return new Breakers(run, table, registry, clock, name, resolve(tasks, registry, name));
  }

  /** Tasks were added: looks their breakers up (the others keep theirs) and sizes the arrays. */
  extend(from: number, cap: number): void {
    const tasks = this.#table.tasks;
    const before = this.of;
    const trial = this.trial;
    this.of = resolve(tasks, this.#registry, this.#name);
    this.trial = new Uint8Array(tasks.length);
    for (let j = 0; j < from; j++) this.of[j] = before[j];
    this.trial.set(trial.subarray(0, from));
    this.trial = fit(this.trial, cap);
  }

  /** Asks a task's breaker whether its attempt may run; when refused, the task fails fast (or takes its fallback). */
  admit(i: number, breaker: CircuitBreaker): boolean {
    const t = this.#table;
    const now = this.#clock.now();
    const verdict = breaker.request(now);
    const key = breaker.policy.key;
    if (verdict.halfOpened) this.#run.emit("breaker.half-opened", i, t.attempts[i] || undefined, { key }, now);
    if (verdict.allowed) {
      if (verdict.trial) this.trial[i] = 1;
      return true;
    }
    if (Number.isNaN(t.startedAt[i])) t.startedAt[i] = now;
    t.noRetryAt(i);
    const error = new CircuitOpenError(t.g.ids[i], key, verdict.retryAfterMs);
    const attempt = t.attempts[i];
    // Not from inside the actor's own transition: the refusal arrives as the next event.
    Promise.resolve().then(() => {
      if (t.attempts[i] === attempt && t.status[i] === UNSETTLED) this.#run.fail(i, error);
    });
    return false;
  }

  /** Tells a task's breaker how its attempt went; a state change is an event. */
  outcome(i: number, ok: boolean): void {
    const breaker = this.of[i];
    if (breaker === undefined) return;
    const trial = this.trial[i] === 1;
    this.trial[i] = 0;
    const key = breaker.policy.key;
    const attempt = this.#table.attempts[i] || undefined;
    if (ok) {
      if (breaker.success(trial)) this.#run.emit("breaker.closed", i, attempt, { key });
    } else if (breaker.failure(this.#clock.now(), trial)) {
      const { threshold, cooldownMs } = breaker.policy;
      this.#run.emit("breaker.opened", i, attempt, { key, failures: trial ? 1 : threshold, cooldownMs });
    }
  }

  /** A task's attempt ended: a cancelled trial gives the breaker its trial back. */
  released(i: number, event: TaskActorEvent): void {
    if (this.trial[i] !== 1) return;
    this.trial[i] = 0;
    if (event.type === "cancel") this.of[i]!.abandon();
  }
}

/** The breakers of the specs; keys defined by a task's policy first, so a task naming one of them by key finds it. */
function resolve(
  tasks: readonly TaskSpec<unknown>[],
  registry: BreakerRegistry,
  name: string,
): (CircuitBreaker | undefined)[] {
  const out = new Array<CircuitBreaker | undefined>(tasks.length);
  for (let i = 0; i < tasks.length; i++) {
    const policy = tasks[i].breaker;
    if (policy !== undefined && typeof policy !== "string") out[i] = registry.get(policy);
  }
  for (let i = 0; i < tasks.length; i++) {
    if (typeof tasks[i].breaker === "string") out[i] = breakerByKey(registry, name, tasks[i])!;
  }
  return out;
}

/**
 * The breaker a task names by key, if it names one.
 *
 * @throws {RangeError} No task and no engine option defines the key.
 */
function breakerByKey(registry: BreakerRegistry, name: string, spec: TaskSpec<unknown>): CircuitBreaker | undefined {
  const policy = spec.breaker;
  if (typeof policy !== "string") return undefined;
  const breaker = registry.byKey(policy);
  if (breaker === undefined) {
    throw new RangeError(
      `Cannot run workflow "${name}": task "${spec.id}" names breaker "${policy}", which the engine's breakers option does not define`,
    );
  }
  return breaker;
}

/**
 * Refuses tasks to add that name a breaker neither the engine nor the same batch defines (before the run grows).
 *
 * @throws {RangeError} A task names an undefined key.
 */
export function checkSpawnBreakers(registry: BreakerRegistry, name: string, defs: readonly TaskDef[]): void {
  const defined = new Set<string>();
  for (const d of defs) {
    const policy = d !== null && typeof d === "object" ? d.breaker : undefined;
    if (policy !== null && typeof policy === "object") defined.add(policy.key);
  }
  for (const d of defs) {
    const policy = d !== null && typeof d === "object" ? d.breaker : undefined;
    if (typeof policy === "string" && !defined.has(policy)) breakerByKey(registry, name, d as TaskSpec<unknown>);
  }
}

/** The fallbacks of a run's tasks. */
export class Fallbacks {
  /** Per task: 1 = its fallback ran (or runs). */
  path: Uint8Array;
  readonly #run: RunCore;
  readonly #table: TaskTable;

  constructor(run: RunCore, table: TaskTable) {
    this.#run = run;
    this.#table = table;
    this.path = new Uint8Array(table.cap);
  }

  /** Sizes the array to the table. */
  extend(cap: number): void {
    this.path = fit(this.path, cap);
  }

  /** Runs a task's fallback on the main thread, in its last attempt; its outcome is the task's. */
  run(i: number, fallback: NonNullable<TaskSpec["fallback"]>, error: unknown): void {
    const t = this.#table;
    const run = this.#run;
    this.path[i] = 1;
    t.noRetryAt(i);
    const attempt = t.attempts[i];
    run.emit("task.fallback", i, attempt || undefined, { error: serializeError(toError(error)) });
    const ctx = run.context(i, Math.max(1, attempt));
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(fallback(ctx));
    } catch (e) {
      promise = Promise.reject(e);
    }
    promise.then(
      (result) => run.onResult(i, attempt, result, true),
      (e) => this.#failed(i, attempt, e, error),
    );
  }

  /** The fallback failed: the task fails with its error, which keeps the primary's error as `cause`. */
  #failed(i: number, attempt: number, error: unknown, primary: unknown): void {
    const t = this.#table;
    if (t.attempts[i] !== attempt || t.status[i] !== UNSETTLED) return;
    const e = toError(error);
    if (e.cause === undefined && e !== primary) {
      try {
        Object.defineProperty(e, "cause", { value: primary, writable: true, configurable: true, enumerable: false });
      } catch {
        // A frozen error keeps what it has.
      }
    }
    this.#run.deliver(i, { type: "run.error", error: e });
  }
}
