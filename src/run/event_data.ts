/**
 * The data of the events a run emits on a task's path. What repeats from run
 * to run is shared: one frozen object per distinct value (a task's
 * `dependsOn`, a priority and rank, a profile) instead of one per event. A
 * run of a 5-task workflow emits 15 such events; the log keeps finished runs,
 * so each object saved is memory the garbage collector no longer copies and
 * promotes. Events leave the engine frozen anyway: sharing frozen data
 * changes nothing a reader can see. Completion data, new each time, is made
 * in `../event.ts`.
 *
 * @module
 */
import { PRIORITIES } from "../tables.ts";
import type { EventDataMap, Profile } from "../types.ts";

const STARTED: Readonly<Record<Profile, EventDataMap["task.started"]>> = Object.freeze({
  cpu: Object.freeze({ profile: "cpu" }),
  io: Object.freeze({ profile: "io" }),
  mixed: Object.freeze({ profile: "mixed" }),
  memory: Object.freeze({ profile: "memory" }),
});

/** Distinct ranks cached per priority at most (ranks are per task; a process with more makes objects per event). */
const MAX_RANKS = 4096;

const pending = new WeakMap<readonly string[], EventDataMap["task.pending"]>();
/** Per priority weight (low 0 … critical 3): the data by rank. */
const ready: Map<number, EventDataMap["task.ready"]>[] = PRIORITIES.map(() => new Map());

/**
 * `task.pending` data.
 *
 * @param dependsOn The task's dependencies (its spec's array).
 * @returns `{ dependsOn }`, frozen, one per array.
 */
export function pendingData(dependsOn: readonly string[]): EventDataMap["task.pending"] {
  let data = pending.get(dependsOn);
  if (data === undefined) pending.set(dependsOn, data = Object.freeze({ dependsOn }));
  return data;
}

/**
 * `task.ready` data.
 *
 * @param weight The task's priority now, as its weight (low 0 … critical 3).
 * @param rank Its critical-path rank.
 * @returns `{ priority, rank }`, frozen, one per pair.
 */
export function readyData(weight: number, rank: number): EventDataMap["task.ready"] {
  const byRank = ready[weight];
  let data = byRank.get(rank);
  if (data === undefined) {
    data = Object.freeze({ priority: PRIORITIES[weight], rank });
    if (byRank.size < MAX_RANKS) byRank.set(rank, data);
  }
  return data;
}

/**
 * `task.started` data.
 *
 * @param profile The task's workload profile.
 * @returns `{ profile }`, frozen, one per profile.
 */
export function startedData(profile: Profile): EventDataMap["task.started"] {
  return STARTED[profile];
}
