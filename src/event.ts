/**
 * Making an event: the one place that gives an engine event its shape (the
 * fields of `FlowEvent`, always all of them, in one order, so every event
 * shares one hidden class).
 *
 * Events are plain objects (their prototype is `Object.prototype`) but made
 * by a constructor, not by an object literal. V8 watches how many objects of
 * each literal survive garbage collections and, as the log keeps events for
 * many runs, allocates a literal's objects straight in the old generation
 * ("pretenuring"). Each new old-space page of them then stalled one run by
 * 100–200 µs: a run in ~76 of a 5-task workflow, most of its p99. Objects made
 * by `new` have no allocation site: they start young and are promoted like
 * any other (the data of completions is made the same way, below).
 * bench/RESULTS.md §14 has the figures.
 *
 * @module
 */
import type { AnyFlowEvent, EventDataMap, FlowEventType } from "./types.ts";

interface EventFields {
  type: FlowEventType;
  seq: number;
  runId: string;
  workflowId: string;
  taskId: string | undefined;
  attempt: number | undefined;
  timestamp: number;
  data: unknown;
}

// A function, not a class: a class's `prototype` cannot be replaced, and events must stay plain objects
// (`Object.getPrototypeOf(e) === Object.prototype`; assertEquals compares constructors).
function FlowEventObject(
  this: EventFields,
  type: FlowEventType,
  seq: number,
  runId: string,
  workflowId: string,
  taskId: string | undefined,
  attempt: number | undefined,
  timestamp: number,
  data: unknown,
) {
  this.type = type;
  this.seq = seq;
  this.runId = runId;
  this.workflowId = workflowId;
  this.taskId = taskId;
  this.attempt = attempt;
  this.timestamp = timestamp;
  this.data = data;
}
FlowEventObject.prototype = Object.prototype;

const Make = FlowEventObject as unknown as new (...args: Parameters<typeof FlowEventObject>) => AnyFlowEvent;

/**
 * An engine event (not frozen: the bus and the log freeze it before code
 * outside the engine can reach it, see `./freeze.ts`).
 *
 * @param type What happened.
 * @param seq Its position in the log.
 * @param runId The run.
 * @param workflowId The workflow.
 * @param taskId The task, for task events.
 * @param attempt The task's attempt.
 * @param timestamp When.
 * @param data The type's data.
 * @returns The event.
 */
export function flowEvent<T extends FlowEventType>(
  type: T,
  seq: number,
  runId: string,
  workflowId: string,
  taskId: string | undefined,
  attempt: number | undefined,
  timestamp: number,
  data: EventDataMap[T],
): AnyFlowEvent {
  return new Make(type, seq, runId, workflowId, taskId, attempt, timestamp, data);
}

// Completion data: plain objects made by constructors too (the journal keeps them in columns: `./log/journal.ts`).
function CompletedObject(this: { result: unknown; durationMs: number }, result: unknown, durationMs: number) {
  this.result = result;
  this.durationMs = durationMs;
}
CompletedObject.prototype = Object.prototype;
function EndedObject(this: { durationMs: number }, durationMs: number) {
  this.durationMs = durationMs;
}
EndedObject.prototype = Object.prototype;
const Completed = CompletedObject as unknown as new (
  ...args: Parameters<typeof CompletedObject>
) => EventDataMap["task.completed"];
const Ended = EndedObject as unknown as new (
  ...args: Parameters<typeof EndedObject>
) => EventDataMap["workflow.completed"];

/**
 * `task.completed` data: `{ result, durationMs }` (a cached or fallback
 * completion adds `cached` or `path` to it; a re-run's copied result, rare,
 * is still a literal in `./run/restore.ts`).
 *
 * @param result The task's result.
 * @param durationMs How long it ran.
 * @returns The data.
 */
export function completedData(result: unknown, durationMs: number): EventDataMap["task.completed"] {
  return new Completed(result, durationMs);
}

/**
 * `workflow.completed` data: `{ durationMs }`.
 *
 * @param durationMs How long the run took.
 * @returns The data.
 */
export function runCompletedData(durationMs: number): EventDataMap["workflow.completed"] {
  return new Ended(durationMs);
}
