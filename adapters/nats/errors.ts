/**
 * Conditions of the NATS adapter that a caller handles.
 *
 * @module
 */

/**
 * A task's message was delivered to workers `deliveries` times without a
 * result (each time a worker died or was cut off holding it): the task
 * fails with this error and the message moves to the dead-letter subject.
 */
export class TaskDeliveryError extends Error {
  /** The task. */
  readonly taskId: string;
  /** Its attempt. */
  readonly attempt: number;
  /** Deliveries of its message. */
  readonly deliveries: number;
  /** Where the message went. */
  readonly deadLetterSubject: string;
  /**
   * Creates the error.
   *
   * @param taskId The task.
   * @param attempt Its attempt.
   * @param deliveries Deliveries of its message.
   * @param deadLetterSubject Where the message went.
   */
  constructor(taskId: string, attempt: number, deliveries: number, deadLetterSubject: string) {
    super(
      `Task "${taskId}" (attempt ${attempt}) was delivered to workers ${deliveries} times without a result; ` +
        `its message moved to "${deadLetterSubject}"`,
    );
    this.name = "TaskDeliveryError";
    this.taskId = taskId;
    this.attempt = attempt;
    this.deliveries = deliveries;
    this.deadLetterSubject = deadLetterSubject;
  }
}

/**
 * The broker was out of reach longer than the executor waits
 * (`brokerTimeoutMs`) while the task was sent or running.
 */
export class BrokerUnavailableError extends Error {
  /** The task. */
  readonly taskId: string;
  /** The servers. */
  readonly servers: readonly string[];
  /** How long the executor waited, ms. */
  readonly waitedMs: number;
  /**
   * Creates the error.
   *
   * @param taskId The task.
   * @param servers The servers.
   * @param waitedMs How long the executor waited.
   * @param options `cause`: the last error.
   */
  constructor(taskId: string, servers: readonly string[], waitedMs: number, options?: { cause?: unknown }) {
    super(
      `Task "${taskId}" lost the NATS broker at ${
        servers.map((s) => `"${s}"`).join(", ")
      } for more than ${waitedMs} ms`,
      options,
    );
    this.name = "BrokerUnavailableError";
    this.taskId = taskId;
    this.servers = servers;
    this.waitedMs = waitedMs;
  }
}

/**
 * An append met another writer's events in the run's log: the run's subject
 * was not at the sequence this store last saw. The store stops touching the run.
 *
 * @example
 * ```ts
 * import { LogConflictError } from "@nerv/flow/nats";
 * const e = new LogConflictError("r1", "NERV_FLOW", 4, 7);
 * console.log(e.message);
 * ```
 */
export class LogConflictError extends Error {
  /** The run. */
  readonly runId: string;
  /** The stream. */
  readonly stream: string;
  /** The stream sequence of the run's last message as this store saw it (0: none). */
  readonly expected: number;
  /** The run's last message's stream sequence on the server, when it said. */
  readonly actual: number | undefined;
  /**
   * Creates the error.
   *
   * @param runId The run.
   * @param stream The stream.
   * @param expected The sequence this store saw last.
   * @param actual The sequence the server has, if known.
   */
  constructor(runId: string, stream: string, expected: number, actual?: number) {
    super(
      `Cannot append to run "${runId}" in stream "${stream}": another writer appended to its log ` +
        `(expected last sequence ${expected}, found ${actual ?? "another"})`,
    );
    this.name = "LogConflictError";
    this.runId = runId;
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A write to a run this store no longer touches (released, or lost to another writer).
 *
 * @example
 * ```ts
 * import { RunReleasedError } from "@nerv/flow/nats";
 * console.log(new RunReleasedError("r1", "its lease was lost").message);
 * ```
 */
export class RunReleasedError extends Error {
  /** The run. */
  readonly runId: string;
  /** Why the store stopped touching it. */
  readonly reason: string;
  /**
   * Creates the error.
   *
   * @param runId The run.
   * @param reason Why the store stopped touching it.
   */
  constructor(runId: string, reason: string) {
    super(`Cannot write to run "${runId}": this store stopped touching it (${reason})`);
    this.name = "RunReleasedError";
    this.runId = runId;
    this.reason = reason;
  }
}

/** A run's lease was taken over by another coordinator, or could not be renewed in time. */
export class LeaseLostError extends Error {
  /** The run. */
  readonly runId: string;
  /** The coordinator that lost it. */
  readonly coordinator: string;
  /** The coordinator that holds it now, when known. */
  readonly owner: string | undefined;
  /**
   * Creates the error.
   *
   * @param runId The run.
   * @param coordinator The coordinator that lost it.
   * @param owner Who holds it now, when known.
   */
  constructor(runId: string, coordinator: string, owner?: string) {
    super(
      `Coordinator "${coordinator}" lost the lease of run "${runId}"` +
        (owner === undefined ? ": it could not be renewed in time" : ` to "${owner}"`),
    );
    this.name = "LeaseLostError";
    this.runId = runId;
    this.coordinator = coordinator;
    this.owner = owner;
  }
}
