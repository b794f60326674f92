/**
 * The shapes users write and read, as one index of three modules:
 * definitions (tasks, workflows, the task context, results:
 * `types/definitions.ts`), events (`types/events.ts`) and ports (`Executor`,
 * `LogStore`, `TaskCache`, `Clock`: `types/ports.ts`). Import from here.
 *
 * @module
 */
export type * from "./types/definitions.ts";
export type * from "./types/events.ts";
export type * from "./types/ports.ts";
