/**
 * The one table of each enumerated fact: task statuses and their codes,
 * priorities and their ranks, profiles and their slot indexes. Every module
 * that numbers or lists one of these imports it from here (the run's typed
 * arrays, the log's counts, the scheduler's slots, graph validation, the
 * adapters), so the numberings cannot drift apart.
 *
 * Depends on nothing but the types of `types.ts`.
 *
 * @module
 */
import type { Priority, Profile, TaskStatus, TerminalTaskStatus } from "./types.ts";

const STATUS_LIST = ["pending", "ready", "running", "retrying", "completed", "failed", "skipped", "cancelled"] as const;
const PRIORITY_LIST = ["low", "medium", "high", "critical"] as const;
const PROFILE_LIST = ["cpu", "io", "mixed", "memory"] as const;
// Each list names every member of its type: a type that gains a member fails to compile here until its list has it.
const _allStatuses: Record<Exclude<TaskStatus, typeof STATUS_LIST[number]>, never> = {};
const _allPriorities: Record<Exclude<Priority, typeof PRIORITY_LIST[number]>, never> = {};
const _allProfiles: Record<Exclude<Profile, typeof PROFILE_LIST[number]>, never> = {};

/** Task statuses in code order: a status's code is its index; the last four are terminal. */
export const TASK_STATUSES: readonly TaskStatus[] = STATUS_LIST;

/** The code of each task status (its index in {@linkcode TASK_STATUSES}). */
export const STATUS_CODE: Readonly<Record<TaskStatus, number>> = indexOf(STATUS_LIST);

/** The code of the first terminal status: lower codes (0 is `pending`) are not settled. */
export const FIRST_TERMINAL: number = STATUS_CODE.completed;

/** The terminal statuses, in code order. */
export const TERMINAL_STATUSES: readonly TerminalTaskStatus[] = STATUS_LIST.slice(
  FIRST_TERMINAL,
) as TerminalTaskStatus[];

/** The terminal status of each code; `undefined` for a code that is not terminal. */
export const TERMINAL_OF: readonly (TerminalTaskStatus | undefined)[] = STATUS_LIST.map((s, code) =>
  code >= FIRST_TERMINAL ? s as TerminalTaskStatus : undefined
);

/** Priorities from the lowest: a priority's rank is its index (0 low … 3 critical). */
export const PRIORITIES: readonly Priority[] = PRIORITY_LIST;

/** The rank of each priority (its index in {@linkcode PRIORITIES}); higher goes first. */
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = indexOf(PRIORITY_LIST);

/** Profiles in slot order: a profile's slot index is its index. */
export const PROFILES: readonly Profile[] = PROFILE_LIST;

/** The slot index of each profile (its index in {@linkcode PROFILES}). */
export const PROFILE_INDEX: Readonly<Record<Profile, number>> = indexOf(PROFILE_LIST);

function indexOf<K extends string>(names: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  names.forEach((name, i) => out[name] = i);
  return out;
}
