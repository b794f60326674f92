/**
 * Reading a log back from its JSON export (`importLog`).
 *
 * @module
 */
import { deepFreeze } from "../freeze.ts";
import { createSnapshotLog } from "./log.ts";
import type { LogExport, SnapshotLog, SnapshotLogOptions } from "./types.ts";

/**
 * Rebuilds a log from its JSON export.
 *
 * @param data What `toJSON()` wrote (parsed).
 * @param options Options of the new log.
 * @returns A log holding the same events and state.
 * @throws {TypeError} The data is not a nerv-flow log export.
 *
 * @example Round trip
 * ```ts
 * import { createSnapshotLog, importLog } from "@nerv/flow/extend";
 * import assert from "node:assert/strict";
 * const log = createSnapshotLog();
 * log.append({ type: "workflow.created", seq: 1, runId: "r", workflowId: "w", timestamp: 0,
 *   data: { name: "w", taskIds: [] } });
 * const copy = importLog(JSON.parse(JSON.stringify(log)));
 * assert.equal(copy.project("workflowStatus", "r").status, "created");
 * ```
 */
export function importLog(data: LogExport, options?: SnapshotLogOptions): SnapshotLog {
  if (data === null || typeof data !== "object" || data.format !== "nerv-flow/log" || !Array.isArray(data.events)) {
    throw new TypeError('Cannot import log: expected { format: "nerv-flow/log", version: 1, events: [...] }');
  }
  if (data.version !== 1) throw new TypeError(`Cannot import log: unsupported version ${data.version}`);
  const log = createSnapshotLog(options);
  for (const event of data.events) log.append(deepFreeze(event));
  log.flush();
  return log;
}
