/**
 * Tasks added during a run (`ctx.spawn`): which task added each, matching a
 * spawner's tasks against those it added in an earlier attempt (or before
 * the run stopped), the checks before the run grows, and the errors of
 * refused spawns (the spawner fails with them, even if its body caught one).
 * Allocated at a run's first spawn or growth.
 *
 * Growing the graph and the task table is the run's ({@linkcode RunCore.grow});
 * queueing the added tasks is the run's too.
 *
 * @module
 */
import { pendingData } from "./event_data.ts";
import type { BreakerRegistry } from "../breaker.ts";
import { SpawnError } from "../errors.ts";
import { toError } from "../serialize.ts";
import type { Clock, TaskDef } from "../types.ts";
import type { RunCore } from "./_host.ts";
import { checkSpawnBreakers } from "./resilience.ts";
import { RESTORED, type Restored } from "./restore.ts";
import { fit, type TaskTable, UNSETTLED } from "./task_table.ts";

/** What adding tasks asks of the run. */
export interface SpawnHost extends RunCore {
  /**
   * Adds tasks to the graph and sizes the table and the run's collaborators to it.
   *
   * @returns The index of the first task added.
   */
  grow(defs: readonly TaskDef[], frozen?: (j: number) => boolean, extra?: number): number;
}

/** The tasks added during one run. */
export class Spawns {
  /** Per task: 1 + the index of the task that added it (0: a workflow task). Allocated at the first growth. */
  spawnedBy: Int32Array | undefined;
  /** Tasks whose body was refused tasks it tried to add: they fail with the error, even if the body caught it. */
  #errors: Map<number, Error> | undefined;
  readonly #run: SpawnHost;
  readonly #table: TaskTable;
  readonly #restored: Restored | undefined;
  readonly #breakers: BreakerRegistry;
  readonly #name: string;
  readonly #clock: Clock;

  constructor(
    run: SpawnHost,
    table: TaskTable,
    restored: Restored | undefined,
    env: { breakers: BreakerRegistry; clock: Clock; name: string },
  ) {
    this.#run = run;
    this.#table = table;
    this.#restored = restored;
    this.#breakers = env.breakers;
    this.#name = env.name;
    this.#clock = env.clock;
  }

  /** Sizes the array to the table (allocating it at the first growth). */
  extend(cap: number): void {
    this.spawnedBy = this.spawnedBy === undefined ? new Int32Array(cap) : fit(this.spawnedBy, cap);
  }

  /**
   * Adds tasks to the run on behalf of task `i` and announces them
   * (`task.spawned`, then each one's `task.pending`); the run queues them.
   *
   * @param i The spawning task.
   * @param attempt Its attempt.
   * @param defs The tasks.
   * @returns Their ids.
   * @throws {SpawnError} The tasks were rejected (the cause says why); the spawning task then fails with it.
   */
  add(i: number, attempt: number, defs: readonly TaskDef[]): readonly string[] {
    const t = this.#table;
    const run = this.#run;
    const taskId = t.g.ids[i];
    const from = t.g.n;
    let fresh = defs;
    try {
      if ((this.spawnedBy !== undefined || this.#restored?.restoredBy !== undefined) && Array.isArray(defs)) {
        fresh = this.#match(i, defs);
      }
      // Breakers are checked before the run grows: nothing is half-added.
      if (Array.isArray(fresh)) checkSpawnBreakers(this.#breakers, this.#name, fresh);
      run.grow(
        fresh,
        (j) => t.attempts[j] > 0 || t.status[j] !== UNSETTLED,
        Array.isArray(defs) ? defs.length : 0,
      );
    } catch (cause) {
      const error = new SpawnError(taskId, toError(cause));
      t.noRetryAt(i);
      (this.#errors ??= new Map()).set(i, error);
      throw error;
    }
    const g = t.g;
    const added = g.ids.slice(from, g.n);
    for (let j = from; j < g.n; j++) this.spawnedBy![j] = i + 1;
    const awaiting = this.#restored?.awaiting;
    if (awaiting !== undefined) { for (const id of added) awaiting.delete(id); }
    const ids = fresh === defs ? added : defs.map((d) => d.id);
    const now = this.#clock.now();
    if (added.length > 0 || defs.length === 0) run.emit("task.spawned", i, attempt, { taskIds: added }, now);
    for (let j = from; j < g.n; j++) {
      run.emit("task.pending", j, undefined, pendingData(t.tasks[j].dependsOn), now);
    }
    return ids;
  }

  /** The error a refused spawn left for task `i`, once. */
  takeError(i: number): Error | undefined {
    const errors = this.#errors;
    if (errors === undefined) return undefined;
    const error = errors.get(i);
    if (error !== undefined) errors.delete(i);
    return error;
  }

  /**
   * The tasks a spawner adds that it did not add before: an id this spawner
   * added in an earlier attempt (or before the run stopped) is that task, kept
   * as it is (a completed one is not run again); its dependencies must be the same.
   */
  #match(i: number, defs: readonly TaskDef[]): TaskDef[] {
    const t = this.#table;
    const g = t.g;
    const restoredBy = this.#restored?.restoredBy;
    const fresh: TaskDef[] = [];
    for (const def of defs) {
      const j = def !== null && typeof def === "object" && typeof def.id === "string" ? g.index.get(def.id) : undefined;
      const by = j === undefined ? 0 : this.spawnedBy?.[j] ?? 0;
      if (j === undefined || (by !== i + 1 && restoredBy?.get(j) !== g.ids[i])) {
        fresh.push(def);
        continue;
      }
      const known = t.tasks[j];
      if (known.run === RESTORED) continue; // Restored from the log: its dependencies are not known; it has ended.
      const deps = new Set(def.dependsOn ?? []);
      if (deps.size !== known.dependsOn.length || known.dependsOn.some((d) => !deps.has(d))) {
        throw new TypeError(
          `Cannot add task "${def.id}" again: it was added before with dependencies ${
            JSON.stringify(known.dependsOn)
          }, now with ${JSON.stringify(def.dependsOn ?? [])}`,
        );
      }
    }
    return fresh;
  }
}
