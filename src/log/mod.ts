/**
 * The snapshot log: every event of an engine, the state folded from them,
 * projections, time travel, JSON export and import, retention, and
 * acknowledgement by a durable `LogStore`. A module doc plus re-exports; see
 * `log.ts` for the log object.
 *
 * Depends on the core's types, errors and clock only (no engine, no run).
 *
 * @module
 */
export { createSnapshotLog } from "./log.ts";
export { importLog } from "./import.ts";
export { createMemoryLogStore, type MemoryLogStore } from "./memory_store.ts";
export { foldRun } from "./fold.ts";
export { describeRetention } from "./retention.ts";
export type {
  BuiltinProjections,
  LogExport,
  LogState,
  ProjectionDef,
  RetentionPolicy,
  RunView,
  SnapshotLog,
  SnapshotLogOptions,
  TaskView,
} from "./types.ts";
